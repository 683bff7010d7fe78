"""The web chat's page and its history: ``GET /chat`` and ``GET /webchat/history``.

The page is one HTML file with one inline script and one inline style; the
Content-Security-Policy allows exactly those two by their SHA-256 (no 'unsafe-inline', no
other origin), with the console's other security headers. The history lets a reloaded page
show the whole conversation: the citizen's messages (``gw_inbound``) and the replies sent to
them (``gw_outbound``), in order, the last ``limit`` of them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from importlib import resources
from typing import Any

from aiohttp import web
from sqlalchemy import select

from .. import keys
from .._exceptions import BadInbound
from ..storage._db import Agent, Inbound, InboundStatus, Organisation, Outbound, OutboundStatus
from ..storage._models import InboundKind, OutboundKind
from ._texts import detect_language
from ._webchat import CHANNEL, checked_session

__all__ = ["HISTORY_LIMIT", "add_webchat_routes"]

PAGE_PATH = "/chat"
HISTORY_PATH = "/webchat/history"
HISTORY_LIMIT = 100
ICON_PATH = "/chat/icon.svg"
ICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    b'<rect width="32" height="32" rx="7" fill="#0b6e4f"/>'
    b'<path d="M8 10h16v10H14l-5 4v-4H8z" fill="#fff"/></svg>'
)
_SWITCH_RE = re.compile(r'^/switch_language\{"language":\s*"(km|en)"\}$')
_LANGUAGE_NAMES = {"km": "ភាសាខ្មែរ", "en": "English"}
_OTHER_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


@functools.cache
def _page() -> tuple[str, dict[str, str]]:
    """The page and its headers; the CSP names the hash of its inline script and style."""
    page = resources.files("bot.channels").joinpath("static/webchat.html")
    html = page.read_text(encoding="utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    csp = (
        "default-src 'none'; "
        f"script-src {' '.join(map(_sha256, scripts)) or chr(39) + 'none' + chr(39)}; "
        f"style-src {' '.join(map(_sha256, styles)) or chr(39) + 'none' + chr(39)}; "
        "img-src 'self'; media-src 'self'; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return html, {"Content-Security-Policy": csp, **_OTHER_HEADERS}


async def webchat_page(request: web.Request) -> web.Response:
    """The chat page (vanilla JS, no token needed)."""
    html, headers = _page()
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=headers)


def _language(body: dict[str, Any]) -> str | None:
    """The language a reply is written in: the one rendered with it, else its script."""
    known = body.get("language")
    if known in ("km", "en"):
        return str(known)
    text = str(body.get("text") or "")
    titles = " ".join(str(b.get("title", "")) for b in body.get("buttons") or [])
    return detect_language(text) or detect_language(titles)


def _limit(value: str | None) -> int:
    if value is None:
        return HISTORY_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= HISTORY_LIMIT:
        raise BadInbound(f"limit must be a whole number from 1 to {HISTORY_LIMIT}")
    return int(value)


async def webchat_history(request: web.Request) -> web.Response:
    """The last ``limit`` (at most 100) messages of a session, both sides, oldest first.

    ``after`` is the newest reply shown (the poller continues from it), ``waiting`` says the
    citizen's last message is not answered yet, ``language`` is the last reply's.
    """
    session = checked_session(request.query.get("session"))
    limit = _limit(request.query.get("limit"))
    store = request.app[keys.STORE]
    async with store.reading() as db:
        inbound = (
            await db.execute(
                select(Inbound.id, Inbound.kind, Inbound.text, Inbound.status, Inbound.created_at)
                .where(Inbound.channel == CHANNEL, Inbound.chat_id == session)
                .order_by(Inbound.id.desc())
                .limit(limit)
            )
        ).all()
        outbound = (
            await db.execute(
                select(
                    Outbound.id,
                    Outbound.kind,
                    Outbound.body,
                    Outbound.created_at,
                    Agent.display_name,
                    Organisation.name,
                )
                .outerjoin(Agent, Agent.id == Outbound.agent_id)
                .outerjoin(Organisation, Organisation.id == Agent.organisation_id)
                .where(
                    Outbound.channel == CHANNEL,
                    Outbound.chat_id == session,
                    Outbound.status == OutboundStatus.SENT,
                )
                .order_by(Outbound.id.desc())
                .limit(limit)
            )
        ).all()
    # one timeline: by time, a citizen's message before the replies written in its instant
    timeline: list[tuple[Any, int, int, Any]] = [(r.created_at, 0, r.id, r) for r in inbound] + [
        (r.created_at, 1, r.id, r) for r in outbound
    ]
    timeline.sort(key=lambda t: t[:3])
    timeline = timeline[-limit:]
    titles: dict[str, str] = {}  # payload -> title of the buttons shown before
    messages: list[dict[str, Any]] = []
    after = max((r.id for r in outbound), default=0)
    language: str | None = None
    for _at, side, _id, row in timeline:
        if side == 0:
            messages.append({"from": "me", "text": _shown(row.kind, row.text, titles)})
            continue
        body = dict(row.body or {})
        for button in body.get("buttons") or []:
            titles[str(button.get("payload", ""))] = str(button.get("title", ""))
        message: dict[str, Any] = {
            "id": row.id,
            "from": "agent" if row.kind == OutboundKind.AGENT else "bot",
            **body,
            "language": _language(body),
        }
        if row.kind == OutboundKind.AGENT and not message.get("agent") and row.display_name:
            message["agent"] = {"name": row.display_name, "organisation": row.name or ""}
        if row.kind != OutboundKind.AGENT:
            message.pop("agent", None)
        language = message["language"] or language
        messages.append(message)
    # not answered yet: queued, or with Rasa now (at_rasa)
    waiting = bool(inbound) and inbound[0].status in (InboundStatus.PENDING, InboundStatus.AT_RASA)
    return web.json_response(
        {"messages": messages, "after": after, "waiting": waiting, "language": language},
        dumps=functools.partial(json.dumps, ensure_ascii=False),
    )


def _shown(kind: str, text: str, titles: dict[str, str]) -> str:
    """What the citizen saw in their own bubble: a tapped button's title, not its payload."""
    if kind != InboundKind.BUTTON:
        return text
    switch = _SWITCH_RE.match(text)
    if switch:
        return _LANGUAGE_NAMES[switch.group(1)]
    return titles.get(text, text)


async def webchat_icon(request: web.Request) -> web.Response:
    """The page's icon (without one every browser asks for /favicon.ico and gets a 404)."""
    return web.Response(
        body=ICON,
        content_type="image/svg+xml",
        headers={"Cache-Control": "max-age=604800", "X-Content-Type-Options": "nosniff"},
    )


def add_webchat_routes(app: web.Application) -> None:
    """``GET /chat`` (the page, with its security headers), its icon and
    ``GET /webchat/history``."""
    app.router.add_get(PAGE_PATH, webchat_page)
    app.router.add_get(ICON_PATH, webchat_icon)
    app.router.add_get(HISTORY_PATH, webchat_history)
