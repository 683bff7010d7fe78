"""Subscriptions in chat through the real gateway: a Khmer (web chat) and an English
(Telegram) conversation subscribe by commune, receive an approved announcement and an
alert for their commune (not one for another province), then stop with ឈប់ / STOP."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from bot.channels._messenger import parse_events
from bot.dissemination import DISSEMINATION, Person, Topic
from bot.dissemination._chat import STOP_WORDS, fold
from bot.dissemination._numbers import cambodian_mobile, masked
from bot.storage._models import InboundKind
from tests.bot.console_helpers import tg_update
from tests.bot.gateway_fakes import TG_SECRET, FakeGraph, FakeRasa, FakeTelegram, wait_until
from tests.bot.test_messenger_flow import event, page, signed

HEADER = "X-Telegram-Bot-Api-Secret-Token"
SESSION = "session-khmer-0001"
AUTHOR = Person(agent_id=1, role="ministry_editor", org_kind="ministry")
SECRETARIAT = Person(agent_id=2, role="secretariat_reviewer", org_kind="secretariat")
FIXTURES = Path(__file__).parent / "data"
KNOWLEDGE_GAZETTEER = Path(__file__).resolve().parents[2] / "knowledge" / "gazetteer"


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


# --- a shared location as the place, and the same news by SMS or voice call ---------------

# Sangkat Phsar Chhnang, Krong Kampong Chhnang: its centre in the gazetteer's source (pumi's
# communes.yml, which knowledge/gazetteer/communes.yml reduces without the coordinates), and
# its neighbour Sangkat Kampong Chhnang 3 km south.
PHSAR_CHHNANG = """
  '040301':
    administrative_unit: {km: សង្កាត់, latin: Sangkat}
    name: {km: ផ្សារឆ្នាំង, latin: Phsar Chhnang}
    geodata: {lat: 12.2679871, long: 104.6809852}
  '040302':
    administrative_unit: {km: សង្កាត់, latin: Sangkat}
    name: {km: កំពង់ឆ្នាំង, latin: Kampong Chhnang}
    geodata: {lat: 12.2367105, long: 104.6701824}
