"""Every channel reads the knowledge base's live revision (issue #14): the facts the
broadcasts console offers for an announcement and the amounts in the agents' canned replies
come from it, so a publish or a roll back changes them at the next page load (no restart);
an amount the knowledge base does not know reads as the assistant's "not sure, contact"."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import kbprofile
from bot._exceptions import SettingsError
from bot.accounts import Viewer
from bot.console import CONSOLE
from bot.console._canned import parse_canned
from bot.dissemination import DISSEMINATION
from bot.knowledge import KNOWLEDGE, Actor, KnowledgeService, SourceInput
from kbprofile._facts import NOT_SURE, PERIODS, UNITS
from tests.bot.console_helpers import (
    ASK_FOR_A_PERSON,
    BANTEAY_NEANG,
    PASSWORD,
    citizen_says,
    handoff_responder,
    logged_in,
    make_team,
)
from tests.bot.gateway_fakes import FakeRasa, FakeTelegram, wait_until_async

KNOWLEDGE_DIR = Path(__file__).resolve().parents[2] / "knowledge"
GRADE_10 = "cost_options.upper_secondary.amount"
MOEYS = SourceInput(
    url="https://moeys.gov.kh/km/scholarship-2026",
    title="សេចក្តីជូនដំណឹងអំពីអាហារូបករណ៍ឆ្នាំ២០២៦",
    issuer="ក្រសួងអប់រំ យុវជន និងកីឡា",
    date="2026-12-01",
    verified="2026-12-05",
)
NOT_SURE_KM = "ខ្ញុំមិនប្រាកដពីចំនួនទឹកប្រាក់បច្ចុប្បន្នទេ។ សូមទាក់ទង"


def seed() -> dict[str, Any]:
    return kbprofile.seed_to_document(KNOWLEDGE_DIR)


# ----- the facts of a catalogue ------------------------------------------------------------


def test_facts_carry_both_languages_their_source_and_verified_date() -> None:
    facts = {f.id: f for f in kbprofile.document_facts(seed())}
    grade_10 = facts["scholarship.upper_secondary"]
    assert "៣០.០០០ រៀល ក្នុងមួយខែ" in grade_10.km
    assert "30,000 riel a month" in grade_10.en
    assert grade_10.url.startswith("https://")
    assert grade_10.source
    assert len(grade_10.verified) == 10
    assert "disability_allowance.monthly" not in facts  # unknown: nothing to quote
    assert facts["pregnancy_cash.summary"].km != facts["pregnancy_cash.summary"].en


def test_a_placeholder_reads_the_amount_or_the_official_not_sure_words() -> None:
    document = seed()
    text = "អាហារូបករណ៍ថ្នាក់ទី១០៖ {fact:scholarship.upper_secondary}។"
    assert kbprofile.fill_facts(text, document, "km") == ("អាហារូបករណ៍ថ្នាក់ទី១០៖ ៣០.០០០ រៀល ក្នុងមួយខែ។")
    assert kbprofile.fill_facts("{fact:nssf.health_contribution}", document, "en") == (
        "2.6% of wages"
    )
    unknown = kbprofile.fill_facts("{fact:disability_allowance.monthly}", document, "km")
    assert unknown.startswith(NOT_SURE_KM)
    assert "nsaf.gov.kh" in unknown  # the programme's own contact
    typo = kbprofile.fill_facts("{fact:scholarship.grade_13}", document, "en")
    assert typo.startswith("I'm not sure of the current amount. Please contact")
    nothing = kbprofile.fill_facts("{fact:no_such.thing}", None, "km")
    assert nothing.startswith(NOT_SURE_KM)
    assert "៣០" not in nothing


def test_the_words_are_the_assistants() -> None:
    messages = yaml.safe_load((KNOWLEDGE_DIR / "messages.yml").read_text("utf-8"))["messages"]
    assert messages["not_sure_contact"] == NOT_SURE
    for unit, (km, en) in UNITS.items():
        assert messages[f"amount_{unit}"] == {"km": km, "en": en}
    for period, (km, en) in PERIODS.items():
        assert messages[f"period_{period}"] == {"km": km, "en": en}


def test_shipped_canned_replies_quote_only_facts_the_catalogue_has() -> None:
    replies = parse_canned((KNOWLEDGE_DIR / "canned_replies.yml").read_text("utf-8"))
    services = {s["id"]: s for s in seed()["services"]}
    quoted = set().union(*(r.facts() for r in replies))
    assert "scholarship.upper_secondary" in quoted
    for ref in quoted:
        programme, amount = ref.split(".")
        assert amount in {o["id"] for o in services[programme]["cost_options"]}, ref
    for reply in replies:  # no amount typed by hand
        for text in (reply.km, reply.en):
            plain = kbprofile.FACT_PLACEHOLDER.sub("", text)
            assert "riel" not in plain
            assert "រៀល" not in plain


def test_a_reply_quoting_other_facts_in_each_language_is_refused() -> None:
    text = (
        "replies:\n  - id: x\n    km: ប្រាក់ {fact:scholarship.upper_secondary}\n"
        "    en: The amount is {fact:scholarship.primary_lower_secondary}\n"
    )
    with pytest.raises(SettingsError, match="other facts"):
        parse_canned(text)


# ----- a publish through the workflow --------------------------------------------------------


async def reviewers(client: Any) -> tuple[KnowledgeService, Actor, Actor]:
    admin = client.app[CONSOLE].admin
    await admin.add_organisation("gs-nspc", "អគ្គលេខាធិការដ្ឋាន", kind="secretariat")
    service: KnowledgeService = client.app[KNOWLEDGE]
    actors = []
    for username, name in (("chenda", "ចិន្តា"), ("bopha", "បុប្ផា")):
        info = await admin.add_agent(username, name, "gs-nspc", "secretariat_reviewer", PASSWORD)
        actors.append(await service.actor(Viewer(info.id, 0, info.role)))
    return service, actors[0], actors[1]


async def publish_grade_10(
    service: KnowledgeService, author: Actor, reviewer: Actor, amount: int
) -> int:
    change_id = await service.start(author, "scholarship")
    await service.save(
        author,
        change_id,
        1,
        {GRADE_10: {"value": str(amount), "unit": "riel", "period": "per_month"}},
        MOEYS,
    )
    await service.submit(author, change_id, "ថវិកាឆ្នាំ២០២៦")
    return await service.publish(reviewer, change_id, "យល់ព្រម")


async def test_broadcast_facts_follow_a_publish_and_a_roll_back(gateway, database_url) -> None:
    client = await gateway(database_url=database_url)
    service, chenda, bopha = await reviewers(client)
    user = await logged_in(client, "chenda")
    try:
        status, page = await user.get("/console/broadcasts")
        assert status == 200
        assert "30,000 riel a month" in page
        assert "35,000" not in page
        assert await publish_grade_10(service, chenda, bopha, 35000) == 2
        status, page = await user.get("/console/broadcasts")
        assert "35,000 riel a month" in page
        assert "ផ្ទៀងផ្ទាត់នៅ 2026-12-05" in page or "verified on 2026-12-05" in page
        status, _, location = await user.form(
            "/console/broadcasts",
            {
                "title_km": "ប្រាក់អាហារូបករណ៍",
                "title_en": "Scholarships",
                "text_km": "ការបើកប្រាក់នៅខែមករា។",
                "text_en": "Payments in January.",
                "topic": "payments",
                "fact": "scholarship.upper_secondary",
            },
        )
        assert status == 303
        broadcast = await client.app[DISSEMINATION].get(int(location.rsplit("/", 1)[1]))
        assert "៣៥.០០០ រៀល ក្នុងមួយខែ" in broadcast.text_km
        assert "35,000 riel a month" in broadcast.text_en
        await service.rollback(bopha, 1)
        status, page = await user.get("/console/broadcasts")
        assert "30,000 riel a month" in page
        assert "35,000" not in page
    finally:
        await user.close()


async def test_canned_replies_insert_the_live_amount_in_the_citizens_language(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa, tmp_path: Path
) -> None:
    for name in ("canned_replies.yml", "programmes.yml"):
        shutil.copy(KNOWLEDGE_DIR / name, tmp_path / name)
    fake_rasa.responder = handoff_responder
    client = await gateway(knowledge_dir=tmp_path)
    await make_team(client)
    service, chenda, bopha = await reviewers(client)
    await citizen_says(client, 1, 702, location=BANTEAY_NEANG)
    await citizen_says(client, 2, 702, ASK_FOR_A_PERSON)
    sokha = await logged_in(client, "sokha")
    try:
        await wait_until_async(sokha.queue, lambda q: len(q) == 1, timeout=10)
        [item] = await sokha.queue()
        await sokha.act(f"/console/api/handoffs/{item['id']}/claim")
        status, page = await sokha.get(f"/console/c/{item['id']}")
        assert status == 200
        khmer = page.index(
            "ប្រាក់អាហារូបករណ៍សម្រាប់សិស្សថ្នាក់ទី១ ដល់ទី៩ គឺ ២០.០០០ រៀល ក្នុងមួយខែ "
            "ហើយសម្រាប់សិស្សថ្នាក់ទី១០ ដល់ទី១២ គឺ ៣០.០០០ រៀល ក្នុងមួយខែ។"
        )
        english = page.index("and 30,000 riel a month for grades 10 to 12.")
        assert khmer < english  # the citizen's language first
        assert "{fact:" not in page
        assert NOT_SURE_KM in page  # the disability allowance is not known
        await publish_grade_10(service, chenda, bopha, 35000)
        status, page = await sokha.get(f"/console/c/{item['id']}")
        assert "ថ្នាក់ទី១០ ដល់ទី១២ គឺ ៣៥.០០០ រៀល ក្នុងមួយខែ។" in page
        assert "and 35,000 riel a month for grades 10 to 12." in page
        assert "៣០.០០០ រៀល" not in page
    finally:
        await sokha.close()
