"""The web chat page and its JSON API, through the same pipeline."""

from __future__ import annotations

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
