"""Subscriptions in chat through the real gateway: a Khmer (web chat) and an English
(Telegram) conversation subscribe by commune, receive an approved announcement and an
alert for their commune (not one for another province), then stop with ឈប់ / STOP."""

from __future__ import annotations

import time
from typing import Any

from bot.dissemination import DISSEMINATION, Person, Topic
from bot.dissemination._chat import STOP_WORDS, fold
from tests.bot.gateway_fakes import TG_SECRET, FakeRasa, FakeTelegram, wait_until

HEADER = "X-Telegram-Bot-Api-Secret-Token"
SESSION = "session-khmer-0001"
AUTHOR = Person(agent_id=1, role="ministry_editor", org_kind="ministry")
SECRETARIAT = Person(agent_id=2, role="secretariat_reviewer", org_kind="secretariat")


def text_update(update_id: int, text: str, chat_id: int = 2001) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Dara"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Dara"},
            "text": text,
        },
    }


def tap(update_id: int, data: str, chat_id: int = 2001) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cq-{update_id}",
            "chat_instance": "ci",
            "from": {"id": chat_id, "is_bot": False, "first_name": "Dara"},
            "message": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": chat_id, "type": "private"},
                "text": "x",
            },
            "data": data,
        },
    }


def button_data(fake: FakeTelegram, title_part: str) -> str:
    markup = fake.sent()[-1].params["reply_markup"]
    for row in markup["inline_keyboard"]:
        if title_part in row[0]["text"]:
            return str(row[0]["callback_data"])
    raise AssertionError(f"no button {title_part!r} in {markup}")


class WebChat:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.seen: list[dict[str, Any]] = []
        self.n = 0

    async def say(self, text: str, *, button: bool = False) -> None:
        self.n += 1
        resp = await self.client.post(
            "/webchat/messages",
            json={"session": SESSION, "id": f"msg-{self.n:08d}", "text": text, "button": button},
        )
        assert resp.status == 202

    async def next(self) -> dict[str, Any]:
        after = str(self.seen[-1]["id"]) if self.seen else "0"
        poll = await self.client.get(
            "/webchat/messages", params={"session": SESSION, "after": after, "wait": "5"}
        )
        messages = (await poll.json())["messages"]
        assert messages, "no answer"
        self.seen.extend(messages)
        return dict(messages[-1])


def test_stop_words_are_whole_messages() -> None:
    assert fold("ឈ\u200bប់") in STOP_WORDS
    assert fold(" ឈប់ ។") in STOP_WORDS
    assert fold("ឈប់ ជាវ") in STOP_WORDS
    assert fold("STOP!") in STOP_WORDS
    assert fold("ឈប់ជក់បារី") not in STOP_WORDS  # "stop smoking": a question for Rasa
    assert fold("stop the payment") not in STOP_WORDS


async def test_subscribe_receive_and_stop_in_khmer_and_english(
    database_url: str,
    gateway: Any,
    fake_telegram: FakeTelegram,
    fake_rasa: FakeRasa,
) -> None:
    client = await gateway(database_url=database_url)
    service = client.app[DISSEMINATION]
    # --- English on Telegram: subscribe, commune by its Latin name, topics, done
    await client.post(
        "/telegram/webhook", json=text_update(1, "subscribe"), headers={HEADER: TG_SECRET}
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    assert "commune, district or province" in fake_telegram.sent()[-1].params["text"]
    await client.post(
        "/telegram/webhook", json=text_update(2, "tonle basak"), headers={HEADER: TG_SECRET}
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 2)
    assert "What would you like to receive?" in fake_telegram.sent()[-1].params["text"]
    assert "✓ emergency alerts" in str(fake_telegram.sent()[-1].params["reply_markup"])
    await client.post(
        "/telegram/webhook",
        json=tap(3, button_data(fake_telegram, "payment dates")),
        headers={HEADER: TG_SECRET},
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 3)
    await client.post(
        "/telegram/webhook",
        json=tap(4, button_data(fake_telegram, "Done")),
        headers={HEADER: TG_SECRET},
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 4)
    confirmation = fake_telegram.sent()[-1].params["text"]
    assert "emergency alerts, payment dates for Tonle Basak" in confirmation
    assert "Privacy" in confirmation
    assert "STOP" in confirmation
    # --- Khmer on the web chat: ជាវ, the commune in Khmer (with a zero-width space)
    web = WebChat(client)
    await web.say("ជាវ")
    assert "ឃុំ" in (await web.next())["text"]
    await web.say("ឃុំទន្លេ\u200bបាសាក់")
    topics = await web.next()
    assert "ប្រធានបទ" in topics["text"]
    done = next(b for b in topics["buttons"] if b["title"] == "រួចរាល់")
    await web.say(done["payload"], button=True)
    confirmed = await web.next()
    assert "ការព្រមានគ្រោះអាសន្ន សម្រាប់ ទន្លេបាសាក់" in confirmed["text"]
    assert "ឯកជនភាព" in confirmed["text"]
    # none of it reached Rasa
    assert fake_rasa.calls == []
    km = await service.subscriber("webchat", SESSION)
    en = await service.subscriber("telegram", "2001")
    assert km is not None
    assert km.active
    assert km.area_code == "120101"
    assert km.language == "km"
    assert en is not None
    assert en.active
    assert en.topics == ["emergency", "payments"]
    assert en.language == "en"
    # --- an approved announcement (payments) and alerts (emergency)
    announcement = await service.create_draft(
        AUTHOR,
        text_km="ការបើកប្រាក់ថ្ងៃទី១៥ ខែមករា",
        text_en="Payments on 15 January",
        topic=Topic.PAYMENTS,
        area_codes=["12"],
    )
    await service.approve(announcement, SECRETARIAT)
    await service.plan_alert_broadcast(
        cap_identifier="KH-FLOOD-1",
        headline_km="ព្រមានទឹកជំនន់",
        headline_en="Flood warning",
        text_km="ទឹកកំពុងឡើង",
        text_en="The water is rising",
        area_codes=["120101"],
        expires_at=time.time() + 3600,
        severity="Severe",
        urgency="Immediate",
    )
    await service.plan_alert_broadcast(
        cap_identifier="KH-STORM-17",
        headline_km="ព្រមានខ្យល់ព្យុះ",
        headline_en="Storm warning",
        text_km="ខ្យល់ខ្លាំង",
        text_en="Strong wind",
        area_codes=["17"],
        expires_at=None,
        severity="Severe",
        urgency="Immediate",
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 6, timeout=10)
    texts = [c.params["text"] for c in fake_telegram.sent()[4:]]
    assert texts == ["Flood warning\n\nThe water is rising", "Payments on 15 January"]
    alert = await web.next()
    assert alert["text"] == "ព្រមានទឹកជំនន់\n\nទឹកកំពុងឡើង"  # not the payments: not chosen
    # --- stop: ឈប់ on the web chat, STOP on Telegram
    await web.say("ឈប់")
    assert "លែងទទួល" in (await web.next())["text"]
    await client.post(
        "/telegram/webhook", json=text_update(5, "STOP"), headers={HEADER: TG_SECRET}
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 7)
    assert "You will not receive" in fake_telegram.sent()[-1].params["text"]
    km = await service.subscriber("webchat", SESSION)
    en = await service.subscriber("telegram", "2001")
    assert km is not None
    assert not km.active
    assert en is not None
    assert not en.active
    # "stop smoking" is a question for Rasa, not an unsubscription
    await web.say("ឈប់ជក់បារី")
    await wait_until(lambda: len(fake_rasa.calls) == 1)
