"""The delivery engine: claims with leases, per-chat order, priorities, pacing, kills, 429."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event, insert, select

from bot import Settings
from bot._exceptions import RateLimited, Undeliverable
from bot._metrics import Metrics
from bot.delivery import (
    DeliveryEngine,
    Grant,
    LocalPacer,
    PaceLimit,
    Pacer,
    RedisPacer,
    acquire,
)
from bot.rasa._client import RasaReply
from bot.storage._db import Inbound, Outbound, OutboundStatus, create_engine
from bot.storage._migrate import migrate
from bot.storage._models import InboundKind, InboundMessage, OutboundKind
from bot.storage._store import NewOutbound, Store, TurnStart
from tests.bot.gateway_fakes import wait_until, wait_until_async

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Sent:
    chat_id: str
    row: int
    at: float


@dataclass
class RecordingChannel:
    """A platform that records what reaches it (the engine, not the channel, is tested)."""

    log: list[Sent] = field(default_factory=list)
    name: str = "telegram"
    needs_callback_keys: bool = False
    retires_buttons: bool = False
    delay_s: float = 0.0
    failures: list[Exception] = field(default_factory=list)

    def render(self, replies: list[RasaReply]) -> list[dict[str, Any]]:
        return [dict(r) for r in replies]

    async def send(self, chat_id: str, body: dict[str, Any]) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.log.append(Sent(chat_id, int(body["row"]), time.monotonic()))
        await asyncio.sleep(self.delay_s)
        return f"m{body['row']}"

    def recorded(self, chat_id: str) -> None:
        """Nothing to wake."""

    async def typing(self, chat_id: str) -> None:
        """Not used by the engine."""

    async def retire_buttons(self, chat_id: str, message_id: str) -> None:
        """Not asked for (retires_buttons is False)."""


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Callable[..., Store]]:
    """Stores on one freshly migrated database; each call is another process's Store."""
    engine, factory = create_engine(database_url)
    try:
        await migrate(engine)
        yield lambda owner="": Store(factory, engine.dialect.name, owner)
    finally:
        await engine.dispose()


async def queue(store: Store, chat_id: str, count: int, kind: str = OutboundKind.REPLY) -> None:
    """``count`` rows for one chat, each body naming its own sequence for the checks."""
    async with store.writing() as session:
        first = await session.scalar(select(Outbound.id).order_by(Outbound.id.desc()).limit(1))
        base = (first or 0) + 1
        values = [
            Store.outbound_values(
                "telegram", chat_id, None, NewOutbound(kind, {"row": base + i, "html": "x"})
            )
            for i in range(count)
        ]
        await session.execute(insert(Outbound), values)
        await session.commit()


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "retry_base_s": 0.05,
        "retry_max_s": 0.2,
        "delivery_poll_s": 0.1,
        "delivery_workers": 8,
        "lease_s": 2.0,
        "log_json": False,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Running:
    engine: DeliveryEngine
    task: asyncio.Task[None]
    metrics: Metrics


async def start_engine(
    store: Store, channel: RecordingChannel, pacer: Pacer | None = None, **overrides: Any
) -> Running:
    metrics = Metrics()
    engine = DeliveryEngine(
        store=store,
        channels={channel.name: channel},
        pacer=pacer or LocalPacer({}),
        settings=settings(**overrides),
        metrics=metrics,
    )
    return Running(engine, asyncio.create_task(engine.run()), metrics)


async def stop(*running: Running) -> None:
    for r in running:
        r.task.cancel()
    await asyncio.gather(*(r.task for r in running), return_exceptions=True)


async def statuses(store: Store) -> dict[int, str]:
    async with store.reading() as session:
        rows = (await session.execute(select(Outbound.body, Outbound.status))).all()
    return {int(body["row"]): status for body, status in rows}


def in_chat_order(log: list[Sent]) -> bool:
    by_chat: dict[str, list[int]] = {}
    for sent in log:
        by_chat.setdefault(sent.chat_id, []).append(sent.row)
    return all(rows == sorted(rows) for rows in by_chat.values())


async def test_two_engines_on_one_postgresql_never_send_a_row_twice(
    postgres_url: str,
) -> None:
    engine, factory = create_engine(postgres_url)
    try:
        await migrate(engine)
        first, second = Store(factory, "postgresql"), Store(factory, "postgresql")
        assert first.owner != second.owner
        log: list[Sent] = []
        channels = [RecordingChannel(log, delay_s=0.005), RecordingChannel(log, delay_s=0.005)]
        running = [
            await start_engine(first, channels[0]),
            await start_engine(second, channels[1]),
        ]
        try:
            for chat in range(40):
                await queue(first, f"c{chat}", 5)
                for r in running:
                    r.engine.wake()
            await wait_until(lambda: len(log) >= 200, timeout=30)
            await asyncio.sleep(0.3)  # a second send of any row would show now
        finally:
            await stop(*running)
        rows = [s.row for s in log]
        assert sorted(rows) == list(range(1, 201))  # every row once
        assert in_chat_order(log)
        sent_by = [
            r.metrics.value("gateway_outbound_total", channel="telegram", status="sent")
            for r in running
        ]
        assert sum(sent_by) == 200
        assert min(sent_by) > 0  # both processes took part
        assert set((await statuses(first)).values()) == {OutboundStatus.SENT}
    finally:
        await engine.dispose()


