"""Which organisation answers a conversation, and when it is open (pure functions).

Coverage areas are gazetteer codes, which nest by prefix: province "12", district "1201",
commune "120101", village "12010101". The most specific organisation that covers the
citizen's place, speaks their language and handles the topic wins; else the national pool.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "PHNOM_PENH",
    "WEEKDAYS",
    "OfficeHours",
    "OrgProfile",
    "parse_office_hours",
    "priority_for",
    "route",
]

PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAYS_RE = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?$")
LOOKAHEAD_DAYS = 8  # a week and a day: enough to find the next opening of any schedule

# Who waits least: life and safety first, then money that did not arrive, then the rest.
URGENCY_PRIORITY = {"emergency": 100, "abuse": 90, "payment": 70}
REASON_PRIORITY = {
    "sensitive_topic": 60,
    "voice_note": 50,
    "user_request": 40,
    "not_understood": 30,
    "agent_takeover": 20,
}
DEFAULT_PRIORITY = 10


def priority_for(reason: str, urgency: str | None = None) -> int:
    """Queue priority (higher is answered first) for a handoff's reason and urgency."""
    if urgency and urgency in URGENCY_PRIORITY:
        return URGENCY_PRIORITY[urgency]
    return REASON_PRIORITY.get(reason, DEFAULT_PRIORITY)


@dataclass(frozen=True)
class OfficeHours:
    """Opening ranges per weekday (0 = Monday) in Asia/Phnom_Penh; empty means always open."""

    ranges: Mapping[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)

    @property
    def always_open(self) -> bool:
        """No schedule configured: someone is on duty around the clock."""
        return not self.ranges

    def is_open(self, at: datetime) -> bool:
        """True if ``at`` (any time zone) falls in an opening range, Phnom Penh time."""
        if self.always_open:
            return True
        local = at.astimezone(PHNOM_PENH)
        now = local.time()
        return any(start <= now < end for start, end in self.ranges.get(local.weekday(), ()))

    def next_opening(self, at: datetime) -> datetime | None:
        """When the office next opens after ``at`` (Phnom Penh time); None if it never does."""
        if self.always_open:
            return at.astimezone(PHNOM_PENH)
        local = at.astimezone(PHNOM_PENH)
        for offset in range(LOOKAHEAD_DAYS):
            day = (local + timedelta(days=offset)).date()
            for start, _end in sorted(self.ranges.get(day.weekday(), ())):
                opening = datetime.combine(day, start, tzinfo=PHNOM_PENH)
                if opening > local:
                    return opening
        return None


def _days(spec: str) -> list[int]:
    match = _DAYS_RE.match(spec.strip().lower())
    if not match:
        raise ValueError(f"unknown day or day range {spec!r} (use mon..sun or mon-fri)")
    first = WEEKDAYS.index(match.group(1))
    last = WEEKDAYS.index(match.group(2) or match.group(1))
    if last < first:
        raise ValueError(f"day range {spec!r} runs backwards")
    return list(range(first, last + 1))


def _range(spec: str) -> tuple[time, time]:
    match = _RANGE_RE.match(spec)
    if not match:
        raise ValueError(f"opening range {spec!r} must look like 08:00-17:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    end = time(23, 59, 59, 999999) if (h2, m2) == (24, 0) else time(h2, m2)
    start = time(h1, m1)
    if end <= start:
        raise ValueError(f"opening range {spec!r} must end after it starts")
    return start, end


def parse_office_hours(raw: Mapping[str, Any] | None) -> OfficeHours:
    """``{"mon-fri": ["08:00-12:00", "13:30-17:00"], "sat": ["08:00-11:30"]}`` -> OfficeHours.

    Raises ValueError with a readable message, so an admin typo is refused at once rather
    than telling citizens a wrong time.
    """
    ranges: dict[int, list[tuple[time, time]]] = {}
    for days, spans in (raw or {}).items():
        items = [spans] if isinstance(spans, str) else list(spans)
        for day in _days(days):
            ranges.setdefault(day, []).extend(_range(str(s)) for s in items)
    return OfficeHours({day: tuple(sorted(r)) for day, r in ranges.items()})


@dataclass(frozen=True)
class OrgProfile:
    """What routing needs to know about an organisation."""

    id: int
    slug: str
    name: str
    languages: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    hours: OfficeHours = field(default_factory=OfficeHours)
    sla_minutes: int = 30
    national_pool: bool = False

    def coverage(self, place_code: str | None) -> int | None:
        """Length of the most specific area covering the place (0 = nationwide), else None."""
        if not self.areas:
            return 0
        if not place_code:
            return None
        found = [len(a) for a in self.areas if place_code.startswith(a)]
        return max(found) if found else None

    def speaks(self, language: str | None) -> bool:
        """No languages listed means every language."""
        return not self.languages or (language or "km") in self.languages

    def handles(self, topic: str | None) -> bool:
        """No topics listed means every topic; an unknown topic goes to generalists only."""
        if not self.topics:
            return True
        return topic is not None and topic in self.topics


def route(
    orgs: Iterable[OrgProfile],
    *,
    place_code: str | None,
    language: str | None,
    topic: str | None,
) -> OrgProfile | None:
    """The organisation for this conversation: local before national, specialist before
    generalist; the national pool when no local organisation fits; None if there is none."""
    candidates: list[tuple[int, int, int, OrgProfile]] = []
    pools: list[OrgProfile] = []
    for org in orgs:
        if org.national_pool:
            pools.append(org)
            continue
        depth = org.coverage(place_code)
        if depth is None or not org.speaks(language) or not org.handles(topic):
            continue
        # most specific area, then a specialist in the topic, then the lowest id (stable)
        candidates.append((depth, 1 if org.topics else 0, -org.id, org))
    if candidates:
        return max(candidates, key=lambda c: c[:3])[3]
    return national_pool(pools, language)


def national_pool(pools: Sequence[OrgProfile], language: str | None) -> OrgProfile | None:
    """The national pool (one that speaks the language if there are several)."""
    speaking = [p for p in pools if p.speaks(language)]
    chosen = speaking or list(pools)
    return min(chosen, key=lambda p: p.id) if chosen else None
