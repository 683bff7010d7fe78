"""A fake of Somleng's Twilio-compatible REST API on 127.0.0.1: Messages.json and
Calls.json under /2010-04-01/Accounts/{sid}, Basic auth, and scripted refusals."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "somleng-auth-token"


@dataclass
class FakeSomleng:
    """What was asked of it (form fields and arrival times), and refusals to answer with."""

    messages: list[dict[str, str]] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)
    times: dict[str, list[float]] = field(default_factory=lambda: {"sms": [], "voice": []})
    refusals: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    account_reads: int = 0
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def refuse_next(self, status: int, code: int, message: str = "refused", **extra: Any) -> None:
        self.refusals.append(
            (status, {"code": code, "message": message, "status": status, **extra})
        )

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return request.headers.get("Authorization", "") == f"Basic {expected}"

    async def _create(self, request: web.Request, kind: str) -> web.Response:
        if request.match_info["sid"] != ACCOUNT_SID or not self._authorised(request):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if self.refusals:
            status, body = self.refusals.pop(0)
            return web.json_response(body, status=status)
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.times[kind].append(time.monotonic())
        prefix = "SM" if kind == "sms" else "CA"
        sid = prefix + secrets.token_hex(16)
        (self.messages if kind == "sms" else self.calls).append({**form, "Sid": sid})
        return web.json_response(
            {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": form.get("To"),
                "from": form.get("From"),
                "status": "queued",
                "api_version": "2010-04-01",
            },
            status=201,
        )

    async def messages_json(self, request: web.Request) -> web.Response:
        return await self._create(request, "sms")

    async def calls_json(self, request: web.Request) -> web.Response:
        return await self._create(request, "voice")

    async def account_json(self, request: web.Request) -> web.Response:
        if request.match_info["sid"] != ACCOUNT_SID or not self._authorised(request):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        self.account_reads += 1
        return web.json_response(
            {"sid": ACCOUNT_SID, "friendly_name": "SP4ALL", "status": "active"}
        )

    def app(self) -> web.Application:
        app = web.Application()
        base = "/2010-04-01/Accounts/{sid}"
        app.router.add_get(f"{base}.json", self.account_json)
        app.router.add_post(f"{base}/Messages.json", self.messages_json)
        app.router.add_post(f"{base}/Calls.json", self.calls_json)
        return app


async def start_somleng() -> FakeSomleng:
    fake = FakeSomleng()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.server = server
    return fake
