"""Every public route, fed malformed, oversized, deeply nested, wrongly typed and non-ASCII
input: never a 5xx, and the same status on SQLite and PostgreSQL for the same input.

One app per backend serves all of a property's examples (hypothesis runs them in sequence,
the same requests in the same order on both), so the file stays fast; examples are few and
derandomised, so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot import keys
from bot.storage._db import Outbound
from tests.bot.console_helpers import ConsoleUser, logged_in, make_team
from tests.bot.gateway_fakes import FB_SECRET, TG_SECRET, FakeTelegram

Clients = dict[str, TestClient[Any, Any]]
TG_HEADER = "X-Telegram-Bot-Api-Secret-Token"
FB_HEADER = "X-Hub-Signature-256"
JSON_TYPE = {"Content-Type": "application/json"}

PROPERTY = settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    # the app is reused across examples on purpose: one per backend, not one per example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- strategies -------------------------------------------------------------------------

header_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=80)
any_text = st.text(max_size=120) | st.text(min_size=150, max_size=400)
big_ints = st.integers(min_value=-(10**40), max_value=10**40)
scalars = (
    st.none()
    | st.booleans()
    | big_ints
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


def maybe(valid: Any, other: st.SearchStrategy[Any] = json_values) -> st.SearchStrategy[Any]:
    """Mostly the valid value, sometimes anything at all: finds the field-by-field faults."""
    return st.just(valid) | other


def nested(n: int) -> bytes:
    return b'{"a":' * n + b"1" + b"}" * n if n % 2 else b"[" * n + b"]" * n


raw_bodies = (
    st.binary(max_size=200)
    | st.integers(min_value=1, max_value=30_000).map(nested)
    | json_values.map(lambda v: json.dumps(v).encode())
)

tg_updates = st.fixed_dictionaries(
    {
        "update_id": maybe(1, big_ints | json_values),
        "message": maybe(
            None,
            st.fixed_dictionaries(
                {
                    "message_id": maybe(1),
                    "date": maybe(1_700_000_000, big_ints),
                    "chat": maybe(
                        {"id": 5, "type": "private"},
                        st.fixed_dictionaries(
                            {"id": big_ints | json_values, "type": maybe("private")}
                        ),
                    ),
                    "text": maybe("hi", any_text | json_values),
                    "location": maybe(
                        None,
                        st.fixed_dictionaries({"latitude": scalars, "longitude": scalars}),
                    ),
                }
            ),
        ),
        "callback_query": maybe(
            None,
            st.fixed_dictionaries(
                {
                    "id": maybe("q"),
                    "chat_instance": maybe("c"),
                    "data": maybe("/x", any_text | json_values),
                    "from": maybe(
                        {"id": 5, "is_bot": False, "first_name": "A"},
                        st.fixed_dictionaries({"id": big_ints | json_values}),
                    ),
                }
            ),
        ),
        "edited_message": maybe(None),
        "my_chat_member": maybe(None),
    }
).map(lambda d: {k: v for k, v in d.items() if v is not None})

fb_events = st.fixed_dictionaries(
    {
        "sender": maybe({"id": "u1"}, st.fixed_dictionaries({"id": json_values})),
        "timestamp": maybe(1, big_ints | json_values),
        "message": maybe(
            {"mid": "m1", "text": "hi"},
            st.fixed_dictionaries(
                {
                    "mid": maybe("m1", any_text | json_values),
                    "text": maybe("hi", any_text | json_values),
                    "quick_reply": maybe(None),
                    "attachments": maybe(None),
                    "is_echo": maybe(None),
                }
            ),
        ),
        "postback": maybe(None),
    }
)
fb_pages = st.fixed_dictionaries(
    {
        "object": maybe("page"),
        "entry": maybe(
            [], st.lists(st.fixed_dictionaries({"messaging": maybe([], st.lists(fb_events))}))
        ),
    }
)

id_chars = st.text("abcXYZ019_-", min_size=0, max_size=70)
numbers_as_text = (
    big_ints.map(str)
    | st.floats().map(repr)
    | st.sampled_from(["nan", "inf", "-inf", "1e400", "", " 1", "0x10", "١٢"])
    | header_text
)


def waits_long(value: str) -> bool:
    """A wait the poll would honour: excluded, it would only slow the test down."""
    try:
        seconds = float(value)
    except ValueError:
        return False
    return math.isfinite(seconds) and seconds > 0


poll_queries = st.fixed_dictionaries(
    {},
    optional={
        "session": id_chars | header_text,
        "after": numbers_as_text,
        "wait": numbers_as_text.filter(lambda v: not waits_long(v)),
    },
)


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture
async def backends(gateway, postgres_url: str) -> Clients:
    """The same gateway on SQLite and on PostgreSQL."""
    return {"sqlite": await gateway(), "postgresql": await gateway(database_url=postgres_url)}


async def same_status(backends: Clients, method: str, path: str, **kwargs: Any) -> int:
    """Send the request to both backends: never a 5xx, and the same status on both."""
    statuses: dict[str, int] = {}
    for name, client in backends.items():
        resp = await client.request(method, path, allow_redirects=False, **kwargs)
        await resp.read()
        statuses[name] = resp.status
    assert all(s < 500 for s in statuses.values()), (method, path, kwargs, statuses)
    assert statuses["sqlite"] == statuses["postgresql"], (method, path, kwargs, statuses)
    return statuses["sqlite"]


def fb_signed(raw: bytes) -> dict[str, str]:
    digest = hmac.new(FB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {FB_HEADER: f"sha256={digest}", **JSON_TYPE}


# --- the properties ---------------------------------------------------------------------


@PROPERTY
@given(body=raw_bodies)
async def test_any_body_on_any_post_route(backends: Clients, body: bytes) -> None:
    assert await same_status(backends, "POST", "/webchat/messages", data=body) in {202, 400}
    tg = {TG_HEADER: TG_SECRET, **JSON_TYPE}
    assert await same_status(backends, "POST", "/telegram/webhook", data=body, headers=tg) in {
        200,
        400,
        422,
    }
    signed = fb_signed(body)
    assert await same_status(
        backends, "POST", "/messenger/webhook", data=body, headers=signed
    ) in {200, 400}


@PROPERTY
@given(update=tg_updates)
async def test_telegram_updates_of_any_shape(backends: Clients, update: dict[str, Any]) -> None:
    headers = {TG_HEADER: TG_SECRET, **JSON_TYPE}
    status = await same_status(
        backends, "POST", "/telegram/webhook", data=json.dumps(update), headers=headers
    )
    assert status in {200, 400, 422}


@PROPERTY
@given(page=fb_pages)
async def test_messenger_events_of_any_shape(backends: Clients, page: dict[str, Any]) -> None:
    raw = json.dumps(page).encode()
    status = await same_status(
        backends, "POST", "/messenger/webhook", data=raw, headers=fb_signed(raw)
    )
    assert status in {200, 400}


@PROPERTY
@given(body=json_values, session=id_chars, message_id=id_chars)
async def test_webchat_messages_of_any_shape(
    backends: Clients, body: Any, session: str, message_id: str
) -> None:
    for data in (body, {"session": session, "id": message_id, "text": body}):
        status = await same_status(backends, "POST", "/webchat/messages", json=data)
        assert status in {202, 400}


@PROPERTY
@given(query=poll_queries)
async def test_webchat_poll_with_any_query(backends: Clients, query: dict[str, str]) -> None:
    assert await same_status(backends, "GET", "/webchat/messages", params=query) in {200, 400}


@PROPERTY
@given(secret=header_text, signature=header_text, query=st.dictionaries(header_text, header_text))
async def test_credentials_and_queries_of_any_kind(
    backends: Clients, secret: str, signature: str, query: dict[str, str]
) -> None:
    body = json.dumps({"update_id": 1}).encode()
    tg = {TG_HEADER: secret, **JSON_TYPE}
    assert await same_status(backends, "POST", "/telegram/webhook", data=body, headers=tg) in {
        403,
        422,  # the secret itself, by chance: the update is well-formed but empty
    }
    fb = {FB_HEADER: signature, **JSON_TYPE}
    assert await same_status(backends, "POST", "/messenger/webhook", data=body, headers=fb) == 403
    verify = {**query, "hub.mode": "subscribe", "hub.verify_token": secret}
    assert await same_status(backends, "GET", "/messenger/webhook", params=verify) in {200, 403}
    for path in ("/", "/chat", "/healthz", "/metrics", "/console/login"):
        status = await same_status(backends, "GET", path, params=query, headers={"X-Any": secret})
        assert status in {200, 302}, path


@PROPERTY
@given(
    fields=st.dictionaries(
        st.sampled_from(["csrf_token", "username", "password", "next"]), any_text
    )
)
async def test_console_login_with_any_form(backends: Clients, fields: dict[str, str]) -> None:
    status = await same_status(backends, "POST", "/console/login", data=fields)
    assert status in {400, 401, 403, 429}
    status = await same_status(backends, "POST", "/console/login", json=fields)
    assert status in {400, 401, 403, 415, 429}


async def test_console_api_with_any_id_signed_in_or_not(backends: Clients) -> None:
    """Table test: the id in the path and the action's body, without and with a session."""
    users: dict[str, ConsoleUser] = {}
    for name, client in backends.items():
        await make_team(client)
        users[name] = await logged_in(client, "srey")
    ids = ["1", "0", "-1", "abc", "1.5", str(2**31), str(2**63), "9" * 40, "%C3%A9", "%00"]
    bodies = [b"", b"{", b"[]", b'{"text": 5}', b'{"to": "x" }', b"[" * 5000 + b"]" * 5000]
    try:
        for handoff_id in ids:
            path = f"/console/api/handoffs/{handoff_id}"
            assert await same_status(backends, "GET", path) in {302, 401, 403, 404}
            statuses = set()
            for user in users.values():
                async with user.http.get(user.url(path), allow_redirects=False) as resp:
                    statuses.add(resp.status)
            assert statuses <= {400, 404}, (path, statuses)
            assert len(statuses) == 1, (path, statuses)
            for body in bodies:
                statuses = set()
                for user in users.values():
                    async with user.http.post(
                        user.url(f"{path}/claim"),
                        data=body,
                        headers={"X-CSRF-Token": user.csrf, **JSON_TYPE},
                        allow_redirects=False,
                    ) as resp:
                        statuses.add(resp.status)
                assert all(s < 500 for s in statuses), (path, body[:20], statuses)
                assert len(statuses) == 1, (path, body[:20], statuses)
        statuses = set()
        for user in users.values():
            async with user.http.get(user.url("/console/api/queue")) as resp:
                statuses.add(resp.status)
        assert statuses == {200}
        assert await same_status(backends, "GET", "/console/api/queue") in {302, 401, 403}
    finally:
        for user in users.values():
            await user.close()


