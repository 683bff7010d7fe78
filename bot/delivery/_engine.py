"""The delivery engine: every outbound row (replies, agents' messages, bulk) is sent here.

Whoever queues a row only commits it and calls ``wake()``; workers claim due rows with a
lease (several gateway processes may share the database), pace each channel account,
send, and record the result in the transaction that ends the claim, provided the lease is
still theirs. A claimed row is ``claimed`` while it waits for its pace slot and
``sending`` from just before the platform call: a process killed while it waits leaves it
to another process once its lease expires; one killed mid-send leaves it ``sending``, and
it ends ``unconfirmed``, never sent again. A stop gives back every row not yet handed to
the platform, ``claimed`` or ``sending``.

Per message the database sees few statements: the claim brings what the send needs (the
earlier message's buttons to retire, whether another reply waits), and the chat's next
reply is claimed in the transaction that records the previous one, already ``sending``
when its pace slot, taken before that transaction, is due now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from .._exceptions import ChannelError, RateLimited, RecipientBlocked, Undeliverable
from .._metrics import Metrics
from .._settings import Settings
from .._waiting import wait_event
from ..channels._base import Channel
from ..storage._db import Outbound, OutboundStatus
from ..storage._models import Priority
from ..storage._store import Claim, Store
from ._pacer import Grant, Pacer

__all__ = ["DeliveryEngine"]

log = logging.getLogger("bot.delivery")

_T = TypeVar("_T")
ERROR_PAUSE_S = 1.0  # the database away: try again this often
HOLD_MAX_S = 2.0  # a claimed conversation row may wait this long for its pace slot
LATE_SLOT_S = 0.05  # a pace slot used later than this is given up for a new one


def _late(slot_at: float) -> bool:
    """Whether a pace slot (monotonic time) is too far past to be used."""
    return time.monotonic() - slot_at > LATE_SLOT_S


def _stopping() -> bool:
    """Whether the running task is being cancelled (a query cut short by it may raise a
    database error instead of CancelledError: that must end the task, not be retried)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class DeliveryEngine:
    """Claims, paces, sends and records outbound rows; ``run()`` until cancelled."""

    def __init__(
        self,
        *,
        store: Store,
        channels: Mapping[str, Channel],
        pacer: Pacer,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self._store = store
        self._channels = channels
        self._pacer = pacer
        self._settings = settings
        self._metrics = metrics
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._retiring: set[asyncio.Task[None]] = set()  # best effort, beside the sends
        self._saturated = False  # the last claim took every free worker: more may wait
        self._next_due: float | None = None  # a retry this process scheduled
        self._renewed_at = 0.0
        self._swept_at = 0.0
        self._closing = False

    @property
    def lease_s(self) -> float:
        return self._settings.lease_s

    @property
    def in_flight(self) -> int:
        """Rows being sent by this process now."""
        return len(self._tasks)

    def wake(self) -> None:
        """Rows were committed: claim them now rather than at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        """Claim and send until cancelled; a stop lets each send in flight finish and be
        recorded, and gives back the rows not yet sent."""
        try:
            while True:
                self._wakeup.clear()
                try:
                    await self._keep_leases()
                    await self._claim()
                except Exception:  # the database away: log, count, try again
                    if _stopping():
                        raise
                    self._metrics.inc("gateway_delivery_errors_total")
                    log.exception("delivery.claim_failed")
                    await asyncio.sleep(ERROR_PAUSE_S)
                    continue
                await self._sleep()
        finally:
            self._closing = True
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, Exception):
                    log.warning("delivery.worker_failed_while_stopping", exc_info=outcome)
            await asyncio.gather(*self._retiring, return_exceptions=True)

    async def _keep_leases(self) -> None:
        """Renew this process's leases and end the sends of processes that died."""
        now = time.time()
        if now - self._renewed_at >= self.lease_s / 3:
            await self._store.renew_leases(now + self.lease_s)
            self._renewed_at = now
        if now - self._swept_at >= self.lease_s / 3:
            for channel in await self._store.expire_sending(now):
                self._metrics.inc("gateway_outbound_total", channel=channel, status="unconfirmed")
                log.warning("delivery.unconfirmed", extra={"channel": channel})
            self._swept_at = now

    async def _claim(self) -> None:
        free = self._settings.delivery_workers - len(self._tasks)
        self._saturated = False
        if free <= 0:
            self._saturated = True
            return
        now = time.time()
        claims = await self._store.claim_outbound(now, now + self.lease_s, free)
        if claims:
            self._metrics.inc("gateway_delivery_claims_total", len(claims))
        self._saturated = len(claims) == free
        for claim in claims:
            task = asyncio.create_task(self._work(claim), name=f"send {claim.row.channel}")
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._saturated:  # a worker is free and rows may be waiting for one
            self._wakeup.set()

    async def _sleep(self) -> None:
        if self._saturated and len(self._tasks) < self._settings.delivery_workers:
            return
        timeout = self._settings.delivery_poll_s
        if self._next_due is not None:
            timeout = max(0.0, min(timeout, self._next_due - time.time()))
            self._next_due = None
        await wait_event(self._wakeup, timeout)

    def _schedule(self, delay_s: float) -> None:
        due = time.time() + delay_s
        self._next_due = due if self._next_due is None else min(self._next_due, due)
        self._wakeup.set()

    async def _work(self, claim: Claim) -> None:
        """Send a claimed row, then the chat's next conversation rows claimed with it."""
        following: tuple[Claim, float | None] | None = (claim, None)
        while following is not None:
            current, slot_at = following
            try:
                following = await self._one(current, slot_at)
            except Exception:  # a bug or the database away: the lease runs out, counted
                if _stopping():
                    raise
                log.exception("delivery.send_failed", extra={"channel": current.row.channel})
                self._metrics.inc("gateway_delivery_errors_total")
                return

    async def _one(self, claim: Claim, slot_at: float | None) -> tuple[Claim, float | None] | None:
        """Send one claimed row (its pace slot already taken if ``slot_at``, monotonic);
        returns the chat's next row if it was claimed with this one's result."""
        row = claim.row
        channel = self._channels.get(row.channel)
        if channel is None:
            await self._store.record_failed(row, "channel not configured")
            self._metrics.inc("gateway_outbound_total", channel=row.channel, status="failed")
            return None
        try:
            if slot_at is None:
                slot_at = await self._paced(row)
                if slot_at is None:
                    return None
            if row.status == OutboundStatus.SENDING and _late(slot_at):
                # Its slot passed while the previous row's result was written: it waits
                # for a new one ``claimed``, never in ``sending`` (a kill would make it
                # unconfirmed although nothing reached the platform).
                if not await self._record(self._store.unmark_sending, row):
                    self._metrics.inc("gateway_delivery_lease_lost_total", channel=row.channel)
                    return None
                row.status = OutboundStatus.CLAIMED
            if row.status != OutboundStatus.SENDING:
                if slot_at > time.monotonic():
                    await asyncio.sleep(slot_at - time.monotonic())
                slot_at = await self._on_time(row, slot_at)
                if not await self._record(self._store.mark_sending, row):
                    self._metrics.inc("gateway_delivery_lease_lost_total", channel=row.channel)
                    return None  # another process took the claim over: it sends the row
            await self._on_time(row, slot_at)  # the mark took long: rarely, a new slot
        except asyncio.CancelledError:
            # Stopping before the send, ``claimed`` or already ``sending`` (a late slot's
            # wait): nothing reached the platform, so the next process sends it.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._store.give_back(row))
            raise
        # A stop lets the send finish and be recorded: cut in between, the row would end
        # unconfirmed although the citizen has it. It waits at most the send timeout.
        delivery = asyncio.create_task(self._deliver(channel, claim))
        try:
            return await asyncio.shield(delivery)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await delivery
            raise

    async def _paced(self, row: Outbound) -> float | None:
        """Wait for the account's slot; returns when it was due (monotonic), or None if the
        row went back to the queue (the wait is longer than a claim may be held: a 429's
        pause, bulk behind replies)."""
        bulk = row.priority >= Priority.BULK
        grant = await self._pacer.reserve(
            row.channel, chat=row.chat_id, bulk=bulk, max_wait_s=HOLD_MAX_S
        )
        slot_at = time.monotonic() + grant.delay_s
        if not grant.granted:
            self._metrics.inc("gateway_pacing_deferred_total", channel=row.channel)
            await self._store.give_back(row, grant.delay_s)
            self._schedule(grant.delay_s)
            return None
        if grant.delay_s > 0:
            self._metrics.inc("gateway_pacing_waits_total", channel=row.channel)
            self._metrics.inc(
                "gateway_pacing_wait_seconds_total", grant.delay_s, channel=row.channel
            )
            await asyncio.sleep(grant.delay_s)
        return slot_at

    async def _on_time(self, row: Outbound, slot_at: float) -> float:
        """A slot used late (a busy event loop, a slow database) would bunch this send with
        the next ones on time and put more than the limit in one second: take a new slot
        (waiting for one if none is free within the hold). Returns the slot used."""
        while _late(slot_at):
            self._metrics.inc("gateway_pacing_late_total", channel=row.channel)
            grant = await self._pacer.reserve(
                row.channel,
                chat=row.chat_id,
                bulk=row.priority >= Priority.BULK,
                max_wait_s=HOLD_MAX_S,
            )
            if grant.granted:
                slot_at = time.monotonic() + grant.delay_s
            await asyncio.sleep(grant.delay_s)  # not granted: nothing reserved, ask again
        return slot_at

    def _backoff(self, attempts: int) -> float:
        return float(min(self._settings.retry_max_s, self._settings.retry_base_s * 2**attempts))

    async def _deliver(self, channel: Channel, claim: Claim) -> tuple[Claim, float | None] | None:
        """One platform call and its record; returns the chat's next row if claimed, with
        its pace slot if one was taken for it."""
        row, name = claim.row, channel.name
        try:
            external_id = await channel.send(row.chat_id, row.body)
        except RateLimited as exc:
            # The platform told us how long to wait: the whole account waits, order kept.
            self._metrics.inc("gateway_rate_limited_total", channel=name)
            await self._pacer.push_back(name, exc.retry_after)
            await self._record(
                self._store.record_retry, row, exc.retry_after, str(exc), counted=False
            )
            self._schedule(exc.retry_after)
            return None
        except RecipientBlocked as exc:
            self._metrics.inc("gateway_outbound_total", channel=name, status="blocked")
            await self._record(self._store.record_blocked, row, str(exc))
            log.info("delivery.chat_blocked", extra={"channel": name})
            return None
        except Undeliverable as exc:
            await self._fail(row, name, str(exc))
            return None
        except ChannelError as exc:
            if row.attempts + 1 >= self._settings.max_send_attempts:
                await self._fail(row, name, str(exc))
                return None
            delay = self._backoff(row.attempts)
            await self._record(self._store.record_retry, row, delay, str(exc))
            self._schedule(delay)
            return None
        self._metrics.inc("gateway_outbound_total", channel=name, status="sent")
        if channel.retires_buttons and claim.earlier_buttons is not None:
            self._retire(channel, row.chat_id, claim.earlier_buttons)
        chain = row.priority < Priority.BULK
        # Another reply waits: its pace slot now, so that a slot due at once lets the
        # transaction below claim it as ``sending`` (no mark_sending of its own).
        slot_at = None
        if chain and claim.has_next:
            try:
                grant = await self._pacer.reserve(
                    name, chat=row.chat_id, bulk=False, max_wait_s=HOLD_MAX_S
                )
            except Exception:  # Redis away: the send must still be recorded as sent
                log.warning("delivery.pace_ahead_failed", extra={"channel": name})
                grant = Grant(False, 0.0)  # the next row is paced on its own
            if grant.granted:
                slot_at = time.monotonic() + grant.delay_s
                if grant.delay_s > 0:
                    self._metrics.inc("gateway_pacing_waits_total", channel=name)
                    self._metrics.inc(
                        "gateway_pacing_wait_seconds_total", grant.delay_s, channel=name
                    )
        ours, following = await self._record(
            self._store.record_sent,
            row,
            external_id,
            chain_until=time.time() + self.lease_s if chain else None,
            chain_sending=slot_at is not None and slot_at <= time.monotonic(),
        )
        if not ours:
            self._metrics.inc("gateway_delivery_lease_lost_total", channel=name)
            log.warning("delivery.lease_lost", extra={"channel": name})
        channel.recorded(row.chat_id)
        return None if following is None else (following, slot_at)

    def _retire(self, channel: Channel, chat_id: str, message_id: str) -> None:
        """The conversation moved on: the previous message's buttons are taken off beside
        the next sends (best effort: a failure leaves them, which the citizen may still
        tap)."""
        task = asyncio.create_task(self._retire_buttons(channel, chat_id, message_id))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire_buttons(self, channel: Channel, chat_id: str, message_id: str) -> None:
        try:
            await channel.retire_buttons(chat_id, message_id)
        except Exception:
            log.warning("delivery.retire_buttons_failed", extra={"channel": channel.name})

    async def _record(self, record: Callable[..., Awaitable[_T]], *args: Any, **kwargs: Any) -> _T:
        """Write a send's outcome, known only in memory, until the database takes it (an
        outage must not turn a sent message into a lost lease and an unconfirmed row); a
        stop gives up after one more try."""
        while True:
            try:
                return await record(*args, **kwargs)
            except Exception:
                if self._closing:
                    raise
                self._metrics.inc("gateway_delivery_errors_total")
                log.exception("delivery.record_failed")
                await asyncio.sleep(ERROR_PAUSE_S)

    async def _fail(self, row: Outbound, channel: str, error: str) -> None:
        self._metrics.inc("gateway_outbound_total", channel=channel, status="failed")
        await self._record(self._store.record_failed, row, error)
        log.error("delivery.gave_up", extra={"channel": channel, "error": error})
