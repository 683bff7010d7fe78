"""What every console feature's handlers use: who is asking, the request's fields, pages
rendered from templates in the console's layout, and form-or-JSON answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from jinja2 import Environment

from .._exceptions import Invalid, NotFound
from ..accounts import Admin, Viewer
from ._auth import AUTH, PREFIX, ConsoleAuth
from ._canned import CannedReplies
from ._features import Registry
from ._labels import LANGUAGE_NAMES, UI_LANGUAGES

__all__ = [
    "CONSOLE",
    "LANG_COOKIE",
    "Asset",
    "ConsoleState",
    "Services",
    "done",
    "fields",
    "is_api",
    "number",
    "path_id",
    "payload",
    "render",
    "safe_next",
    "state",
    "ui_language",
    "viewer",
    "wants_json",
]

LANG_COOKIE = "sp4all_console_lang"


@dataclass(frozen=True)
class Asset:
    """A static file kept in memory, with its versioned URL."""

    body: bytes
    content_type: str
    url: str


@dataclass(frozen=True)
class Services:
    """What the console opens at start-up, on the gateway's database."""

    auth: ConsoleAuth
    admin: Admin
    canned: CannedReplies


@dataclass
class ConsoleState:
    """What the console keeps for the life of the app (on the root app: ``CONSOLE``): the
    features and templates from set-up on, the services from start-up on."""

    registry: Registry
    templates: Environment
    assets: dict[str, Asset]
    services: Services | None = None

    def _started(self) -> Services:
        if self.services is None:
            raise RuntimeError("the console is not started")
        return self.services

    @property
    def auth(self) -> ConsoleAuth:
        """The session cookies and logins."""
        return self._started().auth

    @property
    def admin(self) -> Admin:
        """Organisations and people."""
        return self._started().admin

    @property
    def canned(self) -> CannedReplies:
        """Canned replies."""
        return self._started().canned


CONSOLE = web.AppKey("console", ConsoleState)


MAX_INT = 2**31 - 1  # ids and numbers live in INTEGER columns: PostgreSQL refuses more


def path_id(request: web.Request, what: str) -> int:
    """The ``{id}`` of the URL; NotFound (404) if it is not a number an id can be."""
    try:
        found = int(request.match_info["id"])
    except ValueError as exc:
        raise NotFound(f"no such {what}") from exc
    if not 0 <= found <= MAX_INT:
        raise NotFound(f"no such {what}")
    return found


def number(value: str | None, what: str) -> int | None:
    """An optional number from a form; Invalid (400) if it is not one or out of range."""
    if value is None or value.strip() == "":
        return None
    try:
        found = int(value)
    except ValueError as exc:
        raise Invalid(f"{what} must be a number") from exc
    if abs(found) > MAX_INT:
        raise Invalid(f"{what} is out of range")
    return found


def state(request: web.Request) -> ConsoleState:
    """The console's state, from any of its sub-applications."""
    return request.config_dict[CONSOLE]


def viewer(request: web.Request) -> Viewer:
    """The logged-in person (the middleware has checked the session)."""
    return request[AUTH].viewer


def ui_language(request: web.Request) -> str:
    """Khmer or English, as this browser chose (English by default)."""
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in UI_LANGUAGES else "en"


def wants_json(request: web.Request) -> bool:
    """A script (JSON in or out) rather than a form."""
    return request.content_type == "application/json" or "application/json" in request.headers.get(
        "Accept", ""
    )


def is_api(request: web.Request) -> bool:
    """JSON endpoints, live events and page fragments: never an HTML page or a redirect."""
    return request.path.startswith((f"{PREFIX}/api/", f"{PREFIX}/events", f"{PREFIX}/partial/"))


async def fields(request: web.Request) -> dict[str, list[str]]:
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


async def payload(request: web.Request) -> dict[str, str]:
    """A JSON object or a form, one string per name (the last one given)."""
    return {k: v[-1] for k, v in (await fields(request)).items()}


def done(request: web.Request, location: str, data: dict[str, Any]) -> web.StreamResponse:
    """JSON for a script; a 303 back to a page for a form."""
    if wants_json(request):
        return web.json_response(data)
    raise web.HTTPSeeOther(location)


def safe_next(value: str | None) -> str:
    """Only a console path (no open redirect to another site)."""
    if not value or not value.startswith(f"{PREFIX}/") or value.startswith("//"):
        return f"{PREFIX}/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value:
        return f"{PREFIX}/"
    return value


def page_values(
    request: web.Request, *, csrf: str | None = None, language: str | None = None
) -> dict[str, Any]:
    """What the layout needs: the viewer, their menu, language, CSRF token and assets."""
    console = state(request)
    auth = request.get(AUTH)
    who = auth.viewer if auth else None
    lang = language or ui_language(request)
    other = "km" if lang == "en" else "en"
    menu = console.registry.menu(who, lang)
    return {
        "viewer": who,
        "menu": menu,
        "home_url": menu[0].url if menu else f"{PREFIX}/",
        "csrf": csrf if csrf is not None else (auth.csrf if auth else ""),
        "lang": lang,
        "other_lang": other,
        "other_lang_name": LANGUAGE_NAMES[other].split()[0] if other == "km" else "English",
        "assets": {name: a.url for name, a in console.assets.items()},
    }


def render_text(request: web.Request, template: str, **values: Any) -> str:
    """A template in the console's layout, as text."""
    base = page_values(request, csrf=values.pop("csrf", None), language=values.pop("lang", None))
    return state(request).templates.get_template(template).render(**base, **values)


def render(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    """A page (or fragment) as an HTML response."""
    return web.Response(
        text=render_text(request, template, **values),
        status=status,
        content_type="text/html",
        charset="utf-8",
    )