RAW_REQUESTS = [
    b"GET /webchat/messages?session=\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8 HTTP/1.1\r\n",
    b"GET /webchat/messages?session=ssssssss&after=%ff HTTP/1.1\r\n",
    b"GET /messenger/webhook?hub.mode=subscribe&hub.verify_token=\xff&hub.challenge=\xfe"
    b" HTTP/1.1\r\n",
    b"GET /\xff\xfe HTTP/1.1\r\n",
    b"GET /healthz HTTP/1.1\r\nX-Any: \xff\r\n",
    b"GET /console/login?next=\xff HTTP/1.1\r\nCookie: \xff=\xfe\r\n",
    b"POST /telegram/webhook HTTP/1.1\r\n" + TG_HEADER.encode() + b": \xff\xfe\r\n",
    b"POST /messenger/webhook HTTP/1.1\r\n" + FB_HEADER.encode() + b": sha256=\xff\r\n",
    b"POST /webchat/messages HTTP/1.1\r\nContent-Type: application/json; charset=\xff\r\n",
    b"POST /console/login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n",
    b"POST /console/login HTTP/1.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded; charset=klingon\r\n",
    b"POST /console/login HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=\xff\r\n",
    b"POST /console/api/takeover HTTP/1.1\r\nContent-Type: text/plain; charset=\xff\r\n",
    b"POST /webchat/messages HTTP/1.1\r\nContent-Type: application/json; charset=klingon\r\n",
]


