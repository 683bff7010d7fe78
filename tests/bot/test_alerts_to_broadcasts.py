"""A CAP alert reaches dissemination through the real hook: one alert broadcast per
identifier, for the subscribers of its area only, waiting for the secretariat when the
sender's policy says so, stopped by a Cancel (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.alerts import AlertService, AlertSource, AlertState, make_hook
from bot.dissemination import BroadcastStatus, DisseminationService, Topic
from bot.dissemination._tables import BROADCASTS, RECIPIENTS
from bot.storage._db import create_engine
from bot.storage._migrate import migrate
from bot.storage._store import Store
from tests.bot.cap_helpers import FLOOD_EN, FLOOD_KM, SENDER, cap, reference


@pytest.fixture
async def wired(database_url: str) -> AsyncIterator[tuple[AlertService, DisseminationService]]:
    engine, sessions = create_engine(database_url)
    await migrate(engine)
    dissemination = DisseminationService(engine, owner="test")
    alerts = AlertService(Store(sessions, engine.dialect.name), make_hook(dissemination))
    yield alerts, dissemination
    await engine.dispose()


async def _broadcast(dissemination: DisseminationService, identifier: str) -> Any:
    async with dissemination._engine.connect() as conn:  # read-only check
        return (
            await conn.execute(select(BROADCASTS).where(BROADCASTS.c.cap_identifier == identifier))
        ).one()


async def _recipients(dissemination: DisseminationService, broadcast_id: int) -> list[int]:
    async with dissemination._engine.connect() as conn:  # read-only check
        rows = await conn.execute(
            select(RECIPIENTS.c.subscriber_id).where(RECIPIENTS.c.broadcast_id == broadcast_id)
        )
        return sorted(r.subscriber_id for r in rows)


async def test_an_alert_becomes_one_broadcast_for_its_area_and_a_cancel_stops_it(
    wired: tuple[AlertService, DisseminationService],
) -> None:
    alerts, dissemination = wired
    in_area = await dissemination.subscribe(
        "telegram", "1001", topics=[Topic.EMERGENCY], area_code="120101", language="km"
    )
    await dissemination.subscribe(  # another province: never targeted
        "telegram", "1002", topics=[Topic.EMERGENCY], area_code="17", language="en"
    )
    await alerts.set_policy(SENDER, require_approval=False, by="secretariat")
    sent = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    document = cap("KH-FLOOD-9", sent=sent)

    result = await alerts.import_cap(document, source=AlertSource.REST)
    again = await alerts.import_cap(document, source=AlertSource.REST)  # a retried POST

    assert result.state == AlertState.ACTIVE
    assert result.handed_off
    assert again.duplicate
    assert again.id == result.id
    row = await _broadcast(dissemination, "KH-FLOOD-9")  # one broadcast, not two
    assert (row.title_km, row.title_en) == (FLOOD_KM, FLOOD_EN)
    assert row.status == BroadcastStatus.APPROVED  # planned by the next tick, not the import
    await dissemination.tick()
    assert await _recipients(dissemination, row.id) == [in_area.id]

    cancel = cap(
        "KH-FLOOD-10",
        msg_type="Cancel",
        sent=sent + timedelta(seconds=30),
        references=reference("KH-FLOOD-9", sent),
        info=False,
    )
    await alerts.import_cap(cancel, source=AlertSource.REST)
    assert (await _broadcast(dissemination, "KH-FLOOD-9")).status == BroadcastStatus.CANCELLED


async def test_a_sender_that_needs_approval_waits_for_the_secretariat(
    wired: tuple[AlertService, DisseminationService],
) -> None:
    alerts, dissemination = wired
    await dissemination.subscribe("webchat", "w-1", topics=[Topic.EMERGENCY], area_code="12")
    result = await alerts.import_cap(cap("KH-FLOOD-11"), source=AlertSource.CLI)
    assert result.handed_off
    row = await _broadcast(dissemination, "KH-FLOOD-11")
    assert row.status == BroadcastStatus.PENDING_APPROVAL
    await dissemination.tick()
    assert await _recipients(dissemination, row.id) == []  # nothing planned before approval
