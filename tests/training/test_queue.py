"""The review queue from Rasa's tracker store (SQLite and PostgreSQL, Rasa's own table) and
the gateway's handoffs and ratings: selection, grouping, masking, ranking, exclusions."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage._db import AnnotationLabel, Handoff, Inbound, Organisation
from bot.training import TrainingService, TrainingSettings
from tests.training.helpers import (
    ADMIN,
    ZWSP,
    TrackerRows,
    write_pg_tracker,
    write_sqlite_tracker,
)

NOW = time.time()
BOSS = "ថៅកែកាត់លុយខែខ្ញុំបង់បេឡា តែអត់ដែលឃើញកាតសោះ"
FALLBACK = [("nlu_fallback", 0.4), ("greet", 0.35), ("affirm", 0.3)]


def conversations() -> TrackerRows:
    events = TrackerRows()
    # the same misunderstood question from two citizens, once with zero-width spaces
    events.user("telegram:1", BOSS, NOW - 60, "report_problem", 0.50)
    events.action("telegram:1", "action_handoff", NOW - 59)
    events.user("webchat:abc", BOSS.replace(" ", f"{ZWSP} "), NOW - 30, "report_problem", 0.52)
    # asking for a person, understood: not a mistake
    events.user("telegram:2", "ខ្ញុំចង់និយាយជាមួយមនុស្ស", NOW - 50, "request_human", 0.98)
    events.action("telegram:2", "action_handoff", NOW - 49)
    # a fallback, with what Rasa hesitated between
    events.user("telegram:3", "ហាយ", NOW - 40, "nlu_fallback", 0.4, FALLBACK)
    # understood well: not in the queue
    events.user("telegram:4", "សួស្តី", NOW - 20, "greet", 0.99)
    # a button's payload is not words
    events.user("telegram:5", "/ask_nssf", NOW - 10, "ask_nssf", 0.1)
    # personal data
    events.user(
        "telegram:6", "ខ្ញុំឈ្មោះ សុខ ដារា លេខ 012 345 678 ជួយផង", NOW - 5, "report_problem", 0.3
    )
    # older than the queue's window
    events.user("telegram:8", "old question", NOW - 40 * 86_400, "greet", 0.2)
    return events


async def add_rated_handoff(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A handoff of telegram:7 rated 1 (poor), after four messages."""
    async with sessions() as session, session.begin():
        org = await session.scalar(select(Organisation))
        assert org is not None
        for n, text in enumerate(["one", "ប័ណ្ណខ្ញុំរហែក", "ធ្វើម៉េច", "ជួយផង"]):
            session.add(
                Inbound(
                    channel="telegram",
                    external_id=f"u{n}",
                    chat_id="7",
                    kind="text",
                    text=text,
                    created_at=datetime.fromtimestamp(NOW - 100 + n, UTC),
                )
            )
        session.add(
            Handoff(
                channel="telegram",
                chat_id="7",
                reason="not_understood",
                organisation_id=org.id,
                created_at=datetime.fromtimestamp(NOW - 90, UTC),
                rating=1,
            )
        )


async def test_queue_from_rasa_and_the_gateway(
    sessions: async_sessionmaker[AsyncSession], training_settings: TrainingSettings
) -> None:
    tracker = Path(training_settings.tracker_db_url.split(":///", 1)[1])
    await write_sqlite_tracker(tracker, conversations())
    await add_rated_handoff(sessions)
    service = TrainingService(training_settings, sessions)
    try:
        items = await service.queue(ADMIN)
    finally:
        await service.aclose()
    texts = [item.text for item in items]
    # the question two citizens asked comes first, both wordings in one group
    assert items[0].text in (BOSS, BOSS.replace(" ", f"{ZWSP} "))
    assert items[0].conversations == 2
    assert items[0].messages == 2
    assert items[0].reasons == {"handoff": 1, "low_confidence": 2}
    assert items[0].intents == {"report_problem": 2}
    fallback = next(item for item in items if item.text == "ហាយ")
    assert fallback.reasons == {"fallback": 1}
    assert [name for name, _ in fallback.suggestions] == ["greet", "affirm"]  # not nlu_fallback
    # masked, never the number or the name
    assert "ខ្ញុំឈ្មោះ [name] លេខ [redacted] ជួយផង" in texts
    assert not any("012" in t or "ដារា" in t for t in texts)
    # the poorly rated handoff's last three messages, not the first one
    rated = {item.text: item.reasons for item in items if "low_rating" in item.reasons}
    assert set(rated) == {"ប័ណ្ណខ្ញុំរហែក", "ធ្វើម៉េច", "ជួយផង"}
    # not in the queue: understood, deliberate handoff, payload, too old
    for absent in ("សួស្តី", "ខ្ញុំចង់និយាយជាមួយមនុស្ស", "/ask_nssf", "old question", "one"):
        assert absent not in texts


async def test_annotated_texts_leave_the_queue(
    sessions: async_sessionmaker[AsyncSession], training_settings: TrainingSettings
) -> None:
    tracker = Path(training_settings.tracker_db_url.split(":///", 1)[1])
    await write_sqlite_tracker(tracker, conversations())
    service = TrainingService(training_settings, sessions)
    try:
        before = await service.queue(ADMIN)
        # annotated in another wording of the same group: still the same key
        await service.annotate(
            ADMIN, [BOSS + " ??"], label=AnnotationLabel.INTENT, intent="ask_nssf"
        )
        await service.annotate(ADMIN, ["ហាយ"], label=AnnotationLabel.SPAM)
        after = await service.queue(ADMIN)
    finally:
        await service.aclose()
    assert len(after) == len(before) - 2
    assert {i.text for i in before} - {i.text for i in after} >= {"ហាយ"}
    assert all(i.conversations < 2 for i in after)


async def test_tracker_store_on_postgresql(
    sqlite_url: str,
    tracker_pg: tuple[str, str],
    training_settings: TrainingSettings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    dsn, url = tracker_pg
    await write_pg_tracker(dsn, conversations())
    service = TrainingService(dataclasses.replace(training_settings, tracker_db_url=url), sessions)
    try:
        items = await service.queue(ADMIN)
    finally:
        await service.aclose()
    assert items[0].conversations == 2
    assert {"ហាយ", "ខ្ញុំឈ្មោះ [name] លេខ [redacted] ជួយផង"} <= {i.text for i in items}


async def test_no_conversations_yet_is_an_empty_queue(
    sessions: async_sessionmaker[AsyncSession], training_settings: TrainingSettings
) -> None:
    service = TrainingService(training_settings, sessions)  # the tracker file does not exist
    try:
        assert await service.queue(ADMIN) == []
    finally:
        await service.aclose()


def test_one_message_flagged_twice_across_a_minute_boundary_counts_once() -> None:
    """A low-confidence message at 119.5 s that Rasa then handed off, and the gateway's own
    sighting at 120.4 s, are one message; the same text a quarter of an hour later is another."""
    from bot.training._queue import Occurrence, build_queue

    def seen(at: float, reason: str, intent: str | None) -> Occurrence:
        return Occurrence("telegram:1", BOSS, at, reason, intent, 0.5 if intent else None)

    item = build_queue(
        [
            seen(119.5, "low_confidence", "report_problem"),
            seen(119.5, "handoff", "report_problem"),
            seen(120.4, "handoff", None),
            seen(1020.0, "low_confidence", "report_problem"),
        ],
        exclude=set(),
        limit=10,
    )[0]
    assert (item.conversations, item.messages) == (1, 2)
    assert item.intents == {"report_problem": 2}
