"""The web chat page and its JSON API, through the same pipeline."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from tests.bot.gateway_fakes import FakeRasa, wait_until

SESSION = "session-12345678"


async def test_page_renders_khmer_on_a_phone(gateway) -> None:
    client = await gateway()
    resp = await client.get("/chat")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert resp.charset == "utf-8"
    page = await resp.text()
    assert '<html lang="km">' in page
    assert '"Noto Sans Khmer", "Khmer OS"' in page
    assert "sans-serif" in page
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert "/webchat/messages" in page
    assert "<script src=" not in page  # dependency-free
    root = await client.get("/", allow_redirects=False)
    assert root.status == 302
    assert root.headers["Location"] == "/chat"


async def test_message_round_trip_with_buttons(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    resp = await client.post(
        "/webchat/messages",
        json={"session": SESSION, "id": "msg-00000001", "text": "/menu", "button": True},
    )
    assert resp.status == 202
    poll = await client.get("/webchat/messages", params={"session": SESSION, "wait": "5"})
    data = await poll.json()
    assert data["messages"][0]["text"] == "Menu"
    assert data["messages"][0]["buttons"][1] == {"title": "ប័ណ្ណសមធម៌", "payload": "/ask_equity_card"}
    assert fake_rasa.calls[0].params["sender"] == f"webchat:{SESSION}"
    assert fake_rasa.calls[0].params["input_channel"] == "webchat"
    last = data["messages"][-1]["id"]
    await client.post(
        "/webchat/messages", json={"session": SESSION, "id": "msg-00000002", "text": "សួស្តី"}
    )
    await wait_until(lambda: len(fake_rasa.calls) == 2)
    poll = await client.get(
        "/webchat/messages", params={"session": SESSION, "after": str(last), "wait": "5"}
    )
    assert [m["text"] for m in (await poll.json())["messages"]] == ["echo: សួស្តី"]
    assert fake_rasa.calls[1].params["metadata"]["language"] == "km"


async def test_message_ids_are_scoped_to_their_session(gateway, fake_rasa: FakeRasa) -> None:
    """A resent message is answered once; another browser that picks the same id (the page
    falls back to clock + Math.random without crypto.randomUUID) is not a duplicate."""
    client = await gateway()
    other = "session-87654321"
    outcomes = []
    for session in (SESSION, SESSION, other):
        resp = await client.post(
            "/webchat/messages", json={"session": session, "id": "msg-00000001", "text": "hi"}
        )
        outcomes.append((resp.status, (await resp.json())["duplicate"]))
    assert outcomes == [(202, False), (202, True), (202, False)]
    await wait_until(lambda: len(fake_rasa.calls) == 2)
    assert {c.params["sender"] for c in fake_rasa.calls} == {
        f"webchat:{SESSION}",
        f"webchat:{other}",
    }


async def test_longest_session_and_id_are_accepted(gateway, postgres_url: str) -> None:
    """Both may be 64 characters; their de-duplication key must still fit its column (which
    PostgreSQL enforces)."""
    client = await gateway(database_url=postgres_url)
    longest = {"session": "s" * 64, "id": "m" * 64, "text": "hi"}
    first = await client.post("/webchat/messages", json=longest)
    again = await client.post("/webchat/messages", json=longest)
    assert (first.status, (await first.json())["duplicate"]) == (202, False)
    assert (again.status, (await again.json())["duplicate"]) == (202, True)


async def test_bad_webchat_input_is_400(gateway) -> None:
    client = await gateway()
    bad = [
        {"session": "short", "id": "msg-00000001", "text": "hi"},
        {"session": SESSION, "id": "msg-00000001", "text": ""},
        {"session": SESSION, "id": "msg-00000001", "text": "x" * 2001},
        ["not", "an", "object"],
    ]
    for body in bad:
        assert (await client.post("/webchat/messages", json=body)).status == 400
    assert (await client.get("/webchat/messages", params={"session": "../etc"})).status == 400


def test_page_script_is_valid_javascript(tmp_path) -> None:
    import re
    import shutil
    import subprocess
    from pathlib import Path

    static = Path(__file__).resolve().parents[2] / "bot" / "channels" / "static"
    page = (static / "webchat.html").read_text()
    script = re.search(r"<script>(.*)</script>", page, re.S)
    assert script is not None
    js = tmp_path / "webchat.js"
    js.write_text(script.group(1))
    node = shutil.which("node")
    assert node is not None, "node is needed to syntax-check the web chat script"
    result = subprocess.run(  # noqa: S603 (node on PATH, our file)
        [node, "--check", str(js)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# ----- history, language, agents, security headers (issue #13) ---------------------------

_ids = iter(range(1, 100_000))


async def post(client, text: str, *, button: bool = False, session: str = SESSION):
    resp = await client.post(
        "/webchat/messages",
        json={"session": session, "id": f"msg-{next(_ids):08d}", "text": text, "button": button},
    )
    assert resp.status == 202
    return resp


async def history(client, **params: str) -> dict[str, Any]:
    resp = await client.get("/webchat/history", params={"session": SESSION, **params})
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def test_history_keeps_both_sides_in_order(
    gateway, fake_rasa: FakeRasa, database_url: str
) -> None:
    """A reload must show the whole conversation: the citizen's words (a tapped button as
    the title they tapped), the replies, the last live buttons, each with its language."""
    client = await gateway(database_url=database_url)
    assert (await history(client))["messages"] == []
    for text, button, calls in (
        ("hello", False, 1),
        ("/menu", True, 2),
        ("/ask_equity_card", True, 3),
        ("/menu", True, 4),
        ('/switch_language{"language": "en"}', True, 5),
    ):
        await post(client, text, button=button)
        await wait_until(functools.partial(lambda n: len(fake_rasa.calls) == n, calls))

        async def answered(n: int = calls) -> bool:
            got = (await history(client))["messages"]
            return bool(sum(m["from"] == "bot" for m in got) == n)

        deadline = 50
        while not await answered():
            deadline -= 1
            assert deadline, "the reply never reached the history"
            await asyncio.sleep(0.05)
    data = await history(client)
    got = [(m["from"], m["text"]) for m in data["messages"]]
    assert got == [
        ("me", "hello"),
        ("bot", "echo: hello"),
        ("me", "/menu"),
        ("bot", "Menu"),
        ("me", "ប័ណ្ណសមធម៌"),  # the title the citizen tapped, not the payload
        ("bot", "echo: /ask_equity_card"),
        ("me", "/menu"),
        ("bot", "Menu"),
        ("me", "English"),
        ("bot", 'echo: /switch_language{"language": "en"}'),
    ]
    menus = [m for m in data["messages"] if m["text"] == "Menu"]
    assert menus[-1]["buttons"][1] == {"title": "ប័ណ្ណសមធម៌", "payload": "/ask_equity_card"}
    assert data["messages"][1]["language"] == "en"
    # the poller resumes after the last reply the history showed
    poll = await client.get(
        "/webchat/messages", params={"session": SESSION, "after": str(data["after"])}
    )
    assert (await poll.json())["messages"] == []
    assert data["after"] == max(m["id"] for m in data["messages"] if m["from"] == "bot")
    assert data["waiting"] is False
    assert data["language"] == "en"  # the last reply's
    # another session sees none of it
    other = await client.get("/webchat/history", params={"session": "session-87654321"})
    assert (await other.json())["messages"] == []


async def test_replies_carry_their_language(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    await post(client, "hello")
    poll = await client.get("/webchat/messages", params={"session": SESSION, "wait": "5"})
    [reply] = (await poll.json())["messages"]
    assert (reply["text"], reply["language"]) == ("echo: hello", "en")
    await post(client, "សួស្តី")
    poll = await client.get(
        "/webchat/messages", params={"session": SESSION, "after": str(reply["id"]), "wait": "5"}
    )
    [reply] = (await poll.json())["messages"]
    assert (reply["text"], reply["language"]) == ("echo: សួស្តី", "km")


async def test_history_shows_a_question_still_waiting(gateway, fake_rasa: FakeRasa) -> None:
    fake_rasa.delay_s = 1.5
    client = await gateway()
    await post(client, "are you there?")
    data = await history(client)
    assert [(m["from"], m["text"]) for m in data["messages"]] == [("me", "are you there?")]
    assert data["waiting"] is True
    assert data["after"] == 0


async def test_history_is_bounded(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    last = 0
    for i in range(55):  # each answered before the next: question, reply, question, ...
        await post(client, f"question {i}")
        poll = await client.get(
            "/webchat/messages", params={"session": SESSION, "after": str(last), "wait": "5"}
        )
        [reply] = (await poll.json())["messages"]
        last = reply["id"]
    data = await history(client)
    assert len(data["messages"]) == 100
    assert (data["messages"][-1]["from"], data["messages"][-1]["text"]) == (
        "bot",
        "echo: question 54",
    )
    assert data["messages"][0]["text"] == "question 5"
    last3 = await history(client, limit="3")
    assert [m["text"] for m in last3["messages"]] == [
        "echo: question 53",
        "question 54",
        "echo: question 54",
    ]


async def test_bad_history_input_is_400(gateway, database_url: str) -> None:
    client = await gateway(database_url=database_url)
    for params in (
        {},
        {"session": "short"},
        {"session": "../etc/passwd"},
        {"session": "s" * 65},
        {"session": SESSION, "limit": "many"},
        {"session": SESSION, "limit": "0"},
        {"session": SESSION, "limit": "101"},
        {"session": SESSION, "limit": "1e9"},
    ):
        resp = await client.get("/webchat/history", params=params)
        assert resp.status == 400, (params, resp.status)
        assert "error" in await resp.json()
    resp = await client.post("/webchat/history", json={"session": SESSION})
    assert resp.status == 405


async def test_an_agent_reply_says_who_wrote_it(gateway, fake_rasa: FakeRasa) -> None:
    """A person's words carry their name and organisation; the assistant's do not."""
    from bot.handoff import HANDOFFS
    from tests.bot.handoff_helpers import add_agent, pool
    from tests.bot.test_handoff_flow import ASK_PERSON_KM, rasa_with_handoff

    rasa_with_handoff(fake_rasa, place=None)
    client = await gateway()
    service = client.app[HANDOFFS]
    national = await pool(client)
    sokha = await add_agent(client, national, "sokha")
    await post(client, ASK_PERSON_KM)
    for _ in range(100):
        if await service.queue(sokha):
            break
        await asyncio.sleep(0.05)
    [view] = await service.queue(sokha)
    await service.claim(sokha, view.id)
    await service.reply(sokha, view.id, "សួស្តី ខ្ញុំឈ្មោះសុខា។")
    for _ in range(100):  # the worker sends it
        data = await history(client)
        if any(m["from"] == "agent" for m in data["messages"]):
            break
        await asyncio.sleep(0.05)
    [agent] = [m for m in data["messages"] if m["from"] == "agent"]
    assert agent["text"] == "សួស្តី ខ្ញុំឈ្មោះសុខា។"
    # the national pool in words for citizens (Khmer: the conversation's language)
    assert agent["agent"] == {"name": "Sokha", "organisation": "ក្រុមការងារ SP4ALL ថ្នាក់ជាតិ"}
    assert national.name == "SP4ALL national pool"  # what operators call it
    assert all("agent" not in m for m in data["messages"] if m["from"] != "agent")
    poll = await client.get("/webchat/messages", params={"session": SESSION})
    polled = [m for m in (await poll.json())["messages"] if m.get("agent")]
    assert [m["agent"]["name"] for m in polled] == ["Sokha"]


async def test_chat_page_sends_the_consoles_security_headers(gateway) -> None:
    """A strict CSP without 'unsafe-inline': the page's one script and one style are
    allowed by their hashes; everything else as the console."""
    import base64
    import hashlib
    import re

    client = await gateway()
    chat = await client.get("/chat")
    console = await client.get("/console/login")
    for name in (
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
    ):
        assert chat.headers.get(name) == console.headers[name], name
    csp = chat.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["connect-src"] == "'self'"
    assert "unsafe" not in csp
    page = await chat.text()
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        [inline] = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert directives[directive] == f"'sha256-{digest}'"
    assert "style=" not in page  # inline style attributes would need 'unsafe-inline'


def test_page_limit_is_the_gateways() -> None:
    """The page counts toward the gateway's own limit (it says so rather than cutting)."""
    import re
    from pathlib import Path

    from bot.channels._webchat import MAX_INPUT

    page = (Path(__file__).resolve().parents[2] / "bot/channels/static/webchat.html").read_text()
    found = re.search(r"const MAX_INPUT = (\d+);", page)
    assert found is not None
    assert int(found.group(1)) == MAX_INPUT
    assert "maxlength" not in page  # a silent cut at the limit
