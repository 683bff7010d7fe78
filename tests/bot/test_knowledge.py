"""The knowledge base's editorial workflow (issue #14) on the real gateway: the seed becomes
revision 1; a ministry editor drafts a change with a source, the secretariat publishes it,
every revision is kept and a roll back restores an earlier one; every refusal changes
nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import kbprofile
from bot._exceptions import Conflict, Invalid, NotAllowed
from bot.console import CONSOLE
from bot.knowledge import KNOWLEDGE, Actor, KnowledgeService, SourceInput
from tests.bot.console_helpers import PASSWORD, ConsoleUser

REPO = Path(__file__).resolve().parents[2]
GRADE_10 = "cost_options.upper_secondary.amount"
GRADE_10_LABEL = "cost_options.upper_secondary.option"
NEW_LABEL = {
    "km": "វិទ្យាល័យ (ថ្នាក់ទី១០-១២) ឆ្នាំសិក្សា ២០២៦",
    "en": "Upper secondary (grades 10-12), 2026",
}
MOEYS = SourceInput(
    url="https://moeys.gov.kh/km/scholarship-2026",
    title="សេចក្តីជូនដំណឹងអំពីអាហារូបករណ៍ឆ្នាំ២០២៦",
    issuer="ក្រសួងអប់រំ យុវជន និងកីឡា",
    date="2026-12-01",
    verified="2026-12-05",
)


class Team:
    def __init__(self, service: KnowledgeService, actors: dict[str, Actor]) -> None:
        self.service = service
        self.actors = actors

    def __getitem__(self, name: str) -> Actor:
        return self.actors[name]


async def make_team(client: Any) -> Team:
    admin = client.app[CONSOLE].admin
    actors: dict[str, Actor] = {}
    for slug, name, kind in (
        ("mosvy", "ក្រសួងសង្គមកិច្ច", "ministry"),
        ("mop", "ក្រសួងផែនការ", "ministry"),
        ("gs-nspc", "អគ្គលេខាធិការដ្ឋាន ក.ជ.គ.ស.", "secretariat"),
        ("kh-cso", "Khmer CSO", "cso"),
    ):
        await admin.add_organisation(slug, name, kind=kind)
    for username, name, org, role in (
        ("sophal", "សុផល", "mosvy", "ministry_editor"),
        ("rith", "រិទ្ធ", "mosvy", "ministry_editor"),
        ("vanna", "វណ្ណា", "mop", "ministry_editor"),
        ("chenda", "ចិន្តា", "gs-nspc", "secretariat_reviewer"),
        ("bopha", "បុប្ផា", "gs-nspc", "secretariat_reviewer"),
        ("dara", "ដារា", "kh-cso", "agent"),
    ):
        info = await admin.add_agent(username, name, org, role, PASSWORD)
        actors[username] = Actor(info.id, info.role, info.organisation_slug, "", name)
    return Team(client.app[KNOWLEDGE], actors)


async def fresh_actor(team: Team, name: str) -> Actor:
    from bot.accounts import Viewer

    a = team[name]
    return await team.service.actor(Viewer(a.agent_id, 0, a.role))


async def live_text(service: KnowledgeService) -> str:
    live = await service.live()
    assert live is not None
    return live.text


async def changed_grade_10(team: Team, author: str = "sophal", amount: str = "35000") -> int:
    actor = await fresh_actor(team, author)
    change_id = await team.service.start(actor, "scholarship")
    await team.service.save(
        actor,
        change_id,
        1,
        {
            GRADE_10: {"value": amount, "unit": "riel", "period": "per_month"},
            GRADE_10_LABEL: NEW_LABEL,
        },
        MOEYS,
    )
    return change_id


def scholarship(text: str) -> dict[str, Any]:
    return next(s for s in kbprofile.loads(text)["services"] if s["id"] == "scholarship")


async def test_publish_and_roll_back_keep_every_revision(gateway, database_url) -> None:
    client = await gateway(database_url=database_url)
    team = await make_team(client)
    service = team.service
    seed = await live_text(service)
    assert seed == kbprofile.dumps(kbprofile.seed_to_document(REPO / "knowledge"))

    change_id = await changed_grade_10(team)
    sophal, chenda = await fresh_actor(team, "sophal"), await fresh_actor(team, "chenda")
    await service.submit(sophal, change_id, "ថវិកាឆ្នាំ២០២៦")
    number = await service.publish(chenda, change_id, "យល់ព្រម")
    assert number == 2
    live = await live_text(service)
    fact = kbprofile.get_fact(scholarship(live), GRADE_10)
    assert fact is not None
    assert fact["value"] == 35000
    assert fact["assured_date"] == "2026-12-05"
    assert fact["assurer"] == "សុផល"
    assert kbprofile.validate(kbprofile.loads(live)) == []
    assert [r.number for r in await service.revisions()] == [2, 1]

    assert await service.rollback(chenda, 1) == 3
    assert await live_text(service) == seed
    revisions = await service.revisions()
    assert [(r.number, r.rollback_of, r.published_by) for r in revisions] == [
        (3, 1, chenda.agent_id),
        (2, None, chenda.agent_id),
        (1, None, None),
    ]


async def test_export_import_export_is_byte_identical(gateway) -> None:
    client = await gateway()
    service = client.app[KNOWLEDGE]
    exported = await (await client.get("/api/knowledge/v1/catalogue")).read()
    assert kbprofile.validate(kbprofile.loads(exported)) == []
    await service.import_document(exported.decode())
    again = await (await client.get("/api/knowledge/v1/catalogue")).read()
    assert again == exported
    live = await service.live()
    assert live is not None
    assert live.number == 2


async def test_catalogue_etag_304_download_and_schema(gateway) -> None:
    client = await gateway()
    first = await client.get("/api/knowledge/v1/catalogue")
    assert first.status == 200
    etag = first.headers["ETag"]
    assert first.headers["X-Knowledge-Revision"] == "1"
    body = await first.json()
    assert body["profile"] == kbprofile.PROFILE
    again = await client.get("/api/knowledge/v1/catalogue", headers={"If-None-Match": etag})
    assert again.status == 304
    download = await client.get("/api/knowledge/v1/catalogue?download=1")
    assert "attachment" in download.headers["Content-Disposition"]
    schema = await client.get("/api/knowledge/v1/schema")
    assert schema.status == 200
    assert (await schema.json())["title"].startswith("SP4ALL Cambodia profile")


async def test_refusals_change_nothing(gateway, database_url) -> None:
    client = await gateway(database_url=database_url)
    team = await make_team(client)
    service = team.service
    before = await live_text(service)
    vanna, dara = await fresh_actor(team, "vanna"), await fresh_actor(team, "dara")
    sophal, chenda = await fresh_actor(team, "sophal"), await fresh_actor(team, "chenda")

    # an editor of another ministry
    with pytest.raises(NotAllowed, match="own ministry"):
        await service.start(vanna, "scholarship")
    assert await service.changes() == []

    # a draft without a source, and one without Khmer: saved, but not publishable
    change_id = await service.start(sophal, "scholarship")
    version = await service.save(
        sophal,
        change_id,
        1,
        {GRADE_10: {"value": "40000", "unit": "riel", "period": "per_month"}},
        None,
    )
    version = await service.save(
        sophal, change_id, version, {GRADE_10_LABEL: {"km": "", "en": "Upper secondary"}}, None
    )
    await service.submit(sophal, change_id)
    with pytest.raises(Invalid) as refused:
        await service.publish(chenda, change_id)
    assert "no source" in str(refused.value)
    assert "no verified date" in str(refused.value)
    assert "km text is missing" in str(refused.value)
    assert await live_text(service) == before

    # a source without a verified date is refused at once
    await service.reject(chenda, change_id, "សូមបញ្ជាក់ប្រភព")
    no_date = SourceInput(MOEYS.url, MOEYS.title, MOEYS.issuer, MOEYS.date, "")
    draft = await service.change(change_id)
    with pytest.raises(Invalid, match="verified"):
        await service.save(sophal, change_id, draft.version, {GRADE_10_LABEL: NEW_LABEL}, no_date)
    assert (await service.change(change_id)).service == draft.service

    # a stale save (from an older page)
    with pytest.raises(Conflict, match="newer version"):
        await service.save(sophal, change_id, 1, {GRADE_10_LABEL: NEW_LABEL}, MOEYS)
    assert (await service.change(change_id)).service == draft.service

    # someone else editing the same programme while the lock is held (saving takes it)
    await service.save(sophal, change_id, draft.version, {GRADE_10_LABEL: NEW_LABEL}, MOEYS)
    rith = await fresh_actor(team, "rith")
    with pytest.raises(Conflict, match="someone else"):
        await service.start(rith, "scholarship")

    # a CSO: a suggestion needs a source, and a CSO never publishes
    suggestion = await service.start(dara, "elderly_allowance")
    with pytest.raises(Invalid, match="source"):
        await service.save(dara, suggestion, 1, {"description": {"km": "ថ្មី", "en": "new"}}, None)
    await service.save(dara, suggestion, 1, {"alert": {"km": "ព័ត៌មានថ្មី", "en": "News"}}, MOEYS)
    await service.submit(dara, suggestion)
    with pytest.raises(NotAllowed):
        await service.publish(dara, suggestion)
    # a reviewer cannot publish their own draft
    own = await service.start(chenda, "nssf")
    await service.save(
        chenda, own, 1, {"description": {"km": "ប.ស.ស. ថ្មី", "en": "NSSF, new"}}, MOEYS
    )
    await service.submit(chenda, own)
    with pytest.raises(NotAllowed, match="own draft"):
        await service.publish(chenda, own)
    assert await live_text(service) == before
    assert len(await service.revisions()) == 1


async def test_a_draft_made_before_a_newer_publish_is_refused(gateway) -> None:
    client = await gateway()
    team = await make_team(client)
    service = team.service
    sophal, rith = await fresh_actor(team, "sophal"), await fresh_actor(team, "rith")
    chenda = await fresh_actor(team, "chenda")
    first = await changed_grade_10(team)
    await service.submit(sophal, first)  # releases the lock
    second = await changed_grade_10(team, "rith", "36000")
    await service.submit(rith, second)
    await service.publish(chenda, first)
    after_first = await live_text(service)
    with pytest.raises(Conflict, match="changed since this draft began"):
        await service.publish(chenda, second)
    assert await live_text(service) == after_first


async def test_quality_report_flags_old_and_unofficial_facts(gateway, monkeypatch) -> None:
    client = await gateway()
    service = client.app[KNOWLEDGE]
    stale = await service.stale_facts(max_age_days=1)
    assert {f["service"] for f in stale} >= {"scholarship", "equity_card"}
    assert await service.stale_facts(max_age_days=100_000) == []
    report = await service.source_report()
    assert any("phnompenhpost.com" in s["url"] for s in report)
    assert all(".gov.kh" not in s["url"] for s in report)


async def test_pages_in_both_languages_and_a_refusal_over_http(gateway) -> None:
    client = await gateway()
    team = await make_team(client)
    change_id = await changed_grade_10(team)
    editor, other = ConsoleUser(client), ConsoleUser(client)
    try:
        await editor.login("sophal")
        status, page = await editor.get("/console/knowledge")
        assert status == 200
        assert "scholarship" in page
        assert "Draft a change" in page
        editor.http.cookie_jar.update_cookies({"sp4all_console_lang": "km"})
        status, page = await editor.get(f"/console/knowledge/changes/{change_id}")
        assert status == 200
        assert "អ្វីដែលផ្លាស់ប្តូរ" in page  # "What changes"
        assert NEW_LABEL["km"] in page
        assert "35000" in page
        status, _ = await editor.get("/console/knowledge/history")
        assert status == 200
        status, page = await editor.get("/console/knowledge/report")
        assert status == 200
        assert "phnompenhpost.com" in page

        await other.login("vanna")
        before = len(await team.service.changes())
        resp = await other.http.post(
            other.url("/console/knowledge/programmes/scholarship/draft"),
            data={"csrf_token": other.csrf},
            allow_redirects=False,
        )
        assert resp.status == 403
        assert len(await team.service.changes()) == before
        resp = await other.http.post(
            other.url(f"/console/knowledge/changes/{change_id}/save"),
            data={"csrf_token": other.csrf, "version": "2", f"fact:{GRADE_10}:value": "1"},
            allow_redirects=False,
        )
        assert resp.status == 403
        fact = kbprofile.get_fact(
            json.loads((await team.service.change(change_id)).service), GRADE_10
        )
        assert fact is not None
        assert fact["value"] == 35000
    finally:
        await editor.close()
        await other.close()


async def test_the_whole_flow_through_the_forms(gateway) -> None:
    client = await gateway()
    await make_team(client)
    editor, reviewer = ConsoleUser(client), ConsoleUser(client)
    try:
        await editor.login("sophal")
        resp = await editor.http.post(
            editor.url("/console/knowledge/programmes/scholarship/draft"),
            data={"csrf_token": editor.csrf},
            allow_redirects=False,
        )
        assert resp.status == 303
        change_url = resp.headers["Location"]
        form = {
            "csrf_token": editor.csrf,
            "version": "1",
            f"fact:{GRADE_10}:value": "35000",
            f"fact:{GRADE_10}:unit": "riel",
            f"fact:{GRADE_10}:period": "per_month",
            "source_url": MOEYS.url,
            "source_title": MOEYS.title,
            "source_issuer": MOEYS.issuer,
            "source_date": MOEYS.date,
            "source_verified": MOEYS.verified,
        }
        resp = await editor.http.post(
            editor.url(change_url + "/save"), data=form, allow_redirects=False
        )
        assert resp.status == 303, await resp.text()
        resp = await editor.http.post(
            editor.url(change_url + "/submit"),
            data={"csrf_token": editor.csrf},
            allow_redirects=False,
        )
        assert resp.status == 303
        await reviewer.login("chenda")
        _status, page = await reviewer.get(change_url)
        assert 'class="changed"' in page
        assert "30,000 riel a month" in page
        resp = await reviewer.http.post(
            reviewer.url(change_url + "/publish"),
            data={"csrf_token": reviewer.csrf},
            allow_redirects=False,
        )
        assert resp.status == 303
        catalogue = await client.get("/api/knowledge/v1/catalogue")
        assert catalogue.headers["X-Knowledge-Revision"] == "2"
        fact = kbprofile.get_fact(scholarship(await catalogue.text()), GRADE_10)
        assert fact is not None
        assert fact["value"] == 35000
        status, page = await reviewer.get("/console/knowledge/history")
        assert status == 200
        assert "ចិន្តា" in page  # who published r2
        resp = await reviewer.http.post(
            reviewer.url("/console/knowledge/history/1/rollback"),
            data={"csrf_token": reviewer.csrf},
            allow_redirects=False,
        )
        assert resp.status == 303
        catalogue = await client.get("/api/knowledge/v1/catalogue")
        assert catalogue.headers["X-Knowledge-Revision"] == "3"
        fact = kbprofile.get_fact(scholarship(await catalogue.text()), GRADE_10)
        assert fact is not None
        assert fact["value"] == 30000
        # an editor cannot roll back
        resp = await editor.http.post(
            editor.url("/console/knowledge/history/2/rollback"),
            data={"csrf_token": editor.csrf},
            allow_redirects=False,
        )
        assert resp.status == 403
        assert (await client.get("/api/knowledge/v1/catalogue")).headers[
            "X-Knowledge-Revision"
        ] == "3"
    finally:
        await editor.close()
        await reviewer.close()


async def test_every_gateway_process_serves_the_same_live_revision(
    aiohttp_client, make_settings, postgres_url
) -> None:
    from bot._app import create_app

    first = await aiohttp_client(create_app(make_settings(database_url=postgres_url)))
    second = await aiohttp_client(create_app(make_settings(database_url=postgres_url)))
    team = await make_team(first)
    change_id = await changed_grade_10(team)
    await team.service.submit(await fresh_actor(team, "sophal"), change_id)
    before = await second.get("/api/knowledge/v1/catalogue")
    etag = before.headers["ETag"]
    assert before.headers["X-Knowledge-Revision"] == "1"  # seeded once, not twice
    await team.service.publish(await fresh_actor(team, "chenda"), change_id)
    after = await second.get("/api/knowledge/v1/catalogue", headers={"If-None-Match": etag})
    assert after.status == 200
    assert after.headers["X-Knowledge-Revision"] == "2"
    assert after.headers["ETag"] != etag
    assert await after.text() == await (await first.get("/api/knowledge/v1/catalogue")).text()


async def test_preview_shows_the_draft_answers_in_both_languages(gateway) -> None:
    client = await gateway()
    team = await make_team(client)
    change_id = await changed_grade_10(team)
    editor = ConsoleUser(client)
    try:
        await editor.login("sophal")
        status, page = await editor.get(f"/console/knowledge/changes/{change_id}/preview")
        assert status == 200, page
        assert "35,000 riel a month" in page  # the draft
        assert "30,000 riel a month" in page  # the live revision beside it
        assert "៣៥.០០០ រៀល" in page
        assert "Last verified on 5 Dec 2026." in page
        assert 'class="changed"' in page
    finally:
        await editor.close()
