"""Hostile or broken input: 403 for bad credentials, clear 4xx otherwise, never a 5xx."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest
from sqlalchemy import select

from bot import keys
from bot.storage._db import Outbound
from tests.bot.gateway_fakes import (
    FB_SECRET,
    TG_SECRET,
    FakeGraph,
    FakeRasa,
    FakeTelegram,
    wait_until,
)

HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.mark.parametrize("headers", [{}, {HEADER: "wrong"}, {HEADER: TG_SECRET + "x"}])
async def test_telegram_without_the_secret_is_403(gateway, fake_rasa: FakeRasa, headers) -> None:
    client = await gateway()
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1,
            "chat": {"id": 5, "type": "private"},
            "text": "hi",
        },
    }
    resp = await client.post("/telegram/webhook", json=update, headers=headers)
    assert resp.status == 403
    assert fake_rasa.calls == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (b"[]", 400),
        (b'{"update_id": "1"}', 400),
        (b'{"update_id": 1, "message": {"chat": "nope"}}', 400),
        # well-formed, but of types we never subscribe to (or that do not exist yet)
        (
            b'{"update_id": 2, "poll_answer": {"poll_id": "p", "option_ids": [0], '
            b'"option_persistent_ids": ["a"], '
            b'"user": {"id": 5, "is_bot": false, "first_name": "A"}}}',
            422,
        ),
        (b'{"update_id": 4, "future_kind": {"x": 1}}', 422),
        (b'{"update_id": 3}', 422),
    ],
)
async def test_telegram_malformed_and_unknown_updates_get_4xx(gateway, body, status) -> None:
    client = await gateway()
    resp = await client.post(
        "/telegram/webhook",
        data=body,
        headers={HEADER: TG_SECRET, "Content-Type": "application/json"},
    )
    assert resp.status == status
    assert "error" in await resp.json()


async def test_oversized_bodies_get_413(gateway) -> None:
    client = await gateway(max_body_bytes=1024)
    big = b'{"update_id": 1, "pad": "' + b"x" * 4096 + b'"}'
    resp = await client.post(
        "/telegram/webhook",
        data=big,
        headers={HEADER: TG_SECRET, "Content-Type": "application/json"},
    )
    assert resp.status == 413
    resp = await client.post(
        "/webchat/messages", data=big, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413


async def test_messenger_malformed_json_after_valid_signature_is_400(gateway) -> None:
    client = await gateway()
    for raw in (b"{oops", b'{"object": "user"}', b'{"object": "page", "entry": 3}'):
        sig = "sha256=" + hmac.new(FB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        resp = await client.post(
            "/messenger/webhook", data=raw, headers={"X-Hub-Signature-256": sig}
        )
        assert resp.status == 400


async def test_gateway_still_healthy_after_bad_input(gateway) -> None:
    client = await gateway()
    await client.post("/telegram/webhook", data=b"{x", headers={HEADER: TG_SECRET})
    health = await client.get("/healthz")
    assert health.status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'gateway_rejected_total{reason="bad_request"} 1' in metrics


# --- found by a fault test (issue #12 item 7): each of these was a 500 ---------------------

NESTED = b"[" * 5000 + b"]" * 5000  # deeper than json's recursion limit
NESTED_OBJECT = b'{"a":' * 3000 + b"1" + b"}" * 3000


def fb_headers(raw: bytes) -> dict[str, str]:
    digest = hmac.new(FB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def tg_headers() -> dict[str, str]:
    return {HEADER: TG_SECRET, "Content-Type": "application/json"}


async def raw_request(client: Any, head: bytes, body: bytes = b"") -> int:
    """Send bytes the aiohttp client refuses to write (latin-1 headers); returns the status."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
        status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()


