"""Rasa down or slow, platform limits, restarts: nothing is lost, nothing is duplicated."""

from __future__ import annotations

import asyncio
import functools
import re
from operator import not_
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.engine import make_url

from bot import create_app, keys
from bot.conversation._pipeline import IDLE_POLL_S, handoff_record
from bot.handoff import HANDOFFS, HandoffRequest, Viewer
from bot.storage._db import InboundStatus, create_engine
from bot.storage._migrate import migrate
from bot.storage._models import InboundKind, InboundMessage
from bot.storage._store import Store
from tests.bot.gateway_fakes import (
    TG_SECRET,
    FakeRasa,
    FakeTelegram,
    start,
    wait_until,
    wait_until_async,
)
from tests.bot.gateway_fixtures import pg_admin

HEADER = "X-Telegram-Bot-Api-Secret-Token"


def update(update_id: int, text: str, chat_id: int = 77) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1,
            "chat": {"id": chat_id, "type": "private"},
            "text": text,
        },
    }


async def test_rasa_down_queues_retries_and_sends_one_delay_notice(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    fake_rasa.status = 503
    client = await gateway()
    await client.post("/telegram/webhook", json=update(1, "ជំរាបសួរ"), headers={HEADER: TG_SECRET})
    await client.post("/telegram/webhook", json=update(2, "second"), headers={HEADER: TG_SECRET})
    await wait_until(lambda: len([c for c in fake_rasa.calls if c.method == "failed"]) >= 3)
    notices = fake_telegram.sent()
    assert len(notices) == 1  # exactly one "delayed" notice, in Khmer
    assert "យឺត" in notices[0].params["text"]
    fake_rasa.status = 200
    await wait_until(lambda: len(fake_telegram.sent()) == 3, timeout=5)
    texts = [c.params["text"] for c in fake_telegram.sent()[1:]]
    assert texts == ["echo: ជំរាបសួរ", "echo: second"]  # order kept after the outage


async def test_worker_outlives_a_database_outage(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa, postgres_url: str
) -> None:
    """PostgreSQL refusing connections for a while must not end the worker: the message
    postponed before the outage is still retried, and answered, once the database is back."""
    fake_rasa.status = 503
    client = await gateway(database_url=postgres_url, retry_base_s=0.3, retry_max_s=0.3)
    await client.post("/telegram/webhook", json=update(1, "ជំរាបសួរ"), headers={HEADER: TG_SECRET})
    await wait_until(lambda: len(fake_telegram.sent()) == 1)  # the "delayed" notice
    database = make_url(postgres_url).database
    metrics = client.app[keys.METRICS]
    await pg_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    try:
        await pg_admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            database,
        )
        await wait_until(lambda: metrics.value("gateway_pipeline_scan_errors_total") >= 2)
    finally:
        await pg_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    fake_rasa.status = 200
    await wait_until(
        lambda: [c.params["text"] for c in fake_telegram.sent()][1:] == ["echo: ជំរាបសួរ"],
        timeout=10,
    )
    exposed = await (await client.get("/metrics")).text()
    assert re.search(r"^gateway_pipeline_scan_errors_total [1-9]", exposed, re.MULTILINE)


async def test_shutdown_cuts_a_waiting_query_short_cleanly(gateway, postgres_url: str) -> None:
    """Stopping the gateway while the worker's scan waits on a lock cancels that query; the
    cancellation must not turn into an error that stops the shutdown (the connection is
    left mid-operation, so rolling it back fails)."""
    client = await gateway(database_url=postgres_url)
    locker = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE gw_inbound IN ACCESS EXCLUSIVE MODE")
            database = make_url(postgres_url).database

            async def waiting() -> int:
                return int(
                    await locker.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = $1 AND wait_event_type = 'Lock'",
                        database,
                    )
                )

            await wait_until_async(waiting, lambda n: n >= 1)
            await asyncio.wait_for(client.close(), timeout=10)
    finally:
        await locker.close()


async def test_slow_rasa_times_out_and_is_retried(gateway, fake_telegram, fake_rasa) -> None:
    fake_rasa.delay_s = 1.5
    client = await gateway(rasa_timeout_s=0.5)
    await client.post("/telegram/webhook", json=update(1, "slow"), headers={HEADER: TG_SECRET})
    await wait_until(lambda: len(fake_telegram.sent()) == 1, timeout=5)  # the notice
    fake_rasa.delay_s = 0
    await wait_until(
        lambda: any(c.params["text"] == "echo: slow" for c in fake_telegram.sent()), timeout=5
    )


async def test_empty_reply_from_rasa_is_not_success(gateway, fake_telegram, fake_rasa) -> None:
    fake_rasa.responder = lambda body: []
    client = await gateway()
    await client.post("/telegram/webhook", json=update(1, "hello"), headers={HEADER: TG_SECRET})
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    assert "Sorry" in fake_telegram.sent()[0].params["text"]  # English detected from "hello"
    metrics = await (await client.get("/metrics")).text()
    assert "gateway_rasa_empty_replies_total 1" in metrics
    store = client.app[keys.STORE]
    assert await store.first_pending_inbound("telegram", "77") is None


