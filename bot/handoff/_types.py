"""The handoff service's values: requests, views, history items, statistics, ratings, and
the constants and helpers its commands and queries share."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
)

from ..storage._db import (
    Chat,
    Handoff,
    HandoffEvent,
    HandoffStatus,
    Inbound,
    Organisation,
    Outbound,
    utcnow,
)
from ._routing import OrgProfile, parse_office_hours

__all__ = [
    "RATING_PREFIX",
    "EventKind",
    "HandoffRequest",
    "HandoffView",
    "HistoryItem",
    "OrgStats",
    "parse_rating",
]

RATING_PREFIX = "/sp4all_rating "  # a gateway payload: never sent to Rasa
RATING_SCORES = range(1, 6)
HISTORY_LIMIT = 300
STATS_WINDOW = timedelta(days=30)
MAX_REPLY_CHARS = 4000
MAX_SUMMARY_CHARS = 2000  # what Rasa summarised for the agent (gw_handoffs.summary)
CHANGE_ATTEMPTS = 3  # a claim or close re-checks a conversation that changed meanwhile
RESUME_BATCH_S = 0.2  # resumes after closes: their flags are cleared together
OPEN_STATUSES = (HandoffStatus.QUEUED, HandoffStatus.CLAIMED)
# Core tables for the console's hot writes: ORM-enabled bulk INSERT/UPDATE costs several
# times the CPU, spent while every other SQLite writer waits
_HANDOFFS = cast("Table", Handoff.__table__)
_CHATS = cast("Table", Chat.__table__)
_EVENTS = cast("Table", HandoffEvent.__table__)
_OUTBOUND = cast("Table", Outbound.__table__)


class EventKind:
    """HandoffEvent.kind values: the audit trail of one handoff."""

    OPENED = "opened"
    CLAIMED = "claimed"
    REPLY = "reply"
    NOTE = "note"
    TRANSFERRED = "transferred"
    ESCALATED = "escalated"
    CLOSED = "closed"
    RATED = "rated"
    CITIZEN = "citizen"  # the citizen wrote while handed off


@dataclass(frozen=True)
class HandoffRequest:
    """Why and for whom a person is needed (from Rasa's payload or the gateway itself)."""

    channel: str
    chat_id: str
    reason: str
    language: str = "km"
    topic: str | None = None
    place_code: str | None = None
    summary: str = ""
    urgency: str | None = None


@dataclass(frozen=True)
class HandoffView:
    """One handoff as the console lists it."""

    id: int
    channel: str
    chat_id: str
    status: str
    reason: str
    priority: int
    language: str
    topic: str | None
    place_code: str | None
    place_name: str | None
    summary: str
    organisation_id: int
    organisation_name: str
    agent_id: int | None
    agent_name: str | None
    escalated: bool
    created_at: datetime
    queued_at: datetime
    claimed_at: datetime | None
    closed_at: datetime | None
    waiting_s: float
    rating: int | None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict (datetimes as ISO 8601)."""
        out = dict(self.__dict__)
        for key in _VIEW_TIMES:
            value = out[key]
            if value is not None:
                out[key] = value.isoformat()
        return out


_VIEW_TIMES = ("created_at", "queued_at", "claimed_at", "closed_at")


@dataclass(frozen=True)
class HistoryItem:
    """One line of a conversation: the citizen, the assistant, a person, a note, an event."""

    key: str
    at: datetime
    author: str  # citizen | assistant | agent | note | event
    text: str
    agent_name: str | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "key": self.key,
            "at": self.at.isoformat(),
            "author": self.author,
            "text": self.text,
            "agent_name": self.agent_name,
        }


@dataclass(frozen=True)
class OrgStats:
    """A supervisor's view of one organisation."""

    organisation_id: int
    name: str
    queued: int
    claimed: int
    oldest_wait_s: float
    mean_wait_s: float
    mean_claim_s: float | None
    load: dict[str, int] = field(default_factory=dict)  # agent name -> open conversations
    ratings: int = 0
    rating_mean: float | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


def parse_rating(text: str) -> tuple[int, int] | None:
    """(handoff id, score) from a rating button payload, else None."""
    if not text.startswith(RATING_PREFIX):
        return None
    try:
        handoff_id, score = (int(p) for p in text[len(RATING_PREFIX) :].split())
    except ValueError:
        return None
    return (handoff_id, score) if score in RATING_SCORES else None


def _rating_payload(handoff_id: int, score: int) -> str:
    return f"{RATING_PREFIX}{handoff_id} {score}"


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC): make them comparable."""
    return at if at.tzinfo else at.replace(tzinfo=utcnow().tzinfo)


def _profile(org: Organisation) -> OrgProfile:
    return OrgProfile(
        id=org.id,
        slug=org.slug,
        name=org.name,
        languages=tuple(org.languages or ()),
        topics=tuple(org.topics or ()),
        areas=tuple(org.areas or ()),
        hours=parse_office_hours(org.office_hours),
        sla_minutes=org.sla_minutes,
        national_pool=org.national_pool,
    )


def _outbound_text(body: Mapping[str, Any]) -> str:
    """What the citizen saw, from a rendered platform body (Telegram bodies are HTML)."""
    if "html" in body:
        text = html.unescape(str(body.get("html") or ""))
    else:
        text = str(body.get("text") or "")
    titles = [str(b.get("title", "")) for b in body.get("buttons") or []]
    titles += [str(q.get("title", "")) for q in body.get("quick_replies") or []]
    if titles:
        text = f"{text}\n[{' | '.join(titles)}]".strip()
    return text.replace("\u2060", "").strip()


def _inbound_text(row: Inbound) -> str:
    if row.kind == "media":
        return f"[{row.meta.get('media', 'media')}]"
    if row.kind == "location":
        commune = row.meta.get("commune") or {}
        return f"[location {commune.get('name_latin') or ''}]".replace(" ]", "]")
    if row.text.startswith("/"):
        return f"[button {row.text.split('{')[0]}]"
    return row.text
