"""The one inbound pipeline: persisted messages -> Rasa -> rendered replies, queued.

Webhooks only persist and wake the worker; everything after the platform's 2xx happens here,
driven by the database, so a restart resumes exactly where the last process stopped.
Messages of one chat are handled strictly in order, by one process at a time (a lease on
the chat); different chats run concurrently. Replies are queued in the transaction that
answers the message and sent by the delivery engine (``bot.delivery``), never from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .._exceptions import RasaUnavailable
from .._metrics import Metrics
from .._settings import Settings
from .._waiting import wait_event
from ..cases import FeedbackDesk
from ..channels._base import Channel, callback_key
from ..channels._texts import gateway_text, human_button
from ..handoff import HandoffRequest, HandoffService, parse_rating
from ..rasa._client import MESSAGE_ID_KEY, RasaClient, RasaOutcomeUnknown, RasaReply
from ..storage._db import Chat, Inbound, InboundStatus, Outbound, OutboundStatus
from ..storage._models import InboundKind, OutboundKind
from ..storage._store import NewOutbound, Store, TurnStart

__all__ = ["Pipeline", "handoff_record"]

log = logging.getLogger("bot.pipeline")

ChatKey = tuple[str, str]


class Intercept(Protocol):
    """A dialogue the gateway answers itself (the subscriptions): ``claims`` decides before
    the chat is leased, changing nothing; ``intercept`` acts and answers under the lease
    (None: the dialogue moved on meanwhile, and Rasa answers)."""

    async def claims(
        self,
        channel: str,
        chat_id: str,
        text: str,
        *,
        button: bool,
        location: Mapping[str, Any] | None = ...,
        number: bool = ...,
    ) -> bool: ...

    async def intercept(
        self,
        channel: str,
        chat_id: str,
        text: str,
        language: str | None,
        *,
        button: bool,
        location: Mapping[str, Any] | None = ...,
        number: bool = ...,
    ) -> list[RasaReply] | None: ...


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


@dataclasses.dataclass(frozen=True)
class _Turn:
    """One message being answered; ``release`` gives the chat's lease up with its answer
    (no other message waited), saving a transaction per drain."""

    inbound: Inbound
    chat: Chat | None
    release: bool


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
        wake_delivery: Callable[[], None],
        desk: FeedbackDesk | None = None,
        intercept: Intercept | None = None,
    ) -> None:
        self._desk = desk  # the feedback form and case codes, answered before Rasa
        self._intercept = intercept  # answers some messages itself (subscriptions)
        self._store = store
        self._wake_delivery = wake_delivery
        self._handoffs = handoffs
        self._rasa = rasa
        self._channels = channels
        self._settings = settings
        self._metrics = metrics
        self._wakeup = asyncio.Event()
        self._busy: dict[ChatKey, asyncio.Task[None]] = {}
        self._dirty: set[ChatKey] = set()
        self._held: set[ChatKey] = set()  # chats whose lease this process holds
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
        await wait_event(self._wakeup, timeout)

    def _backoff(self, attempts: int) -> float:
        return float(min(self._settings.retry_max_s, self._settings.retry_base_s * 2**attempts))

    async def _drain(self, channel_name: str, chat_id: str) -> None:
        """Answer this chat's messages one by one, while this process holds its lease."""
        async with self._slots:
            key = (channel_name, chat_id)
            try:
                more = True
                while more:
                    inbound, chat, more = await self._store.next_inbound(channel_name, chat_id)
                    if inbound is None or inbound.due_at > time.time():
                        return
                    if not await self._answer(inbound, chat, last=not more):
                        return
                # Nothing else was waiting; a message stored since was announced by wake(),
                # which marked this chat dirty, so _finished starts it again.
            except Exception:  # a bug must not kill the worker; the row stays pending
                if _stopping():
                    raise
                log.exception("pipeline.drain_failed", extra={"channel": channel_name})
                await asyncio.sleep(self._settings.retry_base_s)
            finally:
                if key in self._held:  # not given up with the last answer: do it now
                    self._held.discard(key)
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._store.release_chat(channel_name, chat_id))

    def _goes_to_rasa(self, inbound: Inbound, chat: Chat | None) -> bool:
        """Everything but ratings, messages while a person answers, and media."""
        if inbound.kind == InboundKind.BUTTON and parse_rating(inbound.text) is not None:
            return False
        if chat is not None and chat.in_handoff:
            return False
        return inbound.kind != InboundKind.MEDIA

    async def _answer(self, inbound: Inbound, chat: Chat | None, *, last: bool) -> bool:
        """Answer one message and queue the answer; True if the next may follow."""
        key = (inbound.channel, inbound.chat_id)
        wanted: dict[str, Any] | None = None  # what the subscription dialogue will answer
        if (
            self._intercept is not None
            and inbound.kind == InboundKind.TEXT
            and not (chat and chat.case_step)
            and self._goes_to_rasa(inbound, chat)
        ):  # a phone number typed for a subscription, before the desk's look-alike case codes
            number: dict[str, Any] = {"text": inbound.text, "button": False, "number": True}
            if await self._intercept.claims(inbound.channel, inbound.chat_id, **number):
                wanted = number
        at_desk = (
            wanted is None and self._desk is not None and await self._desk.claims(inbound, chat)
        )
        to_rasa = wanted is None and not at_desk and self._goes_to_rasa(inbound, chat)
        if to_rasa and self._intercept is not None:
            # a location answers the subscription's place question, else it goes to Rasa
            located = inbound.kind == InboundKind.LOCATION
            asked: dict[str, Any] = {
                "text": inbound.text,
                "button": inbound.kind == InboundKind.BUTTON,
                "location": inbound.meta if located else None,
            }
            if await self._intercept.claims(inbound.channel, inbound.chat_id, **asked):
                wanted, to_rasa = asked, False
        started = await self._store.begin_turn(
            inbound, time.time() + self._settings.lease_s, at_rasa=to_rasa
        )
        if started == TurnStart.ELSEWHERE:
            log.info("pipeline.chat_leased_elsewhere", extra={"channel": inbound.channel})
            return False  # another live process answers this chat
        if started == TurnStart.FINISHED:
            return True  # answered since we read it: the next message, if any
        self._held.add(key)
        turn = _Turn(inbound, chat, release=last)
        channel = self._channels.get(inbound.channel)
        if channel is None:
            log.error("pipeline.unknown_channel", extra={"channel": inbound.channel})
            await self._complete(turn, InboundStatus.NO_REPLY, [])
            return True
        # a button or a location carries no language: the chat's last known one
        language = inbound.meta.get("language") or (chat.language if chat else None)
        if at_desk and self._desk is not None and chat is not None:
            replies = await self._desk.answer(inbound, chat, language)
            await self._queue_replies(
                turn, channel, replies, OutboundKind.REPLY, status=InboundStatus.HANDLED
            )
            return True
        if wanted is not None and self._intercept is not None:
            intercepted = await self._intercept.intercept(
                inbound.channel, inbound.chat_id, language=language, **wanted
            )
            if intercepted is not None:
                await self._queue_replies(
                    turn, channel, intercepted, OutboundKind.REPLY, status=InboundStatus.HANDLED
                )
                return True
            to_rasa = True  # the dialogue moved on since it claimed the message
        if not to_rasa:
            await self._gateway_answers(turn, channel, language)
            return True
        # A handoff closed while Rasa was unreachable: resume its tracker first.
        if (
            chat is not None
            and chat.resume_pending
            and not await self._handoffs.resume_rasa(inbound.channel, inbound.chat_id)
        ):
            await self._postpone(turn, channel, language, RasaUnavailable("resume failed"))
            return False
        # The typing indicator runs alongside the Rasa call: it must not add latency.
        answered = asyncio.Event()
        typing = asyncio.create_task(self._typing_if_slow(channel, inbound.chat_id, answered))
        try:
            replies = await self._ask_rasa(inbound, language)
        except RasaUnavailable as exc:
            answered.set()
            await typing
            await self._postpone(turn, channel, language, exc)
            return False
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
            await self._queue_replies(
                turn, channel, fallback, OutboundKind.NOTICE, status=InboundStatus.NO_REPLY
            )
            return True
        feedback = [
            r["custom"]["feedback"]
            for r in replies
            if isinstance(r.get("custom"), dict) and "feedback" in r["custom"]
        ]
        if feedback and self._desk is not None and chat is not None and not chat.in_handoff:
            # Rasa asks the gateway's feedback form to take over (pre-filled)
            replies = replies + await self._desk.start_from_rasa(chat, feedback[0], language)
        await self._queue_replies(turn, channel, replies, OutboundKind.REPLY)
        return True

    async def _ask_rasa(self, inbound: Inbound, language: str | None) -> list[RasaReply]:
        """Rasa's answer, feeding it the message at most once: a message left ``at_rasa``
        (a process died waiting, a call timed out) is looked up in the tracker first."""
        sender = f"{inbound.channel}:{inbound.chat_id}"
        message_id = f"{inbound.channel}:{inbound.external_id}"
        if inbound.status == InboundStatus.AT_RASA:
            known = await self._rasa.tracker_replies(sender, message_id)
            if known is not None:
                self._metrics.inc("gateway_rasa_recovered_total", channel=inbound.channel)
                log.info("pipeline.answer_from_tracker", extra={"channel": inbound.channel})
                return known
        metadata: dict[str, Any] = {
            **inbound.meta,
            "language": language,
            MESSAGE_ID_KEY: message_id,
        }
        return await self._rasa.send(
            sender, inbound.text, input_channel=inbound.channel, metadata=metadata
        )

    async def _complete(
        self,
        turn: _Turn,
        status: str,
        items: list[NewOutbound],
        callbacks: dict[str, str] | None = None,
    ) -> list[Outbound]:
        """Answer the message (and give the chat's lease up with the last one)."""
        rows = await self._store.complete_inbound(
            turn.inbound, status, items, callbacks, release=turn.release
        )
        if turn.release:
            self._held.discard((turn.inbound.channel, turn.inbound.chat_id))
        if any(r.status == OutboundStatus.PENDING for r in rows):
            self._wake_delivery()
        return rows

    async def _typing_if_slow(
        self, channel: Channel, chat_id: str, answered: asyncio.Event
    ) -> None:
        """Show "typing..." only if Rasa has not answered within ``typing_after_s``.

        Telegram asks bots to send a chat action only when the answer takes noticeable
        time; most answers come in well under a second, and every action counts against
        the bot's rate limit (and costs the gateway a request).
        """
        if not await wait_event(answered, self._settings.typing_after_s):
            await channel.typing(chat_id)

    async def _postpone(
        self, turn: _Turn, channel: Channel, language: str | None, error: RasaUnavailable
    ) -> None:
        """Rasa failed: retry with back-off; the citizen hears once that it is delayed."""
        inbound = turn.inbound
        self._metrics.inc("gateway_rasa_errors_total")
        log.warning(
            "pipeline.rasa_unavailable",
            extra={
                "channel": inbound.channel,
                "attempt": inbound.attempts + 1,
                "error": str(error),
            },
        )
        notice = None
        if not inbound.notice_sent:
            body = channel.render([{"text": gateway_text("delayed", language)}])
            notice = NewOutbound(OutboundKind.NOTICE, body[0])
        # Rasa may have the message (a timeout): the retry asks its tracker first.
        status = (
            InboundStatus.AT_RASA
            if isinstance(error, RasaOutcomeUnknown) or inbound.status == InboundStatus.AT_RASA
            else InboundStatus.PENDING
        )
        queued = await self._store.postpone_inbound(
            inbound,
            self._backoff(inbound.attempts),
            str(error),
            notice,
            status=status,
            release=True,
        )
        self._held.discard((inbound.channel, inbound.chat_id))
        if queued:
            self._wake_delivery()
        self._retry_scheduled()

    async def _gateway_answers(self, turn: _Turn, channel: Channel, language: str | None) -> None:
        """Messages the gateway handles without Rasa: ratings, anything while a person is
        answering, voice notes and photos."""
        inbound, chat = turn.inbound, turn.chat
        rating = parse_rating(inbound.text) if inbound.kind == InboundKind.BUTTON else None
        if rating is not None:
            await self._handoffs.rate(inbound.channel, inbound.chat_id, *rating)
            self._metrics.inc("gateway_handoff_ratings_total", score=str(rating[1]))
            thanks = [{"text": gateway_text("rating_thanks", language)}]
            await self._queue_replies(
                turn, channel, thanks, OutboundKind.NOTICE, status=InboundStatus.HANDLED
            )
            return
        if chat is not None and chat.in_handoff:
            # A person is answering: their console shows it; Rasa's tracker stays paused.
            await self._complete(turn, InboundStatus.TO_AGENT, [])
            await self._handoffs.citizen_wrote(inbound)
            return
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
        await self._queue_replies(
            turn,
            channel,
            [ack],
            OutboundKind.ACK,
            status=InboundStatus.TO_AGENT,
            handoff=handoff_record(request, pause_rasa=True),
        )

    def _observe(self, inbound: Inbound) -> None:
        created = inbound.created_at.timestamp() if inbound.created_at else time.time()
        self._metrics.observe_latency(max(0.0, time.time() - created))

    async def _queue_replies(
        self,
        turn: _Turn,
        channel: Channel,
        replies: list[RasaReply],
        kind: str,
        status: str = InboundStatus.ANSWERED,
        handoff: NewOutbound | None = None,
    ) -> None:
        """Queue the replies and any handoff request in the transaction that answers the
        message, then open the handoff."""
        inbound = turn.inbound
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
        rows = await self._complete(turn, status, items, callbacks)
        for row in rows:
            if row.kind == OutboundKind.HANDOFF:
                await self._open_handoff(row)

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
