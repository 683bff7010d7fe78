"""The bulk path of the delivery engine: broadcasts and alerts to many chats.

Bulk rows (``gw_outbound`` rows with a ``broadcast_id``) wait as ``queued``, where the
conversation claim never looks. A worker claims a batch with one statement (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL), straight to ``sending`` under a lease, sends the batch
concurrently (each send paced by a sliding one-second window per channel account, shared
through Redis), and records the whole batch's outcomes in one transaction.

A process killed mid-batch leaves at most its batches in flight ``sending``. Telegram and
Messenger take no idempotency key, so a row sent again is a message shown twice. Each
worker therefore keeps a send journal in Redis (``RedisSendJournal``): a row is noted as
started just before its request goes out, and its platform id as soon as the answer comes
back. A row is noted only once it has its pace slot or one of the SEND_CONNECTIONS
connections, so rows waiting their turn are not in doubt after a kill. When the dead
worker's lease expires, a live worker reads its journal:

* never started: back to ``queued`` (nothing was sent);
* answered: ``sent``, with the platform's id (not sent again);
* started, no answer (the request was in flight at the kill): an alert is sent again (a
  missed warning is worse than a repeated one); an announcement ends ``unconfirmed``,
  counted in its report, never repeated.

Without Redis (the embedded single-process default) the journal dies with the process, and
the rows go back to ``queued`` (sent again with the same idempotency key, ``X-Idempotency-Key``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from .._exceptions import ChannelError, RateLimited, RecipientBlocked, Undeliverable
from .._metrics import Metrics
from .._waiting import wait_event

__all__ = [
    "BULK_OUTBOUND",
    "SUBSCRIBERS",
    "BulkDelivery",
    "BulkLimiter",
    "BulkRow",
    "BulkSender",
    "BulkStatus",
    "LocalBulkLimiter",
    "LocalSendJournal",
    "RedisBulkLimiter",
    "RedisSendJournal",
    "SendJournal",
]

log = logging.getLogger("bot.delivery.bulk")

# Sends are counted in a window this much longer than a second: a send's arrival may lag
# its grant by a few milliseconds, and an arrival one-second window must still hold at most
# the limit. The sustained rate is limit / WINDOW_S (98.5 %).
WINDOW_S = 1.015
ERROR_PAUSE_S = 1.0
PER_CHAT_GAP_S = 1.0  # Telegram: no more than one message per second to the same chat
RECORDING_RETRY_MAX_S = 5.0  # a 429 on a recording is waited out once, if this short
IDLE_S = 10.0  # a paced account idle this long has its connections warmed before it sends
# unpaced sends in flight per channel at once: no more than the sender's connections, so a
# send noted as started has a connection and goes out at once (a kill then leaves in doubt
# only what was truly on its way, not rows queued behind the connection pool)
SEND_CONNECTIONS = 100


class BulkStatus:
    """Statuses only bulk rows take (besides sending, sent, failed, blocked)."""

    QUEUED = "queued"  # planned, waiting for a bulk worker
    PAUSED = "paused"  # its broadcast is paused
    CANCELLED = "cancelled"  # its broadcast was cancelled before it was sent
    EXPIRED = "expired"  # past expires_at: never sent
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    UNCONFIRMED = "unconfirmed"  # an announcement in flight when its worker died: not resent


_META = MetaData()
BULK_OUTBOUND = Table(
    "gw_outbound",
    _META,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("inbound_id", Integer),
    Column("channel", String(16)),
    Column("chat_id", String(64)),
    Column("kind", String(16)),
    Column("body", JSON),
    Column("status", String(16)),
    Column("attempts", Integer),
    Column("due_at", Float),
    Column("error", Text),
    Column("external_id", String(128)),
    Column("agent_id", Integer),
    Column("created_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("priority", Integer),
    Column("lease_owner", String(64)),
    Column("lease_until", Float),
    Column("broadcast_id", Integer),
    Column("recipient_id", BigInteger),
    Column("expires_at", Float),
)
SUBSCRIBERS = Table(
    "gw_subscribers",
    _META,
    Column("id", Integer, primary_key=True),
    Column("channel", String(16)),
    Column("chat_id", String(64)),
    Column("topics", JSON),
    Column("area_code", String(16)),
    Column("language", String(8)),
    Column("active", Boolean),
    Column("last_inbound_at", Float),
    Column("notification_token", String(256)),
    Column("token_expires_at", Float),
    Column("state", String(32)),
    Column("created_at", Float),
    Column("updated_at", Float),
)
_O = BULK_OUTBOUND.c

_CLAIM_IDS = (
    select(_O.id)
    .where(
        _O.status == BulkStatus.QUEUED,
        _O.due_at <= bindparam("w_now"),
        or_(_O.expires_at.is_(None), _O.expires_at > bindparam("w_now")),
    )
    .order_by(_O.priority, _O.id)
    .limit(bindparam("w_limit"))
    .with_for_update(skip_locked=True)
    .cte("bulk_claim")
)
_CLAIM = (
    update(BULK_OUTBOUND)
    .where(_O.id.in_(select(_CLAIM_IDS.c.id)))
    .values(
        status=BulkStatus.SENDING,
        lease_owner=bindparam("v_owner"),
        lease_until=bindparam("v_until"),
    )
    .returning(
        _O.id,
        _O.channel,
        _O.chat_id,
        _O.body,
        _O.attempts,
        _O.broadcast_id,
        _O.recipient_id,
        _O.priority,
    )
)
_OWNED = and_(
    _O.id == bindparam("w_id"),
    _O.lease_owner == bindparam("w_owner"),
    _O.status == BulkStatus.SENDING,
)
# a sent row, recorded by its worker or taken from a dead worker's journal
_SENT_VALUES: dict[str, Any] = {
    "status": BulkStatus.SENT,
    "external_id": bindparam("v_external_id"),
    "sent_at": bindparam("v_sent_at"),
    "attempts": _O.attempts + 1,
    "lease_owner": None,
    "lease_until": None,
}
_SENT = update(BULK_OUTBOUND).where(_OWNED).values(**_SENT_VALUES)
_FINAL = (
    update(BULK_OUTBOUND)
    .where(_OWNED)
    .values(
        status=bindparam("v_status"),
        error=bindparam("v_error"),
        attempts=_O.attempts + 1,
        lease_owner=None,
        lease_until=None,
    )
)
_RETRY = (
    update(BULK_OUTBOUND)
    .where(_OWNED)
    .values(
        status=BulkStatus.QUEUED,
        error=bindparam("v_error"),
        due_at=bindparam("v_due_at"),
        attempts=_O.attempts + bindparam("v_counted"),
        lease_owner=None,
        lease_until=None,
    )
)
_UNSUBSCRIBE = (
    update(SUBSCRIBERS)
    .where(
        SUBSCRIBERS.c.channel == bindparam("w_channel"),
        SUBSCRIBERS.c.chat_id == bindparam("w_chat_id"),
    )
    .values(active=False, updated_at=bindparam("v_at"))
)
# Rows of a process that died mid-batch (lease expired); each is then decided from that
# process's send journal (module docstring), never left ``sending``.
DEAD_BATCH = 5000
_DEAD = (
    select(_O.id, _O.lease_owner, _O.kind)
    .where(
        _O.status == BulkStatus.SENDING,
        _O.broadcast_id.is_not(None),
        _O.lease_until < bindparam("w_now"),
    )
    .order_by(_O.id)
    .limit(DEAD_BATCH)
    .with_for_update(skip_locked=True)
)
_STILL_DEAD = and_(
    _O.id == bindparam("w_id"),
    _O.status == BulkStatus.SENDING,
    _O.lease_until < bindparam("w_now"),
)
_REQUEUE_DEAD = (
    update(BULK_OUTBOUND)
    .where(_STILL_DEAD)
    .values(status=BulkStatus.QUEUED, lease_owner=None, lease_until=None)
)
_ANSWERED_DEAD = update(BULK_OUTBOUND).where(_STILL_DEAD).values(**_SENT_VALUES)
_UNCONFIRMED_DEAD = (
    update(BULK_OUTBOUND)
    .where(_STILL_DEAD)
    .values(
        status=BulkStatus.UNCONFIRMED,
        error="in flight when its worker stopped: not sent again",
        attempts=_O.attempts + 1,
        lease_owner=None,
        lease_until=None,
    )
)
_EXPIRE = (
    update(BULK_OUTBOUND)
    .where(
        _O.status.in_((BulkStatus.QUEUED, BulkStatus.PAUSED)),
        _O.expires_at.is_not(None),
        _O.expires_at <= bindparam("w_now"),
    )
    .values(status=BulkStatus.EXPIRED)
)
# Renewing skips the rows another transaction holds (a batch being recorded right now): an
# UPDATE of all of them locked rows in table order while a batch's record locked its own in
# id order, and PostgreSQL found a deadlock (a loop then stalled a second; seen in the bench).
_RENEWED = (
    select(_O.id)
    .where(
        _O.status == BulkStatus.SENDING,
        _O.broadcast_id.is_not(None),
        _O.lease_owner == bindparam("w_owner"),
    )
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_RENEW = (
    update(BULK_OUTBOUND)
    .where(_O.id.in_(_RENEWED), _O.lease_owner == bindparam("w_owner"))
    .values(lease_until=bindparam("v_until"))
)


@dataclass(frozen=True)
class BulkRow:
    """One claimed bulk row."""

    id: int
    channel: str
    chat_id: str
    body: dict[str, Any]
    attempts: int
    broadcast_id: int
    recipient_id: int
    claimed_at: float = 0.0

    @property
    def idempotency_key(self) -> str:
        return f"{self.broadcast_id}:{self.recipient_id}"


class BulkSender(Protocol):
    """Sends one bulk message; raises RateLimited / RecipientBlocked / Undeliverable /
    ChannelError like a Channel's send."""

    async def send_bulk(self, chat_id: str, body: dict[str, Any], key: str) -> str | None: ...


