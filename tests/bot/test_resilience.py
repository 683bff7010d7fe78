"""Rasa down or slow, platform limits, restarts: nothing is lost, nothing is duplicated."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot import create_app, keys
from tests.bot.gateway_fakes import (
    TG_SECRET,
    FakeRasa,
    FakeTelegram,
    start,
    wait_until,
    wait_until_async,
)

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
    assert "SP4ALL national pool" in fake_telegram.sent()[1].params["text"]
    store = client.app[keys.STORE]
    await wait_until_async(lambda: store.chat("telegram", "77"), lambda c: c and c.in_handoff)
    metrics = await (await client.get("/metrics")).text()
    assert 'gateway_handoffs_total{channel="telegram"} 1' in metrics


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


async def test_requests_in_flight_per_rasa_instance_are_capped(gateway, fake_telegram, fake_rasa):
    fake_rasa.delay_s = 0.2
    client = await gateway(rasa_max_in_flight=3)
    for i in range(12):
        await client.post(
            "/telegram/webhook",
            json=update(900 + i, f"m{i}", chat_id=2000 + i),
            headers={HEADER: TG_SECRET},
        )
    await wait_until(lambda: len(fake_telegram.sent()) == 12, timeout=10)
    assert fake_rasa.max_in_flight == 3  # 12 chats at once, never more than 3 at Rasa
