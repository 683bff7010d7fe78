"""The review queue: what the assistant misunderstood, grouped by text, most frequent first.

Two sources, both read only:

* Rasa's tracker store (table ``events``, Rasa's own schema): user messages whose intent
  confidence was low, that fell back (``nlu_fallback``), or after which Rasa handed the
  conversation to a person (``action_handoff``), except a clear request for a person.
* the gateway's log: the last messages before a handoff, and before a handoff the citizen
  rated 1 or 2.

Messages are masked (phones, names), grouped by normalised text and ranked by the number of
conversations that wrote them, then by messages; texts already annotated are left out.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ..storage._db import Annotation, Handoff, Inbound
from ..storage._models import InboundKind
from ._text import group_key, key_hash, mask

__all__ = [
    "Occurrence",
    "QueueItem",
    "Reason",
    "build_queue",
    "gateway_occurrences",
    "open_tracker_engine",
    "tracker_occurrences",
]

FALLBACK_INTENT = "nlu_fallback"
HANDOFF_ACTION = "action_handoff"
DELIBERATE_HANDOFF_INTENTS = frozenset({"request_human"})  # understood: not a mistake
LOW_RATING = 2  # ratings are 1 (poor) to 5 (very good)
MESSAGES_BEFORE_LOW_RATING = 3
MAX_SUGGESTIONS = 9  # the review page picks them with the keys 1-9
DAY_S = 86_400
DEDUP_WINDOW_S = 60  # the same message seen by Rasa and by the gateway
_TRACKER_QUERY = text(
    "SELECT id, sender_id, type_name, action_name, timestamp, data FROM events "
    "WHERE timestamp >= :since AND (type_name = 'user' "
    "OR (type_name = 'action' AND action_name = :handoff)) "
    "ORDER BY sender_id, id"
)


class Reason:
    """Why a message is in the queue."""

    LOW_CONFIDENCE = "low_confidence"
    FALLBACK = "fallback"
    HANDOFF = "handoff"
    LOW_RATING = "low_rating"


@dataclass(frozen=True)
class Occurrence:
    """One message of one conversation that needs a look, already masked."""

    sender: str
    text: str
    at: float  # epoch seconds
    reason: str
    intent: str | None = None
    confidence: float | None = None
    ranking: tuple[tuple[str, float], ...] = ()


@dataclass
class QueueItem:
    """Messages that normalise to the same text."""

    key: str
    text: str  # the most frequent masked wording
    conversations: int
    messages: int
    reasons: dict[str, int]
    suggestions: list[tuple[str, float]]  # intents Rasa considered, by summed confidence
    intents: dict[str, int]  # what Rasa predicted, how often
    last_seen: datetime
    mean_confidence: float | None
    variants: list[str] = field(default_factory=list)

    @property
    def key_hash(self) -> str:
        """The id of this group (as stored with an annotation)."""
        return key_hash(self.key)


def open_tracker_engine(url: str) -> AsyncEngine:
    """An engine that can only read Rasa's tracker store (SQLite opened read-only)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        ro = f"sqlite+aiosqlite:///file:{Path(database).resolve()}?mode=ro&uri=true"
        return create_async_engine(ro)
    return create_async_engine(url, pool_pre_ping=True).execution_options(postgresql_readonly=True)


def _tracker_missing(engine: AsyncEngine) -> bool:
    if engine.dialect.name != "sqlite":
        return False
    database = str(engine.url.database or "").removeprefix("file:")
    return not Path(database).exists()