class BulkLimiter(Protocol):
    """Send slots per account, spaced ``WINDOW_S / limit`` apart on one schedule shared by
    every worker (so at most ``limit`` in any WINDOW_S): slots are handed out back to back,
    so a worker that wakes a little late does not slow the others down."""

    async def reserve(self, account: str) -> tuple[bool, float]:
        """(True, delay): send in ``delay`` seconds, the slot is yours; (False, delay): no
        slot within the look-ahead, ask again in ``delay``."""
        ...

    async def commit(self, account: str) -> float:
        """Just before the send: 0.0 if fewer than ``limit`` sends started in the last
        WINDOW_S (this one is counted), else seconds to wait (a late slot must not bunch
        with the punctual ones after it)."""
        ...

    async def push_back(self, account: str, seconds: float) -> None: ...

    async def aclose(self) -> None: ...


AHEAD_S = 0.05  # slots are handed out at most this far ahead


class LocalBulkLimiter:
    """The schedule in this process's memory (one process)."""

    def __init__(self, limits: Mapping[str, float]) -> None:
        self._limits = dict(limits)
        self._last: dict[str, float] = {}
        self._paused: dict[str, float] = {}
        self._sent: dict[str, list[float]] = {}

    async def reserve(self, account: str) -> tuple[bool, float]:
        limit = self._limits.get(account, 0.0)
        if limit <= 0:
            return True, 0.0
        now = time.monotonic()
        paused = self._paused.get(account, 0.0)
        if paused > now:
            return False, paused - now
        slot = max(now, self._last.get(account, 0.0) + WINDOW_S / limit)
        if slot - now > AHEAD_S:
            return False, slot - now - AHEAD_S
        self._last[account] = slot
        return True, slot - now

    async def commit(self, account: str) -> float:
        limit = self._limits.get(account, 0.0)
        if limit <= 0:
            return 0.0
        now = time.monotonic()
        log_ = self._sent.setdefault(account, [])
        while log_ and log_[0] <= now - WINDOW_S:
            log_.pop(0)
        if len(log_) >= math.ceil(limit):
            return log_[0] + WINDOW_S - now
        log_.append(now)
        return 0.0

    async def push_back(self, account: str, seconds: float) -> None:
        self._paused[account] = max(self._paused.get(account, 0.0), time.monotonic() + seconds)

    async def aclose(self) -> None:
        """Nothing to release."""


