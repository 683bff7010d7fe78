"""Web chat: a token-free page served by the gateway and its small JSON API.

The browser keeps a random session id; it POSTs messages and long-polls for replies. Replies
go through the same pipeline as Telegram and Messenger; "sending" one means marking it sent
and waking the browsers waiting for that session.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, NamedTuple

from .._exceptions import BadInbound
from .._waiting import wait_event
from ..rasa._client import RasaReply
from ..storage._models import InboundKind, InboundMessage
from ._text_split import split_text
from ._texts import detect_language

__all__ = ["CHANNEL", "Poll", "WebChatChannel", "parse_poll", "parse_webchat_message"]

CHANNEL = "webchat"
MAX_TEXT = 4000
MAX_INPUT = 2000
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_WAIT_S = 25.0
MAX_ROW_ID = 2**63 - 1  # the largest BIGINT, and SQLite's largest INTEGER


def _checked_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise BadInbound(f"{field} must be 8-64 characters of A-Z a-z 0-9 _ -")
    return value


def parse_webchat_message(data: Any) -> InboundMessage:
    """Validate {"session", "id", "text"}; a tapped button sends its payload as text."""
    if not isinstance(data, dict):
        raise BadInbound("expected a JSON object")
    session = _checked_id(data.get("session"), "session")
    message_id = _checked_id(data.get("id"), "id")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_INPUT:
        raise BadInbound(f"text must be 1-{MAX_INPUT} characters")
    is_button = bool(data.get("button")) and text.startswith("/")
    language = data.get("language") if data.get("language") in ("km", "en") else None
    return InboundMessage(
        channel=CHANNEL,
        # ids come from browsers: unique within a session, not across all of them; hashed,
        # as two 64-character parts would not fit the 128-character column
        external_id=hashlib.sha256(f"{session}:{message_id}".encode()).hexdigest(),
        chat_id=session,
        kind=InboundKind.BUTTON if is_button else InboundKind.TEXT,
        text=text.strip(),
        language=detect_language(text) or language,
    )


def checked_session(value: Any) -> str:
    """The session query parameter, validated like the POST body's."""
    return _checked_id(value, "session")


class Poll(NamedTuple):
    """A browser's long poll: replies of ``session`` after row ``after``, waiting ``wait``."""

    session: str
    after: int
    wait: float


def parse_poll(query: Mapping[str, str]) -> Poll:
    """Validate the poll's query: ``after`` a row id the databases can compare (beyond
    BIGINT, SQLite overflows and PostgreSQL refuses: a 500 each), ``wait`` a finite,
    non-negative number of seconds (longer waits are cut to MAX_WAIT_S)."""
    session = checked_session(query.get("session"))
    try:
        after = int(query.get("after", "0"))
        wait = float(query.get("wait", "0"))
    except ValueError as exc:
        raise BadInbound("after and wait must be numbers") from exc
    if not 0 <= after <= MAX_ROW_ID:
        raise BadInbound(f"after must be an integer from 0 to {MAX_ROW_ID}")
    if not (math.isfinite(wait) and wait >= 0):
        raise BadInbound("wait must be a finite, non-negative number of seconds")
    return Poll(session, after, min(wait, MAX_WAIT_S))


class WebChatChannel:
    """Delivery is local: a sent reply becomes visible to the session's pollers."""

    name = CHANNEL
    needs_callback_keys = False
    retires_buttons = False  # the page disables them itself

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def render(self, replies: list[RasaReply]) -> list[dict[str, Any]]:
        """Plain text (the page escapes it) plus buttons with title and payload; the reply's
        language (the page speaks it) and, for a person's words, who wrote them."""
        bodies: list[dict[str, Any]] = []
        for reply in replies:
            text = str(reply.get("text") or "")
            buttons = [
                {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                for b in reply.get("buttons") or []
                if b.get("payload")
            ]
            language = detect_language(text) or detect_language(
                " ".join(b["title"] for b in buttons)
            )
            agent = reply.get("agent")
            chunks = split_text(text, MAX_TEXT) or ([""] if buttons else [])
            for i, chunk in enumerate(chunks):
                body: dict[str, Any] = {"text": chunk}
                if language:
                    body["language"] = language
                if isinstance(agent, dict):
                    body["agent"] = {
                        "name": str(agent.get("name") or ""),
                        "organisation": str(agent.get("organisation") or ""),
                    }
                if reply.get("image") and i == 0:
                    body["image"] = str(reply["image"])
                if buttons and i == len(chunks) - 1:
                    body["buttons"] = buttons
                bodies.append(body)
        return bodies

    async def send(self, chat_id: str, body: dict[str, Any]) -> str | None:
        """Nothing to transmit: the stored row is what the browser fetches."""
        return None

    async def retire_buttons(self, chat_id: str, message_id: str) -> None:
        """Nothing to do: the page disables them itself."""

    def recorded(self, chat_id: str) -> None:
        """The reply is committed as sent: wake the browsers polling this session."""
        event = self._events.pop(chat_id, None)
        if event is not None:
            event.set()

    async def typing(self, chat_id: str) -> None:
        """The page shows its own typing dots while it waits."""

    async def wait(self, chat_id: str, timeout_s: float) -> None:
        """Return when a reply for this session is sent, or after ``timeout_s``."""
        event = self._events[chat_id]
        await wait_event(event, min(timeout_s, MAX_WAIT_S))