async def test_a_reply_goes_out_before_the_remaining_bulk(
    sessions: Callable[..., Store],
) -> None:
    store = sessions()
    log: list[Sent] = []
    for chat in range(500):
        await queue(store, f"b{chat}", 1, OutboundKind.BROADCAST)
    pacer = LocalPacer({"telegram": PaceLimit(100.0, reply_headroom_per_s=20.0)})
    running = await start_engine(store, RecordingChannel(log), pacer)
    try:
        await wait_until(lambda: len(log) >= 20, timeout=10)
        await queue(store, "citizen", 1, OutboundKind.REPLY)
        running.engine.wake()
        await wait_until(lambda: any(s.chat_id == "citizen" for s in log), timeout=5)
    finally:
        await stop(running)
    position = next(i for i, s in enumerate(log) if s.chat_id == "citizen")
    assert position < 100  # hundreds of bulk rows were still waiting; the reply did not
    bulk = [s.at for s in log if s.chat_id != "citizen"]
    rate = (len(bulk) - 1) / (bulk[-1] - bulk[0])
    assert rate <= 80 * 1.1  # bulk keeps to limit - headroom (x 0.9 pacing share)


async def test_a_send_cut_by_a_kill_ends_unconfirmed_and_is_never_repeated(
    sessions: Callable[..., Store],
) -> None:
    dead = sessions("dead-host:1:0")
    await queue(dead, "c1", 2)
    claimed = await dead.claim_outbound(time.time(), time.time() + 0.5, 10)
    assert [c.row.body["row"] for c in claimed] == [1]  # one row per chat per claim
    assert await dead.mark_sending(claimed[0].row)  # recorded just before the platform call
    # the process dies here: row 1 may or may not have reached the platform
    store = sessions()
    log: list[Sent] = []
    running = await start_engine(store, RecordingChannel(log), lease_s=0.6)
    try:
        await wait_until_async(
            lambda: statuses(store), lambda s: s == {1: "unconfirmed", 2: "sent"}, timeout=10
        )
    finally:
        await stop(running)
    assert [s.row for s in log] == [2]  # row 1 is not sent again; the chat goes on
    unconfirmed = running.metrics.value(
        "gateway_outbound_total", channel="telegram", status="unconfirmed"
    )
    assert unconfirmed == 1
    exposed = running.metrics.render({})
    assert 'gateway_outbound_total{channel="telegram",status="unconfirmed"} 1' in exposed


async def test_a_row_held_but_never_tried_by_a_killed_process_is_sent_by_another(
    sessions: Callable[..., Store],
) -> None:
    """Killed while the row waited for its pace slot: nothing reached the platform, so the
    row is not lost as unconfirmed; another process sends it, once, in order."""
    dead = sessions("dead-host:1:0")
    await queue(dead, "c1", 2)
    claimed = await dead.claim_outbound(time.time(), time.time() + 0.5, 10)
    assert [c.row.body["row"] for c in claimed] == [1]
    assert await statuses(dead) == {1: "claimed", 2: "pending"}
    store = sessions()
    log: list[Sent] = []
    running = await start_engine(store, RecordingChannel(log), lease_s=0.6)
    try:
        await wait_until_async(
            lambda: statuses(store), lambda s: s == {1: "sent", 2: "sent"}, timeout=10
        )
    finally:
        await stop(running)
    assert [s.row for s in log] == [1, 2]
    assert not await dead.mark_sending(claimed[0].row)  # the dead owner's claim is gone