# KEYS: the last slot handed out, the pause. ARGV: spacing_us, ahead_us.
# Returns {granted (0/1), delay_us}; on Redis's clock (the machines' clocks may differ).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {0, paused - now} end
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1]))
if slot - now > tonumber(ARGV[2]) then return {0, slot - now - tonumber(ARGV[2])} end
redis.call('SET', KEYS[1], string.format('%d', slot), 'PX', 60000)
return {1, slot - now}
"""
# KEYS: the log of send starts (sorted set). ARGV: window_us, limit, a unique member.
_COMMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], 60000)
return 0
"""
_PAUSE = """
local t = redis.call('TIME')
local at = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1])
if at > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%d', at), 'PX', math.floor(ARGV[1] / 1000) + 1000)
end
return 1
"""
_US = 1_000_000


class RedisBulkLimiter:
    """The schedule in Redis: every bulk worker on every machine shares it."""

    def __init__(self, redis: Any, limits: Mapping[str, float], prefix: str = "sp4all:bulk:"):
        self._redis = redis
        self._limits = dict(limits)
        self._prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._commit = redis.register_script(_COMMIT)
        self._pause = redis.register_script(_PAUSE)
        self._me = secrets.token_hex(6)
        self._seq = 0

    @classmethod
    def from_url(
        cls, url: str, limits: Mapping[str, float], prefix: str = "sp4all:bulk:"
    ) -> RedisBulkLimiter:
        import redis.asyncio as aioredis

        return cls(aioredis.Redis.from_url(url), limits, prefix)

    async def reserve(self, account: str) -> tuple[bool, float]:
        limit = self._limits.get(account, 0.0)
        if limit <= 0:
            return True, 0.0
        base = self._prefix + account
        granted, delay_us = await self._reserve(
            keys=[f"{base}|slot", f"{base}|pause"],
            args=[int(WINDOW_S / limit * _US), int(AHEAD_S * _US)],
        )
        return bool(granted), int(delay_us) / _US

    async def commit(self, account: str) -> float:
        limit = self._limits.get(account, 0.0)
        if limit <= 0:
            return 0.0
        self._seq += 1
        wait_us = await self._commit(
            keys=[f"{self._prefix}{account}|log"],
            args=[int(WINDOW_S * _US), math.ceil(limit), f"{self._me}:{self._seq}"],
        )
        return int(wait_us) / _US

    async def push_back(self, account: str, seconds: float) -> None:
        await self._pause(keys=[f"{self._prefix}{account}|pause"], args=[int(seconds * _US)])

    async def aclose(self) -> None:
        await self._redis.aclose()


