"""The console application: its own routes (login, logout, language, assets), its state,
and ``setup_console``, which registers the features and nests the console under /console
in the gateway."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Iterable
from importlib import resources
from typing import Any

import yaml
from aiohttp import web

from .. import keys
from .._exceptions import Invalid, NotAllowed
from ..accounts import Admin, AdminRules, LoginRefused, Viewer, load_topics
from ..handoff import HANDOFFS, LIVE, LiveEvent, PlaceNames, parse_office_hours
from ._auth import AUTH, COOKIE, CSRF_FIELD, LOGIN_COOKIE, PREFIX, ConsoleAuth, same_token
from ._canned import CannedReplies
from ._features import ConsoleFeature, Registry
from ._labels import LANGUAGE_NAMES, UI_LANGUAGES, WordKind, add_words, label
from ._middleware import STATIC_PREFIX, console_middleware
from ._templates import build_environment
from ._web import (
    CONSOLE,
    LANG_COOKIE,
    Asset,
    ConsoleState,
    Services,
    payload,
    safe_next,
    state,
    ui_language,
)

__all__ = ["Console", "setup_console"]

log = logging.getLogger("bot.console")

LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
ASSETS = {"console.css": "text/css", "console.js": "text/javascript"}
ASSET_MAX_AGE_S = 7 * 24 * 3600  # URLs carry a content hash, so a change is a new URL
SHUTDOWN_EVENT = "console-shutdown"


def _load_assets() -> dict[str, Asset]:
    folder = resources.files("bot.console").joinpath("static")
    assets = {}
    for name, content_type in ASSETS.items():
        body = folder.joinpath(name).read_bytes()
        version = hashlib.sha256(body).hexdigest()[:12]
        assets[name] = Asset(body, content_type, f"{STATIC_PREFIX}{name}?v={version}")
    return assets


# ----- login, logout, language, assets -------------------------------------------------------


def _login_page(
    request: web.Request, token: str, next_path: str, language: str, error: str = ""
) -> str:
    languages = [(c, n) for c, n in LANGUAGE_NAMES.items() if c in UI_LANGUAGES]
    return (
        state(request)
        .templates.get_template("console/login.html")
        .render(
            viewer=None,
            menu=[],
            home_url=f"{PREFIX}/",
            csrf=token,
            lang=language,
            assets={name: a.url for name, a in state(request).assets.items()},
            title=label("login", language),
            page="login",
            next_path=next_path,
            error=error,
            languages=languages,
        )
    )


def _landing(console: ConsoleState, viewer: Viewer, request: web.Request) -> str:
    """Where a login leads without a ``next``: the person's first feature (a ministry
    editor has no queue)."""
    wanted = safe_next(request.query.get("next"))
    menu = console.registry.menu(viewer, ui_language(request))
    return menu[0].url if wanted == f"{PREFIX}/" and menu else wanted


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


async def login_form(request: web.Request) -> web.StreamResponse:
    """The login page (or straight to the queue if already logged in)."""
    console = state(request)
    found = await console.auth.session(request.cookies.get(COOKIE))
    if found is not None:
        raise web.HTTPSeeOther(_landing(console, found.viewer, request))
    response = web.Response(content_type="text/html", charset="utf-8")
    language = request.query.get("lang")
    if language in UI_LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, max_age=LANG_COOKIE_MAX_AGE_S, path=PREFIX)
    else:
        language = ui_language(request)
    token = console.auth.login_token(response, request.cookies.get(LOGIN_COOKIE))
    response.text = _login_page(
        request, token, safe_next(request.query.get("next")), language or "en"
    )
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the login form's token, the throttle, then the password."""
    console = state(request)
    form = await request.post()
    field = form.get(CSRF_FIELD)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not isinstance(field, str) or not cookie or not same_token(field, cookie):
        raise NotAllowed("the login form expired: reload the page and try again")
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    next_path = safe_next(str(form.get("next") or ""))
    language = ui_language(request)
    try:
        token, viewer = await console.auth.sessions.login(
            username, password, request.remote or "?"
        )
    except LoginRefused as refused:
        if refused.retry_after is not None:
            minutes = str(max(1, round(refused.retry_after / 60)))
            error = label("throttled", language, minutes=minutes)
            response = _html(_login_page(request, cookie, next_path, language, error), 429)
            response.headers["Retry-After"] = str(int(refused.retry_after))
            return response
        error = label("bad_login", language)
        return _html(_login_page(request, cookie, next_path, language, error), 401)
    log.info("console.login", extra={"agent": viewer.agent_id, "role": viewer.role})
    if next_path == f"{PREFIX}/":
        next_path = _landing(console, viewer, request)
    response = web.HTTPSeeOther(next_path)
    console.auth.set_cookie(response, token)
    response.del_cookie(LOGIN_COOKIE, path=f"{PREFIX}/login")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """Delete the session row and the cookie."""
    console = state(request)
    await console.auth.sessions.logout(request[AUTH].token_hash)
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    console.auth.clear_cookie(response)
    raise response


