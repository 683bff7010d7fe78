"""Console security: logged-out requests, CSRF, organisation boundaries (pages, API, live
events), roles, login throttling, session expiry, cookies, headers and escaping."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import select, update

from bot import keys
from bot.console import CONSOLE
from bot.handoff import HANDOFFS, HandoffRequest
from bot.storage._db import ConsoleSession, utcnow
from tests.bot.console_helpers import (
    PASSWORD,
    ConsoleUser,
    logged_in,
    make_team,
)
from tests.bot.gateway_fakes import FakeRasa

NORTH_PLACE = "010201"
CAPITAL_PLACE = "120101"


async def open_handoff(client: Any, chat_id: str, place: str, text: str = "") -> int:
    """A handoff opened through the service (as the pipeline does), after a citizen's
    message so the history has something in it."""
    store = client.app[keys.STORE]
    from bot.storage._models import InboundMessage

    if text:
        await store.ingest(
            InboundMessage(
                channel="webchat",
                external_id=f"m-{chat_id}",
                chat_id=chat_id,
                kind="text",
                text=text,
                language="km",
            )
        )
    handoff = await client.app[HANDOFFS].open(
        HandoffRequest(
            channel="webchat",
            chat_id=chat_id,
            reason="user_request",
            language="km",
            place_code=place,
            summary=text,
        )
    )
    return int(handoff.id)


async def test_logged_out_requests_are_refused(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    await make_team(client)
    handoff = await open_handoff(client, "citizen-north", NORTH_PLACE)
    resp = await client.get("/console/", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/console/login?next=/console/"
    for path in ("/console/api/queue", "/console/events", f"/console/api/handoffs/{handoff}"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 401, path
    resp = await client.post(f"/console/api/handoffs/{handoff}/claim", allow_redirects=False)
    assert resp.status == 401
    resp = await client.get("/console/supervisor", allow_redirects=False)
    assert resp.status == 303
    [view] = await client.app[HANDOFFS].queue(_admin_viewer())
    assert view.status == "queued"


def _admin_viewer() -> Any:
    from bot.handoff import Viewer

    return Viewer(agent_id=0, organisation_id=0, role="admin")


async def test_login_cookie_is_hardened_hashed_and_logout_deletes_the_session(
    gateway, fake_rasa: FakeRasa
) -> None:
    client = await gateway(console_session_hours=2.0)
    await make_team(client)
    user = ConsoleUser(client)
    try:
        resp = await user.login("sokha")
        assert resp.status == 303
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/console" in cookie
        assert "Max-Age=7200" in cookie
        assert "Secure" not in cookie  # plain http on this host
        value = re.search(r"sp4all_console=([^;]+)", cookie)
        assert value is not None
        token = value.group(1)
        async with client.app[keys.STORE].reading() as session:
            rows = list(await session.scalars(select(ConsoleSession)))
        assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
        assert token not in {r.token_hash for r in rows}
        remaining = rows[0].expires_at.replace(tzinfo=utcnow().tzinfo) - utcnow()
        assert timedelta(hours=1.9) < remaining <= timedelta(hours=2)

        status, _, location = await user.form("/console/logout", {})
        assert (status, location) == (303, "/console/login")
        async with client.app[keys.STORE].reading() as session:
            assert list(await session.scalars(select(ConsoleSession))) == []
        # the old cookie is worthless now, even if a copy was kept
        resp = await client.get("/console/api/queue", cookies={"sp4all_console": token})
        assert resp.status == 401
    finally:
        await user.close()


async def test_cookies_are_secure_behind_https(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway(public_url="https://sp4all.example.org")
    await make_team(client)
    form = await client.get("/console/login")
    assert "Secure" in form.headers["Set-Cookie"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text())
    assert token is not None
    resp = await client.post(
        "/console/login",
        data={"csrf_token": token.group(1), "username": "sokha", "password": PASSWORD},
        headers={"Cookie": f"sp4all_login={token.group(1)}"},
        allow_redirects=False,
    )
    assert resp.status == 303
    session_cookie = [c for c in resp.headers.getall("Set-Cookie") if "sp4all_console=" in c]
    assert "Secure" in session_cookie[0]


async def test_wrong_passwords_are_throttled_per_username_and_address(
    gateway, fake_rasa: FakeRasa
) -> None:
    client = await gateway()
    await make_team(client)
    user = ConsoleUser(client)
    try:
        for _ in range(5):
            resp = await user.login("sokha", "wrong password!")
            assert resp.status == 401
        resp = await user.login("sokha", PASSWORD)  # right, but too late
        assert resp.status == 429
        assert 800 < int(resp.headers["Retry-After"]) <= 900
        assert (await user.login("dara")).status == 303  # another username is not locked
    finally:
        await user.close()
    stranger = ConsoleUser(client)
    try:
        unknown = await stranger.login("nobody", PASSWORD)
        assert unknown.status == 401  # the same answer as a wrong password
    finally:
        await stranger.close()


async def test_missing_or_forged_csrf_token_is_refused(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    await make_team(client)
    handoff = await open_handoff(client, "citizen-north", NORTH_PLACE)
    sokha = await logged_in(client, "sokha")
    srey = await logged_in(client, "srey")
    path = f"/console/api/handoffs/{handoff}/claim"
    try:
        assert (await sokha.act(path, csrf=""))[0] == 403
        assert (await sokha.act(path, csrf="x" * 43))[0] == 403
        assert (await sokha.act(path, csrf=srey.csrf))[0] == 403  # another session's token
        status, _, _ = await sokha.form(path, {}, with_csrf=False)
        assert status == 403
        status, _, _ = await sokha.form(path, {"csrf_token": "forged"}, with_csrf=False)
        assert status == 403
        # a cross-site form post (another Origin) is refused even with a token
        async with sokha.http.post(
            sokha.url(path),
            data={"csrf_token": sokha.csrf},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 403
        [view] = await client.app[HANDOFFS].queue(_admin_viewer())
        assert view.status == "queued"  # nothing happened
        status, _, location = await sokha.form(path, {})
        assert (status, location) == (303, f"/console/c/{handoff}")
        [view] = await client.app[HANDOFFS].queue(_admin_viewer())
        assert view.agent_name == "Sokha"
        # the login form needs its own token too
        async with (
            aiohttp.ClientSession() as stranger,
            stranger.post(
                sokha.url("/console/login"),
                data={"username": "sokha", "password": PASSWORD, "csrf_token": "guess"},
                allow_redirects=False,
            ) as resp,
        ):
            assert resp.status == 403
    finally:
        await sokha.close()
        await srey.close()


async def test_an_agent_cannot_read_another_organisations_conversation(
    gateway, fake_rasa: FakeRasa
) -> None:
    client = await gateway()
    await make_team(client)
    secret = "ខ្ញុំមិនបានទទួលប្រាក់ទេ លេខទូរស័ព្ទ 012345678"
    theirs = await open_handoff(client, "citizen-capital", CAPITAL_PLACE, secret)
    mine = await open_handoff(client, "citizen-north", NORTH_PLACE, "សួស្តី")
    sokha = await logged_in(client, "sokha")
    dara = await logged_in(client, "dara")
    try:
        assert [h["id"] for h in await sokha.queue()] == [mine]
        assert [h["id"] for h in await dara.queue()] == [theirs]
        for path in (
            f"/console/c/{theirs}",
            f"/console/api/handoffs/{theirs}",
            f"/console/partial/c/{theirs}",
        ):
            status, body = await sokha.get(path)
            assert status == 404, path
            assert secret not in body
        assert secret not in (await sokha.get("/console/"))[1]
        assert secret not in (await sokha.get("/console/partial/queue"))[1]
        for action in ("claim", "note", "close"):
            status, _ = await sokha.act(f"/console/api/handoffs/{theirs}/{action}", {"text": "x"})
            assert status == 404, action
        # a missing id answers the same as someone else's: ids leak nothing
        assert (await sokha.get("/console/api/handoffs/99999"))[0] == 404
        status, body = await dara.get(f"/console/c/{theirs}")
        assert status == 200
        assert secret in body
    finally:
        await sokha.close()
        await dara.close()


async def read_events(resp: aiohttp.ClientResponse, until_id: int) -> list[dict[str, Any]]:
    """Parse SSE frames until one about ``until_id`` arrives."""
    seen: list[dict[str, Any]] = []
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 10)).decode()
        if line.startswith("data: "):
            seen.append(json.loads(line[len("data: ") :]))
            if seen[-1]["handoff_id"] == until_id:
                return seen


async def test_live_events_do_not_leak_other_organisations(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    await make_team(client)
    sokha = await logged_in(client, "sokha")
    root = await logged_in(client, "root")
    try:
        async with (
            sokha.http.get(sokha.url("/console/events")) as north_stream,
            root.http.get(root.url("/console/events")) as admin_stream,
        ):
            assert north_stream.status == 200
            assert north_stream.headers["Content-Type"].startswith("text/event-stream")
            assert (await north_stream.content.readline()).startswith(b"retry:")
            await admin_stream.content.readline()
            theirs = await open_handoff(client, "citizen-capital", CAPITAL_PLACE, "secret")
            mine = await open_handoff(client, "citizen-north", NORTH_PLACE, "hello")
            north_events = await read_events(north_stream, mine)
            assert theirs not in [e["handoff_id"] for e in north_events]
            assert all(set(e) == {"kind", "handoff_id"} for e in north_events)  # no text
            admin_events = await read_events(admin_stream, mine)
            assert theirs in [e["handoff_id"] for e in admin_events]  # admins see all
    finally:
        await sokha.close()
        await root.close()


async def test_roles_guard_supervisor_and_admin_pages(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    await make_team(client)
    sokha = await logged_in(client, "sokha")
    srey = await logged_in(client, "srey")
    root = await logged_in(client, "root")
    try:
        for path in ("/console/admin/orgs", "/console/admin/agents", "/console/admin/chats"):
            assert (await sokha.get(path))[0] == 403, path
            assert (await srey.get(path))[0] == 403, path
            assert (await root.get(path))[0] == 200, path
        status, _, _ = await srey.form(
            "/console/admin/agents",
            {"username": "mallory", "display_name": "M", "role": "admin", "organisation": "1"},
        )
        assert status == 403
        assert (await sokha.get("/console/supervisor"))[0] == 403
        assert (await srey.get("/console/supervisor"))[0] == 200
        assert (await sokha.get("/console/api/stats"))[0] == 403
        # nav shows only what the role may open
        page = (await sokha.get("/console/"))[1]
        assert "/console/admin/" not in page
        assert "/console/supervisor" not in page
        assert "/console/admin/orgs" in (await root.get("/console/"))[1]
    finally:
        for user in (sokha, srey, root):
            await user.close()


async def test_expired_and_deactivated_sessions_are_refused(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    team = await make_team(client)
    sokha = await logged_in(client, "sokha")
    dara = await logged_in(client, "dara")
    store = client.app[keys.STORE]
    try:
        assert (await sokha.get("/console/"))[0] == 200
        async with store.writing() as session:
            await session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.agent_id == team.people["sokha"].id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        status, _ = await sokha.get("/console/")
        assert status == 303  # back to the login page
        async with store.reading() as session:
            agents = [r.agent_id for r in await session.scalars(select(ConsoleSession))]
        assert agents == [team.people["dara"].id]  # the expired row is gone
        await client.app[CONSOLE].admin.deactivate_agent("dara")
        assert (await dara.get("/console/api/queue"))[0] == 401
        assert (await dara.login("dara")).status == 401
    finally:
        await sokha.close()
        await dara.close()


async def test_security_headers_and_escaped_citizen_text(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    await make_team(client)
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    handoff = await open_handoff(client, "citizen-north", NORTH_PLACE, attack)
    sokha = await logged_in(client, "sokha")
    try:
        for path in (f"/console/c/{handoff}", "/console/", "/console/partial/queue"):
            async with sokha.http.get(sokha.url(path)) as resp:
                page = await resp.text()
                assert resp.headers["X-Frame-Options"] == "DENY"
                assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
                assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
                assert resp.headers["Cache-Control"] == "no-store"
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert "<script>alert" not in page
            assert "<img src=x" not in page
            assert (
                "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
            )  # Jinja2 (markupsafe) escaping
        page = (await sokha.get(f"/console/c/{handoff}"))[1]
        # no inline code: every script has a src, no inline handlers or styles
        assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
        tags = re.findall(r"<[^>]+>", page)  # real tags only: citizens' "<" are escaped
        assert not [t for t in tags if re.search(r"\son[a-z]+=|\sstyle=", t)]
        assert '<html lang="en">' in page
    finally:
        await sokha.close()


async def test_the_console_speaks_khmer_when_asked(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    await make_team(client)
    resp = await client.get("/console/login?lang=km")
    page = await resp.text()
    assert '<html lang="km">' in page
    assert "ពាក្យសម្ងាត់" in page  # "password"
    sokha = await logged_in(client, "sokha")
    try:
        status, _, _ = await sokha.form("/console/lang", {"lang": "km"})
        assert status == 303
        page = (await sokha.get("/console/"))[1]
        assert '<html lang="km">' in page
        assert "ជួររង់ចាំ" in page  # "queue"
    finally:
        await sokha.close()