STARTED = "s"
ANSWERED = "a:"
JOURNAL_TTL_S = 24 * 3600


class SendJournal(Protocol):
    """Which claimed rows a worker began to send, and the platform's id of those answered
    (module docstring). ``durable``: whether it outlives the worker."""

    durable: bool

    async def begin(self, owner: str, row_ids: list[int]) -> None:
        """Just before the requests go out."""
        ...

    def answered(self, owner: str, row_id: int, external_id: str | None) -> None:
        """As soon as the platform answered (written soon after, several at once)."""
        ...

    async def forget(self, owner: str, row_ids: list[int]) -> None:
        """Once their outcomes are in the database."""
        ...

    async def read(self, owner: str, row_ids: list[int]) -> dict[int, str]: ...

    async def aclose(self) -> None: ...


class LocalSendJournal:
    """No journal (one process: it would die with the process anyway)."""

    durable = False

    async def begin(self, owner: str, row_ids: list[int]) -> None:
        """Nothing kept."""

    def answered(self, owner: str, row_id: int, external_id: str | None) -> None:
        """Nothing kept."""

    async def forget(self, owner: str, row_ids: list[int]) -> None:
        """Nothing kept."""

    async def read(self, owner: str, row_ids: list[int]) -> dict[int, str]:
        return {}

    async def aclose(self) -> None:
        """Nothing to release."""


class RedisSendJournal:
    """One Redis hash per worker (row id -> ``s`` or ``a:<platform id>``). Answers are
    group-committed: while one write is in flight the next ones gather, so a worker
    sending thousands a second makes a few hundred Redis calls, not thousands."""

    durable = True

    def __init__(self, redis: Any, prefix: str = "sp4all:bulk:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._pending: dict[str, dict[int, str]] = {}
        self._flushing: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, prefix: str = "sp4all:bulk:") -> RedisSendJournal:
        import redis.asyncio as aioredis

        return cls(aioredis.Redis.from_url(url), prefix)

    def _key(self, owner: str) -> str:
        return f"{self._prefix}journal:{owner}"

    async def begin(self, owner: str, row_ids: list[int]) -> None:
        key = self._key(owner)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=dict.fromkeys(row_ids, STARTED))
            pipe.expire(key, JOURNAL_TTL_S)
            await pipe.execute()

    def answered(self, owner: str, row_id: int, external_id: str | None) -> None:
        self._pending.setdefault(owner, {})[row_id] = ANSWERED + (external_id or "")
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush(), name="bulk journal")

    async def _flush(self) -> None:
        while self._pending:
            pending, self._pending = self._pending, {}
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for owner, notes in pending.items():
                        pipe.hset(self._key(owner), mapping=notes)
                    await pipe.execute()
            except Exception:  # the row stays "started": an announcement ends unconfirmed
                log.warning("bulk.journal_unavailable", exc_info=True)

    async def forget(self, owner: str, row_ids: list[int]) -> None:
        pending = self._pending.get(owner, {})
        for row_id in row_ids:  # not yet written: never written (a note being written may
            pending.pop(row_id, None)  # land after this; harmless, the row is recorded)
        await self._redis.hdel(self._key(owner), *row_ids)

    async def read(self, owner: str, row_ids: list[int]) -> dict[int, str]:
        values = await self._redis.hmget(self._key(owner), row_ids)
        return {
            row_id: value.decode() if isinstance(value, bytes) else str(value)
            for row_id, value in zip(row_ids, values, strict=True)
            if value is not None
        }

    async def aclose(self) -> None:
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await self._flushing
        await self._redis.aclose()


