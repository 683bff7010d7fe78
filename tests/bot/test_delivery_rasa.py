"""Rasa exactly once: a message a dead process left at Rasa is looked up in the tracker."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot import create_app
from bot.rasa._client import MESSAGE_ID_KEY
from bot.storage._db import create_engine
from bot.storage._migrate import migrate
from bot.storage._models import InboundKind, InboundMessage
from bot.storage._store import Store, TurnStart
from tests.bot.gateway_fakes import TG_SECRET, FakeRasa, FakeTelegram, bot_event, wait_until

SENDER = "telegram:77"


async def left_at_rasa_by_a_dead_process(url: str) -> None:
    """What a process killed while Rasa answered leaves: the message committed at_rasa,
    the chat's lease held by it and expired."""
    engine, sessions = create_engine(url)
    try:
        await migrate(engine)
        dead = Store(sessions, engine.dialect.name, owner="dead-host:1:0")
        await dead.ingest(
            InboundMessage(
                channel="telegram",
                external_id="5",
                chat_id="77",
                kind=InboundKind.TEXT,
                text="q",
                language="en",
            )
        )
        inbound, _chat, _more = await dead.next_inbound("telegram", "77")
        assert inbound is not None
        assert await dead.begin_turn(inbound, time.time() - 1, at_rasa=True) == TurnStart.OURS
    finally:
        await engine.dispose()


async def run_gateway(settings: Any, fake_telegram: FakeTelegram) -> None:
    client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await client.start_server()
    try:
        await wait_until(lambda: len(fake_telegram.sent()) >= 1, timeout=10)
    finally:
        await client.close()


async def test_rasa_already_has_it_its_answer_is_taken_from_the_tracker(
    make_settings, database_url: str, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    await left_at_rasa_by_a_dead_process(database_url)
    fake_rasa.trackers[SENDER] = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "q", "metadata": {MESSAGE_ID_KEY: "telegram:5"}},
        bot_event({"text": "from the tracker", "buttons": [{"title": "A", "payload": "/a"}]}),
        {"event": "action", "name": "action_listen"},
    ]
    await run_gateway(make_settings(database_url=database_url), fake_telegram)
    [reply] = fake_telegram.sent()
    assert reply.params["text"] == "from the tracker"
    assert "reply_markup" in reply.params  # the buttons came back too
    assert fake_rasa.tracker_reads == [SENDER]
    assert [c for c in fake_rasa.calls if c.method == "webhook"] == []  # not fed again
    assert len(fake_rasa.user_messages(SENDER)) == 1


async def test_rasa_never_got_it_it_is_sent_once(
    make_settings, database_url: str, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    await left_at_rasa_by_a_dead_process(database_url)
    fake_rasa.trackers[SENDER] = [
        {"event": "user", "text": "older", "metadata": {MESSAGE_ID_KEY: "telegram:4"}},
        bot_event({"text": "an older answer"}),
    ]
    await run_gateway(make_settings(database_url=database_url), fake_telegram)
    assert [c.params["text"] for c in fake_telegram.sent()] == ["echo: q"]
    assert fake_rasa.tracker_reads == [SENDER]
    [fed] = [c.params for c in fake_rasa.calls if c.method == "webhook"]
    assert fed["metadata"][MESSAGE_ID_KEY] == "telegram:5"
    assert [e["text"] for e in fake_rasa.user_messages(SENDER)] == ["older", "q"]


async def test_a_plain_message_is_fed_without_reading_the_tracker(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    client = await gateway()
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1,
            "chat": {"id": 77, "type": "private"},
            "text": "hi",
        },
    }
    await client.post(
        "/telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    assert fake_rasa.tracker_reads == []  # one GET per message would cost CPU and Rasa time
    [user] = fake_rasa.user_messages(SENDER)
    assert user["metadata"][MESSAGE_ID_KEY] == "telegram:1"
