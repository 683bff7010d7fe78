"""Helpers for the console tests: a team of two organisations, agents that log in through
the real login form (each with its own cookie jar), citizens on the fake Telegram API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from bot.console import CONSOLE
from bot.handoff import AgentInfo, OrgInfo
from tests.bot.gateway_fakes import TG_SECRET, echo

PASSWORD = "correct horse battery"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
# tests/bot/data/communes.yml: Banteay Neang (province 01) and Tonle Basak (province 12)
BANTEAY_NEANG = (13.5104, 103.0177)
TONLE_BASAK = (11.5509, 104.9359)
ASK_FOR_A_PERSON = "ខ្ញុំចង់និយាយជាមួយមនុស្ស"  # "I want to talk to a person"
_HIDDEN_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def handoff_messages(
    sender: str, message: str, place_code: str | None = None
) -> list[dict[str, Any]]:
    """What Rasa's action_handoff answers: a notice and the custom ``handoff`` payload
    (``place_code`` None: the gateway knows the place from a shared location)."""
    return [
        {"recipient_id": sender, "text": "ខ្ញុំកំពុងភ្ជាប់អ្នកទៅបុគ្គលិកម្នាក់។"},
        {
            "recipient_id": sender,
            "custom": {
                "handoff": {
                    "reason": "user_request",
                    "language": "km",
                    "summary": 'Topic: equity_card. Last messages: "' + message + '".',
                    "topic": None,
                    "place_code": place_code,
                }
            },
        },
    ]


def handoff_responder(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Fake Rasa: asking for a person gets action_handoff's two messages, else an echo."""
    sender, message = body["sender"], body["message"]
    if message == ASK_FOR_A_PERSON or message == "/request_human":
        return handoff_messages(sender, message)
    return echo(body)


def tg_update(update_id: int, chat_id: int, text: str = "", location: Any = None) -> Any:
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Citizen"},
    }
    if location is not None:
        message["location"] = {"latitude": location[0], "longitude": location[1]}
    else:
        message["text"] = text
    return {"update_id": update_id, "message": message}


async def citizen_says(
    client: TestClient[Any, Any],
    update_id: int,
    chat_id: int,
    text: str = "",
    location: Any = None,
) -> None:
    resp = await client.post(
        "/telegram/webhook",
        json=tg_update(update_id, chat_id, text, location),
        headers={HEADER: TG_SECRET},
    )
    assert resp.status == 200, await resp.text()


@dataclass
class Team:
    """Two local organisations (Banteay Meanchey, Phnom Penh) and their people."""

    north: OrgInfo
    capital: OrgInfo
    people: dict[str, AgentInfo]


async def make_team(client: TestClient[Any, Any]) -> Team:
    admin = client.app[CONSOLE].admin
    north = await admin.add_organisation("bmc-cso", "Banteay Meanchey CSO", areas=["01"])
    capital = await admin.add_organisation("pp-cso", "Phnom Penh CSO", areas=["12"])
    people = {}
    for username, name, org, role in (
        ("sokha", "Sokha", north.slug, "agent"),
        ("srey", "Srey", north.slug, "supervisor"),
        ("dara", "Dara", capital.slug, "agent"),
        ("root", "Root", "national-pool", "admin"),
    ):
        people[username] = await admin.add_agent(username, name, org, role, PASSWORD)
    return Team(north, capital, people)


class ConsoleUser:
    """One browser: its own cookie jar, logged in through the login form."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.base = str(client.make_url("")).rstrip("/")
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=30)
        )
        self.csrf = ""

    async def close(self) -> None:
        await self.http.close()

    def url(self, path: str) -> str:
        return self.base + path

    async def login_form(self) -> str:
        async with self.http.get(self.url("/console/login")) as resp:
            assert resp.status == 200
            found = _HIDDEN_TOKEN.search(await resp.text())
        assert found is not None
        return found.group(1)

    async def login(self, username: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        token = await self.login_form()
        resp = await self.http.post(
            self.url("/console/login"),
            data={"csrf_token": token, "username": username, "password": password},
            allow_redirects=False,
        )
        await resp.read()
        if resp.status == 303:
            async with self.http.get(self.url("/console/")) as page:
                found = _META_TOKEN.search(await page.text())
            assert found is not None
            self.csrf = found.group(1)
        return resp

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        async with self.http.get(self.url(path), allow_redirects=False, **kwargs) as resp:
            return resp.status, await resp.text()

    async def api(self, path: str) -> Any:
        async with self.http.get(self.url(path)) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def act(
        self, path: str, payload: dict[str, Any] | None = None, csrf: str | None = None
    ) -> tuple[int, Any]:
        """A JSON POST with the session's CSRF header (or the one given)."""
        headers = {"X-CSRF-Token": self.csrf if csrf is None else csrf}
        async with self.http.post(
            self.url(path), json=payload or {}, headers=headers, allow_redirects=False
        ) as resp:
            try:
                return resp.status, await resp.json()
            except aiohttp.ContentTypeError:
                return resp.status, await resp.text()

    async def form(
        self, path: str, fields: dict[str, str], with_csrf: bool = True
    ) -> tuple[int, str, str]:
        """A form POST as a browser sends it (hidden csrf_token field); status, body,
        Location."""
        data = {**fields, **({"csrf_token": self.csrf} if with_csrf else {})}
        async with self.http.post(self.url(path), data=data, allow_redirects=False) as resp:
            return resp.status, await resp.text(), resp.headers.get("Location", "")

    async def queue(self) -> list[dict[str, Any]]:
        return list((await self.api("/console/api/queue"))["handoffs"])


async def logged_in(client: TestClient[Any, Any], username: str) -> ConsoleUser:
    user = ConsoleUser(client)
    resp = await user.login(username)
    assert resp.status == 303, resp.status
    return user
