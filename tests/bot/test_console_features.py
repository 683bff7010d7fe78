"""The console as a framework: a registered feature appears in the menu only for its roles
and its routes are refused to other roles (403, through the shared mapping); templates
escape what people typed; the console reads in words, in English and in Khmer."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from bot.accounts import OrgKind, Role, Viewer
from bot.console import CONSOLE, Console, ConsoleFeature, FeatureRoutes, _admin_pages, render
from tests.bot.console_helpers import PASSWORD, ConsoleUser, logged_in, make_team
from tests.bot.test_console_auth import NORTH_PLACE, open_handoff

KNOWLEDGE_KM = "សន្លឹកព័ត៌មាន"  # "fact sheets" (a stand-in feature)


async def knowledge_page(request: web.Request) -> web.StreamResponse:
    """A feature's page in the console's layout (its template is the console's error page,
    which any feature may reuse)."""
    return render(
        request, "console/error.html", message="fact sheets", back="/console/factsheets"
    )


def knowledge_routes(routes: FeatureRoutes) -> None:
    routes.get("", knowledge_page, name="home")


KNOWLEDGE = ConsoleFeature(
    name="factsheets",
    label_km=KNOWLEDGE_KM,
    label_en="Fact sheets",
    roles=frozenset({Role.MINISTRY_EDITOR, Role.ADMIN}),
    setup=knowledge_routes,
    prefix="/factsheets",
    home="home",
)


def test_the_menu_is_built_from_the_registry_and_the_role() -> None:
    console = Console()
    console.add_feature(KNOWLEDGE)
    editor = Viewer(1, 1, Role.MINISTRY_EDITOR, "Vanna")
    agent = Viewer(2, 1, Role.AGENT, "Sokha")
    assert [(m.label, m.url) for m in console.registry.menu(editor, "en")] == [
        ("Fact sheets", "/factsheets")  # not mounted under /console in this unit test
    ]
    assert [m.label for m in console.registry.menu(editor, "km")] == [KNOWLEDGE_KM]
    assert console.registry.menu(agent, "en") == []
    assert console.registry.menu(None, "en") == []
    with pytest.raises(ValueError, match="registered already"):
        console.add_feature(KNOWLEDGE)


@pytest.fixture
def with_knowledge(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's console with one more feature, registered like the built-in ones."""
    monkeypatch.setattr(_admin_pages, "ADMIN_FEATURES", (*_admin_pages.ADMIN_FEATURES, KNOWLEDGE))


async def test_a_feature_is_for_its_roles_only(gateway: Any, with_knowledge: None) -> None:
    client = await gateway()
    await make_team(client)
    admin = client.app[CONSOLE].admin
    ministry = await admin.add_organisation("mosvy", "Ministry of Social Affairs", kind="ministry")
    assert ministry.kind == OrgKind.MINISTRY
    await admin.add_agent("vanna", "Vanna", "mosvy", Role.MINISTRY_EDITOR, PASSWORD)
    vanna = await logged_in(client, "vanna")
    sokha = await logged_in(client, "sokha")
    root = await logged_in(client, "root")
    try:
        status, page = await vanna.get("/console/factsheets")
        assert status == 200
        assert '<a href="/console/factsheets">Fact sheets</a>' in page
        assert ">Queue</a>" not in page  # no queue in a ministry editor's menu
        status, page = await vanna.get("/console/")  # the handoff feature: CSO roles only
        assert status == 403
        assert "this is for: CSO agent, CSO supervisor, administrator" in page
        status, page = await sokha.get("/console/factsheets")
        assert status == 403
        assert "this needs the ministry_editor role" not in page  # two roles: said in words
        assert "this is for: administrator, ministry editor" in page
        status, body = await sokha.get(
            "/console/factsheets", headers={"Accept": "application/json"}
        )
        assert status == 403
        assert "ministry editor" in body
        assert "/console/factsheets" not in (await sokha.get("/console/"))[1]
        assert (
            '<a href="/console/factsheets">Fact sheets</a>' in (await root.get("/console/"))[1]
        )
    finally:
        for user in (vanna, sokha, root):
            await user.close()


