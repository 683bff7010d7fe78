"""The console's routes: pages, their HTML fragments, the JSON API and live events (SSE).

Page forms and scripts use the same action URLs (``/console/api/handoffs/{id}/claim``...):
a form gets a 303 back to the page, a JSON request gets JSON. Permissions are the
service's (bot.handoff); this layer adds login, CSRF, roles and escaping.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from .. import keys
from .._exceptions import Conflict, HandoffError, Invalid, NotAllowed, NotFound
from ..handoff import (
    RESYNC,
    Admin,
    AdminRules,
    HandoffView,
    HistoryItem,
    LiveEvent,
    PlaceNames,
    Viewer,
    generate_password,
    load_topics,
)
from ..storage._db import AgentRole
from ._auth import (
    AUTH,
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    LOGIN_COOKIE,
    PREFIX,
    Authenticated,
    ConsoleAuth,
    LoginRefused,
    require_role,
    same_token,
)
from ._canned import CannedReplies
from ._labels import UI_LANGUAGES
from ._pages import (
    PageContext,
    Summary,
    agents_page,
    chats_page,
    conversation_page,
    error_page,
    history_fragment,
    login_page,
    org_page,
    orgs_page,
    queue_fragment,
    queue_page,
    supervisor_page,
)

__all__ = ["ConsoleState", "setup_console"]

log = logging.getLogger("bot.console")

LANG_COOKIE = "sp4all_console_lang"
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
PUBLIC_PATHS = frozenset({f"{PREFIX}/login"})
STATIC_PREFIX = f"{PREFIX}/static/"
ASSETS = {"console.css": "text/css", "console.js": "text/javascript"}
ASSET_MAX_AGE_S = 7 * 24 * 3600  # URLs carry a content hash, so a change is a new URL
SSE_KEEPALIVE_S = 15.0
SSE_RETRY_MS = 3000
SSE_BATCH = 64
SHUTDOWN_EVENT = "console-shutdown"
SUMMARY_ASKED = 3
SUMMARY_TOLD = 2
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
ERROR_STATUS: dict[type[HandoffError], int] = {
    NotFound: 404,
    NotAllowed: 403,
    Conflict: 409,
    Invalid: 400,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Asset:
    """A static file kept in memory, with its versioned URL."""

    body: bytes
    content_type: str
    url: str


@dataclass
class ConsoleState:
    """What the console keeps for the life of the app."""

    auth: ConsoleAuth
    admin: Admin
    canned: CannedReplies
    assets: dict[str, Asset]


def _load_assets() -> dict[str, Asset]:
    folder = resources.files("bot.console").joinpath("static")
    assets = {}
    for name, content_type in ASSETS.items():
        body = folder.joinpath(name).read_bytes()
        version = hashlib.sha256(body).hexdigest()[:12]
        assets[name] = Asset(body, content_type, f"{STATIC_PREFIX}{name}?v={version}")
    return assets


# ----- request helpers -------------------------------------------------------------------------


def _state(request: web.Request) -> ConsoleState:
    return request.app[keys.CONSOLE]


def _viewer(request: web.Request) -> Viewer:
    return request[AUTH].viewer


def _ui_language(request: web.Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in UI_LANGUAGES else "en"


def page_context(request: web.Request, csrf: str | None = None) -> PageContext:
    auth = request.get(AUTH)
    return PageContext(
        viewer=auth.viewer if auth else None,
        csrf=csrf if csrf is not None else (auth.csrf if auth else ""),
        language=_ui_language(request),
        assets={name: a.url for name, a in _state(request).assets.items()},
    )


def wants_json(request: web.Request) -> bool:
    return request.content_type == "application/json" or "application/json" in request.headers.get(
        "Accept", ""
    )


def _is_api(request: web.Request) -> bool:
    return request.path.startswith((f"{PREFIX}/api/", f"{PREFIX}/events", f"{PREFIX}/partial/"))


def html_response(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


async def request_fields(request: web.Request) -> dict[str, list[str]]:
    """A JSON object or a form as lists of strings (a form's checkboxes repeat a name)."""
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError as exc:
            raise Invalid("malformed JSON") from exc
        if not isinstance(data, dict):
            raise Invalid("expected a JSON object")
        return {
            str(k): [str(x) for x in v] if isinstance(v, list) else ["" if v is None else str(v)]
            for k, v in data.items()
        }
    found: dict[str, list[str]] = {}
    for key, value in (await request.post()).items():
        if isinstance(value, str):
            found.setdefault(key, []).append(value)
    return found


async def _payload(request: web.Request) -> dict[str, str]:
    """A JSON object or a form, one string per name (the last one given)."""
    return {k: v[-1] for k, v in (await request_fields(request)).items()}


def _int(value: str | None, what: str) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise Invalid(f"{what} must be a number") from exc


def _handoff_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError as exc:
        raise NotFound("no such conversation") from exc


def _back(request: web.Request) -> str:
    """Where a refused form sends the agent back to."""
    path = request.path
    if "/handoffs/" in path and "id" in request.match_info:
        return f"{PREFIX}/c/{request.match_info['id']}"
    for section in ("orgs", "agents", "chats"):
        if path.startswith(f"{PREFIX}/admin/{section}"):
            return f"{PREFIX}/admin/{section}"
    return f"{PREFIX}/"


def _safe_next(value: str | None) -> str:
    """Only a console path (no open redirect to another site)."""
    if not value or not value.startswith(f"{PREFIX}/") or value.startswith("//"):
        return f"{PREFIX}/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value:
        return f"{PREFIX}/"
    return value


def _done(request: web.Request, location: str, data: dict[str, Any]) -> web.StreamResponse:
    if wants_json(request):
        return web.json_response(data)
    raise web.HTTPSeeOther(location)


# ----- middleware ------------------------------------------------------------------------------


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


async def _check_csrf(request: web.Request, auth: Authenticated) -> None:
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.content_type in FORM_TYPES:
        form = await request.post()
        field = form.get(CSRF_FIELD)
        token = field if isinstance(field, str) else None
    if not _same_origin(request) or not same_token(token, auth.csrf):
        raise NotAllowed("missing or wrong CSRF token: reload the page and try again")


def _refuse_logged_out(request: web.Request) -> web.StreamResponse:
    if _is_api(request) or wants_json(request) or request.method not in SAFE_METHODS:
        return web.json_response({"error": "log in first"}, status=401)
    target = request.path_qs if request.method == "GET" else f"{PREFIX}/"
    raise web.HTTPSeeOther(f"{PREFIX}/login?next={quote(target, safe='/')}")


def _harden(response: web.StreamResponse, request: web.Request) -> None:
    if response.prepared:
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith(STATIC_PREFIX):
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For /console only: login, CSRF, error pages and security headers."""
    path = request.path
    if path != PREFIX and not path.startswith(f"{PREFIX}/"):
        return await handler(request)
    try:
        if path not in PUBLIC_PATHS and not path.startswith(STATIC_PREFIX) and path != PREFIX:
            auth = await _state(request).auth.session(request.cookies.get(COOKIE))
            if auth is None:
                response = _refuse_logged_out(request)
                _harden(response, request)
                return response
            request[AUTH] = auth
            if request.method not in SAFE_METHODS:
                await _check_csrf(request, auth)
        response = await handler(request)
    except HandoffError as exc:
        status = next((s for cls, s in ERROR_STATUS.items() if isinstance(exc, cls)), 400)
        if wants_json(request) or (_is_api(request) and request.method in SAFE_METHODS):
            response = web.json_response({"error": str(exc)}, status=status)
        else:
            response = html_response(
                error_page(page_context(request), str(exc), _back(request)), status
            )
    except web.HTTPException as exc:
        _harden(exc, request)
        raise
    _harden(response, request)
    return response


# ----- login, logout, language ------------------------------------------------------------------


async def login_form(request: web.Request) -> web.StreamResponse:
    """The login page (or straight to the queue if already logged in)."""
    state = _state(request)
    if await state.auth.session(request.cookies.get(COOKIE)) is not None:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next")))
    response = web.Response(content_type="text/html", charset="utf-8")
    language = request.query.get("lang")
    if language in UI_LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, max_age=LANG_COOKIE_MAX_AGE_S, path=PREFIX)
    token = state.auth.login_token(response, request.cookies.get(LOGIN_COOKIE))
    ctx = page_context(request, token)
    if language in UI_LANGUAGES:
        ctx = PageContext(None, token, language, ctx.assets)
    response.text = login_page(ctx, next_path=_safe_next(request.query.get("next")))
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the login form's token, the throttle, then the password."""
    state = _state(request)
    form = await request.post()
    field = form.get(CSRF_FIELD)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not isinstance(field, str) or not cookie or not same_token(field, cookie):
        raise NotAllowed("the login form expired: reload the page and try again")
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    next_path = _safe_next(str(form.get("next") or ""))
    ctx = page_context(request, cookie)
    try:
        token, viewer = await state.auth.login(username, password, request.remote or "?")
    except LoginRefused as refused:
        if refused.retry_after is not None:
            minutes = str(max(1, round(refused.retry_after / 60)))
            page = login_page(ctx, next_path=next_path, error=ctx.t("throttled", minutes=minutes))
            response = html_response(page, 429)
            response.headers["Retry-After"] = str(int(refused.retry_after))
            return response
        return html_response(login_page(ctx, next_path=next_path, error=ctx.t("bad_login")), 401)
    log.info("console.login", extra={"agent": viewer.agent_id, "role": viewer.role})
    response = web.HTTPSeeOther(next_path)
    state.auth.set_cookie(response, token)
    response.del_cookie(LOGIN_COOKIE, path=f"{PREFIX}/login")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """Delete the session row and the cookie."""
    state = _state(request)
    await state.auth.logout(request[AUTH].token_hash)
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    state.auth.clear_cookie(response)
    raise response


async def set_language(request: web.Request) -> web.StreamResponse:
    """The console's language for this browser (Khmer or English)."""
    language = (await _payload(request)).get("lang", "")
    if language not in UI_LANGUAGES:
        raise Invalid("unknown language")
    response = web.HTTPSeeOther(f"{PREFIX}/")
    response.set_cookie(LANG_COOKIE, language, max_age=LANG_COOKIE_MAX_AGE_S, path=PREFIX)
    raise response


async def static_asset(request: web.Request) -> web.StreamResponse:
    """console.css / console.js from memory, cacheable (versioned URLs)."""
    asset = _state(request).assets.get(request.match_info["name"])
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


# ----- queue and conversations ----------------------------------------------------------------


async def queue(request: web.Request) -> web.StreamResponse:
    """The queue page."""
    views = await request.app[keys.HANDOFFS].queue(_viewer(request))
    return html_response(queue_page(page_context(request), views))


async def queue_partial(request: web.Request) -> web.StreamResponse:
    """The queue list alone, for live refreshes."""
    views = await request.app[keys.HANDOFFS].queue(_viewer(request))
    return html_response(queue_fragment(page_context(request), views))


async def queue_api(request: web.Request) -> web.StreamResponse:
    """GET /console/api/queue."""
    views = await request.app[keys.HANDOFFS].queue(_viewer(request))
    return web.json_response({"handoffs": [v.as_json() for v in views]})


def summarise(view: HandoffView, history: list[HistoryItem]) -> Summary:
    """What the citizen asked and was told before the handoff (the assistant's own summary
    first), so the agent need not scroll."""
    before = [i for i in history if i.at <= view.created_at]
    asked = [i.text for i in before if i.author == "citizen"][-SUMMARY_ASKED:]
    told = [i.text for i in before if i.author == "assistant"][-SUMMARY_TOLD:]
    return Summary(view.summary, asked, told)


async def conversation(request: web.Request) -> web.StreamResponse:
    """One conversation: header, summary, history and actions."""
    viewer = _viewer(request)
    service = request.app[keys.HANDOFFS]
    state = _state(request)
    view, history = await service.conversation(viewer, _handoff_id(request))
    orgs, agents = await state.admin.transfer_targets(
        None if viewer.is_admin else viewer.organisation_id
    )
    page = conversation_page(
        page_context(request),
        view,
        history,
        summarise(view, history),
        state.canned.current(),
        orgs,
        agents,
    )
    return html_response(page)


async def conversation_partial(request: web.Request) -> web.StreamResponse:
    """The history alone, for live refreshes."""
    history = await request.app[keys.HANDOFFS].history(_viewer(request), _handoff_id(request))
    return html_response(history_fragment(page_context(request), history))


async def conversation_api(request: web.Request) -> web.StreamResponse:
    """GET /console/api/handoffs/{id}: header, summary and history as JSON."""
    viewer = _viewer(request)
    view, history = await request.app[keys.HANDOFFS].conversation(viewer, _handoff_id(request))
    summary = summarise(view, history)
    return web.json_response(
        {
            "handoff": view.as_json(),
            "summary": summary.__dict__,
            "history": [i.as_json() for i in history],
        }
    )


async def claim(request: web.Request) -> web.StreamResponse:
    """Take a queued conversation."""
    view = await request.app[keys.HANDOFFS].claim(_viewer(request), _handoff_id(request))
    return _done(request, f"{PREFIX}/c/{view.id}", {"handoff": view.as_json()})


async def reply(request: web.Request) -> web.StreamResponse:
    """Send the agent's words to the citizen."""
    handoff_id = _handoff_id(request)
    text = (await _payload(request)).get("text", "")
    await request.app[keys.HANDOFFS].reply(_viewer(request), handoff_id, text)
    return _done(request, f"{PREFIX}/c/{handoff_id}", {"ok": True})


async def note(request: web.Request) -> web.StreamResponse:
    """A private note for colleagues."""
    handoff_id = _handoff_id(request)
    text = (await _payload(request)).get("text", "")
    await request.app[keys.HANDOFFS].note(_viewer(request), handoff_id, text)
    return _done(request, f"{PREFIX}/c/{handoff_id}", {"ok": True})


async def transfer(request: web.Request) -> web.StreamResponse:
    """To another organisation's queue, or to a named agent."""
    viewer = _viewer(request)
    data = await _payload(request)
    view = await request.app[keys.HANDOFFS].transfer(
        viewer,
        _handoff_id(request),
        organisation_id=_int(data.get("organisation_id"), "organisation_id"),
        agent_id=_int(data.get("agent_id"), "agent_id"),
    )
    back = f"{PREFIX}/c/{view.id}" if viewer.may_see(view.organisation_id) else f"{PREFIX}/"
    return _done(request, back, {"handoff": view.as_json()})


async def close(request: web.Request) -> web.StreamResponse:
    """Hand the citizen back to the assistant."""
    handoff_id = _handoff_id(request)
    await request.app[keys.HANDOFFS].close(_viewer(request), handoff_id)
    return _done(request, f"{PREFIX}/", {"ok": True})


async def take_over(request: web.Request) -> web.StreamResponse:
    """A supervisor or admin steps into a conversation the assistant is having."""
    data = await _payload(request)
    view = await request.app[keys.HANDOFFS].take_over(
        _viewer(request), data.get("channel", ""), data.get("chat_id", "")
    )
    return _done(request, f"{PREFIX}/c/{view.id}", {"handoff": view.as_json()})


# ----- live events --------------------------------------------------------------------------


def _visible(viewer: Viewer, event: LiveEvent) -> bool:
    if event.kind == RESYNC:  # names no conversation: every page re-reads what it may see
        return True
    if event.organisation_id is None:
        return viewer.is_admin
    return viewer.may_see(event.organisation_id)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: which conversation changed (never what was said: the page
    fetches that through the permission checks). Ends at logout, expiry or shutdown."""
    auth = request[AUTH]
    state = _state(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
            **SECURITY_HEADERS,
        }
    )
    viewer = auth.viewer

    def accept(event: LiveEvent) -> bool:  # filtered when published: no wake-up for others
        return event.kind == SHUTDOWN_EVENT or _visible(viewer, event)

    async with request.app[keys.LIVE].subscribe(accept) as live:
        await response.prepare(request)
        await response.write(f"retry: {SSE_RETRY_MS}\n\n".encode())
        while True:
            try:
                async with asyncio.timeout(SSE_KEEPALIVE_S):  # no task per event (wait_for)
                    event = await live.get()
            except TimeoutError:
                if await state.auth.session(request.cookies.get(COOKIE)) is None:
                    break  # logged out, expired or deactivated: stop the stream
                await response.write(b": keep-alive\n\n")
                continue
            # Everything already queued goes out in one write, each change once: the page
            # re-reads what changed, so a repeat of the same (kind, conversation) adds nothing.
            batch = [event]
            while not live.empty() and len(batch) < SSE_BATCH:
                batch.append(live.get_nowait())
            if any(e.kind == SHUTDOWN_EVENT for e in batch):
                break
            chunks: dict[tuple[str, int | None], bytes] = {}
            for e in batch:
                if _visible(auth.viewer, e):
                    chunks.setdefault((e.kind, e.handoff_id), e.sse)
            if chunks:
                await response.write(b"".join(chunks.values()))
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


# ----- supervisor and admin -------------------------------------------------------------------


async def supervisor(request: web.Request) -> web.StreamResponse:
    """Stats per organisation (supervisors: their own; admins: all)."""
    stats = await request.app[keys.HANDOFFS].stats(_viewer(request))
    return html_response(supervisor_page(page_context(request), stats))


async def stats_api(request: web.Request) -> web.StreamResponse:
    """GET /console/api/stats."""
    stats = await request.app[keys.HANDOFFS].stats(_viewer(request))
    return web.json_response({"organisations": [s.as_json() for s in stats]})


def _admin_only(request: web.Request) -> Admin:
    require_role(_viewer(request), AgentRole.ADMIN)
    return _state(request).admin


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace(";", ",").split(",") if v.strip()]


def _hours(value: str | None) -> dict[str, Any]:
    if not value or not value.strip():
        return {}
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise Invalid(
            f'office hours must be JSON like {{"mon-fri": ["08:00-17:00"]}}: {exc}'
        ) from exc
    if not isinstance(data, dict):
        raise Invalid('office hours look like {"mon-fri": ["08:00-17:00"]}')
    return data


def _org_fields(data: dict[str, str]) -> dict[str, Any]:
    return {
        "languages": _csv(data.get("languages")),
        "topics": _csv(data.get("topics")),
        "areas": _csv(data.get("areas")),
        "office_hours": _hours(data.get("office_hours")),
        "sla_minutes": _int(data.get("sla_minutes"), "the service level") or 30,
    }


async def orgs_list(request: web.Request) -> web.StreamResponse:
    """Organisations (admins)."""
    admin = _admin_only(request)
    return html_response(orgs_page(page_context(request), await admin.organisations()))


async def org_add(request: web.Request) -> web.StreamResponse:
    """Add an organisation (every field checked by Admin)."""
    admin = _admin_only(request)
    data = await _payload(request)
    org = await admin.add_organisation(
        data.get("slug", ""), data.get("name", ""), **_org_fields(data)
    )
    return _done(request, f"{PREFIX}/admin/orgs/{org.id}", {"organisation": org.as_json()})


async def org_show(request: web.Request) -> web.StreamResponse:
    """One organisation's form."""
    admin = _admin_only(request)
    return html_response(
        org_page(page_context(request), await admin.organisation(_handoff_id(request)))
    )


async def org_update(request: web.Request) -> web.StreamResponse:
    """Change an organisation."""
    admin = _admin_only(request)
    data = await _payload(request)
    current = await admin.organisation(_handoff_id(request))
    org = await admin.update_organisation(
        current.id,
        name=data.get("name", current.name),
        active=current.active if current.national_pool else data.get("active") == "1",
        **_org_fields(data),
    )
    return _done(request, f"{PREFIX}/admin/orgs/{org.id}", {"organisation": org.as_json()})


async def agents_list(request: web.Request, notice: str = "") -> web.StreamResponse:
    """Agents (admins)."""
    admin = _admin_only(request)
    page = agents_page(
        page_context(request), await admin.agents(), await admin.organisations(), notice
    )
    return html_response(page)


async def agent_add(request: web.Request) -> web.StreamResponse:
    """Add an agent with a generated password, shown once on the next page."""
    admin = _admin_only(request)
    data = await _payload(request)
    password = generate_password()
    agent = await admin.add_agent(
        data.get("username", ""),
        data.get("display_name", ""),
        _int(data.get("organisation"), "organisation") or 0,
        data.get("role", AgentRole.AGENT),
        password,
    )
    if wants_json(request):
        return web.json_response({"agent": agent.as_json(), "password": password})
    ctx = page_context(request)
    return await agents_list(
        request, ctx.t("password_once", user=agent.username, password=password)
    )


async def agent_update(request: web.Request) -> web.StreamResponse:
    """Change an agent's name, role, organisation or activity."""
    admin = _admin_only(request)
    data = await _payload(request)
    agent = await admin.update_agent(
        _handoff_id(request),
        display_name=data.get("display_name"),
        role=data.get("role"),
        organisation=_int(data.get("organisation"), "organisation"),
        active=data.get("active") == "1",
    )
    return _done(request, f"{PREFIX}/admin/agents", {"agent": agent.as_json()})


async def agent_password(request: web.Request) -> web.StreamResponse:
    """Reset a password to a generated one, shown once."""
    admin = _admin_only(request)
    password = generate_password()
    agent = await admin.set_password(_handoff_id(request), password)
    if wants_json(request):
        return web.json_response({"agent": agent.as_json(), "password": password})
    ctx = page_context(request)
    return await agents_list(
        request, ctx.t("password_once", user=agent.username, password=password)
    )


async def chats_list(request: web.Request) -> web.StreamResponse:
    """Conversations with the assistant (admins), to take one over."""
    chats = await request.app[keys.HANDOFFS].recent_chats(_viewer(request))
    return html_response(chats_page(page_context(request), chats))


# ----- wiring ------------------------------------------------------------------------------------


async def _console_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    store = app[keys.STORE]
    rules = AdminRules(
        places=PlaceNames.load(settings.gazetteer_path.parent),
        topics=load_topics(settings.knowledge_dir / "programmes.yml"),
    )
    app[keys.CONSOLE] = ConsoleState(
        auth=ConsoleAuth(store, settings),
        admin=Admin(store, rules),
        canned=CannedReplies(settings.knowledge_dir / "canned_replies.yml"),
        assets=_load_assets(),
    )
    yield
    await app[keys.HANDOFFS].wait_resumed()  # closes' Rasa resumes, before Rasa's client goes


async def _end_live_streams(app: web.Application) -> None:
    """Before the server waits for open requests: end every event stream."""
    if keys.LIVE in app:
        app[keys.LIVE].publish(LiveEvent(SHUTDOWN_EVENT))


def setup_console(app: web.Application) -> None:
    """Add the console (routes, middleware, state) to the gateway app; call before start."""
    app.middlewares.append(console_middleware)
    app.cleanup_ctx.append(_console_ctx)
    app.on_shutdown.append(_end_live_streams)
    r = app.router
    r.add_get(PREFIX, root_redirect)
    r.add_get(f"{PREFIX}/login", login_form)
    r.add_post(f"{PREFIX}/login", login_submit)
    r.add_post(f"{PREFIX}/logout", logout)
    r.add_post(f"{PREFIX}/lang", set_language)
    r.add_get(f"{STATIC_PREFIX}{{name}}", static_asset)
    r.add_get(f"{PREFIX}/", queue)
    r.add_get(f"{PREFIX}/partial/queue", queue_partial)
    r.add_get(f"{PREFIX}/c/{{id}}", conversation)
    r.add_get(f"{PREFIX}/partial/c/{{id}}", conversation_partial)
    r.add_get(f"{PREFIX}/events", events)
    r.add_get(f"{PREFIX}/supervisor", supervisor)
    r.add_get(f"{PREFIX}/api/queue", queue_api)
    r.add_get(f"{PREFIX}/api/stats", stats_api)
    r.add_get(f"{PREFIX}/api/handoffs/{{id}}", conversation_api)
    for action, handler in (
        ("claim", claim),
        ("reply", reply),
        ("note", note),
        ("transfer", transfer),
        ("close", close),
    ):
        r.add_post(f"{PREFIX}/api/handoffs/{{id}}/{action}", handler)
    r.add_post(f"{PREFIX}/api/takeover", take_over)
    r.add_get(f"{PREFIX}/admin/orgs", orgs_list)
    r.add_post(f"{PREFIX}/admin/orgs", org_add)
    r.add_get(f"{PREFIX}/admin/orgs/{{id}}", org_show)
    r.add_post(f"{PREFIX}/admin/orgs/{{id}}", org_update)
    r.add_get(f"{PREFIX}/admin/agents", agents_list)
    r.add_post(f"{PREFIX}/admin/agents", agent_add)
    r.add_post(f"{PREFIX}/admin/agents/{{id}}", agent_update)
    r.add_post(f"{PREFIX}/admin/agents/{{id}}/password", agent_password)
    r.add_get(f"{PREFIX}/admin/chats", chats_list)
