"""Human handoff through the real gateway: Telegram -> Rasa's handoff -> the right
organisation's queue -> a person claims, replies, notes, closes -> Rasa answers again.

Fake Bot API and fake Rasa on loopback (the fake Rasa pauses and resumes like Rasa 3.6);
both databases.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import Conflict, NotAllowed, NotFound, keys
from bot._passwords import hash_password, verify_password
from bot.channels._texts import when_text
from bot.handoff import HANDOFFS, PHNOM_PENH, parse_office_hours
from bot.storage._db import Handoff, HandoffEvent, Inbound, InboundStatus, utcnow
from tests.bot.gateway_fakes import (
    TG_SECRET,
    FakeRasa,
    FakeTelegram,
    wait_until,
    wait_until_async,
)
from tests.bot.handoff_helpers import add_agent, add_org, pool

HEADER = "X-Telegram-Bot-Api-Secret-Token"
ASK_PERSON_KM = "ខ្ញុំចង់និយាយជាមួយមនុស្ស"
BATHEAY_VILLAGE = "03010203"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_update_ids = iter(range(1, 10_000))


def text_update(text: str, chat_id: int = 2001) -> dict[str, Any]:
    n = next(_update_ids)
    return {
        "update_id": n,
        "message": {
            "message_id": n,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Sokha"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Sokha"},
            "text": text,
        },
    }


def callback_update(data: str, chat_id: int = 2001) -> dict[str, Any]:
    n = next(_update_ids)
    return {
        "update_id": n,
        "callback_query": {
            "id": f"cq-{n}",
            "chat_instance": "ci",
            "from": {"id": chat_id, "is_bot": False, "first_name": "Sokha"},
            "message": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": chat_id, "type": "private"},
                "text": "x",
            },
            "data": data,
        },
    }


def rasa_with_handoff(
    fake_rasa: FakeRasa, *, place: str | None = BATHEAY_VILLAGE, urgency: str | None = None
) -> None:
    """Rasa answers a request for a person as action_handoff does; anything else: echo."""

    def respond(body: dict[str, Any]) -> list[dict[str, Any]]:
        if body["message"] == ASK_PERSON_KM:
            return [
                {"text": "ខ្ញុំកំពុងបញ្ជូនអ្នកទៅបុគ្គលិកម្នាក់។"},
                {
                    "custom": {
                        "handoff": {
                            "reason": "user_request",
                            "language": "km",
                            "summary": f'Topic: none. Last messages: "{ASK_PERSON_KM}".',
                            "topic": None,
                            "place_code": place,
                            "urgency": urgency,
                        }
                    }
                },
            ]
        return [{"text": f"echo: {body['message']}"}]

    fake_rasa.responder = respond


async def say(client: TestClient[Any, Any], text: str, chat_id: int = 2001) -> None:
    resp = await client.post(
        "/telegram/webhook", json=text_update(text, chat_id), headers={HEADER: TG_SECRET}
    )
    assert resp.status == 200


def texts(fake: FakeTelegram, chat_id: int = 2001) -> list[str]:
    return [str(c.params["text"]) for c in fake.sent() if int(c.params["chat_id"]) == chat_id]


async def test_full_handoff_round_trip(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa, database_url: str
) -> None:
    rasa_with_handoff(fake_rasa)
    client = await gateway(database_url=database_url)
    service = client.app[HANDOFFS]
    batheay = await add_org(client, slug="batheay", name="Batheay CSO", areas=["0301"])
    other = await add_org(client, slug="pp", name="Phnom Penh CSO", areas=["12"])
    sokha = await add_agent(client, batheay, "sokha")
    dara = await add_agent(client, other, "dara")

    await say(client, ASK_PERSON_KM)
    await wait_until(lambda: len(texts(fake_telegram)) == 2)
    assert "Batheay CSO" in texts(fake_telegram)[1]  # told which organisation has it

    [view] = await service.queue(sokha)
    assert (view.organisation_name, view.status, view.place_code) == (
        "Batheay CSO",
        "queued",
        BATHEAY_VILLAGE,
    )
    assert await service.queue(dara) == []  # another organisation sees nothing

    # While handed off, the citizen's words go to the person, not to Rasa.
    rasa_calls = len(fake_rasa.calls)
    await say(client, "លុយកញ្ចប់គ្រួសារមិនទាន់បានទេ")
    store = client.app[keys.STORE]

    async def last_inbound() -> Inbound | None:
        async with store.reading() as session:
            row: Inbound | None = await session.scalar(
                select(Inbound).order_by(Inbound.id.desc()).limit(1)
            )
            return row

    await wait_until_async(last_inbound, lambda r: r.status == InboundStatus.TO_AGENT)
    assert len(fake_rasa.calls) == rasa_calls

    await service.claim(sokha, view.id)
    await wait_until(lambda: len(texts(fake_telegram)) == 3)
    assert "Sokha" in texts(fake_telegram)[2]
    with pytest.raises(Conflict):
        await service.claim(await add_agent(client, batheay, "vanna"), view.id)

    await service.reply(sokha, view.id, "សួស្តី ខ្ញុំនឹងពិនិត្យមើលការទូទាត់របស់អ្នក។")
    await service.note(sokha, view.id, "Checked with the commune: list sent late.")
    await wait_until(lambda: len(texts(fake_telegram)) == 4)
    # a person is talking, and the citizen can see who: the name and organisation in bold
    author, said = texts(fake_telegram)[3].split("\n", 1)
    assert said == "សួស្តី ខ្ញុំនឹងពិនិត្យមើលការទូទាត់របស់អ្នក។"
    assert author.startswith("<b>Sokha · ")
    assert author.endswith("</b>")

    history = await service.history(sokha, view.id)
    authors = [item.author for item in history]
    assert authors.count("citizen") == 2
    assert "agent" in authors
    assert "assistant" in authors
    notes = [item for item in history if item.author == "note"]
    assert [n.text for n in notes] == ["Checked with the commune: list sent late."]
    assert all("list sent late" not in t for t in texts(fake_telegram))  # never sent

    await service.close(sokha, view.id)
    await service.wait_resumed()  # Rasa is resumed after the close's answer, not before
    assert fake_rasa.events[-2:] == [  # resumed, and listening for the next turn
        ("telegram:2001", {"event": "resume"}),
        ("telegram:2001", {"event": "action", "name": "action_listen"}),
    ]
    await wait_until(lambda: len(texts(fake_telegram)) == 6)
    rating = fake_telegram.sent()[-1].params["reply_markup"]["inline_keyboard"]
    assert len(rating) == 5

    # The citizen taps 4 stars: recorded by the gateway, thanked, Rasa never sees it.
    rasa_calls = len(fake_rasa.calls)
    four_stars = rating[3][0]["callback_data"]
    await client.post(
        "/telegram/webhook", json=callback_update(four_stars), headers={HEADER: TG_SECRET}
    )
    await wait_until(lambda: len(texts(fake_telegram)) == 7)
    assert "អរគុណ" in texts(fake_telegram)[6]
    assert len(fake_rasa.calls) == rasa_calls
    async with store.reading() as session:
        handoff = await session.get(Handoff, view.id)
        assert handoff is not None
        assert handoff.rating == 4
        kinds = list(
            await session.scalars(
                select(HandoffEvent.kind)
                .where(HandoffEvent.handoff_id == view.id)
                .order_by(HandoffEvent.id)
            )
        )
    assert kinds == ["opened", "claimed", "reply", "note", "closed", "rated"]

    # Back with the assistant.
    await say(client, "សួស្តី")
    await wait_until(lambda: len(texts(fake_telegram)) == 8)
    assert texts(fake_telegram)[7] == "echo: សួស្តី"
    [stats] = await service.stats(await add_agent(client, batheay, "chea", "supervisor"))
    assert (stats.name, stats.ratings, stats.rating_mean) == ("Batheay CSO", 1, 4.0)


async def test_an_agent_cannot_touch_another_organisations_conversation(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    rasa_with_handoff(fake_rasa)
    client = await gateway()
    service = client.app[HANDOFFS]
    batheay = await add_org(client, slug="batheay", name="Batheay CSO", areas=["0301"])
    other = await add_org(client, slug="pp", name="Phnom Penh CSO", areas=["12"])
    dara = await add_agent(client, other, "dara")
    await say(client, ASK_PERSON_KM)
    await wait_until(lambda: len(texts(fake_telegram)) == 2)
    admin = await add_agent(client, batheay, "root", "admin")
    [view] = await service.queue(admin)
    for attempt in (
        service.view(dara, view.id),
        service.history(dara, view.id),
        service.claim(dara, view.id),
        service.reply(dara, view.id, "hi"),
        service.note(dara, view.id, "hi"),
        service.close(dara, view.id),
    ):
        with pytest.raises(NotFound):
            await attempt
    with pytest.raises(NotAllowed):
        await service.stats(dara)
    with pytest.raises(NotAllowed):
        await service.take_over(dara, "telegram", "2001")


async def test_out_of_hours_the_citizen_is_told_when(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    rasa_with_handoff(fake_rasa)
    client = await gateway()
    now = utcnow().astimezone(PHNOM_PENH)
    open_day = WEEKDAYS[(now.weekday() + 2) % 7]  # the day after tomorrow only
    hours = {open_day: ["08:00-17:00"]}
    await add_org(client, slug="b", name="Batheay CSO", areas=["0301"], office_hours=hours)
    await say(client, ASK_PERSON_KM)
    await wait_until(lambda: len(texts(fake_telegram)) == 2)
    opening = parse_office_hours(hours).next_opening(now)
    assert opening is not None
    expected = when_text(opening, now, "km")
    assert expected.startswith("ថ្ងៃ")
    assert expected in texts(fake_telegram)[1]
    assert "Batheay CSO" in texts(fake_telegram)[1]


async def test_unclaimed_past_the_service_level_goes_to_the_national_pool(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    rasa_with_handoff(fake_rasa)
    client = await gateway()
    service = client.app[HANDOFFS]
    await add_org(client, slug="b", name="Batheay CSO", areas=["0301"], sla_minutes=10)
    await say(client, ASK_PERSON_KM)
    await wait_until(lambda: len(texts(fake_telegram)) == 2)
    assert await service.escalate_overdue() == 0  # not overdue yet
    async with client.app[keys.STORE].writing() as session:
        handoff = await session.scalar(select(Handoff))
        assert handoff is not None
        handoff.queued_at = utcnow() - timedelta(minutes=11)
        await session.commit()
    assert await service.escalate_overdue() == 1
    await wait_until(lambda: len(texts(fake_telegram)) == 3)
    assert "ថ្នាក់ជាតិ" in texts(fake_telegram)[2]  # "national"
    national = await pool(client)
    supervisor = await add_agent(client, national, "pool-lead", "supervisor")
    [view] = await service.queue(supervisor)
    assert view.escalated
    assert await service.escalate_overdue() == 0  # the pool itself never escalates


async def test_a_failed_resume_is_retried_before_the_next_message(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    rasa_with_handoff(fake_rasa, place=None)
    client = await gateway()
    service = client.app[HANDOFFS]
    national = await pool(client)
    agent = await add_agent(client, national, "kanha")
    await say(client, ASK_PERSON_KM)
    await wait_until(lambda: len(texts(fake_telegram)) == 2)
    [view] = await service.queue(agent)
    await service.claim(agent, view.id)
    fake_rasa.paused.add("telegram:2001")  # as action_handoff's ConversationPaused did
    fake_rasa.status = 503
    await service.close(agent, view.id)  # Rasa is down: the close still succeeds
    await service.wait_resumed()  # the resume after the close failed
    assert ("telegram:2001", {"event": "resume"}) not in fake_rasa.events
    chat = await client.app[keys.STORE].chat("telegram", "2001")
    assert chat is not None
    assert chat.resume_pending
    assert not chat.in_handoff
    fake_rasa.status = 200
    await say(client, "សួស្តី")
    await wait_until(lambda: "echo: សួស្តី" in texts(fake_telegram))
    assert ("telegram:2001", {"event": "resume"}) in fake_rasa.events
    chat = await client.app[keys.STORE].chat("telegram", "2001")
    assert chat is not None
    assert not chat.resume_pending


async def test_transfer_to_another_organisation_and_to_an_agent(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    rasa_with_handoff(fake_rasa)
    client = await gateway()
    service = client.app[HANDOFFS]
    batheay = await add_org(client, slug="batheay", name="Batheay CSO", areas=["0301"])
    workers = await add_org(client, slug="workers", name="Workers' centre", topics=["nssf"])
    sokha = await add_agent(client, batheay, "sokha")
    vanna = await add_agent(client, workers, "vanna")
    await say(client, ASK_PERSON_KM)
    await wait_until(lambda: len(texts(fake_telegram)) == 2)
    [view] = await service.queue(sokha)
    await service.claim(sokha, view.id)
    moved = await service.transfer(sokha, view.id, organisation_id=workers.id)
    assert (moved.status, moved.organisation_name, moved.agent_id) == (
        "queued",
        "Workers' centre",
        None,
    )
    assert await service.queue(sokha) == []
    with pytest.raises(NotFound):
        await service.view(sokha, view.id)  # no longer theirs
    lead = await add_agent(client, workers, "lead", "supervisor")
    moved = await service.transfer(lead, view.id, agent_id=vanna.agent_id)
    assert (moved.status, moved.agent_name) == ("claimed", "Vanna")
    with pytest.raises(Conflict):
        await service.transfer(lead, view.id)


async def test_emergencies_are_first_in_the_queue(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    client = await gateway()
    service = client.app[HANDOFFS]
    rasa_with_handoff(fake_rasa, place=None)
    await say(client, ASK_PERSON_KM, chat_id=1)
    await wait_until(lambda: len(texts(fake_telegram, 1)) == 2)
    rasa_with_handoff(fake_rasa, place=None, urgency="emergency")
    await say(client, ASK_PERSON_KM, chat_id=2)
    await wait_until(lambda: len(texts(fake_telegram, 2)) == 2)
    admin = await add_agent(client, await pool(client), "root", "admin")
    queue = await service.queue(admin)
    assert [v.chat_id for v in queue] == ["2", "1"]  # the later emergency comes first
    assert queue[0].priority > queue[1].priority


async def test_a_supervisor_takes_over_a_conversation_with_the_assistant(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    client = await gateway()
    service = client.app[HANDOFFS]
    await say(client, "hello")
    await wait_until(lambda: len(texts(fake_telegram)) == 1)
    national = await pool(client)
    lead = await add_agent(client, national, "lead", "supervisor")
    view = await service.take_over(lead, "telegram", "2001")
    assert (view.status, view.agent_name, view.reason) == ("claimed", "Lead", "agent_takeover")
    assert fake_rasa.events == [("telegram:2001", {"event": "pause"})]
    await wait_until(lambda: len(texts(fake_telegram)) == 2)
    assert "joined" in texts(fake_telegram)[1]  # the chat's language is English
    with pytest.raises(Conflict):
        await service.take_over(lead, "telegram", "2001")


def test_passwords_are_salted_and_verified_in_constant_time() -> None:
    first = hash_password("correct horse battery")
    second = hash_password("correct horse battery")
    assert first != second  # salted
    assert first.startswith("scrypt$")
    assert verify_password("correct horse battery", first)
    assert not verify_password("correct horse batterY", first)
    assert not verify_password("correct horse battery", "md5$abc")
    assert not verify_password("correct horse battery", "garbage")
    with pytest.raises(ValueError, match="at least"):
        hash_password("short")
