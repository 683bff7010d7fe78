"""Subscriptions, broadcasts (announcements and alerts), their planning and reports.

A broadcast is drafted in Khmer and English, approved by a second person, then planned:
one recipient row per matching subscriber (UNIQUE(broadcast, subscriber): the idempotency
key) and one queued ``gw_outbound`` row per recipient, written in chunks. Each chunk moves
the broadcast's ``plan_cursor`` (the last subscriber id read) in its own transaction, under
the planner's lease: a planner killed mid-way is taken over where it stopped, and nothing is
planned twice. The bulk path of the delivery engine (``bot.delivery._bulk``) sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import logging
import secrets
import socket
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .._exceptions import Conflict, Invalid, NotAllowed, NotFound
from .._waiting import wait_event
from ..accounts import OrgKind, Role
from ..channels._receipts import DeliveryReceipt
from ..storage._models import OutboundKind, Priority
from ._tables import (
    AUDIO,
    BROADCASTS,
    BULK_OUTBOUND,
    RECIPIENTS,
    SUBSCRIBERS,
    BroadcastKind,
    BroadcastStatus,
    BulkStatus,
    RecipientStatus,
    SkipReason,
    Topic,
)

__all__ = [
    "AUDIO_TYPES",
    "MAX_AUDIO_BYTES",
    "Broadcast",
    "DisseminationService",
    "Person",
    "Recording",
    "Report",
    "Subscriber",
    "audio_path",
    "sniff_audio",
]

log = logging.getLogger("bot.dissemination")

MAX_TEXT = 2000  # Messenger's limit, the smallest of the chat channels (Telegram 4,096)
CHANNEL_LIMITS = {"telegram": 4096, "messenger": 2000, "webchat": 4096}
CHANNEL_LIMITS["sms"] = 670  # 10 parts of a Khmer (UCS-2) SMS: _somleng.MAX_SMS_CHARS
MESSENGER_WINDOW_S = 24 * 3600
CHUNK = 1000
PLAN_LEASE_S = 30.0
APPROVERS = frozenset({Role.SECRETARIAT_REVIEWER, Role.ADMIN})
_ACTIVE_PLAN = (BroadcastStatus.APPROVED, BroadcastStatus.PLANNING)
_UNFINISHED = (
    BroadcastStatus.APPROVED,
    BroadcastStatus.PLANNING,
    BroadcastStatus.SENDING,
    BroadcastStatus.PAUSED,
    BroadcastStatus.PENDING_APPROVAL,
    BroadcastStatus.DRAFT,
)
_B = BROADCASTS.c
_S = SUBSCRIBERS.c
_O = BULK_OUTBOUND.c
_R = RECIPIENTS.c
_A = AUDIO.c
MAX_AUDIO_BYTES = 5 * 1024 * 1024
AUDIO_CACHE_BYTES = 4 * MAX_AUDIO_BYTES  # approved recordings kept in each process
# the types browsers declare for what phones and chat apps play -> the format they mean
AUDIO_TYPES = {
    "audio/mpeg": "audio/mpeg",
    "audio/mp3": "audio/mpeg",
    "audio/ogg": "audio/ogg",
    "audio/opus": "audio/ogg",
    "audio/wav": "audio/wav",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp4": "audio/mp4",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
}
UNTYPED = frozenset({"", "application/octet-stream"})  # the content decides
OGG_OPUS = "audio/ogg; codecs=opus"
# what a call can <Play> (Twilio's TwiML and Somleng: MP3 and WAV); with another recording
# the call says the text
CALL_PLAYABLE = frozenset({"audio/mpeg", "audio/wav"})
AUDIO_LANGUAGES = ("km", "en", "")  # '': another language (an indigenous one), for everyone
AUDIO_URL_LANGUAGE = {"km": "km", "en": "en", "": "other"}
RECEIPTS = DeliveryReceipt.__table__
_D = RECEIPTS.c
# Channels whose platform says whether a sent message arrived (Somleng's status callbacks,
# Messenger's delivery events). Telegram's 200 only means Telegram accepted the message,
# and the web chat has none: their messages are ``sent``, never ``delivered``.
RECEIPT_CHANNELS = ("sms", "voice", "messenger")
# A message gets several callbacks (queued, sent, delivered), in any order: it counts once,
# by its most final status, the highest code here (delivered > not delivered > on its way).
RECEIPT_CODES: dict[str, int] = {
    "queued": 1,
    "accepted": 1,
    "initiated": 2,
    "sending": 2,
    "ringing": 2,
    "in-progress": 3,
    "sent": 4,
    "canceled": 10,  # a call cancelled before it was answered
    "no-answer": 11,
    "busy": 12,
    "failed": 13,
    "undelivered": 14,
    "delivered": 20,  # SMS delivered; Messenger delivery event
    "completed": 21,  # a call answered (and ended)
    "read": 22,
}
_UNDELIVERED_FROM, _DELIVERED_FROM = 10, 20
_STATUS_OF_CODE = {code: status for status, code in RECEIPT_CODES.items()}


@dataclass(frozen=True)
class Person:
    """Who drafts or approves: a console user, their role and their organisation's kind."""

    agent_id: int
    role: str
    org_kind: str


@dataclass(frozen=True)
class Subscriber:
    id: int
    channel: str
    chat_id: str
    topics: list[str]
    area_code: str | None
    language: str
    active: bool
    state: str | None = None


@dataclass(frozen=True)
class Broadcast:
    id: int
    kind: str
    status: str
    title_km: str
    title_en: str
    text_km: str
    text_en: str
    topic: str
    area_codes: list[str]
    languages: list[str]
    channels: list[str]
    author_id: int | None
    approver_id: int | None
    scheduled_at: float | None
    expires_at: float | None
    cap_identifier: str | None
    severity: str | None
    urgency: str | None
    published_at: float | None
    created_at: float
    updated_at: float | None = None  # the last change of status (when it was done)

    def text(self, language: str) -> str:
        title, text = (
            (self.title_km, self.text_km) if language == "km" else (self.title_en, self.text_en)
        )
        return f"{title}\n\n{text}" if title else text


