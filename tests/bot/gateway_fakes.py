"""Local fake servers (127.0.0.1): Telegram Bot API, Graph Send API and Rasa's REST channel.

They implement the documented JSON shapes of the calls the gateway makes, record every call,
and can be told to fail (429 with retry_after, 403, 5xx) to exercise the gateway's handling.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "123456:TEST-token"
TG_SECRET = "test_secret-token"
FB_SECRET = "app-secret"
FB_VERIFY = "verify-me"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None


class FakeTelegram:
    """The Bot API methods the gateway uses: getMe, sendMessage, answerCallbackQuery,
    sendChatAction, setWebhook, deleteWebhook, getWebhookInfo, getUpdates."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: dict[str, list[Failure]] = {}
        self.updates: list[dict[str, Any]] = []
        self.delay_s = 0.0  # between taking a message and answering: a slow Bot API
        self.blocked: set[str] = set()  # chats whose user blocked the bot: 403 to each send
        self._message_id = 0
        self.server: TestServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/bot"))

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        self.failures.setdefault(method, []).extend(
            [Failure(status, description, retry_after)] * times
        )

    def sent(self, method: str = "sendMessage") -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            text = value if isinstance(value, str) else str(value)
            try:
                params[key] = json.loads(text)
            except ValueError:
                params[key] = text
        return params

    async def handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if token != TOKEN:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params = await self._params(request)
        queue = self.failures.get(method)
        if queue:
            failure = queue.pop(0)
            self.calls.append(Call(method + ":failed", params))
            body: dict[str, Any] = {
                "ok": False,
                "error_code": failure.status,
                "description": failure.description,
            }
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return web.json_response(body, status=failure.status)
        if method.startswith("send") and str(params.get("chat_id")) in self.blocked:
            self.calls.append(Call(method + ":failed", params))
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user",
                },
                status=403,
            )
        # Like Telegram, no idempotency key: every request is a message.
        self.calls.append(Call(method, params))
        await asyncio.sleep(self.delay_s)
        result = await self._result(method, params)
        return web.json_response({"ok": True, "result": result})

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": 42,
                "is_bot": True,
                "first_name": "SP4ALL",
                "username": "sp4all_bot",
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method == "sendMessage":
            self._message_id += 1
            return {
                "message_id": self._message_id,
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params.get("text", ""),
            }
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            deadline = time.monotonic() + min(float(params.get("timeout") or 0), 1.0)
            while True:
                ready = [u for u in self.updates if u["update_id"] >= offset]
                if ready or time.monotonic() >= deadline:
                    return ready
                await asyncio.sleep(0.05)
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        return True  # answerCallbackQuery, sendChatAction, setWebhook, deleteWebhook

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.handle)
        return app


class FakeGraph:
    """POST /me/messages of the Graph Send API (messages and sender actions)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: list[tuple[int, dict[str, Any]]] = []
        self._mid = 0
        self.server: TestServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/v21.0"))

    def messages(self) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if "message" in c.params]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        body["access_token"] = request.query.get("access_token")
        if self.failures and "message" in body:
            status, error = self.failures.pop(0)
            self.calls.append(Call("failed", body))
            return web.json_response({"error": error}, status=status)
        self.calls.append(Call("messages", body))
        if "sender_action" in body:
            return web.json_response({"recipient_id": body["recipient"]["id"]})
        self._mid += 1
        return web.json_response(
            # a notification-token send names no PSID: the Page-scoped id comes back
            {
                "recipient_id": body["recipient"].get("id", "psid-of-token"),
                "message_id": f"m_{self._mid}",
            }
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v21.0/me/messages", self.handle)
        return app


Responder = Callable[[dict[str, Any]], Any]


def echo(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Default fake Rasa behaviour: echo the text; "/menu" answers with two buttons."""
    sender, message = body["sender"], body["message"]
    if message == "/menu":
        return [
            {
                "recipient_id": sender,
                "text": "Menu",
                "buttons": [
                    {"title": "English", "payload": '/switch_language{"language": "en"}'},
                    {"title": "ប័ណ្ណសមធម៌", "payload": "/ask_equity_card"},
                ],
            }
        ]
    return [{"recipient_id": sender, "text": f"echo: {message}"}]


def bot_event(reply: dict[str, Any]) -> dict[str, Any]:
    """A reply as Rasa 3.6 logs it: text at the top, the rest under ``data``."""
    data = {
        k: reply.get(k)
        for k in ("elements", "quick_replies", "buttons", "attachment", "image", "custom")
    }
    return {
        "event": "bot",
        "timestamp": time.time(),
        "text": reply.get("text"),
        "data": data,
        "metadata": {},
    }


