"""Importing CAP alerts on SQLite and PostgreSQL: hand-off, Update, Cancel, refusals
(nothing stored, nothing handed off), senders' tokens and policies."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.alerts import (
    AlertService,
    AlertSource,
    AlertState,
    CapAlertRow,
    CapInvalid,
    CapRefused,
    ImportedAlert,
)
from bot.storage._db import create_engine
from bot.storage._migrate import migrate
from bot.storage._store import Store
from tests.bot.cap_helpers import (
    FLOOD_EN,
    FLOOD_KM,
    FLOOD_TEXT_KM,
    SENDER,
    cap,
    oasis,
    reference,
)


@dataclass
class RecordingHook:
    """The dissemination side as the tests see it: what it was asked to send or stop."""

    alerts: list[ImportedAlert] = field(default_factory=list)
    cancels: list[tuple[str, str]] = field(default_factory=list)

    async def on_alert(self, alert: ImportedAlert) -> None:
        self.alerts.append(alert)

    async def on_cancel(self, alert: ImportedAlert, reason: str) -> None:
        self.cancels.append((alert.cap_identifier, reason))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    engine, sessions = create_engine(database_url)
    await migrate(engine)
    yield Store(sessions, engine.dialect.name)
    await engine.dispose()


@pytest.fixture
def hook() -> RecordingHook:
    return RecordingHook()


@pytest.fixture
def service(store: Store, hook: RecordingHook) -> AlertService:
    return AlertService(store, hook)


async def _count(store: Store) -> int:
    async with store.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(CapAlertRow)) or 0)


async def test_an_alert_is_stored_and_handed_off_in_khmer_and_english(
    service: AlertService, hook: RecordingHook
) -> None:
    sent = datetime.now(UTC).replace(microsecond=0)
    result = await service.import_cap(cap(sent=sent), source=AlertSource.CLI)
    assert result.state == AlertState.ACTIVE
    assert result.handed_off
    (alert,) = hook.alerts
    assert alert.cap_identifier == "KH-FLOOD-1"
    assert (alert.headline_km, alert.headline_en) == (FLOOD_KM, FLOOD_EN)
    assert alert.text_km == FLOOD_TEXT_KM
    assert alert.area_codes == ["12"]
    assert alert.expires_at == (sent + timedelta(hours=6)).timestamp()
    assert (alert.severity, alert.urgency) == ("Severe", "Immediate")
    assert alert.supersedes is None
    assert alert.require_approval  # unknown senders need the secretariat's approval


async def test_update_supersedes_and_cancel_stops(
    service: AlertService, hook: RecordingHook, store: Store
) -> None:
    sent = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    await service.import_cap(cap("KH-1", sent=sent), source=AlertSource.REST)
    later = sent + timedelta(minutes=5)
    update = cap(
        "KH-2",
        msg_type="Update",
        sent=later,
        references=reference("KH-1", sent),
        area="<geocode><valueName>NCDD</valueName><value>120101</value></geocode>",
    )
    await service.import_cap(update, source=AlertSource.REST)
    assert hook.alerts[-1].supersedes == "KH-1"
    assert hook.alerts[-1].area_codes == ["120101"]
    cancel = cap(
        "KH-3",
        msg_type="Cancel",
        sent=later + timedelta(minutes=1),
        references=reference("KH-2", later),
        note="ទឹកបានស្រកហើយ / the water went down",
        info=False,
    )
    result = await service.import_cap(cancel, source=AlertSource.REST)
    assert result.state == AlertState.RECORDED
    assert hook.cancels == [("KH-2", "ទឹកបានស្រកហើយ / the water went down")]
    states = {row.identifier: row.state for row in await service.alerts()}
    assert states == {"KH-1": "superseded", "KH-2": "cancelled", "KH-3": "recorded"}
    assert len(hook.alerts) == 2  # the Cancel sent nothing itself


async def test_an_update_of_an_unknown_alert_is_refused_and_nothing_is_sent(
    service: AlertService, hook: RecordingHook, store: Store
) -> None:
    with pytest.raises(CapRefused, match="unknown alert: trinet@caltech.edu,TRI13970876.1"):
        await service.import_cap(oasis("earthquake_update"), source=AlertSource.CLI)
    sent = datetime.now(UTC) - timedelta(minutes=1)
    with pytest.raises(CapRefused, match="unknown alert"):
        await service.import_cap(
            cap("KH-9", msg_type="Cancel", references=reference("KH-404", sent), info=False),
            source=AlertSource.CLI,
        )
    assert await _count(store) == 0
    assert hook.alerts == [] and hook.cancels == []


async def test_expired_and_invalid_alerts_are_never_stored_or_sent(
    service: AlertService, hook: RecordingHook, store: Store
) -> None:
    sent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    with pytest.raises(CapRefused, match="expired"):
        await service.import_cap(
            cap(sent=sent, expires=sent + timedelta(hours=1)), source=AlertSource.FEED
        )
    with pytest.raises(CapInvalid, match="not closed"):
        await service.import_cap(
            cap(area="<polygon>11.5,104.9 11.6,104.9 11.6,105.0 11.5,105.0</polygon>"),
            source=AlertSource.REST,
        )
    with pytest.raises(CapRefused, match="no area of the alert is in Cambodia"):
        await service.import_cap(oasis("amber_alert"), source=AlertSource.CLI)
    assert await _count(store) == 0
    assert hook.alerts == []


async def test_an_alert_expires_after_it_was_stored(
    service: AlertService, hook: RecordingHook
) -> None:
    sent = datetime.now(UTC).replace(microsecond=0)
    await service.import_cap(cap(sent=sent), source=AlertSource.CLI)
    assert await service.expire_due(now=time.time()) == 0
    assert await service.expire_due(now=(sent + timedelta(hours=7)).timestamp()) == 1
    (row,) = await service.alerts()
    assert row.state == AlertState.EXPIRED
    assert await service.feed_alerts(now=(sent + timedelta(hours=7)).timestamp()) == []


async def test_a_repeated_document_is_a_duplicate_and_a_changed_one_a_conflict(
    service: AlertService, hook: RecordingHook
) -> None:
    doc = cap()
    await service.import_cap(doc, source=AlertSource.FEED)
    again = await service.import_cap(doc, source=AlertSource.FEED)
    assert again.duplicate and not again.handed_off
    with pytest.raises(CapRefused) as refused:
        await service.import_cap(cap(headline_km="ផ្សេង"), source=AlertSource.FEED)
    assert refused.value.status == 409
    assert len(hook.alerts) == 1


async def test_tests_and_exercises_are_recorded_not_sent(
    service: AlertService, hook: RecordingHook
) -> None:
    result = await service.import_cap(cap(status="Exercise"), source=AlertSource.CLI)
    assert result.state == AlertState.RECORDED
    assert hook.alerts == []


async def test_sender_tokens_and_the_approval_policy(
    service: AlertService, hook: RecordingHook
) -> None:
    token = await service.new_token(SENDER, "ក្រសួងធនធានទឹក និងឧតុនិយម")
    sender = await service.sender_by_token(token)
    assert sender is not None and sender.cap_sender == SENDER
    assert await service.sender_by_token("wrong") is None
    await service.set_policy(SENDER, require_approval=False, by="secretariat")
    sender = await service.sender_by_token(token)
    assert sender is not None
    await service.import_cap(cap(), source=AlertSource.REST, sender=sender)
    assert hook.alerts[-1].require_approval is False
    other = await service.new_token("other@example.org")
    other_sender = await service.sender_by_token(other)
    assert other_sender is not None
    with pytest.raises(CapRefused) as refused:
        await service.import_cap(cap("KH-X"), source=AlertSource.REST, sender=other_sender)
    assert refused.value.status == 403
    # a new token replaces the old one
    await service.new_token(SENDER)
    assert await service.sender_by_token(token) is None