def _ranking(parse: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    found = []
    for entry in parse.get("intent_ranking") or []:
        name, confidence = entry.get("name"), entry.get("confidence")
        if isinstance(name, str) and isinstance(confidence, int | float):
            found.append((name, float(confidence)))
    return tuple(found)


def _user_reason(intent: str | None, confidence: float | None, threshold: float) -> str | None:
    if intent == FALLBACK_INTENT:
        return Reason.FALLBACK
    if confidence is not None and confidence < threshold:
        return Reason.LOW_CONFIDENCE
    return None


async def _tracker_rows(engine: AsyncEngine, since: float) -> AsyncIterator[Any]:
    async with engine.connect() as conn:
        result = await conn.stream(_TRACKER_QUERY, {"since": since, "handoff": HANDOFF_ACTION})
        async for row in result:
            yield row


async def tracker_occurrences(
    engine: AsyncEngine, *, since: float, threshold: float
) -> list[Occurrence]:
    """Low-confidence, fallback and handed-off user messages from Rasa's events table."""
    if _tracker_missing(engine):
        return []
    found: list[Occurrence] = []
    last_user: dict[str, tuple[float, dict[str, Any]]] = {}
    try:
        async for row in _tracker_rows(engine, since):
            if row.type_name == "action":
                previous = last_user.pop(row.sender_id, None)
                if previous is None:
                    continue
                said_at, parse = previous
                intent = (parse.get("intent") or {}).get("name")
                confidence = (parse.get("intent") or {}).get("confidence")
                deliberate = intent in DELIBERATE_HANDOFF_INTENTS and (
                    isinstance(confidence, int | float) and confidence >= threshold
                )
                if not deliberate:  # a low-confidence message may also have been handed off
                    raw = str(parse.get("text") or "")
                    found.append(
                        Occurrence(
                            sender=row.sender_id,
                            text=mask(raw),
                            at=said_at,  # the message's time, so it merges with its own flag
                            reason=Reason.HANDOFF,
                            intent=intent,
                            confidence=float(confidence) if confidence is not None else None,
                            ranking=_ranking(parse),
                        )
                    )
                continue
            try:
                data = json.loads(row.data or "{}")
            except ValueError:
                continue
            raw = str(data.get("text") or "")
            if not raw.strip() or raw.startswith("/"):  # a button's payload, not words
                last_user.pop(row.sender_id, None)
                continue
            parse = dict(data.get("parse_data") or {})
            parse["text"] = raw
            intent_data = parse.get("intent") or {}
            intent = intent_data.get("name")
            confidence = intent_data.get("confidence")
            confidence = float(confidence) if isinstance(confidence, int | float) else None
            reason = _user_reason(intent, confidence, threshold)
            said_at = float(row.timestamp or 0.0)
            if reason is not None:
                found.append(
                    Occurrence(
                        sender=row.sender_id,
                        text=mask(raw),
                        at=said_at,
                        reason=reason,
                        intent=intent,
                        confidence=confidence,
                        ranking=_ranking(parse),
                    )
                )
            last_user[row.sender_id] = (said_at, parse)
    except DBAPIError as exc:
        if "events" in str(exc) and "no such table" in str(exc).lower():
            return []  # Rasa has not stored a conversation yet
        if 'relation "events" does not exist' in str(exc):
            return []
        raise
    return found


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


async def gateway_occurrences(
    sessions: async_sessionmaker[AsyncSession], *, since: float
) -> list[Occurrence]:
    """The messages before each handoff (one), and before a poorly rated one (three)."""
    since_dt = datetime.fromtimestamp(since, UTC)
    found: list[Occurrence] = []
    async with sessions() as session:
        handoffs = (
            await session.scalars(select(Handoff).where(Handoff.created_at >= since_dt))
        ).all()
        for handoff in handoffs:
            low = handoff.rating is not None and handoff.rating <= LOW_RATING
            limit = MESSAGES_BEFORE_LOW_RATING if low else 1
            rows = (
                await session.scalars(
                    select(Inbound)
                    .where(
                        Inbound.channel == handoff.channel,
                        Inbound.chat_id == handoff.chat_id,
                        Inbound.kind == InboundKind.TEXT,
                        Inbound.created_at <= handoff.created_at,
                    )
                    .order_by(Inbound.id.desc())
                    .limit(limit)
                )
            ).all()
            for row in rows:
                if not row.text.strip() or row.text.startswith("/"):
                    continue
                found.append(
                    Occurrence(
                        sender=f"{row.channel}:{row.chat_id}",
                        text=mask(row.text),
                        at=_epoch(row.created_at),
                        reason=Reason.LOW_RATING if low else Reason.HANDOFF,
                    )
                )
    return found


async def annotated_hashes(sessions: async_sessionmaker[AsyncSession]) -> set[str]:
    """Key hashes of every annotated text (they leave the queue)."""
    async with sessions() as session:
        return set((await session.scalars(select(Annotation.key_hash))).all())


def build_queue(
    occurrences: Iterable[Occurrence], *, exclude: set[str], limit: int
) -> list[QueueItem]:
    """Group by normalised text, drop annotated groups, rank by conversations then messages."""
    groups: dict[str, list[Occurrence]] = defaultdict(list)
    for occurrence in occurrences:
        key = group_key(occurrence.text)
        if key and key_hash(key) not in exclude:
            groups[key].append(occurrence)
    items = []
    for key, found in groups.items():
        messages = _distinct_messages(found)
        wordings = Counter(o.text.strip() for o in found)
        suggestion_scores: dict[str, float] = defaultdict(float)
        for o in messages.values():
            for name, confidence in o.ranking:
                if name != FALLBACK_INTENT:
                    suggestion_scores[name] += confidence
        confidences = [o.confidence for o in messages.values() if o.confidence is not None]
        items.append(
            QueueItem(
                key=key,
                text=sorted(wordings.items(), key=lambda kv: (-kv[1], kv[0]))[0][0],
                conversations=len({o.sender for o in found}),
                messages=len(messages),
                reasons=dict(sorted(Counter(o.reason for o in found).items())),
                suggestions=sorted(suggestion_scores.items(), key=lambda kv: (-kv[1], kv[0]))[
                    :MAX_SUGGESTIONS
                ],
                intents=dict(
                    sorted(Counter(o.intent for o in messages.values() if o.intent).items())
                ),
                last_seen=datetime.fromtimestamp(max(o.at for o in found), UTC),
                mean_confidence=sum(confidences) / len(confidences) if confidences else None,
                variants=sorted(wordings),
            )
        )
    items.sort(key=lambda i: (-i.conversations, -i.messages, -i.last_seen.timestamp(), i.key))
    return items[:limit]


def _distinct_messages(found: list[Occurrence]) -> dict[tuple[str, float], Occurrence]:
    """One occurrence per message: a message flagged twice (low confidence, then handoff) or
    seen by both Rasa and the gateway is one message when the sightings of one sender are
    within ``DEDUP_WINDOW_S`` of each other (by distance, not fixed buckets that a boundary
    could split). The sighting that carries Rasa's intent is kept."""
    messages: dict[tuple[str, float], Occurrence] = {}
    started: dict[str, float] = {}
    for o in sorted(found, key=lambda o: (o.sender, o.at)):
        first = started.get(o.sender)
        if first is None or o.at - first > DEDUP_WINDOW_S:
            started[o.sender] = first = o.at
        message = (o.sender, first)
        if message not in messages or messages[message].intent is None:
            messages[message] = o
    return messages


def since_days(days: float, now: float | None = None) -> float:
    """Epoch seconds ``days`` ago."""
    return (time.time() if now is None else now) - days * DAY_S