async def raw_status(client: TestClient[Any, Any], head: bytes, body: bytes) -> int:
    assert client.host is not None
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        length = b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        writer.write(head + b"Host: x\r\n" + length + body)
        await writer.drain()
        return int((await reader.readline()).split()[1])
    finally:
        writer.close()


@pytest.mark.parametrize("head", RAW_REQUESTS)
async def test_bytes_no_client_would_send(backends: Clients, head: bytes) -> None:
    """Latin-1 bytes in paths, query strings and headers, as written on the socket."""
    body = b"username=\xff&password=\xfe&csrf_token=\xfd" if b"console" in head else b"{}"
    statuses = {name: await raw_status(c, head, body) for name, c in backends.items()}
    assert all(s < 500 for s in statuses.values()), statuses
    assert statuses["sqlite"] == statuses["postgresql"], statuses


async def test_oversized_bodies_are_413_everywhere(gateway, postgres_url: str) -> None:
    small = {
        "sqlite": await gateway(max_body_bytes=2048),
        "postgresql": await gateway(max_body_bytes=2048, database_url=postgres_url),
    }
    big = b'{"pad": "' + "ក".encode() * 2000 + b'"}'
    tg = {TG_HEADER: TG_SECRET, **JSON_TYPE}
    assert await same_status(small, "POST", "/telegram/webhook", data=big, headers=tg) == 413
    assert await same_status(small, "POST", "/webchat/messages", data=big) == 413
    signed = fb_signed(big)
    assert await same_status(small, "POST", "/messenger/webhook", data=big, headers=signed) == 413