class FakeRasa:
    """Rasa's REST channel, /status and the tracker events API (pause/resume), as Rasa 3.6
    behaves: a paused conversation's messages are logged but get no reply (``[]``).
    ``status``/``delay_s``/``responder`` steer it."""

    def __init__(self, name: str = "rasa") -> None:
        self.name = name
        self.calls: list[Call] = []
        self.status = 200
        self.delay_s = 0.0
        self.responder: Responder = echo
        self.server: TestServer | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.paused: set[str] = set()
        self.events: list[tuple[str, dict[str, Any]]] = []  # (sender, event) appended
        # each sender's tracker events, in Rasa 3.6's JSON shape (GET .../tracker)
        self.trackers: dict[str, list[dict[str, Any]]] = {}
        self.tracker_reads: list[str] = []  # senders whose tracker the gateway read
        self.hellos = 0
        # client (host, port) of every connection a webhook call arrived on, in order
        self.webhook_peers: list[tuple[str, int]] = []
        self.hello_peers: set[tuple[str, int]] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        if request.transport is not None:
            self.webhook_peers.append(request.transport.get_extra_info("peername")[:2])
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        if self.status != 200:
            self.calls.append(Call("failed", body))
            return web.Response(status=self.status, text="down")
        self.calls.append(Call("webhook", body))
        sender = str(body.get("sender"))
        # Rasa saves the turn when it is done: the user event with the message's metadata,
        # then one bot event per reply (nothing but the user event while paused)
        tracker = self.trackers.setdefault(sender, [])
        tracker.append(
            {
                "event": "user",
                "timestamp": time.time(),
                "text": body.get("message"),
                "input_channel": body.get("input_channel"),
                "metadata": body.get("metadata") or {},
            }
        )
        replies = [] if sender in self.paused else self.responder(body)
        tracker.extend(bot_event(reply) for reply in replies)
        return web.json_response(replies)

    def user_messages(self, sender: str) -> list[dict[str, Any]]:
        """The `user` events of a sender's tracker (a message fed twice shows twice)."""
        return [e for e in self.trackers.get(sender, []) if e["event"] == "user"]

    async def tracker(self, request: web.Request) -> web.Response:
        """GET /conversations/{sender}/tracker, as Rasa 3.6 returns it."""
        if self.status != 200:
            return web.Response(status=self.status, text="down")
        sender = request.match_info["sender"]
        self.tracker_reads.append(sender)
        return web.json_response(
            {
                "sender_id": sender,
                "paused": sender in self.paused,
                "events": self.trackers.get(sender, []),
            }
        )

    async def tracker_events(self, request: web.Request) -> web.Response:
        """POST /conversations/{sender}/tracker/events: one event or a list of them."""
        if self.status != 200:
            return web.Response(status=self.status, text="down")
        sender = request.match_info["sender"]
        body = await request.json()
        for event in body if isinstance(body, list) else [body]:
            self.events.append((sender, event))
            self.trackers.setdefault(sender, []).append(event)
            if event.get("event") == "pause":
                self.paused.add(sender)
            elif event.get("event") == "resume":
                self.paused.discard(sender)
        return web.json_response({"sender_id": sender, "paused": sender in self.paused})

    async def hello(self, request: web.Request) -> web.Response:
        """GET /, Rasa's greeting; the gateway uses it to open connections ahead of need."""
        self.hellos += 1
        if request.transport is not None:
            self.hello_peers.add(request.transport.get_extra_info("peername")[:2])
        return web.Response(text="Hello from Rasa: 3.6.21")

    async def status_route(self, request: web.Request) -> web.Response:
        return web.json_response({"model_file": "fake.tar.gz"}, status=self.status)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self.webhook)
        app.router.add_get("/status", self.status_route)
        app.router.add_get("/", self.hello)
        app.router.add_post("/conversations/{sender}/tracker/events", self.tracker_events)
        app.router.add_get("/conversations/{sender}/tracker", self.tracker)
        return app


async def start(fake: FakeTelegram | FakeGraph | FakeRasa) -> TestServer:
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.server = server
    return server


async def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until true; fail the test with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.1f}s")
        await asyncio.sleep(0.02)


async def wait_until_async(
    fetch: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], timeout: float = 5.0
) -> None:
    """Like wait_until, for conditions that need a database read."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if check(value):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met: {value!r}")
        await asyncio.sleep(0.05)


def listening_pids(port: int) -> set[int]:
    """Pids holding a listening TCP socket on ``port`` (Linux /proc): every process of a
    group of gateways on one port serves before it is measured or loaded, not only the
    first to bind."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(fields[9])
    pids: set[int] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.add(int(pid))
        except OSError:
            continue
    return pids
