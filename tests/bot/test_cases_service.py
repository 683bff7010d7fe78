"""The case service on both databases: codes, routing, the lifecycle with its audit log,
the citizen told in Khmer, reopening, escalation with a clock the test controls."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import Conflict, Invalid, NotFound, keys
from bot.cases import (
    CASES,
    Case,
    CaseDraft,
    CaseEvent,
    CaseService,
    CaseStatus,
    NewCase,
    find_code,
    format_code,
    new_code,
    parse_code,
)
from bot.channels import TELEGRAM
from bot.storage._db import Chat, Outbound, utcnow
from tests.bot.handoff_helpers import add_agent, add_org

BATHEAY_COMMUNE = "030102"
MONEY_DEMAND_KM = "មេភូមិទារលុយខ្ញុំ ២០០០០ រៀល ដើម្បីចុះឈ្មោះប័ណ្ណសមធម៌"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def service(client: TestClient[Any, Any], clock: Clock) -> CaseService:
    """The app's service with the test's clock (the same store, channels and config)."""
    app = client.app
    base = app[CASES]
    return CaseService(
        store=app[keys.STORE],
        channels={"telegram": app[TELEGRAM]},
        config=base.config,
        places=base.places,
        wake=lambda _c, _i: None,
        clock=clock,
    )


async def citizen_chat(client: TestClient[Any, Any], chat_id: str = "2001") -> None:
    async with client.app[keys.STORE].writing() as session:
        session.add(Chat(channel="telegram", chat_id=chat_id, language="km"))
        await session.commit()


async def told(client: TestClient[Any, Any], chat_id: str = "2001") -> list[str]:
    async with client.app[keys.STORE].reading() as session:
        rows = await session.scalars(
            select(Outbound).where(Outbound.chat_id == chat_id).order_by(Outbound.id)
        )
        return [html.unescape(str(r.body.get("html") or r.body.get("text") or "")) for r in rows]


async def events(client: TestClient[Any, Any], case_id: int) -> list[tuple[str, str | None]]:
    async with client.app[keys.STORE].reading() as session:
        rows = await session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        )
        return [(e.kind, e.to_status) for e in rows]


def test_codes_are_readable_checked_and_forgiving() -> None:
    for _ in range(200):
        code = new_code()
        assert len(code) == 6
        assert not set(code) & set("01OIL")
        shown = format_code(code)
        assert shown[3] == "-"
        assert parse_code(shown) == code
        assert parse_code(shown.lower()) == code
        assert parse_code(code) == code
    code = "ABCD2" + next(c for c in "23456789ABCDEFGHJKMNPQRSTUVWXYZ" if parse_code("ABCD2" + c))
    khmer = format_code(code).replace("2", "២")
    assert parse_code(khmer) == code  # Khmer digits
    assert parse_code(f"\u200b{format_code(code)}\u200b") == code
    # one wrong character or two swapped neighbours are caught by the check character
    wrong = code[:2] + ("Z" if code[2] != "Z" else "Y") + code[3:]
    assert parse_code(wrong) is None
    swapped = code[1] + code[0] + code[2:]
    assert code[0] == code[1] or parse_code(swapped) is None
    found = find_code(f"ស្ថានភាព {format_code(code).lower()}")
    assert found is not None
    assert found.code == code
    assert found.valid
    assert find_code("status of my request") is None  # "status" is not a code


async def test_lifecycle_referral_and_the_citizen_confirms(gateway, database_url: str) -> None:
    client = await gateway(database_url=database_url)
    clock = Clock()
    cases = service(client, clock)
    batheay = await add_org(client, slug="batheay", name="Batheay CSO", areas=["0301"])
    await add_org(client, slug="pp", name="Phnom Penh CSO", areas=["12"])
    ministry = await add_org(client, slug="mosvy", name="MoSVY", kind="ministry")
    sokha = await add_agent(client, batheay, "sokha")
    focal = await add_agent(client, ministry, "focal", role="ministry_editor")
    await citizen_chat(client)

    case = await cases.file(
        NewCase(
            kind="complaint",
            channel="telegram",
            description=MONEY_DEMAND_KM,
            place_code=BATHEAY_COMMUNE + "03",  # a village: the commune is kept
            chat=("telegram", "2001"),
            programme="equity_card",
        )
    )
    assert case.organisation_id == batheay.id  # routed by place like a handoff
    assert (case.topic, case.urgent) == ("money_demand", True)
    assert (case.province_code, case.district_code, case.commune_code) == (
        "03",
        "0301",
        BATHEAY_COMMUNE,
    )
    assert case.chat_id is not None
    assert case.channel == "telegram"
    assert case.due_at is not None

    with pytest.raises(Invalid):
        await cases.refer(sokha, case.id, ministry.id, "  ")  # a reason is required
    with pytest.raises(NotFound):
        await cases.detail(focal, case.id)  # not referred yet: not the ministry's
    await cases.assign(sokha, case.id)
    await cases.start(sokha, case.id)
    await cases.note(sokha, case.id, "បានទូរស័ព្ទទៅមេឃុំ")
    await cases.refer(sokha, case.id, ministry.id, "ត្រូវការការសម្រេចពីក្រសួង")
    view, _ = await cases.detail(focal, case.id)
    assert (view.status, view.referred_org_name) == ("referred", "MoSVY")
    assert [v.id for v in await cases.queue(focal)] == [case.id]
    said = await cases.status_text(view.code, "km")
    assert "បានបញ្ជូនទៅក្រសួង" in said
    assert "MoSVY" in said

    await cases.resolve(focal, case.id, "មេភូមិត្រូវបានព្រមាន ហើយប្រាក់ត្រូវបានសងវិញ។")
    texts = await told(client)
    assert any("បានដោះស្រាយ" in t for t in texts)
    assert any("មេភូមិត្រូវបានព្រមាន" in t for t in texts)
    assert any("តើបញ្ហារបស់អ្នកត្រូវបានដោះស្រាយហើយឬនៅ" in t for t in texts)
    assert "បានទូរស័ព្ទទៅមេឃុំ" not in " ".join(texts)  # internal notes stay inside

    answer = await cases.citizen_answer(view.code.lower(), resolved=True)
    assert answer is not None
    assert "បានបិទ" in answer
    view, history = await cases.detail(sokha, case.id)
    assert view.status == CaseStatus.CLOSED
    assert [(e.kind, e.to_status) for e in history] == [
        ("created", "new"),
        ("assigned", "assigned"),
        ("status", "in_progress"),
        ("note", None),
        ("referred", "referred"),
        ("status", "resolved"),
        ("citizen", "closed"),
    ]
    assert history[4].reason == "ត្រូវការការសម្រេចពីក្រសួង"
    assert history[3].agent_name == "Sokha"


async def test_reopen_within_the_period_only(gateway, database_url: str) -> None:
    client = await gateway(database_url=database_url)
    clock = Clock()
    cases = service(client, clock)
    org = await add_org(client, slug="batheay", name="Batheay CSO", areas=["0301"])
    sokha = await add_agent(client, org, "sokha")
    await citizen_chat(client)
    first = await cases.file(
        NewCase(
            kind="complaint",
            channel="telegram",
            chat=("telegram", "2001"),
            place_code=BATHEAY_COMMUNE,
            description="ខ្ញុំមិនទាន់បានលុយ",
        )
    )
    assert first.topic == "missing_payment"
    assert first.urgent
    await cases.resolve(sokha, first.id, "ប្រាក់នឹងមកខែក្រោយ")
    said = await cases.citizen_answer(first.code, resolved=False)
    assert said is not None
    assert "ម្តងទៀត" in said
    view, _ = await cases.detail(sokha, first.id)
    assert view.status == CaseStatus.REOPENED
    await cases.resolve(sokha, first.id, "ប្រាក់បានមកដល់ហើយ")
    await cases.citizen_answer(first.code, resolved=True)
    clock.now += timedelta(days=cases.config.reopen_days + 1)
    late = await cases.citizen_answer(first.code, resolved=False)
    assert late is not None
    assert str(cases.config.reopen_days) in late
    view, _ = await cases.detail(sokha, first.id)
    assert view.status == CaseStatus.CLOSED
    with pytest.raises(Conflict):
        await cases.start(sokha, first.id)  # a closed case does not go back to work


async def test_escalation_to_the_supervisor_then_the_secretariat(
    gateway, database_url: str
) -> None:
    client = await gateway(database_url=database_url)
    clock = Clock()
    cases = service(client, clock)
    org = await add_org(client, slug="batheay", name="Batheay CSO", areas=["0301"])
    secretariat = await add_org(client, slug="nspc", name="NSPC", kind="secretariat")
    reviewer = await add_agent(client, secretariat, "reviewer", role="secretariat_reviewer")
    await add_agent(client, org, "boss", role="supervisor")
    case = await cases.file(
        NewCase(
            kind="suggestion",
            channel="webchat",
            place_code=BATHEAY_COMMUNE,
            description="សូមបើកការិយាល័យនៅថ្ងៃសៅរ៍",
        )
    )
    assert not case.urgent
    assert await cases.escalate_overdue() == 0
    clock.now += timedelta(hours=cases.config.sla_hours["new"] + 1)
    assert await cases.escalate_overdue() == 1
    assert await cases.queue(reviewer) == []  # the supervisor's turn first
    assert await cases.escalate_overdue() == 0  # not again before the next level's time
    clock.now += timedelta(hours=cases.config.escalated_sla_hours + 1)
    assert await cases.escalate_overdue() == 1
    assert [v.id for v in await cases.queue(reviewer)] == [case.id]
    clock.now += timedelta(days=30)
    assert await cases.escalate_overdue() == 0  # the secretariat is the last level
    kinds = await events(client, case.id)
    assert kinds.count(("escalated", None)) == 2
    async with client.app[keys.STORE].reading() as session:
        levels = await session.scalars(
            select(CaseEvent.detail).where(CaseEvent.kind == "escalated")
        )
        assert [d["to"] for d in levels] == ["supervisor", "secretariat"]


async def test_agent_files_on_behalf_and_anonymous_has_no_chat(gateway, database_url: str) -> None:
    client = await gateway(database_url=database_url)
    cases = service(client, Clock())
    org = await add_org(client, slug="batheay", name="Batheay CSO", areas=["0301"])
    sokha = await add_agent(client, org, "sokha")
    await citizen_chat(client)
    visit = await cases.file(
        NewCase(
            kind="question",
            channel="agent",
            place_code=BATHEAY_COMMUNE,
            description="អ្នកស្រីសួរពីប្រាក់ឧបត្ថម្ភផ្ទៃពោះ",
            programme="pregnancy_cash",
        ),
        sokha,
    )
    assert (visit.channel, visit.filed_by_id, visit.chat_id) == ("agent", sokha.agent_id, None)
    hidden = await cases.file(
        NewCase(
            kind="complaint",
            channel="telegram",
            anonymous=True,
            chat=("telegram", "2001"),
            description="គេវាយខ្ញុំ",
            audio_ref="telegram:991",
        )
    )
    assert hidden.anonymous
    assert hidden.chat_id is None
    assert hidden.audio_ref is None  # it would lead back to the chat's messages
    assert hidden.topic == "abuse"
    assert hidden.urgent
    async with client.app[keys.STORE].reading() as session:
        stored = await session.get(Case, hidden.id)
        assert stored is not None
        assert stored.chat_id is None
    with pytest.raises(Conflict):
        await cases.reply(sokha, visit.id, "សួស្តី")  # no chat to answer


async def test_the_national_pool_is_the_national_team_to_citizens(gateway) -> None:
    client = await gateway()
    cases = service(client, Clock())
    case = await cases.file(NewCase(kind="question", channel="webchat", description="សួស្តី"))
    said = await cases.status_text(format_code(case.code), "km")
    assert "ក្រុមការងារ SP4ALL ថ្នាក់ជាតិ" in said
    said = await cases.status_text(format_code(case.code), "en")
    assert "the SP4ALL national team" in said


async def test_forgotten_forms_are_dropped_with_their_words(gateway) -> None:
    client = await gateway()
    cases = service(client, Clock())
    await citizen_chat(client)
    async with client.app[keys.STORE].writing() as session:
        chat = await session.scalar(select(Chat).where(Chat.chat_id == "2001"))
        assert chat is not None
        chat.case_step = "place"
        session.add(
            CaseDraft(
                chat_id=chat.id,
                data={"description": "ខ្ញុំមិនទាន់បានលុយ"},
                updated_at=utcnow() - timedelta(hours=3),
            )
        )
        await session.commit()
    assert await cases.purge_drafts() == 1
    async with client.app[keys.STORE].reading() as session:
        assert await session.scalar(select(CaseDraft.chat_id)) is None
        chat = await session.scalar(select(Chat).where(Chat.chat_id == "2001"))
        assert chat is not None
        assert chat.case_step is None
