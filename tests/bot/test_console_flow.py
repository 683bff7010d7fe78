"""The console over HTTP, on SQLite and PostgreSQL: a citizen's handoff routed by place,
claimed, answered in Khmer, noted, transferred, closed, rated; and administration."""

from __future__ import annotations

import html
from pathlib import Path

from bot.channels._texts import gateway_text
from bot.console import CONSOLE
from bot.handoff import HANDOFFS
from tests.bot.console_helpers import (
    ASK_FOR_A_PERSON,
    BANTEAY_NEANG,
    TONLE_BASAK,
    ConsoleUser,
    citizen_says,
    handoff_responder,
    logged_in,
    make_team,
)
from tests.bot.gateway_fakes import FakeRasa, FakeTelegram, wait_until, wait_until_async

KHMER_REPLY = "សួស្តី! ខ្ញុំនឹងជួយអ្នកអំពីប័ណ្ណសមធម៌។"  # "Hello! I will help you with the equity card."


def texts_to(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [str(c.params["text"]) for c in fake.sent() if int(c.params["chat_id"]) == chat_id]


async def test_handoff_routed_claimed_answered_in_khmer_and_closed(
    database_url: str, gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    fake_rasa.responder = handoff_responder
    client = await gateway(database_url=database_url)
    team = await make_team(client)
    # two citizens share where they are, then ask for a person in Khmer
    await citizen_says(client, 1, 501, location=BANTEAY_NEANG)
    await citizen_says(client, 2, 502, location=TONLE_BASAK)
    await citizen_says(client, 3, 501, ASK_FOR_A_PERSON)
    await citizen_says(client, 4, 502, ASK_FOR_A_PERSON)
    sokha = await logged_in(client, "sokha")
    dara = await logged_in(client, "dara")
    srey = await logged_in(client, "srey")
    try:
        await wait_until_async(sokha.queue, lambda q: len(q) == 1, timeout=10)
        await wait_until_async(dara.queue, lambda q: len(q) == 1, timeout=10)
        [mine] = await sokha.queue()
        [theirs] = await dara.queue()
        assert (mine["chat_id"], mine["organisation_id"]) == ("501", team.north.id)
        assert (theirs["chat_id"], theirs["organisation_id"]) == ("502", team.capital.id)
        assert mine["place_name"] == "Banteay Neang"
        assert mine["language"] == "km"
        handoff = mine["id"]

        status, body = await sokha.act(f"/console/api/handoffs/{handoff}/claim")
        assert status == 200, body
        assert body["handoff"]["agent_name"] == "Sokha"
        claimed = gateway_text("handoff_claimed", "km", agent="Sokha", org=team.north.name)
        await wait_until(lambda: claimed in texts_to(fake_telegram, 501))
        status, _ = await dara.act(f"/console/api/handoffs/{handoff}/claim")
        assert status == 404  # another organisation's conversation does not exist for Dara

        status, _ = await sokha.act(
            f"/console/api/handoffs/{handoff}/reply", {"text": KHMER_REPLY}
        )
        assert status == 200
        # the person's words, under their name and organisation in bold
        said = f"<b>Sokha · {team.north.name}</b>\n{KHMER_REPLY}"
        await wait_until(lambda: said in texts_to(fake_telegram, 501))

        rasa_calls = len(fake_rasa.calls)
        await citizen_says(client, 5, 501, "អរគុណ បង")  # "thank you"
        status, _ = await sokha.act(
            f"/console/api/handoffs/{handoff}/note", {"text": "Card lost in the flood"}
        )
        assert status == 200

        async def history() -> list[dict[str, str]]:
            return list((await sokha.api(f"/console/api/handoffs/{handoff}"))["history"])

        await wait_until_async(history, lambda h: any(i["text"] == "អរគុណ បង" for i in h))
        items = await history()
        authors = {(i["author"], i["text"]) for i in items}
        assert ("citizen", ASK_FOR_A_PERSON) in authors
        assert ("agent", KHMER_REPLY) in authors
        assert ("note", "Card lost in the flood") in authors
        assert ("assistant", "ខ្ញុំកំពុងភ្ជាប់អ្នកទៅបុគ្គលិកម្នាក់។") in authors
        assert len(fake_rasa.calls) == rasa_calls  # while handed off, Rasa is not asked
        assert "Card lost in the flood" not in " ".join(texts_to(fake_telegram, 501))
        summary = (await sokha.api(f"/console/api/handoffs/{handoff}"))["summary"]
        assert summary["asked"] == ["[location Banteay Neang]", ASK_FOR_A_PERSON]
        assert summary["told"][-1] == "ខ្ញុំកំពុងភ្ជាប់អ្នកទៅបុគ្គលិកម្នាក់។"
        assert summary["note"].startswith("Topic: equity_card.")

        status, page = await sokha.get(f"/console/c/{handoff}")
        assert status == 200
        assert html.escape(KHMER_REPLY) in page or KHMER_REPLY in page
        assert 'lang="km"' in page
        assert "Banteay Neang" in page

        stats = (await srey.api("/console/api/stats"))["organisations"]
        assert [(s["name"], s["claimed"], s["load"]) for s in stats] == [
            (team.north.name, 1, {"Sokha": 1})
        ]

        status, _ = await sokha.act(f"/console/api/handoffs/{handoff}/close")
        assert status == 200
        closed = gateway_text("handoff_closed", "km")
        await wait_until(lambda: closed in texts_to(fake_telegram, 501))
        await wait_until(lambda: ("telegram:501", {"event": "resume"}) in fake_rasa.events)
        assert await sokha.queue() == []

        await citizen_says(client, 6, 501, "សួស្តី")
        await wait_until(lambda: "echo: សួស្តី" in texts_to(fake_telegram, 501))

        assert await client.app[HANDOFFS].rate("telegram", "501", handoff, 5)
        stats = (await srey.api("/console/api/stats"))["organisations"]
        assert (stats[0]["ratings"], stats[0]["rating_mean"]) == (1, 5.0)
    finally:
        for user in (sokha, dara, srey):
            await user.close()


async def test_transfer_to_another_organisation_then_to_a_person(
    database_url: str, gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    fake_rasa.responder = handoff_responder
    client = await gateway(database_url=database_url)
    team = await make_team(client)
    await citizen_says(client, 1, 601, location=BANTEAY_NEANG)
    await citizen_says(client, 2, 601, ASK_FOR_A_PERSON)
    sokha = await logged_in(client, "sokha")
    dara = await logged_in(client, "dara")
    try:
        await wait_until_async(sokha.queue, lambda q: len(q) == 1, timeout=10)
        [item] = await sokha.queue()
        status, body = await sokha.act(
            f"/console/api/handoffs/{item['id']}/transfer", {"organisation_id": team.capital.id}
        )
        assert status == 200, body
        assert await sokha.queue() == []
        [moved] = await dara.queue()
        assert moved["id"] == item["id"]
        status, _ = await sokha.get(f"/console/c/{item['id']}")
        assert status == 404
        # Dara hands it back to Sokha by name: it is claimed for her at once
        status, body = await dara.act(
            f"/console/api/handoffs/{item['id']}/transfer",
            {"agent_id": team.people["sokha"].id},
        )
        assert status == 200, body
        [back] = await sokha.queue()
        assert (back["status"], back["agent_name"]) == ("claimed", "Sokha")
        status, body = await sokha.act(f"/console/api/handoffs/{item['id']}/transfer", {})
        assert status == 409  # neither an organisation nor a person
    finally:
        await sokha.close()
        await dara.close()


async def test_admin_pages_manage_organisations_and_agents(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    client = await gateway()
    await make_team(client)
    root = await logged_in(client, "root")
    try:
        status, page = await root.get("/console/admin/orgs")
        assert status == 200
        assert "Banteay Meanchey CSO" in page
        status, body, location = await root.form(
            "/console/admin/orgs",
            {
                "slug": "siem-reap-cso",
                "name": "Siem Reap <CSO>",
                "languages": "km",
                "areas": "17, 0102",
                "office_hours": '{"mon-fri": ["08:00-12:00", "13:30-17:00"]}',
                "sla_minutes": "20",
            },
        )
        assert status == 303, body
        status, page = await root.get(location)
        assert "Siem Reap &lt;CSO&gt;" in page  # escaped
        assert "<CSO>" not in page
        status, page, _ = await root.form(
            "/console/admin/orgs", {"slug": "bad", "name": "Bad", "areas": "98"}
        )
        assert status == 400
        assert "98" in page
        status, page, _ = await root.form(
            "/console/admin/orgs",
            {"slug": "bad", "name": "Bad", "office_hours": '{"mon": ["17:00-08:00"]}'},
        )
        assert status == 400
        assert "must end after it starts" in page

        north = (await client.app[CONSOLE].admin.organisation("bmc-cso")).id
        status, page, _ = await root.form(
            "/console/admin/agents",
            {
                "username": "vanna",
                "display_name": "Vanna",
                "role": "agent",
                "organisation": str(north),
            },
        )
        assert status == 200
        assert "vanna" in page
        password = page.split("vanna (shown once, give it in person): ")[1].split("<")[0]
        vanna = ConsoleUser(client)
        try:
            assert (await vanna.login("vanna", password)).status == 303
        finally:
            await vanna.close()
        # a reset gives a new password and ends the agent's sessions
        status, page, _ = await root.form(
            f"/console/admin/agents/{(await client.app[CONSOLE].admin.agent('vanna')).id}"
            "/password",
            {},
        )
        assert status == 200
        assert password not in page
        agent_id = (await client.app[CONSOLE].admin.agent("vanna")).id
        status, _, _ = await root.form(
            f"/console/admin/agents/{agent_id}",
            {"display_name": "Vanna", "role": "agent", "organisation": str(north)},
        )  # no "active" box ticked: deactivated
        assert status == 303
        assert not (await client.app[CONSOLE].admin.agent("vanna")).active
    finally:
        await root.close()


KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"


def write_canned(folder: Path, text: str | None = None) -> None:
    """What a CSO does: edit knowledge/canned_replies.yml (here a copy)."""
    if text is None:
        text = (KNOWLEDGE / "canned_replies.yml").read_text("utf-8")
    (folder / "canned_replies.yml").write_text(text, "utf-8")


async def test_canned_replies_in_the_citizens_language_and_cso_edits_show(
    gateway, fake_telegram: FakeTelegram, fake_rasa: FakeRasa, tmp_path: Path
) -> None:
    write_canned(tmp_path)
    fake_rasa.responder = handoff_responder
    client = await gateway(knowledge_dir=tmp_path)
    await make_team(client)
    await citizen_says(client, 1, 701, location=BANTEAY_NEANG)
    await citizen_says(client, 2, 701, ASK_FOR_A_PERSON)
    sokha = await logged_in(client, "sokha")
    try:
        await wait_until_async(sokha.queue, lambda q: len(q) == 1, timeout=10)
        [item] = await sokha.queue()
        await sokha.act(f"/console/api/handoffs/{item['id']}/claim")
        status, page = await sokha.get(f"/console/c/{item['id']}")
        assert status == 200
        khmer = page.index("សួស្តី! ខ្ញុំឈ្មោះ Sokha មកពី Banteay Meanchey CSO")
        english = page.index("Hello! My name is Sokha, from Banteay Meanchey CSO")
        assert khmer < english  # the citizen's language first
        write_canned(tmp_path, "replies:\n  - id: new\n    km: សូមរង់ចាំ\n    en: Please wait\n")
        status, page = await sokha.get(f"/console/c/{item['id']}")
        assert 'data-text="សូមរង់ចាំ"' in page
        assert "Hello! My name is" not in page
    finally:
        await sokha.close()
