"""Real Rasa behind the gateway: Telegram and Messenger, Khmer and English, both databases."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

import httpx

from bot.channels._texts import gateway_text
from tests.bot.gateway_fakes import FB_SECRET, TG_SECRET, FakeGraph, FakeTelegram, wait_until

HEADER = "X-Telegram-Bot-Api-Secret-Token"
KHMER = re.compile("[\u1780-\u17ff]")
ANSWER_TIMEOUT_S = 60.0


def tg_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Test"},
            "text": text,
        },
    }


def replies_to(fake: FakeTelegram, chat_id: int) -> list[dict[str, Any]]:
    return [c.params for c in fake.sent() if int(c.params["chat_id"]) == chat_id]


async def test_telegram_khmer_and_english_through_real_rasa(
    database_url: str, real_rasa, gateway, fake_telegram: FakeTelegram
) -> None:
    client = await gateway(
        rasa_urls=real_rasa.urls, database_url=database_url, rasa_timeout_s=30.0
    )
    km_chat, en_chat = 7001, 7002
    for update_id, chat, text in ((1, km_chat, "សួស្តី"), (2, en_chat, "Hello")):
        resp = await client.post(
            "/telegram/webhook", json=tg_update(update_id, chat, text), headers={HEADER: TG_SECRET}
        )
        assert resp.status == 200
    await wait_until(
        lambda: replies_to(fake_telegram, km_chat) and replies_to(fake_telegram, en_chat),
        timeout=ANSWER_TIMEOUT_S,
    )
    km_text = " ".join(r["text"] for r in replies_to(fake_telegram, km_chat))
    en_text = " ".join(r["text"] for r in replies_to(fake_telegram, en_chat))
    assert KHMER.search(km_text), km_text
    assert not KHMER.search(en_text), en_text
    assert re.search("[A-Za-z]{3}", en_text)
    # real answers, not the gateway's own "could not answer" / "delayed" notices
    for name in ("no_reply", "delayed"):
        assert gateway_text(name, "km") not in km_text
        assert gateway_text(name, "en") not in en_text
    # production profile: the tracker store is shared, every instance sees the conversation
    async with httpx.AsyncClient(timeout=10) as http:
        for url in real_rasa.urls:
            tracker = (await http.get(f"{url}/conversations/telegram:{km_chat}/tracker")).json()
            user_events = [e for e in tracker["events"] if e["event"] == "user"]
            assert user_events[0]["text"] == "សួស្តី"
            assert user_events[0]["input_channel"] == "telegram"
            assert user_events[0]["metadata"]["language"] == "km"


async def test_telegram_menu_buttons_and_callback_through_real_rasa(
    real_rasa, gateway, fake_telegram: FakeTelegram
) -> None:
    client = await gateway(rasa_urls=real_rasa.urls, rasa_timeout_s=30.0)
    chat = 7003
    await client.post(
        "/telegram/webhook", json=tg_update(10, chat, "/ask_menu"), headers={HEADER: TG_SECRET}
    )
    await wait_until(
        lambda: any("reply_markup" in r for r in replies_to(fake_telegram, chat)),
        timeout=ANSWER_TIMEOUT_S,
    )
    keyboard = next(
        r["reply_markup"] for r in replies_to(fake_telegram, chat) if "reply_markup" in r
    )["inline_keyboard"]
    assert all(len(row[0]["callback_data"].encode()) <= 64 for row in keyboard)
    before = len(replies_to(fake_telegram, chat))
    tap = {
        "update_id": 11,
        "callback_query": {
            "id": "cq-e2e",
            "chat_instance": "ci",
            "from": {"id": chat, "is_bot": False, "first_name": "Test"},
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": {"id": chat, "type": "private"},
                "text": "menu",
            },
            "data": keyboard[-1][0]["callback_data"],
        },
    }  # the language-switch button is last
    assert (
        await client.post("/telegram/webhook", json=tap, headers={HEADER: TG_SECRET})
    ).status == 200
    await wait_until(
        lambda: len(replies_to(fake_telegram, chat)) > before, timeout=ANSWER_TIMEOUT_S
    )
    await wait_until(lambda: fake_telegram.sent("answerCallbackQuery"), timeout=5)


def signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    digest = hmac.new(FB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def test_messenger_khmer_and_english_through_real_rasa(
    real_rasa, gateway, fake_graph: FakeGraph
) -> None:
    client = await gateway(rasa_urls=real_rasa.urls, rasa_timeout_s=30.0)
    body = {
        "object": "page",
        "entry": [
            {
                "id": "PAGE",
                "time": 1,
                "messaging": [
                    {
                        "sender": {"id": "psid-km"},
                        "recipient": {"id": "PAGE"},
                        "timestamp": 1,
                        "message": {"mid": "mid-km-1", "text": "សួស្តី"},
                    }
                ],
            },
            {
                "id": "PAGE",
                "time": 2,
                "messaging": [
                    {
                        "sender": {"id": "psid-en"},
                        "recipient": {"id": "PAGE"},
                        "timestamp": 2,
                        "message": {"mid": "mid-en-1", "text": "Hello"},
                    }
                ],
            },
        ],
    }
    raw, headers = signed(body)
    assert (await client.post("/messenger/webhook", data=raw, headers=headers)).status == 200

    def texts(psid: str) -> str:
        return " ".join(
            m["message"].get("text", "")
            for m in fake_graph.messages()
            if m["recipient"]["id"] == psid
        )

    await wait_until(lambda: texts("psid-km") and texts("psid-en"), timeout=ANSWER_TIMEOUT_S)
    assert KHMER.search(texts("psid-km"))
    assert not KHMER.search(texts("psid-en"))
    assert gateway_text("no_reply", "km") not in texts("psid-km")
    assert gateway_text("no_reply", "en") not in texts("psid-en")


async def test_handoff_pauses_and_resumes_real_rasa(
    real_rasa, gateway, fake_telegram: FakeTelegram
) -> None:
    """action_handoff pauses the tracker; a person answers; close resumes it for real."""
    from bot.handoff import HANDOFFS
    from tests.bot.handoff_helpers import add_agent, pool

    client = await gateway(rasa_urls=real_rasa.urls, rasa_timeout_s=30.0)
    service = client.app[HANDOFFS]
    admin = await add_agent(client, await pool(client), "root", "admin")
    chat = 7301

    async def say(update_id: int, text: str) -> None:
        resp = await client.post(
            "/telegram/webhook", json=tg_update(update_id, chat, text), headers={HEADER: TG_SECRET}
        )
        assert resp.status == 200

    await say(1, "ខ្ញុំចង់និយាយជាមួយមនុស្សពិតប្រាកដ")
    await wait_until(lambda: len(replies_to(fake_telegram, chat)) >= 2, timeout=ANSWER_TIMEOUT_S)
    [view] = await service.queue(admin)
    assert view.reason == "user_request"
    assert view.language == "km"
    sender = f"telegram:{chat}"
    async with httpx.AsyncClient(timeout=10) as http:
        url = f"{real_rasa.urls[0]}/conversations/{sender}/tracker"
        assert (await http.get(url)).json()["paused"] is True  # action_handoff paused it

        before = len(replies_to(fake_telegram, chat))
        await say(2, "សួស្តី")  # goes to the person: no answer from the assistant
        await service.note(admin, view.id, "seen")
        assert len(replies_to(fake_telegram, chat)) == before

        await service.close(admin, view.id)
        assert (await http.get(url)).json()["paused"] is False  # resumed through the API
    await wait_until(
        lambda: len(replies_to(fake_telegram, chat)) >= before + 2, timeout=ANSWER_TIMEOUT_S
    )
    answered = len(replies_to(fake_telegram, chat))
    await say(3, "សួស្តី")
    await wait_until(
        lambda: len(replies_to(fake_telegram, chat)) > answered, timeout=ANSWER_TIMEOUT_S
    )
    greeting = replies_to(fake_telegram, chat)[answered]["text"]
    assert KHMER.search(greeting), greeting
    assert gateway_text("no_reply", "km") not in greeting  # Rasa answered, not the gateway
    # ... as a greeting: the policies followed the turn, no core fallback (action_clarify)
    async with httpx.AsyncClient(timeout=10) as http:
        events = (await http.get(url)).json()["events"]
    last_user = max(i for i, e in enumerate(events) if e["event"] == "user")
    assert events[last_user]["parse_data"]["intent"]["name"] == "greet"
    actions = [e["name"] for e in events[last_user:] if e["event"] == "action"]
    assert "action_clarify" not in actions, actions