async def test_a_live_lease_is_respected_and_an_expired_one_taken_over(
    sessions: Callable[..., Store],
) -> None:
    first, second = sessions("a:1:0"), sessions("b:2:0")
    await first.ingest(
        InboundMessage(
            channel="telegram", external_id="1", chat_id="c1", kind=InboundKind.TEXT, text="hi"
        )
    )
    inbound, _chat, _more = await first.next_inbound("telegram", "c1")
    assert inbound is not None
    assert await first.begin_turn(inbound, time.time() + 0.4, at_rasa=True) == TurnStart.OURS
    started = await second.begin_turn(inbound, time.time() + 10, at_rasa=True)
    assert started == TurnStart.ELSEWHERE
    assert await first.due_chats(time.time(), 10) == [("telegram", "c1")]  # its own
    assert await second.due_chats(time.time(), 10) == []  # someone answers it
    await asyncio.sleep(0.5)  # the first process stopped renewing: it died
    assert await second.due_chats(time.time(), 10) == [("telegram", "c1")]
    assert await second.begin_turn(inbound, time.time() + 10, at_rasa=True) == TurnStart.OURS
    async with second.reading() as session:
        row = await session.get(Inbound, inbound.id)
        assert row is not None
        assert (row.status, row.attempts) == ("at_rasa", 2)  # both attempts counted


async def test_a_429_pushes_the_whole_account_back_and_keeps_the_order(
    sessions: Callable[..., Store],
) -> None:
    store = sessions()
    await queue(store, "a", 2)
    await queue(store, "b", 1)
    log: list[Sent] = []
    channel = RecordingChannel(log, failures=[RateLimited(0.5, "Telegram 429")])
    started = time.monotonic()
    running = await start_engine(
        store, channel, LocalPacer({"telegram": PaceLimit(30.0)}), delivery_workers=1
    )
    try:
        await wait_until(lambda: len(log) == 3, timeout=10)
    finally:
        await stop(running)
    assert [s.row for s in log if s.chat_id == "a"] == [1, 2]
    assert all(s.at - started >= 0.45 for s in log)  # nothing went out during the pause
    assert running.metrics.value("gateway_rate_limited_total", channel="telegram") == 1
    async with store.reading() as session:
        first = await session.get(Outbound, 1)
        assert first is not None
        assert first.attempts == 1  # the 429 was not counted as a failed attempt


async def test_undeliverable_fails_at_once_and_the_chat_goes_on(
    sessions: Callable[..., Store],
) -> None:
    store = sessions()
    await queue(store, "a", 2)
    log: list[Sent] = []
    channel = RecordingChannel(log, failures=[Undeliverable("chat not found")])
    running = await start_engine(store, channel)
    try:
        await wait_until_async(
            lambda: statuses(store), lambda s: s == {1: "failed", 2: "sent"}, timeout=5
        )
    finally:
        await stop(running)
    assert [s.row for s in log] == [2]


async def test_a_stop_gives_back_rows_waiting_for_their_pace_slot(
    sessions: Callable[..., Store],
) -> None:
    store = sessions()
    for chat in range(6):
        await queue(store, f"c{chat}", 1)
    log: list[Sent] = []
    slow = LocalPacer({"telegram": PaceLimit(2.0)})  # one send every ~0.55 s
    running = await start_engine(store, RecordingChannel(log), slow)
    await wait_until(lambda: len(log) >= 1, timeout=5)
    await stop(running)
    final = await statuses(store)
    sent = {s.row for s in log}
    assert {r for r, s in final.items() if s == "sent"} == sent
    assert {r for r, s in final.items() if s != "sent"} == set(range(1, 7)) - sent
    assert all(s in ("sent", "pending") for s in final.values())  # nothing left claimed


@dataclass
class ScriptedPacer:
    """A pacer that grants the slots it is told to, in turn (then the last one again); an
    exception in the list is raised instead (Redis away)."""

    grants: list[Grant | Exception]
    asked: int = 0

    async def reserve(self, account: str, *, chat: str, bulk: bool, max_wait_s: float) -> Grant:
        self.asked += 1
        grant = self.grants.pop(0) if len(self.grants) > 1 else self.grants[0]
        if isinstance(grant, Exception):
            raise grant
        return grant

    async def push_back(self, account: str, seconds: float) -> None:
        """No 429 here."""

    async def aclose(self) -> None:
        """Nothing to release."""