async def test_a_ministry_editor_lands_on_their_first_feature(
    gateway: Any, with_knowledge: None
) -> None:
    client = await gateway()
    admin = client.app[CONSOLE].admin
    await admin.add_organisation("mosvy", "Ministry", kind="ministry")
    await admin.add_agent("vanna", "Vanna", "mosvy", Role.MINISTRY_EDITOR, PASSWORD)
    vanna = ConsoleUser(client)
    try:
        token = await vanna.login_form()
        async with vanna.http.post(
            vanna.url("/console/login"),
            data={"csrf_token": token, "username": "vanna", "password": PASSWORD},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/console/factsheets"  # not the CSOs' queue
        status, _page = await vanna.get("/console/login")  # logged in: sent on
        assert status == 303
    finally:
        await vanna.close()


async def test_templates_escape_organisation_names_and_citizen_words(gateway: Any) -> None:
    client = await gateway()
    await make_team(client)
    admin = client.app[CONSOLE].admin
    await admin.add_organisation("evil", '<script>alert("org")</script> CSO', areas=["12"])
    await open_handoff(client, "citizen-x", NORTH_PLACE, "<script>alert('citizen')</script>")
    root = await logged_in(client, "root")
    try:
        pages = [(await root.get(p))[1] for p in ("/console/admin/orgs", "/console/admin/agents")]
        queue = (await root.get("/console/"))[1]
        handoff = (await root.api("/console/api/queue"))["handoffs"][0]["id"]
        conversation = (await root.get(f"/console/c/{handoff}"))[1]
        for page in (*pages, conversation):
            assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#34;org&#34;)&lt;/script&gt; CSO" in pages[0]
        assert "&lt;script&gt;alert(&#39;citizen&#39;)&lt;/script&gt;" in queue
        assert "&lt;script&gt;alert(&#39;citizen&#39;)&lt;/script&gt;" in conversation
    finally:
        await root.close()


INTERNAL_NAMES = ("user_request", "opened (", "reason=", "queued<", ">agent<", "national_pool")


async def test_the_console_reads_in_words_in_english_and_khmer(gateway: Any) -> None:
    client = await gateway()
    await make_team(client)
    handoff = await open_handoff(client, "citizen-y", NORTH_PLACE, "ជួយខ្ញុំផង")
    sokha = await logged_in(client, "sokha")
    root = await logged_in(client, "root")
    try:
        english = [(await sokha.get(p))[1] for p in ("/console/", f"/console/c/{handoff}")]
        english.append((await root.get("/console/admin/agents"))[1])
        english.append((await root.get("/console/admin/orgs"))[1])
        for page in english:
            for name in INTERNAL_NAMES:
                assert name not in page, name
        assert "asked for a person" in english[0]
        assert "Handed to a person · asked for a person" in english[1]
        assert "waiting" in english[1]
        assert "CSO agent" in english[2]
        assert "civil-society organisation" in english[3]
        assert "national pool" in english[3]
        for user in (sokha, root):
            status, _body, _location = await user.form("/console/lang", {"lang": "km"})
            assert status == 303
        khmer = [(await sokha.get(p))[1] for p in ("/console/", f"/console/c/{handoff}")]
        khmer.append((await root.get("/console/admin/agents"))[1])
        for page in khmer:
            assert '<html lang="km">' in page
            for name in INTERNAL_NAMES:
                assert name not in page, name
        assert "សុំនិយាយជាមួយមនុស្ស" in khmer[0]  # "asked for a person"
        assert "បានបញ្ជូនទៅបុគ្គលិក · សុំនិយាយជាមួយមនុស្ស" in khmer[1]
        assert "កំពុងរង់ចាំ" in khmer[1]  # "waiting" (the status)
        assert "បុគ្គលិកអង្គការសង្គមស៊ីវិល" in khmer[2]  # "CSO agent"
        assert "Asked for a person" not in khmer[0]
    finally:
        await sokha.close()
        await root.close()
