"""Telegram end to end against the fake Bot API and fake Rasa: webhook -> Rasa -> sendMessage."""

from __future__ import annotations

from typing import Any

from bot import keys
from bot.handoff import HANDOFFS
from tests.bot.gateway_fakes import TG_SECRET, FakeRasa, FakeTelegram, wait_until, wait_until_async

HEADER = "X-Telegram-Bot-Api-Secret-Token"


def text_update(update_id: int, text: str, chat_id: int = 1001) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Sokha"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Sokha"},
            "text": text,
        },
    }


async def test_khmer_text_reaches_rasa_and_reply_reaches_telegram(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    client = await gateway(typing_after_s=0)  # "typing..." at once (default: slow answers)
    resp = await client.post(
        "/telegram/webhook", json=text_update(1, "សួស្តី"), headers={HEADER: TG_SECRET}
    )
    assert resp.status == 200
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    call = fake_rasa.calls[0].params
    assert call["sender"] == "telegram:1001"
    assert call["message"] == "សួស្តី"
    assert call["input_channel"] == "telegram"
    assert call["metadata"]["language"] == "km"
    sent = fake_telegram.sent()[0].params
    assert sent["text"] == "echo: សួស្តី"
    assert sent["parse_mode"] == "HTML"
    assert int(sent["chat_id"]) == 1001
    assert fake_telegram.sent("sendChatAction")  # typing indicator while Rasa thinks


async def test_english_text_and_html_is_escaped(gateway, fake_telegram, fake_rasa) -> None:
    client = await gateway()
    await client.post(
        "/telegram/webhook", json=text_update(2, "Hi <b> & you"), headers={HEADER: TG_SECRET}
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    assert fake_rasa.calls[0].params["metadata"]["language"] == "en"
    assert fake_telegram.sent()[0].params["text"] == "echo: Hi &lt;b&gt; &amp; you"


async def test_buttons_become_inline_keyboard_and_callback_maps_back(
    gateway, fake_telegram, fake_rasa
) -> None:
    client = await gateway()
    await client.post(
        "/telegram/webhook", json=text_update(3, "/menu"), headers={HEADER: TG_SECRET}
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    markup = fake_telegram.sent()[0].params["reply_markup"]
    rows = markup["inline_keyboard"]
    assert [r[0]["text"] for r in rows] == ["English", "ប័ណ្ណសមធម៌"]
    data = rows[0][0]["callback_data"]
    assert len(data.encode()) <= 64
    callback = {
        "update_id": 4,
        "callback_query": {
            "id": "cq-1",
            "chat_instance": "ci",
            "from": {"id": 1001, "is_bot": False, "first_name": "Sokha"},
            "message": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": 1001, "type": "private"},
                "text": "Menu",
            },
            "data": data,
        },
    }
    resp = await client.post("/telegram/webhook", json=callback, headers={HEADER: TG_SECRET})
    assert resp.status == 200
    await wait_until(lambda: len(fake_telegram.sent()) == 2)
    assert fake_rasa.calls[-1].params["message"] == '/switch_language{"language": "en"}'
    # the button's spinner is stopped
    await wait_until(lambda: len(fake_telegram.sent("answerCallbackQuery")) == 1)
    assert fake_telegram.sent("answerCallbackQuery")[0].params["callback_query_id"] == "cq-1"
    # the conversation moved on: the menu's buttons are taken off, so they cannot be
    # tapped again (the answer to the tap has no buttons of its own to retire later)
    await wait_until(lambda: len(fake_telegram.sent("editMessageReplyMarkup")) == 1)
    [edit] = fake_telegram.sent("editMessageReplyMarkup")
    assert (str(edit.params["chat_id"]), str(edit.params["message_id"])) == ("1001", "1")
    assert "reply_markup" not in edit.params


async def test_long_reply_is_split_under_4096(gateway, fake_telegram, fake_rasa) -> None:
    long_text = ("ក" * 50 + "\u200b") * 200  # 10,200 characters of Khmer, ZWSP-separated
    fake_rasa.responder = lambda body: [{"text": long_text}]
    client = await gateway()
    await client.post(
        "/telegram/webhook", json=text_update(5, "long"), headers={HEADER: TG_SECRET}
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 3)
    texts = [c.params["text"] for c in fake_telegram.sent()]
    assert all(len(t) <= 4096 for t in texts)
    assert "".join(texts).replace("\u200b", "") == long_text.replace("\u200b", "")


async def test_location_share_goes_with_coordinates_and_nearest_commune(
    gateway, fake_telegram, fake_rasa
) -> None:
    client = await gateway()
    update = text_update(6, "x")
    del update["message"]["text"]
    update["message"]["location"] = {"latitude": 11.5564, "longitude": 104.9282}
    await client.post("/telegram/webhook", json=update, headers={HEADER: TG_SECRET})
    await wait_until(lambda: len(fake_rasa.calls) == 1)
    meta = fake_rasa.calls[0].params["metadata"]
    assert meta["location"] == {"latitude": 11.5564, "longitude": 104.9282}
    assert meta["place_code"] == "120101"
    assert meta["commune"]["name_latin"] == "Tonle Basak"
    assert fake_rasa.calls[0].params["message"] == "/inform_place"


async def test_voice_note_goes_to_a_person(gateway, fake_telegram, fake_rasa) -> None:
    from bot import keys
    from bot.handoff import Viewer

    client = await gateway()
    update = text_update(7, "x")
    del update["message"]["text"]
    update["message"]["voice"] = {"file_id": "v1", "file_unique_id": "u1", "duration": 4}
    resp = await client.post("/telegram/webhook", json=update, headers={HEADER: TG_SECRET})
    assert resp.status == 200
    await wait_until(lambda: len(fake_telegram.sent()) == 2)
    assert fake_rasa.calls == []  # Rasa cannot read a voice note
    ack, queued = (c.params["text"] for c in fake_telegram.sent())
    assert "សំឡេង" in ack  # Khmer first: "voice"
    assert "បុគ្គលិក" in queued  # "a staff member will reply"
    # the gateway paused Rasa's tracker itself: Rasa never saw this message
    assert fake_rasa.events == [("telegram:1001", {"event": "pause"})]
    store = client.app[keys.STORE]
    chat = await store.chat("telegram", "1001")
    assert chat is not None
    assert chat.in_handoff
    admin = Viewer(agent_id=0, organisation_id=0, role="admin", display_name="test")
    [view] = await client.app[HANDOFFS].queue(admin)
    assert (view.reason, view.channel, view.chat_id) == ("voice_note", "telegram", "1001")


async def test_duplicate_delivery_is_answered_once(gateway, fake_telegram, fake_rasa) -> None:
    client = await gateway()
    for _ in range(3):
        resp = await client.post(
            "/telegram/webhook", json=text_update(8, "hello"), headers={HEADER: TG_SECRET}
        )
        assert resp.status == 200
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    body = await (
        await client.post(
            "/telegram/webhook", json=text_update(8, "hello"), headers={HEADER: TG_SECRET}
        )
    ).json()
    assert body["duplicate"] is True
    assert len(fake_rasa.calls) == 1


async def test_messages_of_one_chat_are_answered_in_order(gateway, fake_telegram, fake_rasa):
    client = await gateway()
    for i in range(10):
        await client.post(
            "/telegram/webhook", json=text_update(100 + i, f"m{i}"), headers={HEADER: TG_SECRET}
        )
    await wait_until(lambda: len(fake_telegram.sent()) == 10)
    assert [c.params["text"] for c in fake_telegram.sent()] == [f"echo: m{i}" for i in range(10)]


async def test_set_webhook_is_an_explicit_command_not_done_at_start(gateway, fake_telegram):
    await gateway()
    assert fake_telegram.sent("setWebhook") == []
    assert fake_telegram.sent("getMe")  # PTB initialises the bot


async def test_blocked_bot_marks_chat_inactive(gateway, fake_telegram, fake_rasa) -> None:
    fake_telegram.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    client = await gateway()
    await client.post("/telegram/webhook", json=text_update(9, "hi"), headers={HEADER: TG_SECRET})
    await wait_until(lambda: len(fake_telegram.sent("sendMessage:failed")) == 1)
    store = client.app[keys.STORE]
    await wait_until_async(lambda: store.chat("telegram", "1001"), lambda c: c and not c.active)


async def test_429_retry_after_is_honoured(gateway, fake_telegram, fake_rasa) -> None:
    fake_telegram.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    client = await gateway()
    await client.post("/telegram/webhook", json=text_update(10, "hi"), headers={HEADER: TG_SECRET})
    await wait_until(lambda: len(fake_telegram.sent()) == 1, timeout=5)
    failed_at = fake_telegram.sent("sendMessage:failed")[0].at
    assert fake_telegram.sent()[0].at - failed_at >= 0.95


async def test_polling_mode_for_local_development(gateway, fake_telegram, fake_rasa) -> None:
    fake_telegram.updates.append(text_update(300, "polled"))
    await gateway(telegram_polling=True)
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    assert fake_telegram.sent()[0].params["text"] == "echo: polled"
    polls = fake_telegram.sent("getUpdates")
    assert polls[0].params["allowed_updates"] == [
        "message",
        "edited_message",
        "callback_query",
        "my_chat_member",
    ]
    await wait_until(
        lambda: any(
            int(c.params.get("offset", 0)) == 301 for c in fake_telegram.sent("getUpdates")
        )
    )
    assert len(fake_rasa.calls) == 1  # the next poll's offset acknowledges the update


async def test_full_flow_on_both_databases(database_url, gateway, fake_telegram, fake_rasa):
    client = await gateway(database_url=database_url)
    for i, text in enumerate(["សួស្តី", "Hello", "សួស្តី"]):
        await client.post(
            "/telegram/webhook", json=text_update(400 + i % 2, text), headers={HEADER: TG_SECRET}
        )
    await wait_until(lambda: len(fake_telegram.sent()) == 2)
    assert [c.params["text"] for c in fake_telegram.sent()] == ["echo: សួស្តី", "echo: Hello"]
    health = await (await client.get("/healthz")).json()
    assert health["database"] == "ok"
    assert health["inbound_pending"] == 0

