"""Dissemination: approval rules, planning in chunks (resumable, never twice), the bulk path
of the delivery engine against the fake Telegram and Graph APIs, alerts, reports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot._exceptions import Conflict, NotAllowed
from bot._metrics import Metrics
from bot.delivery._bulk import BULK_OUTBOUND, BulkDelivery, LocalBulkLimiter
from bot.dissemination import BroadcastStatus, DisseminationService, Person, Topic
from bot.dissemination._senders import MessengerBulkSender, TelegramBulkSender
from bot.dissemination._tables import RECIPIENTS
from bot.storage._db import create_engine
from bot.storage._migrate import migrate
from tests.bot.gateway_fakes import TOKEN, FakeGraph, FakeTelegram, wait_until_async

AUTHOR = Person(agent_id=1, role="ministry_editor", org_kind="ministry")
SECRETARIAT = Person(agent_id=2, role="secretariat_reviewer", org_kind="secretariat")
CSO_AUTHOR = Person(agent_id=3, role="agent", org_kind="cso")
CSO_SUPERVISOR = Person(agent_id=4, role="supervisor", org_kind="cso")

KM = "ការបើកប្រាក់ឧបត្ថម្ភសម្រាប់សិស្សថ្នាក់ទី៥ នឹងធ្វើនៅថ្ងៃទី១៥ ខែមករា"
EN = "Grade-5 scholarship payments will be made on 15 January"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Any]:
    eng, _ = create_engine(database_url)
    await migrate(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def service(engine: Any) -> DisseminationService:
    return DisseminationService(engine, chunk=7)


async def subscribers(service: DisseminationService, count: int, **kw: Any) -> None:
    for i in range(count):
        await service.subscribe(
            kw.get("channel", "telegram"),
            str(1000 + i),
            topics=kw.get("topics", [Topic.PAYMENTS, Topic.EMERGENCY]),
            area_code=kw.get("area", "120101"),
            language="km" if i % 2 == 0 else "en",
        )


async def draft(service: DisseminationService, **kw: Any) -> int:
    values: dict[str, Any] = {"text_km": KM, "text_en": EN, "topic": Topic.PAYMENTS}
    values.update(kw)
    author = values.pop("author", AUTHOR)
    return await service.create_draft(author, **values)


async def count_rows(engine: Any, table: Any, **where: Any) -> int:
    query = select(func.count()).select_from(table)
    for key, value in where.items():
        query = query.where(table.c[key] == value)
    async with engine.connect() as conn:
        return int(await conn.scalar(query) or 0)


async def test_refusals(service: DisseminationService) -> None:
    bid = await draft(service)
    await service.submit(bid)
    with pytest.raises(NotAllowed, match="own"):
        await service.approve(bid, Person(agent_id=1, role="secretariat_reviewer", org_kind="x"))
    with pytest.raises(NotAllowed, match="secretariat"):
        await service.approve(bid, CSO_SUPERVISOR)  # a ministry's announcement
    # A CSO's announcement for the whole country needs the secretariat
    national = await draft(service, author=CSO_AUTHOR)
    with pytest.raises(NotAllowed, match="whole country"):
        await service.approve(national, CSO_SUPERVISOR)
    local = await draft(service, author=CSO_AUTHOR, area_codes=["12"])
    await service.approve(local, CSO_SUPERVISOR)
    await service.approve(national, SECRETARIAT)
    # no send after cancel
    await service.cancel(bid)
    with pytest.raises(Conflict):
        await service.approve(bid, SECRETARIAT)
    assert not await service.plan(bid)
    # nor after expiry
    expired = await draft(service, expires_at=time.time() - 1)
    with pytest.raises(Conflict, match="expired"):
        await service.approve(expired, SECRETARIAT)
    assert (await service.get(expired)).status == BroadcastStatus.EXPIRED


async def test_planning_is_chunked_resumable_and_never_twice(
    service: DisseminationService, engine: Any
) -> None:
    await subscribers(service, 30)
    await service.subscribe("telegram", "9999", topics=[Topic.HEALTH], area_code="120101")
    await service.subscribe("telegram", "9998", topics=[Topic.PAYMENTS], area_code="0102")
    bid = await draft(service, area_codes=["12"])
    await service.approve(bid, SECRETARIAT)
    # a planner that stops after two chunks (killed) ...
    first = DisseminationService(engine, chunk=7, owner="dead")
    assert not await first.plan(bid, max_chunks=2)
    assert await count_rows(engine, RECIPIENTS, broadcast_id=bid) == 14
    # ... is taken over once its lease runs out, from where it stopped
    assert not await service.plan(bid)  # still leased by the dead planner
    async with service._writing() as conn:
        from bot.dissemination._tables import BROADCASTS

        await conn.execute(
            BROADCASTS.update().where(BROADCASTS.c.id == bid).values(plan_until=0.0)
        )
    assert await service.plan(bid)
    assert await count_rows(engine, RECIPIENTS, broadcast_id=bid) == 30
    assert await count_rows(engine, BULK_OUTBOUND, broadcast_id=bid) == 30
    assert not await service.plan(bid)  # planned: nothing more
    assert await count_rows(engine, BULK_OUTBOUND, broadcast_id=bid) == 30
    assert (await service.get(bid)).status == BroadcastStatus.SENDING
    counts = await service.recipient_count(await service.get(bid))
    assert counts == {"telegram": 30}


async def bulk_worker(engine: Any, senders: dict[str, Any], **kw: Any) -> BulkDelivery:
    return BulkDelivery(
        engine=engine,
        owner=kw.pop("owner", "w1"),
        senders=senders,
        limiter=LocalBulkLimiter(kw.get("limits", {})),
        limits=kw.pop("limits", {}),
        metrics=Metrics(),
        batch=kw.pop("batch", 10),
        loops=kw.pop("loops", 2),
        poll_s=0.05,
        **kw,
    )


async def test_announcement_delivered_blocked_unsubscribed_report(
    service: DisseminationService,
    engine: Any,
    fake_telegram: FakeTelegram,
    fake_graph: FakeGraph,
) -> None:
    await subscribers(service, 20)
    await subscribers(service, 3, channel="messenger")
    # a Messenger subscriber outside the 24 hours, without token: skipped with the reason
    await service.subscribe("messenger", "m-old", topics=[Topic.PAYMENTS], area_code="120101")
    async with service._writing() as conn:
        from bot.delivery._bulk import SUBSCRIBERS

        await conn.execute(
            SUBSCRIBERS.update()
            .where(SUBSCRIBERS.c.chat_id == "m-old")
            .values(last_inbound_at=time.time() - 2 * 86400)
        )
    await service.subscribe("telegram", "5555", topics=[Topic.PAYMENTS], area_code="010201")
    fake_telegram.blocked.add("1000")
    bid = await draft(service, area_codes=["12"])
    await service.approve(bid, SECRETARIAT)
    assert await service.plan(bid)
    async with aiohttp.ClientSession() as session:
        senders = {
            "telegram": TelegramBulkSender(session, fake_telegram.base_url, TOKEN),
            "messenger": MessengerBulkSender(session, fake_graph.base_url, "page-token"),
        }
        worker = await bulk_worker(engine, senders)
        task = asyncio.create_task(worker.run())
        try:

            async def finished() -> bool:
                report = await service.report(bid)
                return report.queued == 0

            await wait_until_async(finished, bool, timeout=15)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    report = await service.report(bid)
    assert report.targeted == 24
    assert report.sent == 22  # 19 Telegram + 3 Messenger
    assert report.blocked == 1
    assert report.skipped == 1
    assert report.skipped_reasons == {"messenger_outside_24h": 1}
    assert report.by_province["12"]["targeted"] == 24
    assert report.by_channel["messenger"]["sent"] == 3
    texts = [c.params["text"] for c in fake_telegram.sent()]
    assert texts.count(KM) == 9
    assert texts.count(EN) == 10
    assert not any(c.params["chat_id"] == 5555 for c in fake_telegram.sent())  # province 01
    # the chat that blocked the bot is unsubscribed
    blocked = [s for s in [await service.subscriber("telegram", "1000")] if s]
    assert blocked
    assert not blocked[0].active
    await service.tick()
    assert (await service.get(bid)).status == BroadcastStatus.DONE


async def test_alert_first_cancel_and_expiry(
    service: DisseminationService, engine: Any, fake_telegram: FakeTelegram
) -> None:
    await subscribers(service, 5)
    announcement = await draft(service)
    await service.approve(announcement, SECRETARIAT)
    assert await service.plan(announcement)
    alert = await service.plan_alert_broadcast(
        cap_identifier="KH-MOWRAM-2026-001",
        headline_km="ព្រមានទឹកជំនន់",
        headline_en="Flood warning",
        text_km="ទឹកទន្លេមេគង្គកំពុងឡើង សូមរៀបចំខ្លួន",
        text_en="The Mekong is rising: get ready to move",
        area_codes=["1201"],
        expires_at=time.time() + 3600,
        severity="Severe",
        urgency="Immediate",
    )
    assert (
        await service.plan_alert_broadcast(
            cap_identifier="KH-MOWRAM-2026-001",
            headline_km="x",
            headline_en="x",
            text_km="x",
            text_en="x",
            area_codes=["1201"],
            expires_at=None,
            severity="Severe",
            urgency="Immediate",
        )
        == alert
    )
    other = await service.plan_alert_broadcast(
        cap_identifier="KH-OTHER-1",
        headline_km="ព្រមាន",
        headline_en="Warning",
        text_km="ខ្យល់ព្យុះ",
        text_en="Storm",
        area_codes=["01"],
        expires_at=time.time() + 0.5,
        severity="Moderate",
        urgency="Expected",
    )
    assert await count_rows(engine, BULK_OUTBOUND, broadcast_id=other) == 0  # not province 12
    cancelled = await service.plan_alert_broadcast(
        cap_identifier="KH-2",
        headline_km="ព្រមាន",
        headline_en="Warning",
        text_km="ខ្យល់",
        text_en="Wind",
        area_codes=["12"],
        expires_at=None,
        severity="Minor",
        urgency="Future",
    )
    assert await service.cancel_alert("KH-2") == 5
    expiring = await service.plan_alert_broadcast(
        cap_identifier="KH-3",
        headline_km="ព្រមាន",
        headline_en="Warning",
        text_km="ភ្លៀង",
        text_en="Rain",
        area_codes=["12"],
        expires_at=time.time() + 0.3,
        severity="Minor",
        urgency="Future",
    )
    await asyncio.sleep(0.4)
    async with aiohttp.ClientSession() as session:
        worker = await bulk_worker(
            engine,
            {"telegram": TelegramBulkSender(session, fake_telegram.base_url, TOKEN)},
            batch=5,
            loops=1,
        )
        task = asyncio.create_task(worker.run())
        try:

            async def finished() -> bool:
                return (await service.report(announcement)).queued == 0

            await wait_until_async(finished, bool, timeout=10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    texts = [c.params["text"] for c in fake_telegram.sent()]
    # the alert went before the announcement, to every chat
    assert all("Mekong" in t or "មេគង្គ" in t for t in texts[:5])
    assert len(texts) == 10
    assert not any("Wind" in t or "ខ្យល់" in t or "Rain" in t or "ភ្លៀង" in t for t in texts)
    await service.tick()
    assert (await service.get(cancelled)).status == BroadcastStatus.CANCELLED
    assert (await service.get(expiring)).status == BroadcastStatus.EXPIRED
    assert (await service.report(expiring)).expired == 5


async def test_pause_resume(service: DisseminationService, engine: Any) -> None:
    await subscribers(service, 4)
    bid = await draft(service)
    await service.approve(bid, SECRETARIAT)
    await service.plan(bid)
    await service.pause(bid)
    assert (await service.report(bid)).queued == 4
    assert await count_rows(engine, BULK_OUTBOUND, status="paused") == 4
    await service.resume(bid)
    assert await count_rows(engine, BULK_OUTBOUND, status="queued") == 4


async def test_messenger_outside_24_hours_needs_a_token_or_a_template(
    service: DisseminationService, engine: Any, fake_graph: FakeGraph
) -> None:
    from bot.delivery._bulk import SUBSCRIBERS

    await service.subscribe(
        "messenger",
        "psid-token",
        topics=[Topic.PAYMENTS],
        notification_token="tok-1",
        token_expires_at=time.time() + 86400,
    )
    await service.subscribe("messenger", "psid-none", topics=[Topic.PAYMENTS])
    async with service._writing() as conn:
        await conn.execute(SUBSCRIBERS.update().values(last_inbound_at=time.time() - 3 * 86400))
    plain = await draft(service)
    await service.approve(plain, SECRETARIAT)
    await service.plan(plain)
    templated = await draft(service, utility_template="payment_update_km")
    await service.approve(templated, SECRETARIAT)
    await service.plan(templated)
    async with aiohttp.ClientSession() as session:
        worker = await bulk_worker(
            engine, {"messenger": MessengerBulkSender(session, fake_graph.base_url, "page-token")}
        )
        task = asyncio.create_task(worker.run())
        try:

            async def finished() -> bool:
                return (await service.report(templated)).queued == 0

            await wait_until_async(finished, bool, timeout=10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert (await service.report(plain)).skipped_reasons == {"messenger_outside_24h": 1}
    assert (await service.report(plain)).sent == 1
    assert (await service.report(templated)).sent == 2
    recipients = [m["recipient"] for m in fake_graph.messages()]
    assert {"notification_messages_token": "tok-1"} in recipients
    templates = [m for m in fake_graph.messages() if m.get("messaging_type") == "UTILITY"]
    assert len(templates) == 1
    assert templates[0]["recipient"] == {"id": "psid-none"}