"""
NEAR_THE_MARKET = (12.2661, 104.6795)  # 250 m from Phsar Chhnang's centre
BANGKOK = (13.7563, 100.5018)


def gazetteer_with_coordinates(directory: Path) -> Path:
    """The test gazetteer's communes plus two of Kampong Chhnang with their coordinates,
    next to the real provinces and districts (for the unit words)."""
    directory.mkdir(parents=True, exist_ok=True)
    communes = (FIXTURES / "communes.yml").read_text("utf-8").rstrip() + "\n" + PHSAR_CHHNANG
    (directory / "communes.yml").write_text(communes, "utf-8")
    for level in ("provinces", "districts"):
        shutil.copy(KNOWLEDGE_GAZETTEER / f"{level}.yml", directory / f"{level}.yml")
    return directory / "communes.yml"


def location_update(update_id: int, chat_id: int, point: tuple[float, float]) -> Any:
    return tg_update(update_id, chat_id, location=point)


async def tg(client: Any, fake: FakeTelegram, update: dict[str, Any], count: int) -> str:
    """Send a Telegram update; the text of the last of ``count`` messages sent by then."""
    resp = await client.post("/telegram/webhook", json=update, headers={HEADER: TG_SECRET})
    assert resp.status == 200
    await wait_until(lambda: len(fake.sent()) == count)
    return str(fake.sent()[-1].params["text"])


async def test_khmer_location_in_kampong_chhnang_then_sms_typed_in_khmer_digits(
    database_url: str,
    gateway: Any,
    fake_telegram: FakeTelegram,
    fake_rasa: FakeRasa,
    tmp_path: Path,
) -> None:
    client = await gateway(
        database_url=database_url, gazetteer_path=gazetteer_with_coordinates(tmp_path)
    )
    service = client.app[DISSEMINATION]
    chat = 3001
    asked = await tg(client, fake_telegram, text_update(1, "ជាវ", chat), 1)
    assert "ឃុំ/សង្កាត់" in asked
    # the location: its commune named in Khmer with its district and province, then topics
    await tg(client, fake_telegram, location_update(2, chat, NEAR_THE_MARKET), 3)
    located, topics = (c.params["text"] for c in fake_telegram.sent()[1:3])
    assert "សង្កាត់ផ្សារឆ្នាំង ក្រុងកំពង់ឆ្នាំង ខេត្តកំពង់ឆ្នាំង" in located
    assert "ប្រធានបទ" in topics
    sub = await service.subscriber("telegram", str(chat))
    assert sub is not None
    assert sub.area_code == "040301"
    confirmed = await tg(
        client, fake_telegram, tap(3, button_data(fake_telegram, "រួចរាល់"), chat), 4
    )
    assert "ការព្រមានគ្រោះអាសន្ន សម្រាប់ ផ្សារឆ្នាំង" in confirmed
    # also by SMS: the number as typed, in Khmer digits with spaces
    ask = await tg(client, fake_telegram, tap(4, button_data(fake_telegram, "SMS"), chat), 5)
    assert "លេខទូរសព្ទ" in ask
    assert "PIN" in ask  # we never ask for one, and say so
    done = await tg(client, fake_telegram, text_update(5, "០១២ ៣៤៥ ៦៧៨", chat), 6)
    assert "+855 ••• ••• 678" in done
    assert "12345678" not in done.replace(" ", "")
    assert "ឯកជនភាព" in done
    assert "ឈប់" in done
    phone = await service.subscriber("sms", "+85512345678")
    assert phone is not None
    assert phone.active
    assert (phone.area_code, phone.language, phone.topics) == ("040301", "km", ["emergency"])
    # the chat's own subscription is unchanged, its dialogue finished
    sub = await service.subscriber("telegram", str(chat))
    assert sub is not None
    assert sub.active
    assert sub.state is None
    assert fake_rasa.calls == []
    # with no question about the place waiting, a location goes to Rasa as before
    await client.post(
        "/telegram/webhook",
        json=location_update(6, chat, NEAR_THE_MARKET),
        headers={HEADER: TG_SECRET},
    )
    await wait_until(lambda: len(fake_rasa.calls) == 1)
    assert fake_rasa.calls[0].params["message"] == "/inform_place"
    assert fake_rasa.calls[0].params["metadata"]["place_code"] == "040301"


async def test_english_location_abroad_then_a_voice_call_number_with_plus_855(
    gateway: Any, fake_telegram: FakeTelegram, fake_rasa: FakeRasa, tmp_path: Path
) -> None:
    client = await gateway(gazetteer_path=gazetteer_with_coordinates(tmp_path))
    service = client.app[DISSEMINATION]
    chat = 3002
    await tg(client, fake_telegram, text_update(1, "subscribe", chat), 1)
    abroad = await tg(client, fake_telegram, location_update(2, chat, BANGKOK), 2)
    assert "outside Cambodia" in abroad
    assert "type the name" in abroad
    topics = await tg(client, fake_telegram, text_update(3, "Phsar Chhnang", chat), 3)
    assert "What would you like to receive?" in topics
    confirmed = await tg(
        client, fake_telegram, tap(4, button_data(fake_telegram, "Done"), chat), 4
    )
    assert "for Phsar Chhnang" in confirmed
    ask = await tg(
        client, fake_telegram, tap(5, button_data(fake_telegram, "voice call"), chat), 5
    )
    assert "phone call that reads these messages out" in ask
    assert "never ask for a PIN" in ask
    for n, wrong in enumerate(("12345", "+66 81 234 5678", "012 345", "0123 456 789 01"), 6):
        refused = await tg(client, fake_telegram, text_update(n, wrong, chat), n)
        assert "not a Cambodian mobile number" in refused
    done = await tg(client, fake_telegram, text_update(10, "+855 12-345-678", chat), 10)
    assert "+855 ••• ••• 678 will get phone calls: emergency alerts for Phsar Chhnang" in done
    assert "Privacy" in done
    assert "STOP" in done
    voice = await service.subscriber("voice", "+85512345678")
    assert voice is not None
    assert (voice.active, voice.language, voice.area_code) == (True, "en", "040301")
    assert await service.subscriber("sms", "+85512345678") is None
    # from "my subscriptions" too; a question instead of a number goes to Rasa
    await tg(client, fake_telegram, text_update(11, "my subscriptions", chat), 11)
    await tg(client, fake_telegram, tap(12, button_data(fake_telegram, "SMS"), chat), 12)
    await client.post(
        "/telegram/webhook",
        json=text_update(13, "when is the next payment?", chat),
        headers={HEADER: TG_SECRET},
    )
    await wait_until(lambda: len(fake_rasa.calls) == 1)
    sub = await service.subscriber("telegram", str(chat))
    assert sub is not None
    assert sub.state is None


def test_cambodian_numbers_as_people_type_them() -> None:
    expected = "+85512345678"
    for typed in (
        "012 345 678",
        "០១២ ៣៤៥ ៦៧៨",
        "០១២-៣៤៥-៦៧៨",
        "012-345-678",
        "+855 12 345 678",
        "+855 (0)12 345 678",
        "855 12 345 678",
        "00855 12 345 678",
        "+855012345678",
    ):
        assert cambodian_mobile(typed) == expected, typed
    assert cambodian_mobile("097 7123 456") == "+855977123456"  # 9 digits after the 0
    for wrong in (
        "",
        "12345678",
        "012 345",
        "0123 456 789 01",
        "+66 81 234 5678",
        "0066 81 234 5678",
        "000 000 000",
        "phone",
        "012 34x 678",
    ):
        assert cambodian_mobile(wrong) is None, wrong
    assert masked(expected) == "+855 ••• ••• 678"


async def test_a_location_shared_on_messenger_answers_the_place_question(
    gateway: Any, fake_graph: FakeGraph, fake_rasa: FakeRasa, tmp_path: Path
) -> None:
    client = await gateway(gazetteer_path=gazetteer_with_coordinates(tmp_path))
    service = client.app[DISSEMINATION]
    psid = "4001"

    async def send(n: int, count: int, **message: Any) -> dict[str, Any]:
        raw, headers = signed(page([event(psid, f"mid.{n}", **message)]))
        resp = await client.post("/messenger/webhook", data=raw, headers=headers)
        assert resp.status == 200
        await wait_until(lambda: len(fake_graph.messages()) == count)
        return dict(fake_graph.messages()[-1]["message"])

    assert "commune" in (await send(1, 1, text="subscribe"))["text"]
    point = {"coordinates": {"lat": NEAR_THE_MARKET[0], "long": NEAR_THE_MARKET[1]}}
    attachment = {"type": "location", "title": "Pin", "payload": point}
    topics = await send(2, 3, attachments=[attachment])
    located = fake_graph.messages()[-2]["message"]["text"]
    assert "Sangkat Phsar Chhnang, Krong Kampong Chhnang, Khaet Kampong Chhnang" in located
    assert "What would you like to receive?" in topics["text"]
    done = next(q for q in topics["quick_replies"] if q["title"] == "Done")
    confirmed = await send(3, 4, text="Done", quick_reply={"payload": done["payload"]})
    assert "Phsar Chhnang" in confirmed["text"]
    sub = await service.subscriber("messenger", psid)
    assert sub is not None
    assert (sub.active, sub.area_code) == (True, "040301")
    # no question waiting: the location goes to Rasa, as on Telegram
    raw, headers = signed(page([event(psid, "mid.4", attachments=[attachment])]))
    await client.post("/messenger/webhook", data=raw, headers=headers)
    await wait_until(lambda: len(fake_rasa.calls) == 1)
    assert fake_rasa.calls[0].params["message"] == "/inform_place"
    assert fake_rasa.calls[0].params["metadata"]["location"]["latitude"] == NEAR_THE_MARKET[0]


def test_only_a_valid_messenger_location_is_a_location() -> None:
    def parsed(coordinates: Any) -> Any:
        attachment = {"type": "location", "payload": {"coordinates": coordinates}}
        (message,) = parse_events(page([event("4001", "mid.1", attachments=[attachment])]))
        return message

    good = parsed({"lat": 12.2661, "long": 104.6795})
    assert good.kind == InboundKind.LOCATION
    assert good.meta == {"location": {"latitude": 12.2661, "longitude": 104.6795}}
    for wrong in (
        {"lat": 10**400, "long": 104.6},  # would overflow a float
        {"lat": float("nan"), "long": 104.6},
        {"lat": True, "long": 104.6},
        {"lat": "12.2", "long": 104.6},
        {"lat": 91, "long": 104.6},
        {"lat": 12.2},
        None,
    ):
        assert parsed(wrong).kind == InboundKind.MEDIA, wrong


def test_the_shipped_gazetteer_places_a_shared_location() -> None:
    """The gazetteer's YAML copy keeps names only: positions come from the commune points
    shipped with the alerts, so a location shared in chat finds its commune in production."""
    from bot.channels._geo import load_communes, nearest_commune
    from bot.dissemination._chat import Places

    gazetteer = Path(__file__).resolve().parents[2] / "knowledge" / "gazetteer"
    places = Places.load(gazetteer)
    assert len(places.communes) > 1000
    found = nearest_commune(12.2527, 104.6648, places.communes)  # B'er, Kampong Chhnang
    assert found is not None
    assert found[0].code == "040303"
    assert found[0].name_km == "ប្អេរ"
    gateway_communes = load_communes(gazetteer / "communes.yml")
    assert {c.code for c in gateway_communes} == {c.code for c in places.communes}


async def test_a_subscription_tap_read_twice_changes_it_once(
    database_url: str, gateway: Any, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    """Two gateway processes may read the same message before one of them leases the
    chat: the subscription dialogue acts only under the lease (a topic tapped once is
    toggled once, not toggled back by the process that lost)."""
    from sqlalchemy import select

    from bot import keys
    from bot.conversation import PIPELINE
    from bot.storage._db import Inbound

    client = await gateway(database_url=database_url)
    service = client.app[DISSEMINATION]
    await client.post(
        "/telegram/webhook", json=text_update(1, "subscribe"), headers={HEADER: TG_SECRET}
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    await client.post(
        "/telegram/webhook", json=text_update(2, "tonle basak"), headers={HEADER: TG_SECRET}
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 2)
    await client.post(
        "/telegram/webhook",
        json=tap(3, button_data(fake_telegram, "payment dates")),
        headers={HEADER: TG_SECRET},
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 3)
    before = await service.subscriber("telegram", "2001")
    assert before is not None
    assert before.topics == ["emergency", "payments"]
    store = client.app[keys.STORE]
    async with store.reading() as session:
        tapped = (await session.scalars(select(Inbound).order_by(Inbound.id.desc()))).first()
    assert tapped is not None
    assert tapped.text.startswith("/sub_")
    # the process that lost the race reads the tap again: it is answered already
    chat = await store.chat("telegram", "2001")
    assert await client.app[PIPELINE]._answer(tapped, chat, last=True)
    after = await service.subscriber("telegram", "2001")
    assert after is not None
    assert after.topics == ["emergency", "payments"]
    assert len(fake_telegram.sent()) == 3
    assert fake_rasa.calls == []