async def set_language(request: web.Request) -> web.StreamResponse:
    """The console's language for this browser (Khmer or English)."""
    language = (await payload(request)).get("lang", "")
    if language not in UI_LANGUAGES:
        raise Invalid("unknown language")
    response = web.HTTPSeeOther(f"{PREFIX}/")
    response.set_cookie(LANG_COOKIE, language, max_age=LANG_COOKIE_MAX_AGE_S, path=PREFIX)
    raise response


async def static_asset(request: web.Request) -> web.StreamResponse:
    """console.css / console.js from memory, cacheable (versioned URLs)."""
    asset = state(request).assets.get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound()
    return web.Response(
        body=asset.body,
        content_type=asset.content_type,
        charset="utf-8",
        headers={"Cache-Control": f"public, max-age={ASSET_MAX_AGE_S}"},
    )


async def root_redirect(request: web.Request) -> web.StreamResponse:
    """/console -> /console/."""
    raise web.HTTPFound(f"{PREFIX}/")


# ----- the application ---------------------------------------------------------------------


def _topic_words(path: Any) -> dict[str, dict[str, str]]:
    """Topic titles in both languages, from knowledge/programmes.yml."""
    if not path.exists():
        return {}
    data: dict[str, Any] = yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader) or {}
    words: dict[str, dict[str, str]] = {}
    for topic, entry in (data.get("topics") or {}).items():
        title = entry.get("title") if isinstance(entry, dict) else None
        if isinstance(title, dict):
            words[str(topic)] = {k: str(v) for k, v in title.items() if v}
    return words


async def _console_ctx(app: web.Application) -> AsyncIterator[None]:
    """The console's services on the gateway's database, closed before it."""
    settings = app[keys.SETTINGS]
    store = app[keys.STORE]
    rules = AdminRules(
        places=PlaceNames.load(settings.gazetteer_path.parent),
        office_hours=parse_office_hours,
        topics=load_topics(settings.knowledge_dir / "programmes.yml"),
    )
    add_words(WordKind.TOPIC, _topic_words(settings.knowledge_dir / "programmes.yml"))
    app[CONSOLE].services = Services(
        auth=ConsoleAuth(store, settings),
        admin=Admin(store, rules),
        canned=CannedReplies(settings.knowledge_dir / "canned_replies.yml"),
    )
    yield
    await app[HANDOFFS].wait_resumed()  # closes' Rasa resumes, before Rasa's client goes


async def _end_live_streams(app: web.Application) -> None:
    """Before the server waits for open requests: end every event stream."""
    if LIVE in app:
        app[LIVE].publish(LiveEvent(SHUTDOWN_EVENT))


class Console:
    """The console sub-application and its feature registry."""

    def __init__(self) -> None:
        self.app = web.Application(middlewares=[console_middleware])
        self.registry = Registry()
        r = self.app.router
        r.add_get("", root_redirect, name="console:root")
        r.add_get("/login", login_form, name="console:login")
        r.add_post("/login", login_submit, name="console:login")
        r.add_post("/logout", logout, name="console:logout")
        r.add_post("/lang", set_language, name="console:lang")
        r.add_get("/static/{name}", static_asset, name="console:static")
        self.registry.remember([self.app])

    def add_feature(self, feature: ConsoleFeature) -> None:
        """Register a feature: routes, menu entry, roles (before the console is mounted)."""
        self.registry.add(feature, self.app)

    def mount(self, root: web.Application, packages: Iterable[str] = ()) -> ConsoleState:
        """Nest the console under /console in the gateway, with its state and contexts."""
        features = self.registry.features
        templates = ["bot.console", *packages, *(f.templates for f in features if f.templates)]
        console_state = ConsoleState(
            registry=self.registry,
            templates=build_environment(dict.fromkeys(templates), self.registry.url),
            assets=_load_assets(),
        )
        root[CONSOLE] = console_state
        root.cleanup_ctx.append(_console_ctx)
        for feature in features:
            if feature.context is not None:
                root.cleanup_ctx.append(feature.context)
        root.on_shutdown.append(_end_live_streams)
        root.add_subapp(PREFIX, self.app)
        return console_state


def setup_console(app: web.Application, *features: ConsoleFeature) -> Console:
    """Add the console to the gateway: its own features (handoff, supervision,
    administration), then ``features`` in order; call after the pipeline's context."""
    from ._admin_pages import ADMIN_FEATURES
    from ._handoff import HANDOFF_FEATURES

    console = Console()
    for feature in (*HANDOFF_FEATURES, *ADMIN_FEATURES, *features):
        console.add_feature(feature)
    console.mount(app)
    return console
