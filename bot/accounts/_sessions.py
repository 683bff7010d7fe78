"""Console sessions and logins, whatever serves them (the console's HTTP layer sets the
cookies; this module decides who is logged in).

* A session is a random 32-byte token; only its SHA-256 is stored (gw_console_sessions), so
  a database leak gives no usable cookie. Each session carries its own CSRF token.
* Failed logins are counted per username and client address (and per address alone) in
  this process: after ``MAX_FAILURES`` in ``WINDOW_S`` a login is refused with the seconds
  to wait. Behind a reverse proxy every client shares the proxy's address, so the
  per-address limit is set high.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from ..storage._db import Agent, ConsoleSession, utcnow
from ..storage._store import Store
from ._passwords import hash_password, verify_password
from ._roles import Viewer

__all__ = [
    "MAX_TOKEN_CHARS",
    "LoginRefused",
    "LoginThrottle",
    "Session",
    "Sessions",
    "token_hash",
]

TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128
MAX_FAILURES = 5  # per username and address
MAX_ADDRESS_FAILURES = 50  # per address, whatever the username (password spraying)
WINDOW_S = 15 * 60
MAX_TRACKED_KEYS = 10_000


def token_hash(token: str) -> str:
    """What the database stores instead of the session token."""
    return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottle:
    """Failures per key in a sliding window (in memory, bounded)."""

    def __init__(
        self,
        limit: int,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str) -> deque[float]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        cutoff = self._clock() - self._window_s
        while found and found[0] <= cutoff:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def retry_after(self, key: str) -> float | None:
        """Seconds until another attempt is allowed, or None if allowed now."""
        recent = self._recent(key)
        if len(recent) < self._limit:
            return None
        return max(1.0, recent[0] + self._window_s - self._clock())

    def failed(self, key: str) -> None:
        """Count a failure (the oldest keys are forgotten beyond MAX_TRACKED_KEYS)."""
        self._recent(key)
        self._failures.setdefault(key, deque()).append(self._clock())
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED_KEYS:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        """A correct password clears that key's failures."""
        self._failures.pop(key, None)


@dataclass(frozen=True)
class Session:
    """A valid session: who, their CSRF token and when the session ends."""

    viewer: Viewer
    csrf: str
    token_hash: str
    expires_at: datetime


class LoginRefused(Exception):
    """Wrong credentials (``retry_after`` None) or throttled (seconds to wait)."""

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("login refused")
        self.retry_after = retry_after


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=utcnow().tzinfo)


class Sessions:
    """Logins and sessions against gw_agents / gw_console_sessions."""

    def __init__(
        self, store: Store, lifetime_s: int, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._store = store
        self.lifetime_s = lifetime_s
        self._clock = clock
        self.by_user = LoginThrottle(MAX_FAILURES)
        self.by_address = LoginThrottle(MAX_ADDRESS_FAILURES)
        # checked when the username is unknown, so both cases take as long
        self._dummy_hash = hash_password(secrets.token_urlsafe(TOKEN_BYTES))

    async def login(self, username: str, password: str, address: str) -> tuple[str, Viewer]:
        """A new session's token for correct credentials; LoginRefused otherwise."""
        name = username.strip().lower()[:MAX_TOKEN_CHARS]
        user_key, address_key = f"{name}\x00{address}", address
        waits = [self.by_user.retry_after(user_key), self.by_address.retry_after(address_key)]
        if any(w is not None for w in waits):
            raise LoginRefused(max(w for w in waits if w is not None))
        async with self._store.reading() as session:
            agent = await session.scalar(select(Agent).where(Agent.username == name))
        stored = agent.password_hash if agent is not None and agent.active else self._dummy_hash
        # scrypt takes tens of milliseconds: off the event loop, which serves the citizens
        ok = await asyncio.to_thread(verify_password, password, stored)
        if agent is None or not agent.active or not ok:
            self.by_user.failed(user_key)
            self.by_address.failed(address_key)
            raise LoginRefused()
        self.by_user.succeeded(user_key)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock()
        async with self._store.writing() as session:
            await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
            session.add(
                ConsoleSession(
                    token_hash=token_hash(token),
                    agent_id=agent.id,
                    csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.lifetime_s),
                )
            )
            await session.execute(
                update(Agent).where(Agent.id == agent.id).values(last_login_at=now)
            )
            await session.commit()
        viewer = Viewer(agent.id, agent.organisation_id, agent.role, agent.display_name)
        return token, viewer

    async def session(self, token: str | None) -> Session | None:
        """The session of a token, if valid now (an expired row is deleted)."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        digest = token_hash(token)
        # every console request asks this: the columns it needs, no ORM objects
        async with self._store.reading() as session:
            found = (
                await session.execute(
                    select(
                        ConsoleSession.csrf_token,
                        ConsoleSession.expires_at,
                        Agent.id,
                        Agent.organisation_id,
                        Agent.role,
                        Agent.display_name,
                        Agent.active,
                    )
                    .join(Agent, Agent.id == ConsoleSession.agent_id)
                    .where(ConsoleSession.token_hash == digest)
                )
            ).first()
        if found is None:
            return None
        if _aware(found.expires_at) <= self._clock():
            await self.logout(digest)
            return None
        if not found.active:
            return None
        viewer = Viewer(found.id, found.organisation_id, found.role, found.display_name)
        return Session(viewer, found.csrf_token, digest, _aware(found.expires_at))

    async def logout(self, digest: str) -> None:
        """Delete the session row: the token is worthless from now on."""
        async with self._store.writing() as session:
            await session.execute(
                delete(ConsoleSession).where(ConsoleSession.token_hash == digest)
            )
            await session.commit()
