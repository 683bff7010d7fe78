"""A bulk worker killed mid-batch: its send journal in Redis decides each row it left
``sending``. Never started: sent now. Answered before the kill: recorded as sent, not sent
again (Telegram takes no idempotency key: a repeat is a message shown twice). In flight:
an alert is sent again, an announcement ends ``unconfirmed`` and is counted in the report."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select, update

from bot._metrics import Metrics
from bot.delivery import _bulk
from bot.delivery._bulk import (
    BULK_OUTBOUND,
    BulkDelivery,
    BulkStatus,
    LocalBulkLimiter,
    RedisSendJournal,
)
from bot.dissemination import BroadcastKind, DisseminationService, Person, Topic
from bot.dissemination._senders import TelegramBulkSender
from bot.storage._db import create_engine
from bot.storage._migrate import migrate
from tests.bot.gateway_fakes import TOKEN, FakeTelegram, wait_until_async

REDIS_URL = "redis://127.0.0.1:6379/0"
AUTHOR = Person(agent_id=1, role="ministry_editor", org_kind="ministry")
SECRETARIAT = Person(agent_id=2, role="secretariat_reviewer", org_kind="secretariat")
DEAD = "dead-worker:1"
NEWS_KM = "ការបើកប្រាក់ឧបត្ថម្ភសម្រាប់ស្ត្រីមានផ្ទៃពោះ នឹងធ្វើនៅថ្ងៃទី២០ ខែមករា"
ALERT_KM = "ព្រមានទឹកជំនន់៖ សូមផ្លាស់ទីទៅកន្លែងខ្ពស់ភ្លាមៗ។"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Any]:
    eng, _ = create_engine(database_url)
    await migrate(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def journal_prefix() -> AsyncIterator[str]:
    prefix = f"test:journal:{secrets.token_hex(4)}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def planned(service: DisseminationService, kind: str, text: str, chats: list[str]) -> int:
    topic = Topic.EMERGENCY if kind == BroadcastKind.ALERT else Topic.PAYMENTS
    for chat in chats:
        await service.subscribe("telegram", chat, topics=[topic], area_code="040101")
    bid = await service.create_draft(
        AUTHOR, text_km=text, text_en="-", topic=topic, kind=kind, area_codes=["04"]
    )
    await service.approve(bid, SECRETARIAT)
    assert await service.plan(bid)
    return bid


def unpaced_worker(
    engine: Any, owner: str, platform: Any, batch: int, journal: Any = None
) -> BulkDelivery:
    """One loop of ``batch`` rows to a Telegram ``platform`` with no rate limit."""
    return BulkDelivery(
        engine=engine,
        owner=owner,
        senders={"telegram": platform},
        limiter=LocalBulkLimiter({}),
        limits={},
        metrics=Metrics(),
        batch=batch,
        loops=1,
        poll_s=0.05,
        journal=journal,
    )


async def rows_of(engine: Any, bid: int) -> dict[str, Any]:
    """The broadcast's bulk rows by chat id."""
    async with engine.connect() as conn:
        found = await conn.execute(
            select(BULK_OUTBOUND).where(BULK_OUTBOUND.c.broadcast_id == bid)
        )
        return {r.chat_id: r for r in found}


async def test_rows_of_a_killed_worker_are_decided_by_its_journal(
    engine: Any, journal_prefix: str, fake_telegram: FakeTelegram
) -> None:
    service = DisseminationService(engine, channels=("telegram",))
    news = await planned(service, BroadcastKind.ANNOUNCEMENT, NEWS_KM, ["11", "12", "13", "14"])
    alert = await planned(service, BroadcastKind.ALERT, ALERT_KM, ["21", "22"])
    news_rows, alert_rows = await rows_of(engine, news), await rows_of(engine, alert)
    # the dead worker had claimed all six, and its lease ran out
    async with engine.begin() as conn:
        await conn.execute(
            update(BULK_OUTBOUND)
            .where(BULK_OUTBOUND.c.broadcast_id.in_([news, alert]))
            .values(status=BulkStatus.SENDING, lease_owner=DEAD, lease_until=time.time() - 1)
        )
    dead_journal = RedisSendJournal.from_url(REDIS_URL, prefix=journal_prefix)
    # 11 answered (Telegram's message 501); 12, 13 and alert 21 in flight; 14, 22 waiting
    await dead_journal.begin(DEAD, [news_rows[c].id for c in ("11", "12", "13")])
    await dead_journal.begin(DEAD, [alert_rows["21"].id])
    dead_journal.answered(DEAD, news_rows["11"].id, "501")
    await dead_journal.aclose()

    metrics = Metrics()
    async with aiohttp.ClientSession() as session:
        live = BulkDelivery(
            engine=engine,
            owner="live-worker:2",
            senders={"telegram": TelegramBulkSender(session, fake_telegram.base_url, TOKEN)},
            limiter=LocalBulkLimiter({}),
            limits={},
            metrics=metrics,
            poll_s=0.05,
            journal=RedisSendJournal.from_url(REDIS_URL, prefix=journal_prefix),
        )
        task = asyncio.create_task(live.run())
        try:

            async def settled() -> bool:
                rows = {**await rows_of(engine, news), **await rows_of(engine, alert)}
                return all(r.status not in ("queued", "sending") for r in rows.values())

            await wait_until_async(settled, bool, timeout=15)
        finally:
            live.stop()
            await asyncio.gather(task, return_exceptions=True)

    sent_to = sorted(str(c.params["chat_id"]) for c in fake_telegram.sent())
    assert sent_to == ["14", "21", "22"]  # never started, and the alert in doubt
    news_rows = await rows_of(engine, news)
    assert news_rows["11"].status == BulkStatus.SENT
    assert news_rows["11"].external_id == "501"
    assert news_rows["12"].status == news_rows["13"].status == BulkStatus.UNCONFIRMED
    assert news_rows["14"].status == BulkStatus.SENT
    assert {r.status for r in (await rows_of(engine, alert)).values()} == {BulkStatus.SENT}
    report = await service.report(news)
    assert (report.sent, report.unconfirmed, report.targeted) == (2, 2, 4)
    assert report.done_share == 1.0
    assert metrics.value("gateway_bulk_resent_in_doubt_total") == 1
    # the secretariat chooses to send the two unconfirmed again (once more only)
    await service.tick()
    assert await service.resend_unconfirmed(news) == 2
    assert await service.resend_unconfirmed(news) == 0
    async with aiohttp.ClientSession() as session:
        again = BulkDelivery(
            engine=engine,
            owner="live-worker:3",
            senders={"telegram": TelegramBulkSender(session, fake_telegram.base_url, TOKEN)},
            limiter=LocalBulkLimiter({}),
            limits={},
            metrics=Metrics(),
            poll_s=0.05,
        )
        task = asyncio.create_task(again.run())
        try:

            async def resent() -> bool:
                return (await service.report(news)).sent == 4

            await wait_until_async(resent, bool, timeout=15)
        finally:
            again.stop()
            await asyncio.gather(task, return_exceptions=True)
    sent_to = sorted(str(c.params["chat_id"]) for c in fake_telegram.sent())
    assert sent_to == ["12", "13", "14", "21", "22"]


