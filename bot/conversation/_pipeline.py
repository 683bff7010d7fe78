"""The one inbound pipeline: persisted messages -> Rasa -> rendered replies -> platforms.

Webhooks only persist and wake the worker; everything after the platform's 2xx happens here,
driven by the database, so a restart resumes exactly where the last process stopped.
Messages of one chat are handled strictly in order; different chats run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .._exceptions import (
    ChannelError,
    RasaUnavailable,
    RateLimited,
    RecipientBlocked,
    Undeliverable,
)
from .._metrics import Metrics
from .._settings import Settings
from ..channels._base import Channel, callback_key
from ..channels._texts import gateway_text, human_button
from ..handoff import HandoffRequest, HandoffService, parse_rating
from ..rasa._client import RasaClient, RasaReply
from ..storage._db import Chat, Inbound, InboundStatus, Outbound, OutboundStatus
from ..storage._models import InboundKind, OutboundKind
from ..storage._store import NewOutbound, Store

__all__ = ["Pipeline", "handoff_record"]

log = logging.getLogger("bot.pipeline")

ChatKey = tuple[str, str]
IDLE_POLL_S = 1.0  # safety net: also re-check the database this often without a wake-up


def handoff_record(
    request: HandoffRequest, *, pause_rasa: bool = False, payload: Any = None
) -> NewOutbound:
    """A handoff request as a row committed with the answer that asked for it (an outbox):
    if the process stops before the handoff is opened, the next start opens it."""
    body: dict[str, Any] = {"request": dataclasses.asdict(request), "pause_rasa": pause_rasa}
    if payload is not None:
        body["handoff"] = payload  # Rasa's own payload, as it came, for operators
    return NewOutbound(OutboundKind.HANDOFF, body, OutboundStatus.RECORDED)


def _button_payloads(replies: list[RasaReply]) -> dict[str, str]:
    found: dict[str, str] = {}
    for reply in replies:
        for button in reply.get("buttons") or []:
            payload = str(button.get("payload", ""))
            if payload:
                found[callback_key(payload)] = payload
    return found


def _stopping() -> bool:
    """Whether the running task is being cancelled. A query cancelled mid-way can fail with
    a database error instead of CancelledError; that error must end the task, not be
    handled as a hiccup and retried (the shutdown would wait forever)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Pipeline:
    """Worker that drains the persisted queue; ``wake()`` after each accepted message."""

    def __init__(
        self,
        *,
        store: Store,
        rasa: RasaClient,
        channels: Mapping[str, Channel],
        settings: Settings,
        metrics: Metrics,
        handoffs: HandoffService,
    ) -> None:
        self._store = store
        self._handoffs = handoffs
        self._rasa = rasa
        self._channels = channels
        self._settings = settings
        self._metrics = metrics
        self._wakeup = asyncio.Event()
        self._busy: dict[ChatKey, asyncio.Task[None]] = {}
        self._dirty: set[ChatKey] = set()
        self._slots = asyncio.Semaphore(settings.concurrency)

    def wake(self, channel: str | None = None, chat_id: str | None = None) -> None:
        """New work is in the database; for a known chat, start on it without a scan."""
        if channel is None or chat_id is None:
            self._wakeup.set()
            return
        key = (channel, chat_id)
        if key in self._busy:
            self._dirty.add(key)  # its drain may be past its last check: run it again
        else:
            self._start(key)

    def _start(self, key: ChatKey) -> None:
        task = asyncio.create_task(self._drain(*key), name=f"drain {key[0]}")
        self._busy[key] = task
        task.add_done_callback(functools.partial(self._finished, key))

    @property
    def in_flight(self) -> int:
        """Chats being worked on right now."""
        return len(self._busy)

    async def run(self) -> None:
        """Loop forever: start one task per chat with due work; cancel to stop."""
        recovered = False
        try:
            while True:
                self._wakeup.clear()
                try:
                    if not recovered:
                        await self._open_recorded_handoffs()
                        recovered = True
                    await self._scan()
                    await self._sleep_until_due()
                except Exception:  # the database away: retries wait for it, they are not lost
                    if _stopping():
                        raise  # a query cut short by cancel() failed on the way out: stop
                    self._metrics.inc("gateway_pipeline_scan_errors_total")
                    log.exception("pipeline.scan_failed")
                    await asyncio.sleep(IDLE_POLL_S)
        finally:
            tasks = list(self._busy.values())
            for task in tasks:
                task.cancel()
            # every drain is waited for, even when one of them fails on its way out
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, Exception):
                    log.warning("pipeline.drain_failed_while_stopping", exc_info=outcome)

    async def _open_recorded_handoffs(self) -> None:
        """Open the handoffs a previous process recorded but did not live to open."""
        for row in await self._store.unrouted_handoffs():
            log.info("pipeline.handoff_recovered", extra={"channel": row.channel})
            await self._open_handoff(row)

    async def _open_handoff(self, row: Outbound) -> None:
        await self._handoffs.open(
            HandoffRequest(**row.body["request"]),
            pause_rasa=bool(row.body.get("pause_rasa")),
            request_id=row.id,
        )

    async def _scan(self) -> None:
        """Start the chats with due work no wake-up announced: leftovers of a previous
        process and retries whose time has come."""
        for key in await self._store.due_chats(time.time(), self._settings.concurrency):
            if key not in self._busy:
                self._start(key)

    def _finished(self, key: ChatKey, _task: asyncio.Task[None]) -> None:
        self._busy.pop(key, None)
        if key in self._dirty:
            self._dirty.discard(key)
            self._start(key)

    def _retry_scheduled(self) -> None:
        """A retry time was stored: let the loop recompute how long it may sleep."""
        self._wakeup.set()

    async def _sleep_until_due(self) -> None:
        timeout = IDLE_POLL_S
        now = time.time()
        next_due = await self._store.next_due_at(after=now)
        if next_due is not None:
            timeout = max(0.0, min(timeout, next_due - now))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _backoff(self, attempts: int) -> float:
        return float(min(self._settings.retry_max_s, self._settings.retry_base_s * 2**attempts))

    async def _drain(self, channel_name: str, chat_id: str) -> None:
        """Send what is queued for this chat, then answer its messages one by one."""
        async with self._slots:
            try:
                # Leftovers first (a previous process, a rate limit), then new messages.
                if not await self._flush_outbound(channel_name, chat_id):
                    return
                more = True
                while more:
                    inbound, chat, more = await self._store.next_inbound(channel_name, chat_id)
                    if inbound is None or inbound.due_at > time.time():
                        return
                    answered, queued = await self._answer(inbound, chat)
                    if not await self._send_rows(channel_name, queued) or not answered:
                        return
                # Nothing else was waiting; a message stored since was announced by wake(),
                # which marked this chat dirty, so _finished starts it again.
            except Exception:  # a bug must not kill the worker; the row stays pending
                if _stopping():
                    raise
                log.exception("pipeline.drain_failed", extra={"channel": channel_name})
                await asyncio.sleep(self._settings.retry_base_s)

    async def _answer(self, inbound: Inbound, chat: Chat | None) -> tuple[bool, list[Outbound]]:
        """Ask Rasa and queue the answer; returns (answered?, rows to send now, in order)."""
        channel = self._channels.get(inbound.channel)
        if channel is None:
            log.error("pipeline.unknown_channel", extra={"channel": inbound.channel})
            await self._store.complete_inbound(inbound, InboundStatus.NO_REPLY, [])
            return True, []
        # a button or a location carries no language: the chat's last known one
        language = inbound.meta.get("language") or (chat.language if chat else None)
        handled = await self._gateway_answers(inbound, channel, chat, language)
        if handled is not None:
            return True, handled
        # A handoff closed while Rasa was unreachable: resume its tracker first.
        if (
            chat is not None
            and chat.resume_pending
            and not await self._handoffs.resume_rasa(inbound.channel, inbound.chat_id)
        ):
            return False, await self._postpone(inbound, channel, language, "resume failed")
        # The typing indicator runs alongside the Rasa call: it must not add latency.
        answered = asyncio.Event()
        typing = asyncio.create_task(self._typing_if_slow(channel, inbound.chat_id, answered))
        metadata: dict[str, Any] = {**inbound.meta, "language": language}
        try:
            replies = await self._rasa.send(
                f"{inbound.channel}:{inbound.chat_id}",
                inbound.text,
                input_channel=inbound.channel,
                metadata=metadata,
            )
        except RasaUnavailable as exc:
            answered.set()
            await typing
            return False, await self._postpone(inbound, channel, language, str(exc))
        answered.set()
        await typing  # before the answer, so "typing..." never follows the reply
        self._observe(inbound)
        if not replies:
            # Rasa swallows action errors and answers [] -- that is not an answer.
            self._metrics.inc("gateway_rasa_empty_replies_total")
            log.warning("pipeline.rasa_empty_reply", extra={"channel": inbound.channel})
            fallback = []
            if not (chat and chat.in_handoff):  # in handoff, silence is expected
                fallback = [
                    {
                        "text": gateway_text("no_reply", language),
                        "buttons": [human_button(language)],
                    }
                ]
            queued = await self._queue_replies(
                inbound, channel, fallback, OutboundKind.NOTICE, status=InboundStatus.NO_REPLY
            )
            return True, queued
        return True, await self._queue_replies(inbound, channel, replies, OutboundKind.REPLY)

    async def _typing_if_slow(
        self, channel: Channel, chat_id: str, answered: asyncio.Event
    ) -> None:
        """Show "typing..." only if Rasa has not answered within ``typing_after_s``.

        Telegram asks bots to send a chat action only when the answer takes noticeable
        time; most answers come in well under a second, and every action counts against
        the bot's rate limit (and costs the gateway a request).
        """
        try:
            await asyncio.wait_for(answered.wait(), self._settings.typing_after_s)
        except TimeoutError:
            await channel.typing(chat_id)

    async def _postpone(
        self, inbound: Inbound, channel: Channel, language: str | None, error: str
    ) -> list[Outbound]:
        """Rasa failed: retry with back-off; the citizen hears once that it is delayed."""
        self._metrics.inc("gateway_rasa_errors_total")
        log.warning(
            "pipeline.rasa_unavailable",
            extra={"channel": inbound.channel, "attempt": inbound.attempts + 1, "error": error},
        )
        notice = None
        if not inbound.notice_sent:
            body = channel.render([{"text": gateway_text("delayed", language)}])
            notice = NewOutbound(OutboundKind.NOTICE, body[0])
        queued = await self._store.postpone_inbound(
            inbound, self._backoff(inbound.attempts), error, notice
        )
        self._retry_scheduled()
        return queued

    async def _gateway_answers(
        self, inbound: Inbound, channel: Channel, chat: Chat | None, language: str | None
    ) -> list[Outbound] | None:
        """Messages the gateway handles without Rasa: ratings, anything while a person is
        answering, voice notes and photos. None means: ask Rasa."""
        rating = parse_rating(inbound.text) if inbound.kind == InboundKind.BUTTON else None
        if rating is not None:
            await self._handoffs.rate(inbound.channel, inbound.chat_id, *rating)
            self._metrics.inc("gateway_handoff_ratings_total", score=str(rating[1]))
            thanks = [{"text": gateway_text("rating_thanks", language)}]
            return await self._queue_replies(
                inbound, channel, thanks, OutboundKind.NOTICE, status=InboundStatus.HANDLED
            )
        if chat is not None and chat.in_handoff:
            # A person is answering: their console shows it; Rasa's tracker stays paused.
            queued = await self._store.complete_inbound(inbound, InboundStatus.TO_AGENT, [])
            await self._handoffs.citizen_wrote(inbound)
            return queued
        if inbound.kind == InboundKind.MEDIA:
            # Voice notes are how many Cambodians talk: a person listens to them.
            ack = {"text": gateway_text("media_to_person", language)}
            request = HandoffRequest(
                channel=inbound.channel,
                chat_id=inbound.chat_id,
                reason="voice_note",
                language=language or "km",
                place_code=chat.place_code if chat else None,
                summary=f"The citizen sent a {inbound.meta.get('media', 'media')} message.",
            )
            return await self._queue_replies(
                inbound,
                channel,
                [ack],
                OutboundKind.ACK,
                status=InboundStatus.TO_AGENT,
                handoff=handoff_record(request, pause_rasa=True),
            )
        return None

    def _observe(self, inbound: Inbound) -> None:
        created = inbound.created_at.timestamp() if inbound.created_at else time.time()
        self._metrics.observe_latency(max(0.0, time.time() - created))

    async def _queue_replies(
        self,
        inbound: Inbound,
        channel: Channel,
        replies: list[RasaReply],
        kind: str,
        status: str = InboundStatus.ANSWERED,
        handoff: NewOutbound | None = None,
    ) -> list[Outbound]:
        """Queue the replies and any handoff request in the transaction that answers the
        message, then open the handoff; returns the rows to send, in order."""
        payloads = [
            r["custom"]["handoff"]
            for r in replies
            if isinstance(r.get("custom"), dict) and "handoff" in r["custom"]
        ]
        if handoff is None and payloads:  # one request per answer is enough
            self._metrics.inc("gateway_handoffs_total", channel=inbound.channel)
            request = self._handoff_request(inbound, payloads[0])
            handoff = handoff_record(request, payload=payloads[0])
        visible = [r for r in replies if r.get("text") or r.get("buttons") or r.get("image")]
        items = [NewOutbound(kind, body) for body in channel.render(visible)]
        if handoff is not None:
            items.append(handoff)
        callbacks = _button_payloads(visible) if channel.needs_callback_keys else None
        rows = await self._store.complete_inbound(inbound, status, items, callbacks)
        for row in rows:
            if row.kind == OutboundKind.HANDOFF:
                await self._open_handoff(row)
        return [r for r in rows if r.status == OutboundStatus.PENDING]

    @staticmethod
    def _handoff_request(inbound: Inbound, payload: Any) -> HandoffRequest:
        """Rasa's ``handoff`` payload (action_handoff) as a request; tolerant of gaps."""
        data = payload if isinstance(payload, dict) else {}

        def text(key: str) -> str | None:
            value = data.get(key)
            return str(value) if value not in (None, "") else None

        return HandoffRequest(
            channel=inbound.channel,
            chat_id=inbound.chat_id,
            reason=text("reason") or "other",
            language=text("language") or str(inbound.meta.get("language") or "km"),
            topic=text("topic"),
            place_code=text("place_code") or text("place") or inbound.meta.get("place_code"),
            summary=text("summary") or "",
            urgency=text("urgency"),
        )

    async def _flush_outbound(self, channel_name: str, chat_id: str) -> bool:
        """Send what is still queued from before (restart, rate limit, failed send)."""
        return await self._send_rows(
            channel_name, await self._store.pending_outbound(channel_name, chat_id)
        )

    async def _send_rows(self, channel_name: str, rows: Sequence[Outbound]) -> bool:
        """Send in order; False if one must wait (the rest wait too, to keep the order)."""
        channel = self._channels.get(channel_name)
        for row in rows:
            if row.due_at > time.time():
                return False
            if channel is None:
                await self._store.mark_outbound(
                    row.id, OutboundStatus.FAILED, error="channel not configured"
                )
                continue
            if not await self._send_one(channel, row):
                return False
        return True

    async def _send_one(self, channel: Channel, row: Outbound) -> bool:
        """Send one row and record the outcome; True if the next row may follow.

        A stop (a deploy, Ctrl-C) lets a send in flight finish and be recorded before the
        worker ends: cut between the platform's answer and the record, the next process
        would send the message again. It waits at most the send timeout.
        """
        delivery = asyncio.create_task(self._deliver(channel, row))
        try:
            return await asyncio.shield(delivery)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await delivery
            raise

    async def _deliver(self, channel: Channel, row: Outbound) -> bool:
        try:
            external_id = await channel.send(row.chat_id, row.body)
        except RateLimited as exc:
            # The platform told us how long to wait: honour it exactly, keep the order.
            self._metrics.inc("gateway_rate_limited_total", channel=channel.name)
            await self._store.mark_outbound(
                row.id,
                OutboundStatus.PENDING,
                error=str(exc),
                delay_s=exc.retry_after,
                count_attempt=False,
            )
            self._retry_scheduled()
            return False
        except RecipientBlocked as exc:
            self._metrics.inc("gateway_outbound_total", channel=channel.name, status="blocked")
            await self._store.mark_chat_blocked(row.id, channel.name, row.chat_id, str(exc))
            log.info("pipeline.chat_blocked", extra={"channel": channel.name})
            return False
        except Undeliverable as exc:  # retrying cannot fix it: failed now, with the reason
            self._metrics.inc("gateway_outbound_total", channel=channel.name, status="failed")
            await self._store.mark_outbound(row.id, OutboundStatus.FAILED, error=str(exc))
            log.warning("pipeline.undeliverable", extra={"channel": channel.name})
            return True
        except ChannelError as exc:
            if row.attempts + 1 >= self._settings.max_send_attempts:
                self._metrics.inc("gateway_outbound_total", channel=channel.name, status="failed")
                await self._store.mark_outbound(row.id, OutboundStatus.FAILED, error=str(exc))
                log.error("pipeline.send_gave_up", extra={"channel": channel.name})
                return True
            await self._store.mark_outbound(
                row.id, OutboundStatus.PENDING, error=str(exc), delay_s=self._backoff(row.attempts)
            )
            self._retry_scheduled()
            return False
        self._metrics.inc("gateway_outbound_total", channel=channel.name, status="sent")
        await self._store.mark_outbound(row.id, OutboundStatus.SENT, external_id=external_id)
        channel.recorded(row.chat_id)
        return True
