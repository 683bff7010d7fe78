"""The console's HTTP side of logins: the session cookie, the CSRF tokens, same-origin
checks. Who is logged in is bot.accounts' business (Sessions); this module only carries
it over HTTP.

* The session cookie is HttpOnly, SameSite=Strict, Path=/console, Secure behind an https
  public URL, and expires with the session row.
* Every state-changing request carries the session's CSRF token (header ``X-CSRF-Token``
  from scripts, hidden field ``csrf_token`` from forms), compared in constant time. The
  login form has its own double-submit token, since there is no session yet.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from .._settings import Settings
from ..accounts import Session, Sessions
from ..accounts._sessions import MAX_TOKEN_CHARS
from ..storage._store import Store

__all__ = [
    "AUTH",
    "COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOGIN_COOKIE",
    "PREFIX",
    "ConsoleAuth",
    "same_token",
]

PREFIX = "/console"
COOKIE = "sp4all_console"
LOGIN_COOKIE = "sp4all_login"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
TOKEN_BYTES = 32
LOGIN_TOKEN_MAX_AGE_S = 60 * 60
SECONDS_PER_HOUR = 3600

AUTH = web.RequestKey("console_auth", Session)


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison; a missing token never matches."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


class ConsoleAuth:
    """Sessions (bot.accounts) plus the cookies that carry them."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._settings = settings
        self.sessions = Sessions(store, self.session_s)

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies when the console is served over https."""
        return self._settings.public_url.startswith("https://")

    @property
    def session_s(self) -> int:
        """Session lifetime in seconds (settings.console_session_hours)."""
        return max(1, int(self._settings.console_session_hours * SECONDS_PER_HOUR))

    async def session(self, token: str | None) -> Session | None:
        """The valid session of a cookie value, if any."""
        return await self.sessions.session(token)

    def set_cookie(self, response: web.StreamResponse, token: str) -> None:
        """The session cookie, hardened."""
        response.set_cookie(
            COOKIE,
            token,
            max_age=self.session_s,
            path=PREFIX,
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookies,
        )

    def clear_cookie(self, response: web.StreamResponse) -> None:
        """Forget the session cookie in the browser."""
        response.del_cookie(
            COOKIE, path=PREFIX, httponly=True, samesite="Strict", secure=self.secure_cookies
        )

    def login_token(self, response: web.StreamResponse, existing: str | None) -> str:
        """The login form's double-submit token (a short-lived cookie and a hidden field)."""
        token = existing if existing and len(existing) <= MAX_TOKEN_CHARS else None
        token = token or secrets.token_urlsafe(TOKEN_BYTES)
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=LOGIN_TOKEN_MAX_AGE_S,
            path=f"{PREFIX}/login",
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookies,
        )
        return token