class _Noter:
    """Notes rows as started, group-committed: one journal call at a time, carrying every
    send that became ready while the previous one was written. Each send waits until its
    own row is noted (a kill before the note leaves it queued, after it in doubt)."""

    def __init__(self, begin: Callable[[list[int]], Awaitable[None]]) -> None:
        self._begin = begin
        self._ids: list[int] = []
        self._noted: asyncio.Future[None] | None = None  # resolved once _ids are written
        self._writer: asyncio.Task[None] | None = None

    async def note(self, row_id: int) -> None:
        self._ids.append(row_id)
        if self._noted is None:
            self._noted = asyncio.get_running_loop().create_future()
        noted = self._noted
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="bulk notes")
        await asyncio.shield(noted)

    async def _write(self) -> None:
        await asyncio.sleep(0)  # the sends that became ready together join the first call
        while self._ids:
            ids, noted = self._ids, self._noted
            self._ids, self._noted = [], None
            try:
                await self._begin(ids)  # never raises: a journal that is down is logged
            finally:
                if noted is not None and not noted.done():
                    noted.set_result(None)


@dataclass
class _Outcome:
    row: BulkRow
    status: str  # sent | failed | blocked | retry | back (never tried)
    external_id: str | None = None
    error: str = ""
    delay_s: float = 0.0
    counted: bool = True


