"""Live console events across gateway processes: PostgreSQL LISTEN/NOTIFY.

Several gateway processes share one port; an agent's event stream is held by one of them,
the handoff it is about may change in another. Each process relays what its LiveHub
publishes with ``NOTIFY`` and delivers what the others notify to its own subscribers.

Why PostgreSQL and not Redis pub/sub: every multi-process deployment has PostgreSQL (the
gateway's queue needs it; SQLite is one process), Redis is optional, and one dependency
fewer is one failure mode fewer. ``pg_notify`` outside a transaction is sent at once, and
its 8000-byte payload limit is far above what is sent.

What is sent is only ``kind``, ``handoff_id`` and ``organisation_id``: never citizen text
(``LiveEvent.data`` stays in the process) -- every page re-reads through its permission
checks. Events without a handoff (the console's stream shutdown) stay local: one process
stopping must not end the streams of the others.

A process receives its own NOTIFY back; an origin id drops it. The listening connection
is checked every few seconds; when it is gone (a database restart) the relay reconnects
and publishes a ``resync`` event locally, since events of the other processes may have
been missed meanwhile: the pages re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from ._live import RESYNC, LiveEvent, LiveHub

__all__ = ["CHANNEL", "PostgresRelay", "live_relay"]

log = logging.getLogger("bot.handoff.live")

CHANNEL = "sp4all_live"
APPLICATION_NAME = "sp4all-live"  # in pg_stat_activity, to tell the listener apart
OUTBOX = 1024  # events waiting to be notified; beyond, the oldest is dropped
KEEPALIVE_S = 5.0  # how soon a silently dead connection is noticed
CONNECT_TIMEOUT_S = 5.0
RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 5.0
MAX_PAYLOAD = 8000  # PostgreSQL's NOTIFY limit, in bytes


def asyncpg_dsn(database_url: str) -> str | None:
    """The libpq form of a SQLAlchemy PostgreSQL URL; None for other databases."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix) :]
    return None


def encode(event: LiveEvent, origin: str) -> str:
    """The NOTIFY payload: which conversation changed and who may see it, nothing said."""
    payload = json.dumps(
        {"o": origin, "k": event.kind, "h": event.handoff_id, "g": event.organisation_id},
        separators=(",", ":"),
    )
    if len(payload.encode()) > MAX_PAYLOAD:
        raise ValueError("live event too large for NOTIFY")
    return payload


def decode(payload: str) -> tuple[str, LiveEvent] | None:
    """(origin, event) from a NOTIFY payload; None if it is not one of ours."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    origin, kind, handoff, org = data.get("o"), data.get("k"), data.get("h"), data.get("g")
    if not isinstance(origin, str) or not isinstance(kind, str) or not isinstance(handoff, int):
        return None
    if org is not None and not isinstance(org, int):
        return None
    return origin, LiveEvent(kind, handoff, org)


class PostgresRelay:
    """One connection per process: LISTEN for the others, NOTIFY for this one."""

    def __init__(self, hub: LiveHub, dsn: str, channel: str = CHANNEL) -> None:
        self._hub = hub
        self._dsn = dsn
        self._channel = channel
        self.origin = secrets.token_hex(8)
        self._outbox: asyncio.Queue[LiveEvent | None] = asyncio.Queue(OUTBOX)
        self.connections = 0  # how many times it connected (1 + reconnects)
        self.server_pid = 0  # the listening backend's pid (pg_stat_activity, tests)
        self.listening = asyncio.Event()

    def forward(self, event: LiveEvent) -> None:
        """LiveHub's hook: queue the event for NOTIFY (never blocks the publisher)."""
        self._put(event)

    def _put(self, item: LiveEvent | None) -> None:
        if self._outbox.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._outbox.get_nowait()
        self._outbox.put_nowait(item)

    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        decoded = decode(payload)
        if decoded is None:
            log.warning("live.bad_notify")
            return
        origin, event = decoded
        if origin != self.origin:  # our own comes back too: delivered already
            self._hub.deliver(event)

    async def run(self) -> None:
        """Connect, relay until the connection is lost, reconnect; cancel to stop."""
        pause = RECONNECT_MIN_S
        while True:
            try:
                conn = await asyncpg.connect(
                    self._dsn,
                    timeout=CONNECT_TIMEOUT_S,
                    server_settings={"application_name": APPLICATION_NAME},
                )
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("live.connect_failed", extra={"error": type(exc).__name__})
                await asyncio.sleep(pause)
                pause = min(RECONNECT_MAX_S, pause * 2)
                continue
            pause = RECONNECT_MIN_S
            try:
                await self._session(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("live.connection_lost", extra={"error": type(exc).__name__})
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), CONNECT_TIMEOUT_S)

    async def _session(self, conn: asyncpg.Connection) -> None:
        conn.add_termination_listener(lambda _c: self._put(None))  # wakes the loop below
        await conn.add_listener(self._channel, self._received)
        self.connections += 1
        self.server_pid = conn.get_server_pid()
        if self.connections > 1:  # others' events may have passed meanwhile
            log.info("live.reconnected")
            self._hub.deliver(LiveEvent(RESYNC))
        self.listening.set()
        while True:
            try:
                event = await asyncio.wait_for(self._outbox.get(), KEEPALIVE_S)
            except TimeoutError:
                await asyncio.wait_for(conn.execute("SELECT 1"), KEEPALIVE_S)
                continue
            if event is None or conn.is_closed():
                raise ConnectionResetError("listener connection closed")
            payload = encode(event, self.origin)
            notify = conn.execute("SELECT pg_notify($1, $2)", self._channel, payload)
            await asyncio.wait_for(notify, KEEPALIVE_S)


@contextlib.asynccontextmanager
async def live_relay(hub: LiveHub, database_url: str) -> AsyncIterator[PostgresRelay | None]:
    """Relay ``hub`` across processes while open, if the database is PostgreSQL (SQLite:
    one process, nothing to relay; yields None)."""
    dsn = asyncpg_dsn(database_url)
    if dsn is None:
        yield None
        return
    relay = PostgresRelay(hub, dsn)
    hub.relay_to(relay)
    task = asyncio.create_task(relay.run(), name="live-relay")
    try:
        yield relay
    finally:
        hub.relay_to(None)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
