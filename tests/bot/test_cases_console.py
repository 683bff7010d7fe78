"""Cases in the console through the real login, forms and JSON: the queue, a case filed on
a citizen's behalf, referral to a ministry focal point who resolves it, notes that stay
internal, roles, both languages, and a handoff chat turned into a case."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from bot import keys
from bot.cases import CASES, Case, CaseStatus, format_code
from bot.console import CONSOLE
from bot.handoff import HANDOFFS, HandoffRequest
from bot.storage._db import Chat
from tests.bot.console_helpers import PASSWORD, logged_in, make_team
from tests.bot.gateway_fakes import FakeRasa

TONLE_BASAK = "120101"


async def test_file_refer_resolve_in_the_console(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    team = await make_team(client)
    admin = client.app[CONSOLE].admin
    ministry = await admin.add_organisation("mosvy", "MoSVY", kind="ministry")
    await admin.add_agent("focal", "Focal", "mosvy", "ministry_editor", PASSWORD)
    dara = await logged_in(client, "dara")  # Phnom Penh CSO
    sokha = await logged_in(client, "sokha")  # Banteay Meanchey CSO
    focal = await logged_in(client, "focal")
    try:
        status, page = await dara.get("/console/cases/new")
        assert status == 200
        assert "File a case for a citizen" in page or "ដាក់ករណីជំនួសពលរដ្ឋ" in page
        status, _body, location = await dara.form(
            "/console/cases/new",
            {
                "kind": "complaint",
                "topic": "missing_payment",
                "programme": "family_package",
                "place_code": TONLE_BASAK,
                "language": "km",
                "description": "លោកយាយមិនទាន់ទទួលបានប្រាក់ឧបត្ថម្ភបីខែហើយ",
            },
        )
        assert status == 303
        case_id = int(location.rsplit("/", 1)[1])
        async with client.app[keys.STORE].reading() as session:
            case = await session.get(Case, case_id)
        assert case is not None
        assert (case.channel, case.urgent, case.organisation_id) == (
            "agent",
            True,
            team.capital.id,
        )
        code = format_code(case.code)

        queue = await dara.api("/console/api/cases")
        assert [c["code"] for c in queue["cases"]] == [code]
        assert "description" not in queue["cases"][0]  # the citizen's words stay on the page
        assert (await sokha.api("/console/api/cases"))["cases"] == []  # another organisation
        status, _ = await sokha.get(f"/console/cases/{case_id}")
        assert status == 404

        status, page = await dara.get(f"/console/cases/{case_id}")
        assert status == 200
        page = html.unescape(page)
        assert code in page
        assert "លោកយាយមិនទាន់ទទួលបានប្រាក់ឧបត្ថម្ភបីខែហើយ" in page
        assert "Tonle Basak" in page or "ទន្លេបាសាក់" in page

        assert (await dara.form(f"/console/cases/{case_id}/assign", {}))[0] == 303
        assert (await dara.form(f"/console/cases/{case_id}/note", {"text": "ហៅទូរស័ព្ទទៅមេឃុំ"}))[
            0
        ] == 303
        status, _ = await dara.act(
            f"/console/api/cases/{case_id}/refer", {"organisation_id": ministry.id, "text": ""}
        )
        assert status == 422 or status == 400  # a reason is required
        status, body = await dara.act(
            f"/console/api/cases/{case_id}/refer",
            {"organisation_id": ministry.id, "text": "ត្រូវការការសម្រេចពីក្រសួង"},
        )
        assert status == 200, body
        assert [c["code"] for c in (await focal.api("/console/api/cases"))["cases"]] == [code]
        status, _b, _l = await focal.form(
            f"/console/cases/{case_id}/resolve", {"template": "received", "language": "km"}
        )
        assert status == 303
        detail = await dara.api(f"/console/api/cases/{case_id}")
        assert detail["status"] == CaseStatus.RESOLVED
        assert [k for k, _s in detail["history"]] == [
            "created",
            "assigned",
            "note",
            "referred",
            "status",
        ]
        status, page = await focal.get(f"/console/cases/{case_id}")
        assert "ហៅទូរស័ព្ទទៅមេឃុំ" in html.unescape(page)  # notes are for the team
    finally:
        for user in (dara, sokha, focal):
            await user.close()


async def test_menu_languages_and_roles(gateway) -> None:
    client = await gateway()
    await make_team(client)
    dara = await logged_in(client, "dara")
    try:
        status, page = await dara.get("/console/cases")
        assert status == 200
        assert re.search(r'href="/console/cases"', page)
        km = "ករណីកំពុងបើក" in page
        await dara.form("/console/lang", {"lang": "en" if km else "km"})
        _s, other = await dara.get("/console/cases")
        assert ("Open cases" in other) == km
        assert ("ករណីកំពុងបើក" in other) != km
    finally:
        await dara.close()


async def test_a_handoff_chat_becomes_a_case(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    await make_team(client)
    async with client.app[keys.STORE].writing() as session:
        session.add(Chat(channel="telegram", chat_id="5001", language="km"))
        await session.commit()
    handoff = await client.app[HANDOFFS].open(
        HandoffRequest(
            channel="telegram",
            chat_id="5001",
            reason="user_request",
            language="km",
            place_code=TONLE_BASAK,
            summary="Topic: equity_card.",
        )
    )
    dara = await logged_in(client, "dara")
    try:
        status, body = await dara.act(
            f"/console/api/cases/from-handoff/{handoff.id}",
            {"kind": "complaint", "description": "គេមិនឲ្យខ្ញុំចុះឈ្មោះ"},
        )
        assert status == 200, body
        async with client.app[keys.STORE].reading() as session:
            case = await session.scalar(select(Case).where(Case.id == body["case"]))
        assert case is not None
        assert (case.channel, case.commune_code, case.description) == (
            "telegram",
            TONLE_BASAK,
            "គេមិនឲ្យខ្ញុំចុះឈ្មោះ",
        )
        assert case.chat_id is not None
        assert (await client.app[CASES].by_code(case.code)) is not None
        status, page = await dara.get(f"/console/c/{handoff.id}")
        assert status == 200
        assert f'action="/console/cases/from-handoff/{handoff.id}"' in page
        status, _body, location = await dara.form(
            f"/console/cases/from-handoff/{handoff.id}", {"kind": "question", "description": ""}
        )
        assert status == 303
        assert location.startswith("/console/cases/")
    finally:
        await dara.close()
