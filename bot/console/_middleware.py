"""The console's one middleware, shared by every feature's sub-application: login, the
feature's roles, CSRF, refusals mapped to HTTP statuses (in one place) and the security
headers (a strict Content-Security-Policy: no inline script or style anywhere)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from aiohttp import web

from .._exceptions import Conflict, Invalid, NotAllowed, NotFound, Refused
from ..accounts import Session
from ._auth import AUTH, COOKIE, CSRF_FIELD, CSRF_HEADER, PREFIX, same_token
from ._features import ConsoleFeature
from ._labels import word
from ._web import is_api, render, state, ui_language, wants_json

__all__ = [
    "CSP",
    "PUBLIC_ROUTES",
    "SECURITY_HEADERS",
    "STATIC_PREFIX",
    "console_middleware",
    "refusal_status",
]

log = logging.getLogger("bot.console")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
PUBLIC_ROUTES = frozenset({"console:root", "console:login", "console:static"})
STATIC_PREFIX = f"{PREFIX}/static/"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
REFUSAL_STATUS: tuple[tuple[type[Refused], int], ...] = (
    (NotFound, 404),
    (NotAllowed, 403),
    (Conflict, 409),
    (Invalid, 400),
)
DEFAULT_REFUSAL_STATUS = 400

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refusal_status(exc: Refused) -> int:
    """The one mapping of refusals to HTTP statuses."""
    return next((s for cls, s in REFUSAL_STATUS if isinstance(exc, cls)), DEFAULT_REFUSAL_STATUS)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


async def _check_csrf(request: web.Request, auth: Session) -> None:
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.content_type in FORM_TYPES:
        form = await request.post()
        field = form.get(CSRF_FIELD)
        token = field if isinstance(field, str) else None
    if not _same_origin(request) or not same_token(token, auth.csrf):
        raise NotAllowed("missing or wrong CSRF token: reload the page and try again")


def _check_roles(feature: ConsoleFeature | None, auth: Session) -> None:
    if feature is None or auth.viewer.has_any(feature.roles):
        return
    if len(feature.roles) == 1:
        raise NotAllowed(f"this needs the {next(iter(feature.roles))} role")
    names = ", ".join(sorted(word("role", r, "en") for r in feature.roles))
    raise NotAllowed(f"this is for: {names}")


_TOO_LARGE = (
    "the file is too large to upload",
    "ឯកសារធំពេកមិនអាចផ្ទុកឡើងបានទេ",
)


def _upload_limit(request: web.Request) -> int:
    """A route that takes a file may read more than the gateway's body limit (0: no)."""
    if request.method in SAFE_METHODS:
        return 0
    feature = state(request).registry.feature_of(request)
    name = request.match_info.route.name or ""
    return feature.uploads.get(name, 0) if feature is not None else 0


def _refuse_logged_out(request: web.Request) -> web.StreamResponse:
    if is_api(request) or wants_json(request) or request.method not in SAFE_METHODS:
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


def _back(request: web.Request, feature: ConsoleFeature | None) -> str:
    """Where a refused form sends the person back to."""
    if feature is not None and feature.back is not None:
        return feature.back(request)
    if feature is not None and feature.home:
        return state(request).registry.url(f"{feature.name}:{feature.home}")
    return f"{PREFIX}/"


def _refused(request: web.Request, exc: Refused) -> web.Response:
    status = refusal_status(exc)
    log.info("console.refused", extra={"path": request.path, "status": status})
    if wants_json(request) or (is_api(request) and request.method in SAFE_METHODS):
        return web.json_response({"error": str(exc)}, status=status)
    feature = state(request).registry.feature_of(request)
    lang = ui_language(request)
    return render(
        request,
        "console/error.html",
        status,
        title=exc.words(lang),
        page="error",
        message=exc.words(lang),
        back=_back(request, feature),
        lang=lang,
    )


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every console route: login (but for the login page and assets), the feature's roles,
    CSRF on every change, refusals as 4xx pages or JSON, security headers."""
    console = state(request)
    route_name = request.match_info.route.name
    try:
        if route_name not in PUBLIC_ROUTES:
            auth = await console.auth.session(request.cookies.get(COOKIE))
            if auth is None:
                response = _refuse_logged_out(request)
                _harden(response, request)
                return response
            upload = _upload_limit(request)
            if upload:  # a file field: this route's own limit, before the form is read
                request = request.clone(client_max_size=upload)
            request[AUTH] = auth
            if request.method not in SAFE_METHODS:
                await _check_csrf(request, auth)
            _check_roles(console.registry.feature_of(request), auth)
        response = await handler(request)
    except Refused as exc:
        response = _refused(request, exc)
    except web.HTTPRequestEntityTooLarge as exc:
        response = _refused(request, Invalid(_TOO_LARGE[0], km=_TOO_LARGE[1]))
        response.set_status(exc.status)
    except web.HTTPException as exc:
        _harden(exc, request)
        raise
    _harden(response, request)
    return response
