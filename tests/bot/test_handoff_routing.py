"""Routing, office hours and priorities: pure functions, checked against the calendar."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.channels._texts import when_text
from bot.handoff import PHNOM_PENH, OrgProfile, parse_office_hours, priority_for, route

POOL = OrgProfile(id=1, slug="pool", name="National pool", national_pool=True)
KAMPONG_CHAM = OrgProfile(id=2, slug="kc", name="KC network", languages=("km",), areas=("03",))
BATHEAY = OrgProfile(id=3, slug="batheay", name="Batheay CSO", languages=("km",), areas=("0301",))
NSSF_HELP = OrgProfile(
    id=4, slug="nssf", name="Workers' centre", languages=("km", "en"), topics=("nssf",)
)
ENGLISH_POOL = OrgProfile(
    id=5, slug="en-pool", name="English pool", languages=("en",), national_pool=True
)
ORGS = [POOL, KAMPONG_CHAM, BATHEAY, NSSF_HELP]


@pytest.mark.parametrize(
    ("place", "language", "topic", "expected"),
    [
        ("03010203", "km", None, "batheay"),  # a village in Batheay: the most local CSO
        ("030201", "km", None, "kc"),  # another district of Kampong Cham: the provincial one
        ("030201", "en", None, "pool"),  # nobody local speaks English
        ("120101", "km", None, "pool"),  # Phnom Penh: nobody covers it
        (None, "km", None, "pool"),  # place unknown
        ("120101", "km", "nssf", "nssf"),  # the national specialist in NSSF questions
        ("030101", "km", "nssf", "batheay"),  # local beats national, even a specialist
    ],
)
def test_route_prefers_local_then_specialist_then_pool(
    place: str | None, language: str, topic: str | None, expected: str
) -> None:
    chosen = route(ORGS, place_code=place, language=language, topic=topic)
    assert chosen is not None
    assert chosen.slug == expected


def test_route_picks_the_national_pool_that_speaks_the_language() -> None:
    pools = [POOL, ENGLISH_POOL]
    assert route(pools, place_code=None, language="en", topic=None) == POOL  # lowest id
    km_only = OrgProfile(id=1, slug="km", name="km", languages=("km",), national_pool=True)
    chosen = route([km_only, ENGLISH_POOL], place_code=None, language="en", topic=None)
    assert chosen == ENGLISH_POOL
    assert route([], place_code=None, language="km", topic=None) is None


HOURS = parse_office_hours({"mon-fri": ["08:00-12:00", "13:30-17:00"], "sat": "08:00-11:30"})


def pp(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in Phnom Penh in the week of Monday 2026-11-23."""
    return datetime(2026, 11, 22 + day, hour, minute, tzinfo=PHNOM_PENH)


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (pp(1, 8), True),  # Monday 08:00 opens
        (pp(1, 12), False),  # lunch
        (pp(1, 13, 30), True),
        (pp(5, 16, 59), True),  # Friday before closing
        (pp(5, 17), False),
        (pp(6, 9), True),  # Saturday morning
        (pp(7, 9), False),  # Sunday
    ],
)
def test_office_hours_in_phnom_penh(at: datetime, is_open: bool) -> None:
    assert HOURS.is_open(at) is is_open
    # the same instant expressed in UTC gives the same answer
    assert HOURS.is_open(at.astimezone(UTC)) is is_open


def test_next_opening_and_how_citizens_are_told() -> None:
    saturday_noon = pp(6, 12)
    opening = HOURS.next_opening(saturday_noon)
    assert opening == pp(8, 8)  # Monday 08:00, after a closed Sunday
    assert when_text(opening, saturday_noon, "en") == "Monday at 08:00"
    assert when_text(opening, saturday_noon, "km") == "ថ្ងៃច័ន្ទ ម៉ោង ០៨:០០"
    lunch = pp(2, 12, 15)
    after_lunch = HOURS.next_opening(lunch)
    assert after_lunch is not None
    assert when_text(after_lunch, lunch, "km") == "ថ្ងៃនេះ ម៉ោង ១៣:៣០"
    evening = pp(3, 18)
    morning = HOURS.next_opening(evening)
    assert morning is not None
    assert when_text(morning, evening, "en") == "tomorrow at 08:00"
    assert parse_office_hours({}).is_open(pp(7, 3))  # no schedule: always open


@pytest.mark.parametrize(
    "bad",
    [
        {"mon": "8-17"},
        {"funday": "08:00-17:00"},
        {"fri-mon": "08:00-17:00"},
        {"mon": "17:00-08:00"},
    ],
)
def test_bad_office_hours_are_refused_with_a_reason(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_office_hours(bad)


def test_life_and_safety_come_first() -> None:
    order = [
        priority_for("sensitive_topic", "emergency"),
        priority_for("sensitive_topic", "abuse"),
        priority_for("sensitive_topic", "payment"),
        priority_for("sensitive_topic"),
        priority_for("voice_note"),
        priority_for("user_request"),
        priority_for("not_understood"),
        priority_for("something new"),
    ]
    assert order == sorted(order, reverse=True)
    assert len(set(order)) == len(order)