@pytest.mark.parametrize("body", [NESTED, NESTED_OBJECT])
async def test_deeply_nested_json_is_400_on_every_route(gateway, body: bytes) -> None:
    client = await gateway()
    resp = await client.post(
        "/webchat/messages", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    resp = await client.post("/telegram/webhook", data=body, headers=tg_headers())
    assert resp.status == 400
    resp = await client.post("/messenger/webhook", data=body, headers=fb_headers(body))
    assert resp.status == 400


POLL_OUT_OF_RANGE = [
    {"after": str(10**30)},
    {"after": str(2**63)},
    {"after": "-1"},
    {"after": "9" * 5000},
    {"wait": "nan"},
    {"wait": "inf"},
    {"wait": "-inf"},
    {"wait": "-1"},
    {"wait": "1e400"},
]


async def test_webchat_poll_numbers_out_of_range_are_400(gateway, database_url) -> None:
    client = await gateway(database_url=database_url)
    for query in POLL_OUT_OF_RANGE:
        resp = await client.get("/webchat/messages", params={"session": "s" * 16, **query})
        assert resp.status == 400, query
        assert "error" in await resp.json()


async def test_webchat_poll_largest_after_is_fine(gateway, database_url) -> None:
    client = await gateway(database_url=database_url)
    params = {"session": "s" * 16, "after": str(2**63 - 1), "wait": "0"}
    resp = await client.get("/webchat/messages", params=params)
    assert resp.status == 200
    assert await resp.json() == {"messages": []}


@pytest.mark.parametrize("value", ["sha256=é", "é", "sha256=" + "\u0100" * 64])
async def test_messenger_non_ascii_signature_is_403(gateway, value: str) -> None:
    client = await gateway()
    resp = await client.post(
        "/messenger/webhook", data=b"{}", headers={"X-Hub-Signature-256": value}
    )
    assert resp.status == 403


@pytest.mark.parametrize(
    ("path", "header"),
    [
        (b"/messenger/webhook", b"X-Hub-Signature-256: sha256=\xff\xfe"),
        (b"/telegram/webhook", b"X-Telegram-Bot-Api-Secret-Token: \xff\xfe"),
    ],
)
async def test_latin1_credential_headers_are_403(gateway, path: bytes, header: bytes) -> None:
    client = await gateway()
    head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n"
    assert await raw_request(client, head, b"{}") == 403


async def test_telegram_non_ascii_secret_is_403(gateway) -> None:
    client = await gateway()
    resp = await client.post("/telegram/webhook", data=b"{}", headers={HEADER: "ключ"})
    assert resp.status == 403


def tg_message(**fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": 1,
        "date": 1,
        "chat": {"id": 5, "type": "private"},
        "text": "hi",
    }
    message.update(fields)
    return {"update_id": 1, "message": {k: v for k, v in message.items() if v is not None}}


TG_MALFORMED = [
    tg_message(chat=None),
    tg_message(text=123),
    tg_message(text={"a": 1}),
    tg_message(text=["hi"]),
    tg_message(chat={"id": "abc", "type": "private"}),
    tg_message(chat={"id": 1.5, "type": "private"}),
    tg_message(chat={"id": True, "type": "private"}),
    tg_message(chat={"id": 10**30, "type": "private"}),
    tg_message(chat={"type": "private"}),
    tg_message(chat="5"),
    tg_message(text=None, location={"latitude": "x", "longitude": 104.9}),
    tg_message(text=None, location={"latitude": 1e400, "longitude": 104.9}),
    tg_message(text=None, location="here"),
    tg_message(date="yesterday"),
    tg_message(date=10**30),
    {"update_id": 10**200, "message": tg_message()["message"]},
    {"update_id": -1, "message": tg_message()["message"]},
    {"update_id": 1, "message": "hi"},
    {"update_id": 1, "callback_query": {"id": "q", "chat_instance": "c", "data": "/x"}},
    {
        "update_id": 1,
        "callback_query": {
            "id": "q",
            "chat_instance": "c",
            "data": 5,
            "from": {"id": 5, "is_bot": False, "first_name": "A"},
        },
    },
    {
        "update_id": 1,
        "callback_query": {
            "id": "q",
            "chat_instance": "c",
            "data": "/x",
            "from": {"id": "abc", "is_bot": False, "first_name": "A"},
        },
    },
    {"update_id": 1, "my_chat_member": {"chat": {"id": "abc", "type": "private"}}},
]


async def test_telegram_malformed_authenticated_updates_are_400(
    gateway, database_url, fake_rasa: FakeRasa
) -> None:
    """The same answer on both databases: lengths are checked before either stores them."""
    client = await gateway(database_url=database_url)
    for update in TG_MALFORMED:
        resp = await client.post(
            "/telegram/webhook", data=json.dumps(update), headers=tg_headers()
        )
        assert resp.status == 400, update
        assert "error" in await resp.json()
    assert fake_rasa.calls == []
    health = await client.get("/healthz")
    assert (await health.json())["inbound_pending"] == 0


def fb_event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "sender": {"id": "u1"},
        "recipient": {"id": "PAGE"},
        "timestamp": 1,
        "message": {"mid": "m1", "text": "hi"},
    }
    event.update(fields)
    event = {k: v for k, v in event.items() if v is not None}
    return {"object": "page", "entry": [{"id": "PAGE", "time": 1, "messaging": [event]}]}