async def outbound(client: TestClient[Any, Any]) -> list[Any]:
    async with client.app[keys.ENGINE].connect() as conn:
        query = select(Outbound.status, Outbound.error).order_by(Outbound.id)
        return list((await conn.execute(query)).all())


@settings(PROPERTY, max_examples=4)
@given(chat_id=st.integers(min_value=-(2**52) + 1, max_value=2**52 - 1), text=st.text(min_size=1))
async def test_an_accepted_update_that_can_never_be_sent_ends_failed(
    backends: Clients, fake_telegram: FakeTelegram, chat_id: int, text: str
) -> None:
    """Telegram takes the update but refuses every reply: each row ends failed, with the
    platform's reason, at its first attempt -- not retried for ever."""
    fake_telegram.fail("sendMessage", 400, "Bad Request: chat not found", times=100)
    update_id = abs(chat_id) + len(text)
    for client in backends.values():
        update = {
            "update_id": update_id,
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": {"id": chat_id, "type": "private"},
                "text": text,
            },
        }
        resp = await client.post(
            "/telegram/webhook",
            data=json.dumps(update),
            headers={TG_HEADER: TG_SECRET, **JSON_TYPE},
        )
        assert resp.status == 200
    for client in backends.values():
        for _ in range(200):
            rows = await outbound(client)
            if rows and all(r.status == "failed" for r in rows):
                break
            await asyncio.sleep(0.025)
        assert rows
        assert all(r.status == "failed" for r in rows), rows
        assert all("chat not found" in (r.error or "").lower() for r in rows), rows
    fake_telegram.failures.clear()