@dataclass
class Report:
    """Per broadcast: targeted, sent, delivered (where the platform says so), failed,
    skipped with reasons, by channel and province.

    ``sent``: the platform accepted the message. Of those, on the channels with receipts
    (``RECEIPT_CHANNELS``), ``delivered`` reached the phone (an SMS delivered, a Messenger
    delivery event, a call answered) and ``undelivered`` did not (SMS undelivered or
    failed, a call busy, not answered, failed or cancelled; ``undelivered_reasons`` by
    ``channel:status``); the rest still wait for their receipt. ``failed`` is a send the
    platform refused. A channel without receipts has no ``delivered`` key in
    ``by_channel`` (unknown, not zero)."""

    broadcast_id: int
    status: str
    targeted: int = 0
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    undelivered: int = 0
    failed: int = 0
    blocked: int = 0
    skipped: int = 0
    cancelled: int = 0
    expired: int = 0
    unconfirmed: int = 0  # in flight when its worker died: maybe received, never resent
    done_at: float | None = None  # when the last message went out (status done)
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    undelivered_reasons: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    by_province: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def has_receipts(self) -> bool:
        """Whether a channel of the broadcast says what arrived (delivered is known)."""
        return bool(self.by_channel.keys() & set(RECEIPT_CHANNELS))

    @property
    def awaiting_receipts(self) -> int:
        """Sent on a channel with receipts, and neither delivered nor undelivered yet."""
        return sum(
            max(0, row.get("sent", 0) - row.get("delivered", 0) - row.get("undelivered", 0))
            for channel, row in self.by_channel.items()
            if channel in RECEIPT_CHANNELS
        )

    @property
    def done_share(self) -> float:
        finished = self.sent + self.failed + self.blocked + self.skipped + self.unconfirmed
        return finished / self.targeted if self.targeted else 1.0


@dataclass(frozen=True)
class Recording:
    """A broadcast's recording in one language (``data`` empty when only listed)."""

    broadcast_id: int
    language: str
    content_type: str
    size: int
    sha256: str
    created_at: float
    data: bytes = b""

    @property
    def path(self) -> str:
        return audio_path(self.broadcast_id, self.language)


def audio_path(broadcast_id: int, language: str) -> str:
    """The public URL's path of a recording ('' -> ``other``)."""
    return f"/announcements/{broadcast_id}/audio/{AUDIO_URL_LANGUAGE[language]}"


def sniff_audio(data: bytes) -> str | None:
    """The audio format the bytes begin with (MP3, OGG, WAV, MP4/M4A), else None; an Ogg
    stream whose first packet is OpusHead is ``audio/ogg; codecs=opus`` (a voice note)."""
    if data[:4] == b"OggS":
        segments = data[26] if len(data) > 26 else 0
        first_packet = data[27 + segments : 35 + segments]
        return OGG_OPUS if first_packet == b"OpusHead" else "audio/ogg"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[4:8] == b"ftyp":
        return "audio/mp4"
    if data[:3] == b"ID3":
        return "audio/mpeg"
    # an MPEG audio frame: 11 sync bits, a version and a layer that are not "reserved"
    if len(data) >= 4 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        version, layer = (data[1] >> 3) & 3, (data[1] >> 1) & 3
        if version != 1 and layer != 0 and data[2] >> 4 != 0xF:
            return "audio/mpeg"
    return None


def _broadcast(row: Any) -> Broadcast:
    return Broadcast(
        id=row.id,
        kind=row.kind,
        status=row.status,
        title_km=row.title_km or "",
        title_en=row.title_en or "",
        text_km=row.text_km,
        text_en=row.text_en,
        topic=row.topic,
        area_codes=list(row.area_codes or []),
        languages=list(row.languages or []),
        channels=list(row.channels or []),
        author_id=row.author_id,
        approver_id=row.approver_id,
        scheduled_at=row.scheduled_at,
        expires_at=row.expires_at,
        cap_identifier=row.cap_identifier,
        severity=row.severity,
        urgency=row.urgency,
        published_at=row.published_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        channel=row.channel,
        chat_id=row.chat_id,
        topics=list(row.topics or []),
        area_code=row.area_code,
        language=row.language,
        active=bool(row.active),
        state=row.state,
    )


def area_matches(subscriber_area: str | None, targets: Sequence[str]) -> bool:
    """A subscriber with no place gets only national broadcasts; otherwise a broadcast for
    a unit reaches subscribers inside it, and one for a commune reaches those who chose its
    district or province (gazetteer codes nest by prefix)."""
    if not targets:
        return True
    if not subscriber_area:
        return False
    return any(subscriber_area.startswith(t) or t.startswith(subscriber_area) for t in targets)


def render_body(
    channel: str, text: str, language: str, audio: Recording | None = None, public_url: str = ""
) -> dict[str, Any]:
    """The stored body of one bulk message for a channel (what its sender sends).

    With a recording: a call plays it (``audio_url``; without one it says the text); a
    Telegram or Messenger chat gets the text, then the recording as a voice note (the
    sender's second call); the web chat's page shows a player (a path on this gateway, the
    page's own origin). An SMS stays text only. Platforms fetch the recording from the
    public URL, so without ``public_url`` they get none; a call plays only MP3 or WAV."""
    body: dict[str, Any] = (
        {"html": html.escape(text, quote=False)}
        if channel == "telegram"
        else {"text": text, "language": language}
    )
    if audio is None or channel == "sms":
        return body
    if channel == "voice" and audio.content_type not in CALL_PLAYABLE:
        return body
    if channel == "webchat":
        return {**body, "audio_url": audio.path, "audio_type": audio.content_type}
    if not public_url:
        return body
    return {**body, "audio_url": public_url + audio.path, "audio_type": audio.content_type}


