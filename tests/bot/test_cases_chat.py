"""Feedback in chat, end to end through the real gateway: a Khmer complaint in the web chat
becomes a case with a code, an agent refers it to a ministry focal point who resolves it,
the citizen is told in Khmer, confirms, and the case closes; the status question works on
Telegram and Messenger; an anonymous case carries no chat identity; Rasa keeps its own
complaint handoff and never sees the form's answers."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import keys
from bot.cases import CASES, Case, CaseDraft, CaseStatus, NewCase, format_code
from bot.conversation import PIPELINE
from bot.storage._db import Chat
from bot.storage._models import InboundKind, InboundMessage
from tests.bot.gateway_fakes import TG_SECRET, FakeGraph, FakeRasa, FakeTelegram, wait_until
from tests.bot.handoff_helpers import add_agent, add_org
from tests.bot.test_handoff_flow import callback_update, text_update
from tests.bot.test_messenger_flow import event, page, signed

SESSION = "session-cases-0001"
TONLE_BASAK = "120101"
COMPLAINT_KM = "មេភូមិទារលុយខ្ញុំ ២០០០០ រៀល ដើម្បីចុះឈ្មោះ នៅឃុំទន្លេបាសាក់"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
_ids = iter(range(1, 100_000))


class WebChat:
    """A citizen in the web chat: sends, and reads what arrived since the last read."""

    def __init__(self, client: TestClient[Any, Any], session: str = SESSION) -> None:
        self.client = client
        self.session = session
        self.last = 0

    async def send(self, text: str, *, button: bool = False) -> None:
        resp = await self.client.post(
            "/webchat/messages",
            json={
                "session": self.session,
                "id": f"msg-{next(_ids):08d}",
                "text": text,
                "button": button,
            },
        )
        assert resp.status == 202

    async def read(self, count: int = 1) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        for _ in range(20):
            poll = await self.client.get(
                "/webchat/messages",
                params={"session": self.session, "after": str(self.last), "wait": "2"},
            )
            messages = (await poll.json())["messages"]
            if messages:
                self.last = messages[-1]["id"]
                got.extend(messages)
            if len(got) >= count:
                break
        return got


async def case_of(client: TestClient[Any, Any]) -> Case:
    async with client.app[keys.STORE].reading() as session:
        found: Case | None = await session.scalar(select(Case).order_by(Case.id.desc()).limit(1))
    assert found is not None
    return found


async def test_khmer_complaint_in_the_web_chat_to_a_closed_case(
    gateway, fake_rasa: FakeRasa, database_url: str
) -> None:
    client = await gateway(database_url=database_url)
    cso = await add_org(client, slug="pp", name="Phnom Penh CSO", areas=["12"])
    ministry = await add_org(client, slug="mosvy", name="MoSVY", kind="ministry")
    agent = await add_agent(client, cso, "sokha")
    focal = await add_agent(client, ministry, "focal", role="ministry_editor")
    citizen = WebChat(client)

    await citizen.send("/feedback", button=True)
    (consent,) = await citizen.read()
    assert "យល់ព្រម" in consent["text"]
    assert [b["payload"] for b in consent["buttons"]] == ["/feedback_agree", "/feedback_cancel"]
    await citizen.send("/feedback_agree", button=True)
    (kind,) = await citizen.read()
    assert [b["title"] for b in kind["buttons"]] == [
        "សំណួរ",
        "ពាក្យបណ្តឹង",
        "សំណូមពរ",
        "ការកោតសរសើរ",
    ]
    await citizen.send("/feedback_kind complaint", button=True)
    (programme,) = await citizen.read()
    assert programme["buttons"][0] == {
        "title": "ប័ណ្ណសមធម៌",
        "payload": "/feedback_programme equity_card",
    }
    await citizen.send("/feedback_programme equity_card", button=True)
    (describe,) = await citizen.read()
    assert "សំឡេង" in describe["text"]
    await citizen.send(COMPLAINT_KM)
    (anonymous,) = await citizen.read()  # the commune was in the description: not asked
    assert "មិនបញ្ចេញឈ្មោះ" in anonymous["text"]
    await citizen.send("/feedback_anonymous no", button=True)
    filed = await citizen.read(2)
    case = await case_of(client)
    code = format_code(case.code)
    assert code in filed[0]["text"]
    assert "បន្ទាន់" in filed[1]["text"]  # a demand for money is urgent
    assert (case.kind, case.topic, case.programme, case.commune_code) == (
        "complaint",
        "money_demand",
        "equity_card",
        TONLE_BASAK,
    )
    assert case.organisation_id == cso.id
    assert case.chat_id is not None
    assert case.description == COMPLAINT_KM
    assert fake_rasa.calls == []  # the form never reached Rasa

    cases = client.app[CASES]
    await cases.assign(agent, case.id)
    await cases.refer(agent, case.id, ministry.id, "ក្រសួងត្រូវពិនិត្យមេភូមិ")
    referred = await citizen.read(2)
    assert any("បានបញ្ជូនទៅក្រសួង" in m["text"] for m in referred)
    await cases.resolve(focal, case.id, "មេភូមិត្រូវបានព្រមាន ហើយប្រាក់ត្រូវបានសងវិញ។")
    told = await citizen.read(3)
    assert "បានដោះស្រាយ" in told[0]["text"]
    assert "ប្រាក់ត្រូវបានសងវិញ" in told[1]["text"]
    assert told[2]["buttons"][0]["payload"] == f"/case_yes {case.code}"
    await citizen.send(told[2]["buttons"][0]["payload"], button=True)
    (thanks,) = await citizen.read()
    assert "បានបិទ" in thanks["text"]
    assert (await case_of(client)).status == CaseStatus.CLOSED

    await citizen.send(f"ស្ថានភាព {code.lower()}")
    (status,) = await citizen.read()
    assert "បានបិទ" in status["text"]
    assert fake_rasa.calls == []


async def test_status_with_the_code_on_telegram_and_messenger(
    gateway, fake_telegram: FakeTelegram, fake_graph: FakeGraph, fake_rasa: FakeRasa
) -> None:
    client = await gateway()
    await add_org(client, slug="pp", name="Phnom Penh CSO", areas=["12"])
    case = await client.app[CASES].file(
        NewCase(
            kind="question", channel="agent", place_code=TONLE_BASAK, description="សួរពីប្រាក់ឧបត្ថម្ភ"
        )
    )
    code = format_code(case.code)
    resp = await client.post(
        "/telegram/webhook",
        json=text_update(f"status {code}", 3001),
        headers={HEADER: TG_SECRET},
    )
    assert resp.status == 200
    await wait_until(lambda: fake_telegram.sent())
    said = html.unescape(str(fake_telegram.sent()[0].params["text"]))
    assert code in said
    assert "Phnom Penh CSO" in said
    raw, headers = signed(page([event("psid-1", "m-1", case.code.lower())]))
    assert (await client.post("/messenger/webhook", data=raw, headers=headers)).status == 200
    await wait_until(lambda: fake_graph.messages())
    assert code in fake_graph.messages()[0]["message"]["text"]
    raw, headers = signed(page([event("psid-1", "m-2", "ស្ថានភាព ABC-DEF")]))
    await client.post("/messenger/webhook", data=raw, headers=headers)
    await wait_until(lambda: len(fake_graph.messages()) == 2)
    assert "រកមិនឃើញ" in fake_graph.messages()[1]["message"]["text"]
    assert fake_rasa.calls == []


async def test_anonymous_english_feedback_on_telegram(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    client = await gateway()
    chat = 4001

    async def say(text: str) -> None:
        resp = await client.post(
            "/telegram/webhook", json=text_update(text, chat), headers={HEADER: TG_SECRET}
        )
        assert resp.status == 200

    async def tap(data: str) -> None:
        resp = await client.post(
            "/telegram/webhook", json=callback_update(data, chat), headers={HEADER: TG_SECRET}
        )
        assert resp.status == 200

    def last_markup() -> list[str]:
        markup = fake_telegram.sent()[-1].params.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]

    await say("I want to give feedback")
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    assert "Do you agree" in str(fake_telegram.sent()[0].params["text"])
    for step, expected in ((0, 2), (3, 3), (8, 4)):  # agree, praise, other programme
        await tap(last_markup()[step])

        def sent_all(n: int = expected) -> bool:
            return len(fake_telegram.sent()) == n

        await wait_until(sent_all)
    assert "what happened" in str(fake_telegram.sent()[-1].params["text"])
    await say("The staff at Char Chhuk health centre were very kind")
    await wait_until(lambda: len(fake_telegram.sent()) == 5)
    assert "anonymous" in str(fake_telegram.sent()[-1].params["text"])
    await tap(last_markup()[1])  # stay anonymous
    await wait_until(lambda: len(fake_telegram.sent()) == 6)
    case = await case_of(client)
    assert format_code(case.code) in str(fake_telegram.sent()[-1].params["text"])
    assert (case.kind, case.anonymous, case.chat_id, case.commune_code) == (
        "praise",
        True,
        None,
        "170101",
    )
    assert case.language == "en"
    async with client.app[keys.STORE].reading() as session:
        row = await session.scalar(select(Chat).where(Chat.chat_id == str(chat)))
    assert row is not None
    assert row.case_step is None
    assert fake_rasa.calls == []


async def test_rasa_keeps_complaints_and_ordinary_words(gateway, fake_rasa: FakeRasa) -> None:
    """ "ខ្ញុំចង់ប្តឹង" (I want to complain) and a six-letter word are Rasa's, not the desk's."""
    client = await gateway()
    citizen = WebChat(client, "session-cases-0002")
    for text in ("ខ្ញុំចង់ប្តឹង", "status", "PUNCHY"):
        await citizen.send(text)
    await wait_until(lambda: len(fake_rasa.calls) == 3)
    assert [c.params["message"] for c in fake_rasa.calls] == ["ខ្ញុំចង់ប្តឹង", "status", "PUNCHY"]


async def test_what_was_said_is_not_asked_again_and_a_voice_note_is_kept(
    gateway, fake_rasa: FakeRasa
) -> None:
    """Rasa starts the form with the kind and programme it understood; the chat's known
    place is used; a voice note is the description (kept as a reference to the audio)."""

    def respond(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"text": "ខ្ញុំនឹងជួយអ្នកផ្តល់មតិ។"},
            {"custom": {"feedback": {"kind": "complaint", "programme": "scholarship"}}},
        ]

    fake_rasa.responder = respond
    client = await gateway()
    citizen = WebChat(client, "session-cases-0003")
    await citizen.send("កូនខ្ញុំមិនបានអាហារូបករណ៍")
    said = await citizen.read(2)
    assert said[0]["text"] == "ខ្ញុំនឹងជួយអ្នកផ្តល់មតិ។"
    assert said[1]["buttons"][0]["payload"] == "/feedback_agree"
    async with client.app[keys.STORE].writing() as session:
        chat = await session.scalar(select(Chat).where(Chat.chat_id == "session-cases-0003"))
        assert chat is not None
        chat.place_code = "01020103"  # shared earlier as a location (a village)
        await session.commit()
    await citizen.send("/feedback_agree", button=True)
    (describe,) = await citizen.read()  # kind and programme known: straight to the words
    assert "សំឡេង" in describe["text"]
    store = client.app[keys.STORE]
    await store.ingest(
        InboundMessage(
            channel="webchat",
            chat_id="session-cases-0003",
            external_id="voice-1",
            kind=InboundKind.MEDIA,
            text="",
            meta={"media": "voice"},
        )
    )
    client.app[PIPELINE].wake("webchat", "session-cases-0003")
    (anonymous,) = await citizen.read()  # the place was known: not asked
    assert "មិនបញ្ចេញឈ្មោះ" in anonymous["text"]
    await citizen.send("/feedback_anonymous no", button=True)
    await citizen.read()
    case = await case_of(client)
    assert (case.kind, case.programme, case.commune_code) == ("complaint", "scholarship", "010201")
    assert case.audio_ref == "webchat:voice-1"
    assert len(fake_rasa.calls) == 1


async def test_a_citizen_who_moves_on_is_not_trapped_in_the_form(
    gateway, fake_rasa: FakeRasa
) -> None:
    """Another question where a button was expected, or a form left for too long, goes to
    Rasa and ends the form; a commune not found twice is filed without a place."""
    client = await gateway()
    citizen = WebChat(client, "session-cases-0004")
    await citizen.send("/feedback", button=True)
    await citizen.read()
    await citizen.send("/feedback_agree", button=True)
    await citizen.read()
    await citizen.send("តើប័ណ្ណសមធម៌ជាអ្វី?")  # not a kind: a question for the assistant
    await wait_until(lambda: len(fake_rasa.calls) == 1)
    (echo,) = await citizen.read()
    assert echo["text"] == "echo: តើប័ណ្ណសមធម៌ជាអ្វី?"

    await citizen.send("ខ្ញុំចង់ផ្តល់មតិ")  # a clear phrase starts it again
    await citizen.read()
    for payload in ("/feedback_agree", "/feedback_kind suggestion", "/feedback_programme other"):
        await citizen.send(payload, button=True)
        await citizen.read()
    await citizen.send("សូមបើកការិយាល័យនៅថ្ងៃសៅរ៍")
    (place,) = await citizen.read()
    assert "ឃុំ" in place["text"]
    await citizen.send("ភូមិខ្ញុំ")
    (again,) = await citizen.read()
    assert "រកមិនឃើញ" in again["text"]
    await citizen.send("មិនដឹងទេ")
    (anonymous,) = await citizen.read()
    assert "មិនបញ្ចេញឈ្មោះ" in anonymous["text"]
    async with client.app[keys.STORE].writing() as session:
        chat = await session.scalar(select(Chat).where(Chat.chat_id == "session-cases-0004"))
        assert chat is not None
        draft = await session.get(CaseDraft, chat.id)
        assert draft is not None
        draft.updated_at = draft.updated_at - timedelta(hours=2)  # left for two hours
        await session.commit()
    await citizen.send("បាទ")
    await wait_until(lambda: len(fake_rasa.calls) == 2)
    async with client.app[keys.STORE].reading() as session:
        assert await session.scalar(select(Case.id)) is None  # nothing was filed


async def test_only_the_citizens_chat_closes_their_case(gateway) -> None:
    client = await gateway()
    owner, other = WebChat(client, "session-cases-0005"), WebChat(client, "session-cases-0006")
    await owner.send("សួស្តី")
    await other.send("សួស្តី")
    await owner.read()
    await other.read()
    cases = client.app[CASES]
    case = await cases.file(
        NewCase(
            kind="complaint",
            channel="webchat",
            description="ខ្ញុំមិនទាន់បានលុយ",
            chat=("webchat", "session-cases-0005"),
        )
    )
    org = await add_org(client, slug="web", name="Web CSO")
    sokha = await add_agent(client, org, "sokha", role="admin")
    await cases.resolve(sokha, case.id, "ប្រាក់បានផ្ញើហើយ")
    await owner.read(3)
    await other.send(f"/case_yes {case.code}", button=True)
    (refused,) = await other.read()
    assert "រកមិនឃើញ" in refused["text"]
    assert (await case_of(client)).status == CaseStatus.RESOLVED
    await owner.send(f"/case_yes {case.code}", button=True)
    (closed,) = await owner.read()
    assert "បានបិទ" in closed["text"]
    assert (await case_of(client)).status == CaseStatus.CLOSED