FB_MALFORMED = [
    fb_event(sender="u1"),
    fb_event(sender=["u1"]),
    fb_event(sender={"id": {"x": 1}}),
    fb_event(sender={"id": "u" * 65}),
    fb_event(message={"mid": "m1", "quick_reply": "yes"}),
    fb_event(message={"mid": "m1", "quick_reply": ["yes"]}),
    fb_event(message={"mid": "m1", "attachments": 5}),
    fb_event(message={"mid": "m1", "attachments": {"type": "image"}}),
    fb_event(message={"mid": "m" * 129, "text": "hi"}),
    fb_event(message={"mid": {"x": 1}, "text": "hi"}),
    fb_event(message={"mid": "m1", "text": {"x": 1}}),
    fb_event(message=None, postback={"payload": "/x"}, timestamp=10**200),
    fb_event(message=None, postback={"payload": "/x", "mid": "p" * 129}),
    fb_event(message=None, postback={"payload": {"x": 1}}),
]


async def test_messenger_malformed_signed_events_are_400(
    gateway, database_url, fake_rasa: FakeRasa
) -> None:
    client = await gateway(database_url=database_url)
    for payload in FB_MALFORMED:
        raw = json.dumps(payload).encode()
        resp = await client.post("/messenger/webhook", data=raw, headers=fb_headers(raw))
        assert resp.status == 400, payload
        assert "error" in await resp.json()
    assert fake_rasa.calls == []


async def outbound_rows(client: Any) -> list[Any]:
    async with client.app[keys.ENGINE].connect() as conn:
        query = select(Outbound.chat_id, Outbound.status, Outbound.attempts, Outbound.error)
        return list((await conn.execute(query)).all())


async def test_telegram_send_that_can_never_succeed_fails_at_once(
    gateway, database_url, fake_telegram: FakeTelegram
) -> None:
    client = await gateway(database_url=database_url, max_send_attempts=8)
    fake_telegram.fail("sendMessage", 400, "Bad Request: chat not found")
    resp = await client.post(
        "/telegram/webhook", data=json.dumps(tg_message()), headers=tg_headers()
    )
    assert resp.status == 200

    async def failed() -> bool:
        return any(r.status == "failed" for r in await outbound_rows(client))

    for _ in range(100):
        if await failed():
            break
        await asyncio.sleep(0.05)
    (row,) = await outbound_rows(client)
    assert row.status == "failed"
    assert "chat not found" in row.error.lower()
    assert row.attempts == 1
    assert len(fake_telegram.sent("sendMessage:failed")) == 1
    assert fake_telegram.sent() == []


async def test_messenger_send_the_graph_refuses_fails_at_once(
    gateway, database_url, fake_graph: FakeGraph
) -> None:
    client = await gateway(database_url=database_url, max_send_attempts=8)
    fake_graph.failures = [
        (400, {"message": "(#100) No matching user found", "type": "OAuthException", "code": 100})
    ]
    raw = json.dumps(fb_event()).encode()
    resp = await client.post("/messenger/webhook", data=raw, headers=fb_headers(raw))
    assert resp.status == 200
    await wait_until(lambda: [c for c in fake_graph.calls if c.method == "failed"])

    async def failed() -> bool:
        return any(r.status == "failed" for r in await outbound_rows(client))

    for _ in range(100):
        if await failed():
            break
        await asyncio.sleep(0.05)
    (row,) = await outbound_rows(client)
    assert row.status == "failed"
    assert "400" in row.error
    assert "100" in row.error
    assert [c.method for c in fake_graph.calls if "message" in c.params] == ["failed"]