async def test_restart_mid_conversation_loses_nothing(
    make_settings, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    settings = make_settings()
    fake_rasa.status = 503  # Rasa down: messages pile up in the gateway
    first = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await first.start_server()
    for i in range(5):
        resp = await first.post(
            "/telegram/webhook", json=update(10 + i, f"q{i}"), headers={HEADER: TG_SECRET}
        )
        assert resp.status == 200
    await wait_until(lambda: len(fake_telegram.sent()) == 1)  # the delay notice
    await first.close()  # the gateway goes away mid-conversation
    fake_rasa.status = 200
    second = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await second.start_server()
    try:
        await wait_until(lambda: len(fake_telegram.sent()) == 6, timeout=8)
        texts = [c.params["text"] for c in fake_telegram.sent()[1:]]
        assert texts == [f"echo: q{i}" for i in range(5)]
        # a redelivery after the restart is still recognised
        again = await second.post(
            "/telegram/webhook", json=update(10, "q0"), headers={HEADER: TG_SECRET}
        )
        assert (await again.json())["duplicate"] is True
    finally:
        await second.close()
    await asyncio.sleep(0.1)
    assert len(fake_telegram.sent()) == 6


async def test_a_stop_during_a_send_lets_it_finish_so_a_restart_does_not_repeat_it(
    make_settings, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    settings = make_settings()
    fake_telegram.delay_s = 0.5  # Telegram has the message; its answer is on the way
    first = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await first.start_server()
    await first.post("/telegram/webhook", json=update(1, "q1"), headers={HEADER: TG_SECRET})
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    await first.close()  # a deploy stops the gateway mid-send
    fake_telegram.delay_s = 0.0
    second = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await second.start_server()
    try:
        await second.post("/telegram/webhook", json=update(2, "q2"), headers={HEADER: TG_SECRET})
        # a chat's leftovers go out before its next answer: a repeat would come first
        await wait_until(lambda: len(fake_telegram.sent()) >= 2)
    finally:
        await second.close()
    assert [c.params["text"] for c in fake_telegram.sent()] == ["echo: q1", "echo: q2"]


async def test_two_rasa_instances_sticky_routing_and_order(
    gateway, fake_telegram: FakeTelegram
) -> None:
    rasas = [FakeRasa("a"), FakeRasa("b")]
    servers = [await start(r) for r in rasas]
    try:
        client = await gateway(rasa_urls=tuple(r.url for r in rasas))
        for i in range(40):
            chat = 1000 + i % 8
            await client.post(
                "/telegram/webhook",
                json=update(500 + i, f"m{i}", chat_id=chat),
                headers={HEADER: TG_SECRET},
            )
        await wait_until(lambda: len(fake_telegram.sent()) == 40, timeout=8)
        for rasa in rasas:
            assert rasa.calls  # both instances are used
        for chat in range(1000, 1008):
            sender = f"telegram:{chat}"
            where = {r.name for r in rasas for c in r.calls if c.params["sender"] == sender}
            assert len(where) == 1  # one sender, one instance
            replies = [
                c.params["text"] for c in fake_telegram.sent() if int(c.params["chat_id"]) == chat
            ]
            expected = [f"echo: m{i}" for i in range(40) if 1000 + i % 8 == chat]
            assert replies == expected
    finally:
        for server in servers:
            await server.close()


async def test_handoff_payload_is_recorded_not_sent(gateway, fake_telegram, fake_rasa) -> None:
    handoff = {
        "reason": "user_request",
        "language": "km",
        "summary": "s",
        "topic": None,
        "place_code": None,
    }
    fake_rasa.responder = lambda body: [
        {"text": "A person will answer."},
        {"custom": {"handoff": handoff}},
    ]
    client = await gateway()
    await client.post(
        "/telegram/webhook", json=update(1, "/request_human"), headers={HEADER: TG_SECRET}
    )
    # Rasa's sentence, then the gateway's: which organisation has the request
    await wait_until(lambda: len(fake_telegram.sent()) == 2)
    told = fake_telegram.sent()[1].params["text"]
    assert "ក្រុមការងារ SP4ALL ថ្នាក់ជាតិ" in told  # in words for citizens, not "national pool"
    assert "pool" not in told
    store = client.app[keys.STORE]
    await wait_until_async(lambda: store.chat("telegram", "77"), lambda c: c and c.in_handoff)
    metrics = await (await client.get("/metrics")).text()
    assert 'gateway_handoffs_total{channel="telegram"} 1' in metrics
    assert await store.unrouted_handoffs() == []  # opened: a restart must not open it again


async def test_a_handoff_recorded_before_a_crash_is_opened_at_the_next_start(
    make_settings, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    settings = make_settings()
    # What a gateway that stopped between answering a voice note and opening its handoff
    # leaves behind: the answer and the handoff request, committed in one transaction.
    engine, sessions = create_engine(settings.database_url)
    try:
        await migrate(engine)
        store = Store(sessions, engine.dialect.name)
        voice = InboundMessage(
            channel="telegram",
            external_id="9",
            chat_id="77",
            kind=InboundKind.MEDIA,
            language="km",
            meta={"media": "voice"},
        )
        await store.ingest(voice)
        inbound = await store.first_pending_inbound("telegram", "77")
        assert inbound is not None
        request = HandoffRequest(
            channel="telegram", chat_id="77", reason="voice_note", summary="A voice message."
        )
        record = handoff_record(request, pause_rasa=True)
        await store.complete_inbound(inbound, InboundStatus.TO_AGENT, [record])
    finally:
        await engine.dispose()
    admin = Viewer(agent_id=0, organisation_id=0, role="admin", display_name="test")
    for start_number in (1, 2):
        client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
        await client.start_server()
        try:
            store = client.app[keys.STORE]
            if start_number == 1:
                await wait_until(lambda: len(fake_telegram.sent()) == 1)
                assert await store.unrouted_handoffs() == []
                # stop once the notice is recorded as sent (a stop between the platform's
                # answer and that record sends it again: at least once, by design)
                pending = functools.partial(store.pending_outbound, "telegram", "77")
                await wait_until_async(pending, not_)
            else:  # the request is not opened twice: give the worker its first scan
                await asyncio.sleep(IDLE_POLL_S)
            [view] = await client.app[HANDOFFS].queue(admin)
            assert (view.reason, view.chat_id) == ("voice_note", "77")
            chat = await store.chat("telegram", "77")
            assert chat is not None
            assert chat.in_handoff
        finally:
            await client.close()
    [notice] = fake_telegram.sent()
    assert "ក្រុមការងារ SP4ALL ថ្នាក់ជាតិ" in notice.params["text"]  # who will answer, once
    assert fake_rasa.events == [("telegram:77", {"event": "pause"})]


async def test_worker_does_not_spin_while_rasa_is_thinking(gateway, fake_telegram, fake_rasa):
    fake_rasa.delay_s = 1.0
    client = await gateway()
    store = client.app[keys.STORE]
    calls = 0
    original = store.due_chats

    async def counting(now: float, limit: int):
        nonlocal calls
        calls += 1
        return await original(now, limit)

    store.due_chats = counting
    await client.post("/telegram/webhook", json=update(1, "hi"), headers={HEADER: TG_SECRET})
    await wait_until(lambda: len(fake_telegram.sent()) == 1, timeout=5)
    assert calls <= 6  # a wake-up per event and the 1 s safety poll, not a busy loop


async def many_chats_write(
    client: TestClient[Any, Any], n: int, first_update: int, first_chat: int
) -> None:
    """n different chats each send one message, all posted before any is answered."""
    for i in range(n):
        await client.post(
            "/telegram/webhook",
            json=update(first_update + i, f"m{i}", chat_id=first_chat + i),
            headers={HEADER: TG_SECRET},
        )


async def test_requests_in_flight_per_rasa_instance_are_capped(gateway, fake_telegram, fake_rasa):
    fake_rasa.delay_s = 0.2
    client = await gateway(rasa_max_in_flight=3)
    await many_chats_write(client, 12, first_update=900, first_chat=2000)
    await wait_until(lambda: len(fake_telegram.sent()) == 12, timeout=10)
    assert fake_rasa.max_in_flight == 3  # 12 chats at once, never more than 3 at Rasa


async def test_messages_reach_rasa_on_connections_opened_ahead_of_time(
    gateway, fake_telegram, fake_rasa
):
    """A busy Rasa is slow to accept new connections (measured: some first messages waited
    10 s), so the gateway opens one per possible request at start and citizens' messages
    travel on those, never on a connection opened in a hurry."""
    client = await gateway(rasa_max_in_flight=4)
    await wait_until(lambda: fake_rasa.hellos >= 4, timeout=5)
    assert len(fake_rasa.hello_peers) == 4  # four connections, opened concurrently
    fake_rasa.delay_s = 0.1
    await many_chats_write(client, 8, first_update=950, first_chat=3000)
    await wait_until(lambda: len(fake_telegram.sent()) == 8, timeout=10)
    assert len(fake_rasa.webhook_peers) == 8
    assert set(fake_rasa.webhook_peers) <= fake_rasa.hello_peers


async def test_typing_shows_only_while_a_slow_answer_is_coming(gateway, fake_telegram, fake_rasa):
    """Telegram asks for chat actions only when the answer takes noticeable time."""
    client = await gateway(typing_after_s=0.3)
    await client.post("/telegram/webhook", json=update(960, "hi"), headers={HEADER: TG_SECRET})
    await wait_until(lambda: len(fake_telegram.sent()) == 1, timeout=5)
    assert fake_telegram.sent("sendChatAction") == []  # a quick answer needs no "typing..."

    fake_rasa.delay_s = 0.8
    await client.post("/telegram/webhook", json=update(961, "slow"), headers={HEADER: TG_SECRET})
    await wait_until(lambda: len(fake_telegram.sent()) == 2, timeout=5)
    actions = fake_telegram.sent("sendChatAction")
    assert [a.params["action"] for a in actions] == ["typing"]
    methods = [c.method for c in fake_telegram.calls if c.method != "getMe"]
    assert methods[-2:] == ["sendChatAction", "sendMessage"]  # typing before, never after