class BulkDelivery:
    """Claims bulk rows in batches, sends each batch concurrently and records it at once.

    ``loops`` batches are in flight per process (one sending while another is recorded and
    the next claimed); each holds at most ``batch`` rows, fewer when the account is paced so
    a batch never waits long for its slots.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        owner: str,
        senders: Mapping[str, BulkSender],
        limiter: BulkLimiter,
        limits: Mapping[str, float],
        metrics: Metrics,
        lease_s: float = 10.0,
        batch: int = 100,
        loops: int = 3,
        poll_s: float = 0.5,
        max_attempts: int = 5,
        retry_base_s: float = 1.0,
        retry_max_s: float = 60.0,
        journal: SendJournal | None = None,
    ) -> None:
        self._engine = engine
        self._journal: SendJournal = journal or LocalSendJournal()
        self._sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock()
        self.owner = owner
        self._senders = senders
        self._limiter = limiter
        self._limits = dict(limits)
        self._metrics = metrics
        self._lease_s = lease_s
        self._batch = batch
        self._loops = loops
        self._poll_s = poll_s
        self._max_attempts = max_attempts
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._renewed_at = 0.0
        self._stop_event = asyncio.Event()
        self._active_at: dict[str, float] = {}
        self._warming: dict[str, asyncio.Task[None]] = {}
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._recordings: set[asyncio.Task[None]] = set()
        self._noter = _Noter(self._begin)
        self.sent = 0

    def _paced(self, channel: str) -> bool:
        """Whether this channel's account has a rate limit."""
        return self._limits.get(channel, 0.0) > 0

    def wake(self) -> None:
        """Rows were queued: claim now rather than at the next poll."""
        self._wakeup.set()

    def stopped(self) -> bool:
        """Whether ``stop()`` was called."""
        return self._stopping

    def stop(self) -> None:
        """End ``run()`` after the batches in flight are recorded, with no query cut short
        (cancelling an aiosqlite call mid-way leaves its connection to be torn down)."""
        self._stopping = True
        self._stop_event.set()
        self._wakeup.set()

    @contextlib.asynccontextmanager
    async def _writing(self) -> Any:
        if self._sqlite:  # one writer at a time: queue here rather than on SQLite's lock
            async with self._write_lock, self._engine.begin() as conn:
                yield conn
        else:
            async with self._engine.begin() as conn:
                yield conn

    async def run(self) -> None:
        """Run until cancelled; a stop finishes and records each batch in flight."""
        loops = [asyncio.create_task(self._loop(i), name=f"bulk {i}") for i in range(self._loops)]
        keeper = asyncio.create_task(self._keep(), name="bulk leases")
        try:
            await asyncio.gather(*loops)
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._finish_recordings()
            self._stop_event.set()  # the keeper ends after its current round
            try:
                await asyncio.wait_for(asyncio.shield(keeper), self._lease_s)
            except (TimeoutError, asyncio.CancelledError):
                keeper.cancel()
                await asyncio.gather(keeper, return_exceptions=True)
            except Exception:
                log.exception("bulk.keeper_failed")

    async def _finish_recordings(self) -> None:
        """On a stop, the recordings on their way go out (their texts did); cancelled, or
        after a lease's time, they are given up (logged)."""
        pending = list(self._recordings)
        if not pending:
            return
        if self._stopping:
            await asyncio.wait(pending, timeout=self._lease_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _keep(self) -> None:
        """Renew this worker's leases and take over dead workers' rows every third of a
        lease, whatever the batches are doing (a batch waiting for pace slots must not let
        the other batches' leases run out)."""
        while not self._stop_event.is_set():
            try:
                await self._housekeeping()
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                self._metrics.inc("gateway_delivery_errors_total")
                log.exception("bulk.housekeeping_failed")
            await wait_event(self._stop_event, self._lease_s / 3)

    async def _loop(self, index: int) -> None:
        while not self.stopped():
            try:
                rows = await self._claim()
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                self._metrics.inc("gateway_delivery_errors_total")
                log.exception("bulk.claim_failed")
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            if not rows:
                if self.stopped():
                    return
                self._wakeup.clear()
                await wait_event(self._wakeup, self._poll_s)
                continue
            self._wakeup.set()  # more may wait: the other loops claim too
            batch = asyncio.create_task(self._send_batch(rows))
            try:
                await asyncio.shield(batch)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await batch  # each send finishes or gives its row back, then recorded
                raise

    async def _housekeeping(self) -> None:
        now = time.time()
        async with self._writing() as conn:
            await conn.execute(_RENEW, {"w_owner": self.owner, "v_until": now + self._lease_s})
            dead = (await conn.execute(_DEAD, {"w_now": now})).all()
            if dead:
                await self._recover(conn, dead, now)
            await conn.execute(_EXPIRE, {"w_now": now})
        self._renewed_at = now

    async def _recover(self, conn: Any, dead: list[Any], now: float) -> None:
        """Decide each row a dead worker left ``sending`` from its send journal."""
        notes: dict[int, str] = {}
        by_owner: dict[str, list[int]] = {}
        for row in dead:
            by_owner.setdefault(row.lease_owner or "", []).append(row.id)
        for owner, ids in by_owner.items():
            try:
                notes.update(await self._journal.read(owner, ids))
            except Exception:  # no journal: sent again, as without one
                log.warning("bulk.journal_unreadable", exc_info=True)
        requeue, answered, unconfirmed = [], [], []
        for row in dead:
            note = notes.get(row.id)
            key = {"w_id": row.id, "w_now": now}
            if note is None:
                requeue.append(key)  # never started
            elif note.startswith(ANSWERED):
                answered.append(
                    {
                        **key,
                        "v_external_id": note[len(ANSWERED) :] or None,
                        "v_sent_at": datetime.now(UTC),
                    }
                )
            elif row.kind == "alert":
                requeue.append(key)  # in flight: a warning may come twice, never not at all
                self._metrics.inc("gateway_bulk_resent_in_doubt_total")
            else:
                unconfirmed.append(key)
        for statement, rows in (
            (_REQUEUE_DEAD, requeue),
            (_ANSWERED_DEAD, answered),
            (_UNCONFIRMED_DEAD, unconfirmed),
        ):
            if rows:
                await conn.execute(statement, rows)
        self._metrics.inc("gateway_bulk_requeued_total", len(requeue))
        log.warning(
            "bulk.recovered_dead_worker",
            extra={
                "requeued": len(requeue),
                "sent": len(answered),
                "unconfirmed": len(unconfirmed),
            },
        )

    def _batch_size(self) -> int:
        paced = [v for v in self._limits.values() if v > 0]
        if not paced:
            return self._batch
        # a paced batch holds about a third of a second of sends per loop
        return max(1, min(self._batch, int(min(paced) / 3 / self._loops) + 1))

    async def _claim(self) -> list[BulkRow]:
        now = time.time()
        params = {
            "w_now": now,
            "w_limit": self._batch_size(),
            "v_owner": self.owner,
            "v_until": now + self._lease_s,
        }
        async with self._writing() as conn:
            result = await conn.execute(_CLAIM, params)
            rows = [
                BulkRow(
                    id=r.id,
                    channel=r.channel,
                    chat_id=r.chat_id,
                    body=r.body if isinstance(r.body, dict) else {},
                    attempts=r.attempts,
                    broadcast_id=r.broadcast_id,
                    recipient_id=r.recipient_id or r.id,
                    claimed_at=now,
                )
                for r in result
            ]
        rows.sort(key=lambda r: r.id)
        if rows:
            self._metrics.inc("gateway_delivery_claims_total", len(rows))
        return rows

    async def _warm_if_idle(self, rows: list[BulkRow]) -> None:
        """Before a paced account's first sends after a pause, open its connections (a
        platform's sender may offer ``warm``); the other loops' batches wait for it too."""
        now = time.monotonic()
        for channel in {r.channel for r in rows}:
            idle = now - self._active_at.get(channel, 0.0) > IDLE_S
            self._active_at[channel] = now
            warm = getattr(self._senders.get(channel), "warm", None)
            if idle and warm is not None and self._paced(channel):
                self._warming[channel] = asyncio.create_task(
                    warm(self._batch_size() * self._loops), name=f"warm {channel}"
                )
            task = self._warming.get(channel)
            if task is not None:
                try:
                    await asyncio.shield(task)
                except ChannelError:
                    log.warning("bulk.warm_failed", extra={"channel": channel})
                if task.done():
                    self._warming.pop(channel, None)

    async def _send_batch(self, rows: list[BulkRow]) -> None:
        await self._warm_if_idle(rows)
        outcomes = list(await asyncio.gather(*(self._send(r) for r in rows)))
        while True:
            try:
                await self._record(outcomes)
                break
            except Exception:
                self._metrics.inc("gateway_delivery_errors_total")
                log.exception("bulk.record_failed")
                await asyncio.sleep(ERROR_PAUSE_S)
        try:
            await self._journal.forget(self.owner, [r.id for r in rows])
        except Exception:
            log.warning("bulk.journal_unavailable", exc_info=True)

    async def _begin_one(self, row_id: int) -> None:
        await self._begin([row_id])

    async def _begin(self, row_ids: list[int]) -> None:
        """Note the rows as started; if the journal is down, send anyway (a kill before
        their outcome is recorded then sends them again)."""
        try:
            await self._journal.begin(self.owner, row_ids)
        except Exception:
            log.warning("bulk.journal_unavailable", exc_info=True)

    async def _pace(self, account: str) -> None:
        """Wait for this send's slot on the shared schedule, then commit it against the
        log of sends actually started (a slot used late waits rather than bunch)."""
        if not self._paced(account):
            return
        while True:
            granted, delay = await self._limiter.reserve(account)
            await asyncio.sleep(delay)
            if granted:
                break
        while (wait := await self._limiter.commit(account)) > 0:
            self._metrics.inc("gateway_pacing_late_total", channel=account)
            await asyncio.sleep(wait)

    async def _send(self, row: BulkRow) -> _Outcome:
        sender = self._senders.get(row.channel)
        if sender is None:
            return _Outcome(row, BulkStatus.FAILED, error="channel not configured")
        if self._paced(row.channel):
            try:
                await self._pace(row.channel)
            except asyncio.CancelledError:
                return _Outcome(row, "back", counted=False)
            # noted on its own: a note shared with others would delay it by a varying
            # few milliseconds after its slot, and late sends bunch above the limit
            outcome = await self._started(row, sender, self._begin_one)
        else:
            gate = self._gates.get(row.channel)
            if gate is None:
                gate = self._gates[row.channel] = asyncio.Semaphore(SEND_CONNECTIONS)
            async with gate:
                outcome = await self._started(row, sender, self._noter.note)
        if (
            outcome.status == BulkStatus.SENT
            and row.body.get("audio_url")
            and hasattr(sender, "send_recording")
        ):
            # after its text, on its own: the batch is recorded and the next one claimed
            # meanwhile (waiting here held every batch a second and more: one worker with
            # recordings reached under half the account's rate)
            task = asyncio.create_task(self._send_recording(row, sender), name="recording")
            self._recordings.add(task)
            task.add_done_callback(self._recordings.discard)
        return outcome

    async def _started(
        self, row: BulkRow, sender: BulkSender, note: Callable[[int], Awaitable[None]]
    ) -> _Outcome:
        """Note the row as started, send it, and say how it went."""
        if time.time() > max(row.claimed_at, self._renewed_at) + self._lease_s * 2 / 3:
            # its lease may have run out while it waited: another worker may have it now
            self._metrics.inc("gateway_delivery_lease_lost_total")
            return _Outcome(row, "back", counted=False)
        await note(row.id)
        try:
            external_id = await sender.send_bulk(row.chat_id, row.body, row.idempotency_key)
        except RateLimited as exc:
            self._metrics.inc("gateway_rate_limited_total", channel=row.channel)
            await self._limiter.push_back(row.channel, exc.retry_after)
            return _Outcome(row, "retry", error=str(exc), delay_s=exc.retry_after, counted=False)
        except RecipientBlocked as exc:
            return _Outcome(row, BulkStatus.BLOCKED, error=str(exc))
        except Undeliverable as exc:
            return _Outcome(row, BulkStatus.FAILED, error=str(exc))
        except ChannelError as exc:
            if row.attempts + 1 >= self._max_attempts:
                return _Outcome(row, BulkStatus.FAILED, error=str(exc))
            delay = min(self._retry_max_s, self._retry_base_s * 2**row.attempts)
            return _Outcome(row, "retry", error=str(exc), delay_s=delay)
        self._journal.answered(self.owner, row.id, external_id)
        return _Outcome(row, BulkStatus.SENT, external_id=external_id)

    async def _send_recording(self, row: BulkRow, sender: Any) -> None:
        """The announcement's recording after its text, in its own pace slot. The text went
        out: a failure here never fails the row (a retry would repeat the text); a 429 is
        waited out once if short, then the recording is given up (logged, no chat)."""
        try:
            await asyncio.sleep(PER_CHAT_GAP_S)  # at most one message a second to a chat
            for attempt in (1, 2):
                try:
                    await self._pace(row.channel)
                    await sender.send_recording(row.chat_id, row.body, row.idempotency_key)
                    return
                except RateLimited as exc:
                    await self._limiter.push_back(row.channel, exc.retry_after)
                    if attempt == 2 or exc.retry_after > RECORDING_RETRY_MAX_S:
                        break
                    await asyncio.sleep(exc.retry_after)
        except asyncio.CancelledError:  # a worker stopping gives it up
            pass
        except Exception:  # the platform refused it, or the shared limiter is down
            log.warning("bulk.recording_failed", exc_info=True)
        self._metrics.inc("gateway_bulk_recording_not_sent_total", channel=row.channel)
        log.warning("bulk.recording_not_sent", extra={"channel": row.channel})

    async def _record(self, outcomes: list[_Outcome]) -> None:
        now = time.time()
        owner = {"w_owner": self.owner}
        sent = [
            {
                **owner,
                "w_id": o.row.id,
                "v_external_id": o.external_id,
                "v_sent_at": datetime.now(UTC),
            }
            for o in outcomes
            if o.status == BulkStatus.SENT
        ]
        final = [
            {**owner, "w_id": o.row.id, "v_status": o.status, "v_error": o.error[:1000]}
            for o in outcomes
            if o.status in (BulkStatus.FAILED, BulkStatus.BLOCKED)
        ]
        retry = [
            {
                **owner,
                "w_id": o.row.id,
                "v_error": o.error[:1000] or None,
                "v_due_at": now + o.delay_s,
                "v_counted": int(o.counted),
            }
            for o in outcomes
            if o.status in ("retry", "back")
        ]
        blocked = [
            {"w_channel": o.row.channel, "w_chat_id": o.row.chat_id, "v_at": now}
            for o in outcomes
            if o.status == BulkStatus.BLOCKED
        ]
        async with self._writing() as conn:
            if sent:
                await conn.execute(_SENT, sent)
            if final:
                await conn.execute(_FINAL, final)
            if retry:
                await conn.execute(_RETRY, retry)
            if blocked:
                await conn.execute(_UNSUBSCRIBE, blocked)
        self.sent += len(sent)
        for o in outcomes:
            if o.status in (BulkStatus.SENT, BulkStatus.FAILED, BulkStatus.BLOCKED):
                self._metrics.inc("gateway_outbound_total", channel=o.row.channel, status=o.status)