async def test_a_worker_journals_what_it_sends_and_forgets_it_once_recorded(
    engine: Any, journal_prefix: str, fake_telegram: FakeTelegram
) -> None:
    service = DisseminationService(engine, channels=("telegram",))
    news = await planned(service, BroadcastKind.ANNOUNCEMENT, NEWS_KM, ["31", "32", "33"])
    journal = RedisSendJournal.from_url(REDIS_URL, prefix=journal_prefix)
    async with aiohttp.ClientSession() as session:
        worker = BulkDelivery(
            engine=engine,
            owner="worker:3",
            senders={"telegram": TelegramBulkSender(session, fake_telegram.base_url, TOKEN)},
            limiter=LocalBulkLimiter({"telegram": 50.0}),
            limits={"telegram": 50.0},
            metrics=Metrics(),
            poll_s=0.05,
            journal=journal,
        )
        task = asyncio.create_task(worker.run())
        try:

            async def sent() -> bool:
                rows = await rows_of(engine, news)
                return all(r.status == BulkStatus.SENT for r in rows.values())

            await wait_until_async(sent, bool, timeout=15)
        finally:
            worker.stop()
            await asyncio.gather(task, return_exceptions=True)
    rows = await rows_of(engine, news)
    ids = [r.id for r in rows.values()]
    # recorded in the database: nothing left in the journal to decide
    assert await journal.read("worker:3", ids) == {}
    assert sorted(r.external_id is not None for r in rows.values()) == [True, True, True]
    await journal.aclose()


class _HeldPlatform:
    """A platform that takes requests and answers none until released."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.release = asyncio.Event()

    async def send_bulk(self, chat_id: str, body: dict[str, Any], key: str) -> str | None:
        self.received.append(chat_id)
        await self.release.wait()
        return f"m{chat_id}"


async def test_only_sends_that_have_a_connection_are_noted_as_started(
    engine: Any, journal_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill leaves in doubt what was on its way, not rows queued behind the connections:
    with 5 connections and 30 rows claimed, 5 are noted, and the 25 others would go back to
    the queue untouched."""
    monkeypatch.setattr(_bulk, "SEND_CONNECTIONS", 5)
    service = DisseminationService(engine, channels=("telegram",))
    chats = [str(100 + i) for i in range(30)]
    news = await planned(service, BroadcastKind.ANNOUNCEMENT, NEWS_KM, chats)
    platform = _HeldPlatform()
    journal = RedisSendJournal.from_url(REDIS_URL, prefix=journal_prefix)
    worker = unpaced_worker(engine, "held-worker:1", platform, batch=30, journal=journal)
    task = asyncio.create_task(worker.run())
    try:
        await wait_until_async(
            lambda: asyncio.sleep(0, len(platform.received)), lambda n: n >= 5, timeout=10
        )
        await asyncio.sleep(0.2)  # nothing more goes out while the five are unanswered
        assert len(platform.received) == 5
        rows = await rows_of(engine, news)
        assert {r.status for r in rows.values()} == {BulkStatus.SENDING}
        notes = await journal.read(worker.owner, [r.id for r in rows.values()])
        assert sorted(notes) == sorted(rows[c].id for c in platform.received)
        assert set(notes.values()) == {_bulk.STARTED}
    finally:
        platform.release.set()
        try:
            await wait_until_async(lambda: _settled(engine, news), bool, timeout=15)
        finally:
            worker.stop()
            await asyncio.gather(task, return_exceptions=True)
    assert sorted(platform.received) == chats  # then all of them, once each
    assert {r.status for r in (await rows_of(engine, news)).values()} == {BulkStatus.SENT}


async def _settled(engine: Any, bid: int) -> bool:
    return all(r.status == BulkStatus.SENT for r in (await rows_of(engine, bid)).values())