class DisseminationService:
    """Subscriptions and broadcasts on the gateway's database; ``run()`` plans approved
    broadcasts when due, marks them done, and expires what passed its time."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        owner: str | None = None,
        wake_bulk: Any = None,
        channels: Iterable[str] = ("telegram", "messenger", "webchat"),
        chunk: int = CHUNK,
        public_url: str = "",
    ) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._lock = asyncio.Lock()
        self._stopped = asyncio.Event()
        self.owner = owner or f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self._wake_bulk = wake_bulk
        self.channels = tuple(channels)
        self.chunk = chunk
        self.public_url = public_url.rstrip("/")  # where platforms fetch the recordings
        # approved recordings never change: kept here, a call campaign fetches them often
        self._published_audio: OrderedDict[tuple[int, str], Recording] = OrderedDict()

    @contextlib.asynccontextmanager
    async def _writing(self) -> Any:
        if self._sqlite:
            async with self._lock, self._engine.begin() as conn:
                yield conn
        else:
            async with self._engine.begin() as conn:
                yield conn

    def _insert(self, table: Any) -> Any:
        return sqlite_insert(table) if self._sqlite else pg_insert(table)

    # ----- subscribers --------------------------------------------------------------------

    async def subscriber(self, channel: str, chat_id: str) -> Subscriber | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(SUBSCRIBERS).where(_S.channel == channel, _S.chat_id == chat_id)
                )
            ).first()
        return _subscriber(row) if row is not None else None

    async def subscribe(
        self,
        channel: str,
        chat_id: str,
        *,
        topics: Iterable[str] | None = None,
        area_code: str | None = None,
        language: str = "km",
        active: bool = True,
        state: str | None = None,
        notification_token: str | None = None,
        token_expires_at: float | None = None,
    ) -> Subscriber:
        """Create or change a subscription (one per chat)."""
        now = time.time()
        chosen = sorted({Topic(t) for t in (topics or [Topic.EMERGENCY])})
        values: dict[str, Any] = {
            "topics": [str(t) for t in chosen],
            "area_code": area_code,
            "language": language if language in ("km", "en") else "km",
            "active": active,
            "state": state,
            "updated_at": now,
            "last_inbound_at": now,
        }
        if notification_token is not None:
            values["notification_token"] = notification_token
            values["token_expires_at"] = token_expires_at
        stmt = self._insert(SUBSCRIBERS).values(
            channel=channel, chat_id=chat_id, created_at=now, **values
        )
        stmt = stmt.on_conflict_do_update(index_elements=["channel", "chat_id"], set_=values)
        async with self._writing() as conn:
            await conn.execute(stmt)
        found = await self.subscriber(channel, chat_id)
        assert found is not None  # noqa: S101  (just written)
        return found

    async def set_state(
        self, channel: str, chat_id: str, state: str | None, **values: Any
    ) -> None:
        """The chat's subscription dialogue step (and any other column) on its row; a new
        row starts inactive, with the default offer (emergency alerts)."""
        now = time.time()
        row = {"state": state, "updated_at": now, "last_inbound_at": now, **values}
        first = {
            "topics": [Topic.EMERGENCY.value],
            "language": "km",
            "active": False,
            **row,
            "channel": channel,
            "chat_id": chat_id,
            "created_at": now,
        }
        stmt = self._insert(SUBSCRIBERS).values(first)
        stmt = stmt.on_conflict_do_update(index_elements=["channel", "chat_id"], set_=row)
        async with self._writing() as conn:
            await conn.execute(stmt)

    async def seen(self, channel: str, chat_id: str) -> None:
        """The citizen wrote: Messenger's 24-hour window is open again."""
        async with self._writing() as conn:
            await conn.execute(
                update(SUBSCRIBERS)
                .where(_S.channel == channel, _S.chat_id == chat_id)
                .values(last_inbound_at=time.time())
            )

    async def unsubscribe(self, channel: str, chat_id: str) -> bool:
        """STOP: nothing more is planned for this chat, and nothing queued is sent."""
        async with self._writing() as conn:
            done = await conn.execute(
                update(SUBSCRIBERS)
                .where(_S.channel == channel, _S.chat_id == chat_id)
                .values(active=False, state=None, updated_at=time.time())
            )
            await conn.execute(
                update(BULK_OUTBOUND)
                .where(
                    _O.channel == channel,
                    _O.chat_id == chat_id,
                    _O.status.in_((BulkStatus.QUEUED, BulkStatus.PAUSED)),
                )
                .values(status=BulkStatus.CANCELLED, error="unsubscribed")
            )
        return bool(done.rowcount)

    async def subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(SUBSCRIBERS).where(_S.id == subscriber_id))).first()
        return _subscriber(row) if row is not None else None

    async def phone_subscribers(
        self, limit: int = 200, *, areas: Sequence[str] = ()
    ) -> list[Subscriber]:
        """SMS and voice subscribers, newest first (the console shows them masked);
        ``areas``: only those whose place lies inside one of these gazetteer units."""
        query = select(SUBSCRIBERS).where(_S.channel.in_(("sms", "voice")))
        if areas:
            query = query.where(or_(*(_S.area_code.startswith(a) for a in areas)))
        async with self._engine.connect() as conn:
            rows = await conn.execute(query.order_by(_S.id.desc()).limit(limit))
            return [_subscriber(row) for row in rows]

    # ----- broadcasts ---------------------------------------------------------------------

    async def get(self, broadcast_id: int) -> Broadcast:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(BROADCASTS).where(_B.id == broadcast_id))).first()
        if row is None:
            raise NotFound("no such broadcast", km="រកមិនឃើញការផ្សព្វផ្សាយនេះទេ")
        return _broadcast(row)

    async def broadcasts(
        self, *, statuses: Iterable[str] | None = None, limit: int = 100
    ) -> list[Broadcast]:
        query = select(BROADCASTS).order_by(_B.id.desc()).limit(limit)
        if statuses is not None:
            query = query.where(_B.status.in_(list(statuses)))
        async with self._engine.connect() as conn:
            return [_broadcast(r) for r in await conn.execute(query)]

    async def published(self, limit: int = 50) -> list[Broadcast]:
        """Approved announcements and alerts, newest first (the public page and feeds)."""
        query = (
            select(BROADCASTS)
            .where(_B.published_at.is_not(None))
            .order_by(_B.published_at.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_broadcast(r) for r in await conn.execute(query)]

    @staticmethod
    def _validate(text_km: str, text_en: str, title_km: str, title_en: str, topic: str) -> None:
        if not text_km.strip() or not text_en.strip():
            raise Invalid(
                "the announcement needs its Khmer and its English text",
                km="សេចក្តីប្រកាសត្រូវការអត្ថបទជាភាសាខ្មែរ និងជាភាសាអង់គ្លេស",
            )
        for title, text in ((title_km, text_km), (title_en, text_en)):
            if len(title) + len(text) + 2 > MAX_TEXT:
                raise Invalid(
                    f"a text is longer than {MAX_TEXT} characters (Messenger's limit)",
                    km=f"អត្ថបទវែងជាង {MAX_TEXT} តួអក្សរ (កម្រិតរបស់ Messenger)",
                )
        if topic not in set(Topic):
            raise Invalid("unknown topic", km="ប្រធានបទមិនស្គាល់")

    async def create_draft(
        self,
        author: Person,
        *,
        text_km: str,
        text_en: str,
        title_km: str = "",
        title_en: str = "",
        topic: str = Topic.PROGRAMMES,
        area_codes: Sequence[str] = (),
        languages: Sequence[str] = (),
        channels: Sequence[str] = (),
        scheduled_at: float | None = None,
        expires_at: float | None = None,
        utility_template: str | None = None,
        kind: str = BroadcastKind.ANNOUNCEMENT,
    ) -> int:
        """A draft; nothing is sent before a second person approves it."""
        self._validate(text_km, text_en, title_km, title_en, topic)
        now = time.time()
        values = {
            "kind": BroadcastKind(kind),
            "title_km": title_km.strip(),
            "title_en": title_en.strip(),
            "text_km": text_km.strip(),
            "text_en": text_en.strip(),
            "topic": topic,
            "area_codes": sorted(set(area_codes)),
            "languages": sorted(set(languages)),
            "channels": sorted(set(channels)),
            "status": BroadcastStatus.DRAFT,
            "author_id": author.agent_id,
            "author_org_kind": author.org_kind,
            "utility_template": utility_template,
            "scheduled_at": scheduled_at,
            "expires_at": expires_at,
            "priority": Priority.ALERT if kind == BroadcastKind.ALERT else Priority.BULK,
            "plan_cursor": 0,
            "created_at": now,
            "updated_at": now,
        }
        async with self._writing() as conn:
            result = await conn.execute(insert(BROADCASTS).values(values).returning(_B.id))
            return int(result.scalar_one())

    async def update_draft(self, broadcast_id: int, editor: Person, **values: Any) -> None:
        current = await self.get(broadcast_id)
        if current.status not in (BroadcastStatus.DRAFT, BroadcastStatus.PENDING_APPROVAL):
            raise Conflict("only a draft can be changed", km="អាចកែប្រែបានតែសេចក្តីព្រាងប៉ុណ្ណោះ")
        merged = {
            "text_km": values.get("text_km", current.text_km),
            "text_en": values.get("text_en", current.text_en),
            "title_km": values.get("title_km", current.title_km),
            "title_en": values.get("title_en", current.title_en),
            "topic": values.get("topic", current.topic),
        }
        self._validate(**merged)
        extra = {
            k: values[k]
            for k in ("area_codes", "languages", "channels", "scheduled_at", "expires_at")
            if k in values
        }
        await self._move(
            broadcast_id,
            (BroadcastStatus.DRAFT, BroadcastStatus.PENDING_APPROVAL),
            BroadcastStatus.DRAFT,
            **merged,
            **extra,
        )

    # ----- recordings ---------------------------------------------------------------------

    async def attach_audio(
        self, broadcast_id: int, language: str, data: bytes, content_type: str
    ) -> Recording:
        """Attach (or replace) the recording of a draft or of one waiting for approval; like
        any change, it goes back to draft (the approver hears what is sent). MP3, OGG, WAV or
        M4A up to MAX_AUDIO_BYTES, recognised by its first bytes, not only its declared type."""
        if language not in AUDIO_LANGUAGES:
            raise Invalid(
                "a recording is in Khmer, English or another language",
                km="ការថតសំឡេងត្រូវជាភាសាខ្មែរ អង់គ្លេស ឬភាសាផ្សេងទៀត",
            )
        if not data:
            raise Invalid(
                "the file is empty: choose a recording", km="ឯកសារទទេ៖ សូមជ្រើសរើសការថតសំឡេង"
            )
        if len(data) > MAX_AUDIO_BYTES:
            raise Invalid(
                f"the recording is too large ({len(data) / 1048576:.1f} MB): at most "
                f"{MAX_AUDIO_BYTES // 1048576} MB. Shorten it or save it at a lower quality "
                "(for example MP3 at 64 kbit/s)",
                km=f"ការថតសំឡេងធំពេក៖ អតិបរមា {MAX_AUDIO_BYTES // 1048576} មេកាបៃ។ "
                "សូមកាត់ឱ្យខ្លី ឬរក្សាទុកក្នុងគុណភាពទាបជាងនេះ (ឧ. MP3 64 kbit/s)",
            )
        found = sniff_audio(data)
        declared = content_type.split(";", 1)[0].strip().lower()
        base = (found or "").split(";", 1)[0]
        if found is None or (declared not in UNTYPED and AUDIO_TYPES.get(declared) != base):
            raise Invalid(
                "this file is not a recording phones can play: use MP3, OGG, WAV or M4A",
                km="ឯកសារនេះមិនមែនជាការថតសំឡេងដែលទូរសព្ទអាចចាក់បានទេ៖ សូមប្រើ MP3, OGG, WAV ឬ M4A",
            )
        now = time.time()
        values = {
            "content_type": found,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "data": data,
            "created_at": now,
        }
        stmt = self._insert(AUDIO).values(broadcast_id=broadcast_id, language=language, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["broadcast_id", "language"], set_=values)
        async with self._writing() as conn:
            await self._back_to_draft(conn, broadcast_id, now)
            await conn.execute(stmt)
        return Recording(broadcast_id, language, found, len(data), str(values["sha256"]), now)

    async def remove_audio(self, broadcast_id: int, language: str) -> bool:
        """Remove a draft's recording (back to draft); False if it had none."""
        now = time.time()
        async with self._writing() as conn:
            await self._back_to_draft(conn, broadcast_id, now)
            done = await conn.execute(
                delete(AUDIO).where(_A.broadcast_id == broadcast_id, _A.language == language)
            )
        return bool(done.rowcount)

    async def _back_to_draft(self, conn: AsyncConnection, broadcast_id: int, now: float) -> None:
        """In the change's transaction (the row locked on PostgreSQL, so an approval cannot
        slip in between): Conflict unless a draft or waiting for approval."""
        done = await conn.execute(
            update(BROADCASTS)
            .where(
                _B.id == broadcast_id,
                _B.status.in_((BroadcastStatus.DRAFT, BroadcastStatus.PENDING_APPROVAL)),
            )
            .values(status=BroadcastStatus.DRAFT, updated_at=now)
        )
        if done.rowcount != 1:
            found = await conn.scalar(select(_B.id).where(_B.id == broadcast_id))
            if found is None:
                raise NotFound("no such broadcast", km="រកមិនឃើញការផ្សព្វផ្សាយនេះទេ")
            raise Conflict(
                "a recording can only be changed while the announcement is a draft or "
                "waiting for approval",
                km="អាចប្ដូរការថតសំឡេងបាន តែពេលសេចក្តីប្រកាសនៅជាសេចក្តីព្រាង ឬកំពុងរង់ចាំការអនុម័តប៉ុណ្ណោះ",
            )

    async def audio(
        self, broadcast_id: int, language: str, *, published_only: bool = False
    ) -> Recording | None:
        """A recording with its bytes; ``published_only``: None unless the broadcast was
        approved (the public URL never serves a draft's recording; an approved one no
        longer changes, so it is kept in memory, up to AUDIO_CACHE_BYTES)."""
        key = (broadcast_id, language)
        if published_only and key in self._published_audio:
            self._published_audio.move_to_end(key)
            return self._published_audio[key]
        query = select(AUDIO).where(_A.broadcast_id == broadcast_id, _A.language == language)
        if published_only:
            query = query.join(BROADCASTS, _B.id == _A.broadcast_id).where(
                _B.published_at.is_not(None)
            )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        found = Recording(
            row.broadcast_id,
            row.language,
            row.content_type,
            row.size,
            row.sha256,
            row.created_at,
            bytes(row.data),
        )
        if published_only:
            self._published_audio[key] = found
            while sum(r.size for r in self._published_audio.values()) > AUDIO_CACHE_BYTES:
                self._published_audio.popitem(last=False)
        return found

    async def recordings(self, broadcast_ids: Iterable[int]) -> dict[int, list[Recording]]:
        """The recordings of these broadcasts, without their bytes (pages and planning)."""
        ids = list(broadcast_ids)
        found: dict[int, list[Recording]] = {i: [] for i in ids}
        if not ids:
            return found
        query = (
            select(
                _A.broadcast_id, _A.language, _A.content_type, _A.size, _A.sha256, _A.created_at
            )
            .where(_A.broadcast_id.in_(ids))
            .order_by(_A.broadcast_id, _A.language.desc())
        )
        async with self._engine.connect() as conn:
            for row in await conn.execute(query):
                found[row.broadcast_id].append(
                    Recording(
                        row.broadcast_id,
                        row.language,
                        row.content_type,
                        row.size,
                        row.sha256,
                        row.created_at,
                    )
                )
        return found

    async def submit(self, broadcast_id: int) -> None:
        """Ask for approval."""
        await self._move(broadcast_id, (BroadcastStatus.DRAFT,), BroadcastStatus.PENDING_APPROVAL)

    async def approve(self, broadcast_id: int, approver: Person) -> None:
        """A second person approves: never the author; the secretariat (or an administrator)
        approves anything, a CSO supervisor only their CSO's announcements for named places
        (the whole country needs the secretariat)."""
        current = await self.get(broadcast_id)
        if current.status not in (BroadcastStatus.DRAFT, BroadcastStatus.PENDING_APPROVAL):
            raise Conflict(
                f"this broadcast is {current.status}, not waiting for approval",
                km="ការផ្សព្វផ្សាយនេះមិនកំពុងរង់ចាំការអនុម័តទេ",
            )
        if approver.agent_id == current.author_id:
            raise NotAllowed(
                "the author cannot approve their own announcement",
                km="អ្នកនិពន្ធមិនអាចអនុម័តសេចក្តីប្រកាសរបស់ខ្លួនឯងបានទេ",
            )
        if approver.role not in APPROVERS:
            cso_local = (
                approver.role == Role.SUPERVISOR
                and approver.org_kind == OrgKind.CSO
                and await self._author_kind(broadcast_id) == OrgKind.CSO
            )
            if not cso_local:
                raise NotAllowed(
                    "approval needs the secretariat role",
                    km="ការអនុម័តត្រូវការតួនាទីលេខាធិការដ្ឋាន",
                )
            if not current.area_codes:
                raise NotAllowed(
                    "a CSO cannot target the whole country without the secretariat's approval",
                    km="អង្គការសង្គមស៊ីវិលមិនអាចផ្សព្វផ្សាយទូទាំងប្រទេសដោយគ្មានការអនុម័តពីលេខាធិការដ្ឋានទេ",
                )
        if current.expires_at is not None and current.expires_at <= time.time():
            await self._move(broadcast_id, (current.status,), BroadcastStatus.EXPIRED)
            raise Conflict("this broadcast has expired", km="ការផ្សព្វផ្សាយនេះផុតកំណត់ហើយ")
        now = time.time()
        await self._move(
            broadcast_id,
            (BroadcastStatus.DRAFT, BroadcastStatus.PENDING_APPROVAL),
            BroadcastStatus.APPROVED,
            approver_id=approver.agent_id,
            approved_at=now,
            published_at=now,
        )

    async def _author_kind(self, broadcast_id: int) -> str | None:
        async with self._engine.connect() as conn:
            found = await conn.scalar(select(_B.author_org_kind).where(_B.id == broadcast_id))
        return str(found) if found else None

    async def _move(self, broadcast_id: int, from_: Iterable[str], to: str, **values: Any) -> None:
        async with self._writing() as conn:
            done = await conn.execute(
                update(BROADCASTS)
                .where(_B.id == broadcast_id, _B.status.in_(list(from_)))
                .values(status=to, updated_at=time.time(), **values)
            )
        if done.rowcount != 1:
            await self.get(broadcast_id)  # NotFound if absent
            raise Conflict(
                f"cannot move this broadcast to {to} now",
                km="មិនអាចប្តូរស្ថានភាពការផ្សព្វផ្សាយនេះឥឡូវបានទេ",
            )

    async def pause(self, broadcast_id: int) -> None:
        async with self._writing() as conn:
            done = await conn.execute(
                update(BROADCASTS)
                .where(
                    _B.id == broadcast_id,
                    _B.status.in_(
                        (
                            BroadcastStatus.APPROVED,
                            BroadcastStatus.PLANNING,
                            BroadcastStatus.SENDING,
                        )
                    ),
                )
                .values(status=BroadcastStatus.PAUSED, updated_at=time.time())
            )
            if done.rowcount != 1:
                raise Conflict(
                    "only a broadcast being sent can be paused",
                    km="អាចផ្អាកបានតែការផ្សព្វផ្សាយដែលកំពុងផ្ញើប៉ុណ្ណោះ",
                )
            await conn.execute(
                update(BULK_OUTBOUND)
                .where(_O.broadcast_id == broadcast_id, _O.status == BulkStatus.QUEUED)
                .values(status=BulkStatus.PAUSED)
            )

    async def resume(self, broadcast_id: int) -> None:
        current = await self.get(broadcast_id)
        if current.expires_at is not None and current.expires_at <= time.time():
            raise Conflict("this broadcast has expired", km="ការផ្សព្វផ្សាយនេះផុតកំណត់ហើយ")
        async with self._engine.connect() as conn:
            planned = await conn.scalar(select(_B.planned_at).where(_B.id == broadcast_id))
        to = BroadcastStatus.SENDING if planned else BroadcastStatus.APPROVED
        async with self._writing() as conn:
            done = await conn.execute(
                update(BROADCASTS)
                .where(_B.id == broadcast_id, _B.status == BroadcastStatus.PAUSED)
                .values(status=to, updated_at=time.time())
            )
            if done.rowcount != 1:
                raise Conflict(
                    "only a paused broadcast can be resumed",
                    km="អាចបន្តបានតែការផ្សព្វផ្សាយដែលបានផ្អាកប៉ុណ្ណោះ",
                )
            await conn.execute(
                update(BULK_OUTBOUND)
                .where(_O.broadcast_id == broadcast_id, _O.status == BulkStatus.PAUSED)
                .values(status=BulkStatus.QUEUED)
            )
        self._wake()

    async def cancel(self, broadcast_id: int) -> int:
        """Nothing more of it is sent; returns how many queued messages were stopped."""
        async with self._writing() as conn:
            done = await conn.execute(
                update(BROADCASTS)
                .where(
                    _B.id == broadcast_id,
                    _B.status.not_in((BroadcastStatus.CANCELLED, BroadcastStatus.EXPIRED)),
                )
                .values(
                    status=BroadcastStatus.CANCELLED,
                    updated_at=time.time(),
                    plan_owner=None,
                    plan_until=None,
                )
            )
            if done.rowcount != 1:
                await self.get(broadcast_id)
                raise Conflict(
                    "this broadcast is already cancelled or expired",
                    km="ការផ្សព្វផ្សាយនេះត្រូវបានបោះបង់ ឬផុតកំណត់រួចហើយ",
                )
            stopped = await conn.execute(
                update(BULK_OUTBOUND)
                .where(
                    _O.broadcast_id == broadcast_id,
                    _O.status.in_((BulkStatus.QUEUED, BulkStatus.PAUSED)),
                )
                .values(status=BulkStatus.CANCELLED)
            )
        return int(stopped.rowcount or 0)

    async def resend_unconfirmed(self, broadcast_id: int) -> int:
        """The operator's choice for messages in flight when a worker died (never resent
        on their own: some citizens may have them): queue them again while the broadcast
        is live; returns how many."""
        current = await self.get(broadcast_id)
        if current.status not in (BroadcastStatus.SENDING, BroadcastStatus.DONE):
            raise Conflict(
                f"this broadcast is {current.status}: nothing is sent again",
                km="ការផ្សព្វផ្សាយនេះមិនកំពុងផ្ញើទេ៖ គ្មានអ្វីផ្ញើម្តងទៀតទេ",
            )
        if current.expires_at is not None and current.expires_at <= time.time():
            raise Conflict("this broadcast has expired", km="ការផ្សព្វផ្សាយនេះផុតកំណត់ហើយ")
        async with self._writing() as conn:
            queued = await conn.execute(
                update(BULK_OUTBOUND)
                .where(_O.broadcast_id == broadcast_id, _O.status == BulkStatus.UNCONFIRMED)
                .values(status=BulkStatus.QUEUED, due_at=0.0, error=None)
            )
            if queued.rowcount:
                await conn.execute(
                    update(BROADCASTS)
                    .where(_B.id == broadcast_id, _B.status == BroadcastStatus.DONE)
                    .values(status=BroadcastStatus.SENDING, updated_at=time.time())
                )
        self._wake()
        return int(queued.rowcount or 0)

    def _wake(self) -> None:
        if self._wake_bulk is not None:
            self._wake_bulk()

    # ----- alerts (the CAP import calls these) --------------------------------------------

    async def plan_alert_broadcast(
        self,
        *,
        cap_identifier: str,
        headline_km: str,
        headline_en: str,
        text_km: str,
        text_en: str,
        area_codes: Sequence[str],
        expires_at: float | None,
        severity: str,
        urgency: str,
        supersedes: str | None = None,
        require_approval: bool = False,
        plan_now: bool = True,
    ) -> int:
        """An emergency alert to the subscribers of ``area_codes`` (topic emergency),
        before routine announcements. ``supersedes`` cancels the pending sends of an earlier
        alert (CAP Update). Without ``require_approval`` it is planned at once; with it, it
        waits for the secretariat like an announcement. Returns the broadcast id; the same
        ``cap_identifier`` twice returns the first one. ``plan_now=False`` leaves the
        planning to the next ``tick()`` of any process (an import answers at once)."""
        if expires_at is not None and expires_at <= time.time():
            raise Conflict("this alert has expired", km="ការព្រមាននេះផុតកំណត់ហើយ")
        existing = await self._by_cap(cap_identifier)
        if existing is not None:
            return existing
        if supersedes:
            await self.cancel_alert(supersedes)
        self._validate(text_km, text_en, headline_km, headline_en, Topic.EMERGENCY)
        now = time.time()
        status = BroadcastStatus.PENDING_APPROVAL if require_approval else BroadcastStatus.APPROVED
        values = {
            "kind": BroadcastKind.ALERT,
            "title_km": headline_km,
            "title_en": headline_en,
            "text_km": text_km,
            "text_en": text_en,
            "topic": Topic.EMERGENCY,
            "area_codes": sorted(set(area_codes)),
            "languages": [],
            "channels": [],
            "status": status,
            "cap_identifier": cap_identifier,
            "severity": severity,
            "urgency": urgency,
            "expires_at": expires_at,
            "priority": Priority.ALERT,
            "plan_cursor": 0,
            "approved_at": None if require_approval else now,
            "published_at": None if require_approval else now,
            "created_at": now,
            "updated_at": now,
        }
        async with self._writing() as conn:
            result = await conn.execute(insert(BROADCASTS).values(values).returning(_B.id))
            broadcast_id = int(result.scalar_one())
        if not require_approval and plan_now:
            await self.plan(broadcast_id)
        return broadcast_id

    async def _by_cap(self, cap_identifier: str) -> int | None:
        async with self._engine.connect() as conn:
            found = await conn.scalar(select(_B.id).where(_B.cap_identifier == cap_identifier))
        return int(found) if found is not None else None

    async def cancel_alert(self, cap_identifier: str) -> int:
        """CAP Cancel: stop the pending sends of that alert; 0 if unknown or already over."""
        broadcast_id = await self._by_cap(cap_identifier)
        if broadcast_id is None:
            return 0
        try:
            return await self.cancel(broadcast_id)
        except Conflict:
            return 0

    # ----- planning -----------------------------------------------------------------------

    async def _take_plan(self, broadcast_id: int, now: float) -> bool:
        async with self._writing() as conn:
            taken = await conn.execute(
                update(BROADCASTS)
                .where(
                    _B.id == broadcast_id,
                    _B.status.in_(_ACTIVE_PLAN),
                    or_(_B.scheduled_at.is_(None), _B.scheduled_at <= now),
                    or_(_B.plan_owner.is_(None), _B.plan_owner == self.owner, _B.plan_until < now),
                )
                .values(
                    status=BroadcastStatus.PLANNING,
                    plan_owner=self.owner,
                    plan_until=now + PLAN_LEASE_S,
                    updated_at=now,
                )
            )
        return bool(taken.rowcount == 1)

    async def plan(self, broadcast_id: int, *, max_chunks: int | None = None) -> bool:
        """Write this broadcast's recipients and queued messages, chunk by chunk, from where
        the last planner stopped. True when fully planned (then it is ``sending``)."""
        now = time.time()
        if not await self._take_plan(broadcast_id, now):
            return False
        broadcast = await self.get(broadcast_id)
        if broadcast.expires_at is not None and broadcast.expires_at <= now:
            await self._move(broadcast_id, _ACTIVE_PLAN, BroadcastStatus.EXPIRED)
            return False
        audio = {r.language: r for r in (await self.recordings([broadcast_id]))[broadcast_id]}
        bodies = {
            (channel, language): render_body(
                channel,
                broadcast.text(language),
                language,
                audio.get(language) or audio.get(""),  # their language's, else the other one
                self.public_url,
            )
            for channel in self.channels
            for language in ("km", "en")
        }
        chunks = 0
        while True:
            more = await self._plan_chunk(broadcast, bodies)
            if more is None:
                return False  # lost the lease, paused or cancelled
            self._wake()
            if not more:
                break
            chunks += 1
            if max_chunks is not None and chunks >= max_chunks:
                return False
        async with self._writing() as conn:
            await conn.execute(
                update(BROADCASTS)
                .where(
                    _B.id == broadcast_id,
                    _B.plan_owner == self.owner,
                    _B.status == BroadcastStatus.PLANNING,
                )
                .values(
                    status=BroadcastStatus.SENDING,
                    planned_at=time.time(),
                    plan_owner=None,
                    plan_until=None,
                    updated_at=time.time(),
                )
            )
        return True

    def _targets(self, broadcast: Broadcast, sub: Any) -> bool:
        topics = sub.topics or []
        if broadcast.topic not in topics:
            return False
        if broadcast.languages and sub.language not in broadcast.languages:
            return False
        if broadcast.channels and sub.channel not in broadcast.channels:
            return False
        return area_matches(sub.area_code, broadcast.area_codes)

    def _messenger_body(
        self,
        broadcast: Broadcast,
        sub: Any,
        body: dict[str, Any],
        now: float,
        template: str | None,
    ) -> dict[str, Any] | None:
        """Messenger's 24-hour rule: inside it a normal update; outside it a notification
        token or an approved utility template; else None (skipped)."""
        if sub.last_inbound_at is not None and now - sub.last_inbound_at < MESSENGER_WINDOW_S:
            return {**body, "messaging_type": "RESPONSE"}
        if sub.notification_token and (sub.token_expires_at or 0) > now:
            return {**body, "notification_token": sub.notification_token}
        if template:
            return {**body, "utility_template": template}
        return None

    async def _plan_chunk(
        self, broadcast: Broadcast, bodies: dict[tuple[str, str], dict[str, Any]]
    ) -> bool | None:
        """One chunk in one transaction; True if more subscribers follow, None if the
        planner no longer holds the broadcast."""
        now = time.time()
        async with self._writing() as conn:
            cursor = await self._hold(conn, broadcast.id, now)
            if cursor is None:
                return None
            subs = (
                await conn.execute(
                    select(SUBSCRIBERS)
                    .where(_S.id > cursor, _S.active.is_(True))
                    .order_by(_S.id)
                    .limit(self.chunk)
                )
            ).all()
            if not subs:
                return False
            template = await conn.scalar(
                select(BROADCASTS.c.utility_template).where(_B.id == broadcast.id)
            )
            recipients: list[dict[str, Any]] = []
            messages: dict[int, dict[str, Any]] = {}
            for sub in subs:
                if not self._targets(broadcast, sub):
                    continue
                body = bodies.get((sub.channel, sub.language if sub.language == "en" else "km"))
                status, reason = RecipientStatus.PLANNED, None
                if body is None:
                    status, reason = RecipientStatus.SKIPPED, SkipReason.NO_SENDER
                elif sub.channel == "messenger":
                    body = self._messenger_body(broadcast, sub, body, now, template)
                    if body is None:
                        status, reason = RecipientStatus.SKIPPED, SkipReason.MESSENGER_OUTSIDE_24H
                recipients.append(
                    {
                        "broadcast_id": broadcast.id,
                        "subscriber_id": sub.id,
                        "channel": sub.channel,
                        "area_code": sub.area_code,
                        "status": status,
                        "reason": reason,
                    }
                )
                if body is not None:
                    messages[sub.id] = {"sub": sub, "body": body}
            if recipients:
                await conn.execute(
                    self._insert(RECIPIENTS).on_conflict_do_nothing(
                        index_elements=["broadcast_id", "subscriber_id"]
                    ),
                    recipients,
                )
            if messages:
                ids = (
                    await conn.execute(
                        select(_R.id, _R.subscriber_id).where(
                            _R.broadcast_id == broadcast.id,
                            # the chunk's range: a range scan of the unique index (a list of
                            # 2,000 ids made PostgreSQL scan the whole table once it had
                            # statistics, each chunk slower than the last)
                            _R.subscriber_id > cursor,
                            _R.subscriber_id <= subs[-1].id,
                            _R.status == RecipientStatus.PLANNED,
                        )
                    )
                ).all()
                kind = (
                    OutboundKind.ALERT
                    if broadcast.kind == BroadcastKind.ALERT
                    else OutboundKind.BROADCAST
                )
                priority = (
                    Priority.ALERT if broadcast.kind == BroadcastKind.ALERT else Priority.BULK
                )
                due = broadcast.scheduled_at or 0.0
                rows = []
                # every planned recipient of this range was inserted just now, with its
                # message (a chunk's recipients and its cursor commit together)
                for recipient_id, subscriber_id in ids:
                    sub = messages[subscriber_id]["sub"]
                    row = {
                        "channel": sub.channel,
                        "chat_id": sub.chat_id,
                        "kind": kind,
                        "body": messages[subscriber_id]["body"],
                        "status": BulkStatus.QUEUED,
                        "attempts": 0,
                        "due_at": due,
                        "priority": int(priority),
                        "broadcast_id": broadcast.id,
                        "recipient_id": recipient_id,
                        "expires_at": broadcast.expires_at,
                    }
                    rows.append(row)
                await conn.execute(insert(BULK_OUTBOUND), _with_created(rows))
            await conn.execute(
                update(BROADCASTS)
                .where(_B.id == broadcast.id)
                .values(plan_cursor=subs[-1].id, plan_until=time.time() + PLAN_LEASE_S)
            )
        return len(subs) == self.chunk

    async def _hold(self, conn: AsyncConnection, broadcast_id: int, now: float) -> int | None:
        """Renew the planner's lease in the chunk's transaction (locking the broadcast row
        on PostgreSQL) and read the cursor; None if no longer ours."""
        result = await conn.execute(
            update(BROADCASTS)
            .where(
                _B.id == broadcast_id,
                _B.plan_owner == self.owner,
                _B.status == BroadcastStatus.PLANNING,
            )
            .values(plan_until=now + PLAN_LEASE_S)
            .returning(_B.plan_cursor)
        )
        found = result.first()
        return int(found[0]) if found is not None else None

    # ----- the background loop ------------------------------------------------------------

    async def tick(self) -> None:
        """Plan what is due, end what is finished, expire what passed its time."""
        now = time.time()
        async with self._engine.connect() as conn:
            due = [
                r.id
                for r in await conn.execute(
                    select(_B.id).where(
                        _B.status.in_(_ACTIVE_PLAN),
                        or_(_B.scheduled_at.is_(None), _B.scheduled_at <= now),
                        or_(
                            _B.plan_owner.is_(None),
                            _B.plan_until < now,
                            _B.plan_owner == self.owner,
                        ),
                    )
                )
            ]
            # an idle gateway takes no write lock every second (SQLite has one writer)
            live = await conn.scalar(select(_B.id).where(_B.status.in_(_UNFINISHED)).limit(1))
        if live is None:
            return
        for broadcast_id in due:
            await self.plan(broadcast_id)
        async with self._writing() as conn:
            await conn.execute(
                update(BROADCASTS)
                .where(
                    _B.status.in_(_UNFINISHED),
                    _B.expires_at.is_not(None),
                    _B.expires_at <= now,
                )
                .values(status=BroadcastStatus.EXPIRED, updated_at=now)
            )
            await conn.execute(
                update(BULK_OUTBOUND)
                .where(
                    _O.status.in_((BulkStatus.QUEUED, BulkStatus.PAUSED)),
                    _O.expires_at.is_not(None),
                    _O.expires_at <= now,
                )
                .values(status=BulkStatus.EXPIRED)
            )
            open_rows = (
                select(_O.id)
                .where(
                    _O.broadcast_id == _B.id,
                    _O.status.in_((BulkStatus.QUEUED, BulkStatus.SENDING)),
                )
                .exists()
            )
            await conn.execute(
                update(BROADCASTS)
                .where(_B.status == BroadcastStatus.SENDING, ~open_rows)
                .values(status=BroadcastStatus.DONE, updated_at=now)
            )

    def stop(self) -> None:
        """End ``run()`` after the current tick (no query cut short)."""
        self._stopped.set()

    async def run(self, every_s: float = 1.0) -> None:
        while not self._stopped.is_set():
            try:
                await self.tick()
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                log.exception("dissemination.tick_failed")
            await wait_event(self._stopped, every_s)

    # ----- reports ------------------------------------------------------------------------

    async def record_deliveries(self, channel: str, deliveries: Mapping[str, list[str]]) -> None:
        """A platform's delivery events (chat -> message ids, Messenger's): a receipt for
        each that is a broadcast's message, in one statement through the index on (channel,
        chat_id); the conversation's own replies get none (the reports never read them)."""
        ours = or_(
            *(
                and_(_O.chat_id == chat_id, _O.external_id.in_(mids))
                for chat_id, mids in deliveries.items()
            )
        )
        rows = select(
            _O.channel,
            _O.external_id,
            literal("delivered", String),
            literal("", String),
            literal(datetime.now(UTC), DateTime(timezone=True)),
        ).where(_O.channel == channel, _O.broadcast_id.is_not(None), ours)
        async with self._writing() as conn:
            await conn.execute(
                insert(DeliveryReceipt).from_select(
                    ["channel", "external_id", "status", "error_code", "received_at"], rows
                )
            )

    async def recipient_count(self, broadcast: Broadcast) -> dict[str, int]:
        """How many subscribers a broadcast would reach now, per channel (the preview)."""
        counts: dict[str, int] = {}
        last = 0
        async with self._engine.connect() as conn:
            while True:
                subs = (
                    await conn.execute(
                        select(_S.id, _S.channel, _S.topics, _S.language, _S.area_code)
                        .where(_S.id > last, _S.active.is_(True))
                        .order_by(_S.id)
                        .limit(5000)
                    )
                ).all()
                if not subs:
                    break
                last = subs[-1].id
                for sub in subs:
                    if self._targets(broadcast, sub):
                        counts[sub.channel] = counts.get(sub.channel, 0) + 1
        return counts

    async def report(self, broadcast_id: int) -> Report:
        current = await self.get(broadcast_id)
        report = Report(broadcast_id=broadcast_id, status=current.status)
        if current.status == BroadcastStatus.DONE:
            report.done_at = current.updated_at
        async with self._engine.connect() as conn:
            skipped = await conn.execute(
                select(_R.channel, _R.area_code, _R.reason, func.count())
                .where(_R.broadcast_id == broadcast_id, _R.status == RecipientStatus.SKIPPED)
                .group_by(_R.channel, _R.area_code, _R.reason)
            )
            for channel, area, reason, count in skipped:
                self._count(report, "skipped", channel, area, count)
                report.skipped_reasons[reason] = report.skipped_reasons.get(reason, 0) + count
            sent = await conn.execute(self._outcomes(broadcast_id))
            for channel, area, status, code, count in sent:
                key = {
                    BulkStatus.QUEUED: "queued",
                    BulkStatus.SENDING: "queued",
                    BulkStatus.PAUSED: "queued",
                    BulkStatus.SENT: "sent",
                    BulkStatus.FAILED: "failed",
                    BulkStatus.BLOCKED: "blocked",
                    BulkStatus.CANCELLED: "cancelled",
                    BulkStatus.EXPIRED: "expired",
                    BulkStatus.UNCONFIRMED: "unconfirmed",
                }.get(status, "failed")
                self._count(report, key, channel, area, count)
                if channel in RECEIPT_CHANNELS:  # delivered is known (0 until sent) here
                    self._receipt(report, channel, area, code if key == "sent" else None, count)
        return report

    @staticmethod
    def _outcomes(broadcast_id: int) -> Any:
        """One GROUP BY over the broadcast's messages: channel, area, status and the code
        of the most final receipt (0: none yet), each message once (the inner GROUP BY
        over its id). PostgreSQL hash-joins the receipts on (channel, external_id): about
        7 s for a million messages with 2.5 million receipts on the 2-core test machine,
        twice as fast as a subquery per message through the index."""
        rows = (
            select(
                _O.channel,
                _R.area_code,
                _O.status,
                func.max(case(RECEIPT_CODES, value=_D.status, else_=0)).label("code"),
            )
            .select_from(
                BULK_OUTBOUND.join(RECIPIENTS, _R.id == _O.recipient_id).outerjoin(
                    RECEIPTS, and_(_D.channel == _O.channel, _D.external_id == _O.external_id)
                )
            )
            .where(_O.broadcast_id == broadcast_id)
            .group_by(_O.id, _O.channel, _R.area_code, _O.status)
            .subquery()
        )
        return select(
            rows.c.channel, rows.c.area_code, rows.c.status, rows.c.code, func.count()
        ).group_by(rows.c.channel, rows.c.area_code, rows.c.status, rows.c.code)

    @staticmethod
    def _receipt(report: Report, channel: str, area: str | None, code: int | None, n: int) -> None:
        """Sent messages on a channel with receipts: delivered, not (with why), or waiting."""
        key = None
        if code is not None and code >= _DELIVERED_FROM:
            key = "delivered"
        elif code is not None and code >= _UNDELIVERED_FROM:
            key = "undelivered"
            reason = f"{channel}:{_STATUS_OF_CODE.get(code, 'failed')}"
            report.undelivered_reasons[reason] = report.undelivered_reasons.get(reason, 0) + n
        province = (area or "")[:2] or "-"
        for table, name in ((report.by_channel, channel), (report.by_province, province)):
            bucket = table.setdefault(name, {})
            for field_name in ("delivered", "undelivered"):
                bucket.setdefault(field_name, 0)
            if key is not None:
                bucket[key] += n
        if key is not None:
            setattr(report, key, getattr(report, key) + n)

    @staticmethod
    def _count(report: Report, key: str, channel: str, area: str | None, count: int) -> None:
        setattr(report, key, getattr(report, key) + count)
        report.targeted += count
        province = (area or "")[:2] or "-"
        for table, name in ((report.by_channel, channel), (report.by_province, province)):
            bucket = table.setdefault(name, {})
            bucket[key] = bucket.get(key, 0) + count
            bucket["targeted"] = bucket.get("targeted", 0) + count


def _with_created(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from datetime import UTC, datetime

    stamp = datetime.now(UTC)
    for row in rows:
        row["created_at"] = stamp
    return rows