async def test_a_stop_gives_back_a_row_waiting_for_a_new_slot_after_a_late_one(
    database_url: str,
) -> None:
    """The second reply is claimed ``sending`` with the first's result (its slot was due);
    the database is slow, the slot late, and the engine waits for a new one as ``claimed``:
    a kill then leaves it to another process, a stop gives it back, never ``sending`` (it
    would end unconfirmed though nothing reached the platform)."""
    engine, factory = create_engine(database_url)
    try:
        await migrate(engine)
        store = Store(factory, engine.dialect.name)
        await queue(store, "c1", 2)

        def slow(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "head" in statement:  # the chained claim: a busy database, a busy loop
                time.sleep(0.15)

        event.listen(engine.sync_engine, "before_cursor_execute", slow)
        log: list[Sent] = []
        pacer = ScriptedPacer([Grant(True, 0.0), Grant(True, 0.0), Grant(True, 30.0)])
        running = await start_engine(store, RecordingChannel(log), pacer)
        try:
            await wait_until(lambda: pacer.asked >= 3, timeout=10)  # a new slot, 30 s away
            await asyncio.sleep(0.05)
            # it waits ``claimed``: a kill now would leave it to another process to send
            assert await statuses(store) == {1: "sent", 2: "claimed"}
        finally:
            await stop(running)
        assert [s.row for s in log] == [1]
        assert await statuses(store) == {1: "sent", 2: "pending"}
        assert running.metrics.value("gateway_pacing_late_total", channel="telegram") == 1
    finally:
        await engine.dispose()


async def test_a_pacer_failing_after_a_send_still_records_it_sent(
    sessions: Callable[..., Store],
) -> None:
    """The next reply's slot is asked for between the send and its record: Redis away
    then must not leave the sent row ``sending`` (it would end unconfirmed)."""
    store = sessions()
    await queue(store, "c1", 2)
    log: list[Sent] = []
    pacer = ScriptedPacer([Grant(True, 0.0), ConnectionError("redis away"), Grant(True, 0.0)])
    running = await start_engine(store, RecordingChannel(log), pacer)
    try:
        await wait_until_async(
            lambda: statuses(store), lambda s: s == {1: "sent", 2: "sent"}, timeout=10
        )
    finally:
        await stop(running)
    assert [s.row for s in log] == [1, 2]


async def test_a_late_row_with_no_free_slot_waits_for_one_before_it_is_sent(
    sessions: Callable[..., Store],
) -> None:
    """A late slot's replacement is not granted (the queue is longer than a claim is
    held): nothing was reserved, so the row must not go out when that wait ends, only
    with a slot of its own."""
    store = sessions()
    await queue(store, "c1", 1)
    log: list[Sent] = []
    pacer = ScriptedPacer(
        [Grant(True, -0.2), Grant(False, 0.1), Grant(True, 0.0)]  # a slot already past
    )
    running = await start_engine(store, RecordingChannel(log), pacer)
    try:
        await wait_until(lambda: len(log) == 1, timeout=10)
    finally:
        await stop(running)
    assert pacer.asked == 3  # late, refused, granted: then sent
    assert running.metrics.value("gateway_pacing_late_total", channel="telegram") == 2


async def test_redis_pacer_shared_by_two_processes_keeps_every_second_under_the_limit() -> None:
    prefix = f"test:pace:{secrets.token_hex(4)}:"
    limits = {"telegram": PaceLimit(20.0)}
    clients = [aioredis.Redis.from_url(REDIS_URL) for _ in range(2)]
    pacers = [RedisPacer(client, limits, prefix) for client in clients]
    times: list[float] = []

    async def send_many(pacer: RedisPacer, n: int) -> None:
        async def one(i: int) -> None:
            await acquire(pacer, "telegram", chat=str(i))
            times.append(time.monotonic())

        await asyncio.gather(*(one(i) for i in range(n)))

    try:
        await asyncio.gather(*(send_many(p, 30) for p in pacers))
    finally:
        for pacer in pacers:
            await pacer.aclose()
    times.sort()
    assert len(times) == 60
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 20  # never above the limit in any one-second window
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate >= 15  # and close to it (slots are spaced for 90% of it)


async def test_redis_pacer_bulk_takes_only_free_slots_and_one_per_second_per_chat() -> None:
    prefix = f"test:pace:{secrets.token_hex(4)}:"
    client = aioredis.Redis.from_url(REDIS_URL)
    pacer = RedisPacer(client, {"telegram": PaceLimit(10.0, reply_headroom_per_s=2.0)}, prefix)
    try:
        reply = await pacer.reserve("telegram", chat="x", bulk=False, max_wait_s=2.0)
        assert reply.granted
        behind = await pacer.reserve("telegram", chat="y", bulk=True, max_wait_s=2.0)
        assert not behind.granted  # the reply holds the next slot: bulk waits, reserves nothing
        assert 0 < behind.delay_s <= 0.2
        await asyncio.sleep(behind.delay_s)
        assert (await pacer.reserve("telegram", chat="y", bulk=True, max_wait_s=0)).granted
        await asyncio.sleep(0.2)
        again = await pacer.reserve("telegram", chat="y", bulk=True, max_wait_s=0)
        assert not again.granted  # one bulk message per second to one chat
        assert 0.5 < again.delay_s <= 1.0
        await pacer.push_back("telegram", 3.0)
        paused = await pacer.reserve("telegram", chat="z", bulk=False, max_wait_s=2.0)
        assert not paused.granted
        assert paused.delay_s > 2.5  # a 429 holds the whole account
    finally:
        await pacer.aclose()
