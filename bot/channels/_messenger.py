"""Facebook Messenger: webhook verification, signed events, Send API through httpx."""

from __future__ import annotations

import hashlib
import hmac
import logging
from http import HTTPStatus
from typing import Any

import aiohttp

from .._exceptions import BadInbound, ChannelError, RateLimited, RecipientBlocked
from ..rasa._client import RasaReply
from ..storage._models import InboundKind, InboundMessage
from ._text_split import split_text
from ._texts import detect_language

__all__ = [
    "CHANNEL",
    "MessengerChannel",
    "parse_events",
    "verify_challenge",
    "verify_signature",
]

log = logging.getLogger("bot.messenger")

CHANNEL = "messenger"
SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
MAX_TEXT = 1999  # "Must be UTF-8 and less than 2000 characters"
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_QUICK_REPLY_PAYLOAD = 1000
SUBSCRIBE_MODE = "subscribe"
RATE_LIMIT_CODES = {4, 613}  # application / page-level "too many calls"
UNREACHABLE_CODES = {551, 10}  # "This person isn't available right now" / permission
DEFAULT_RETRY_AFTER_S = 60.0
MESSAGE_PATH = "/me/messages"


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """HMAC-SHA256 of the raw body with the app secret, compared in constant time."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len(SIGNATURE_PREFIX) :])


def verify_challenge(verify_token: str, params: dict[str, str]) -> str | None:
    """The hub.challenge to echo back, or None if mode or token are wrong."""
    if params.get("hub.mode") != SUBSCRIBE_MODE:
        return None
    if not hmac.compare_digest(params.get("hub.verify_token", "").encode(), verify_token.encode()):
        return None
    return params.get("hub.challenge")


def _event_message(event: dict[str, Any]) -> InboundMessage | None:
    sender = str((event.get("sender") or {}).get("id") or "")
    if not sender:
        return None
    message = event.get("message")
    if isinstance(message, dict):
        if message.get("is_echo"):  # our own sends, reflected back
            return None
        mid = str(message.get("mid") or "")
        if not mid:
            return None
        base: dict[str, Any] = {"channel": CHANNEL, "external_id": mid, "chat_id": sender}
        quick = message.get("quick_reply") or {}
        if quick.get("payload"):
            return InboundMessage(**base, kind=InboundKind.BUTTON, text=str(quick["payload"]))
        if message.get("text"):
            text = str(message["text"])
            return InboundMessage(
                **base, kind=InboundKind.TEXT, text=text, language=detect_language(text)
            )
        kinds = [
            str(a.get("type")) for a in message.get("attachments") or [] if isinstance(a, dict)
        ]
        return InboundMessage(
            **base, kind=InboundKind.MEDIA, meta={"media": ",".join(kinds) or "other"}
        )
    postback = event.get("postback")
    if isinstance(postback, dict) and postback.get("payload"):
        ext = str(postback.get("mid") or f"postback:{sender}:{event.get('timestamp')}")
        return InboundMessage(
            channel=CHANNEL,
            external_id=ext,
            chat_id=sender,
            kind=InboundKind.BUTTON,
            text=str(postback["payload"]),
        )
    return None  # deliveries, reads, reactions: nothing to answer


def parse_events(payload: Any) -> list[InboundMessage]:
    """Every message of every entry (Meta batches them), echoes and receipts skipped."""
    if not isinstance(payload, dict) or payload.get("object") != "page":
        raise BadInbound("not a Messenger page event")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise BadInbound("entry must be a list")
    found: list[InboundMessage] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadInbound("entry items must be objects")
        for event in entry.get("messaging") or []:
            if not isinstance(event, dict):
                raise BadInbound("messaging items must be objects")
            msg = _event_message(event)
            if msg is not None:
                found.append(msg)
    return found


class MessengerChannel:
    """Text under 2,000 characters with up to 13 quick replies, via the Graph Send API."""

    name = CHANNEL
    needs_callback_keys = False

    def __init__(
        self,
        *,
        page_token: str,
        graph_url: str,
        timeout_s: float,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._token = page_token
        self._url = graph_url.rstrip("/") + MESSAGE_PATH
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session or aiohttp.ClientSession(timeout=self._timeout)

    def render(self, replies: list[RasaReply]) -> list[dict[str, Any]]:
        """Graph ``message`` objects; quick replies ride on the last chunk of a reply."""
        bodies: list[dict[str, Any]] = []
        for reply in replies:
            text = str(reply.get("text") or "")
            if reply.get("image"):
                text = f"{text}\n{reply['image']}".strip()
            buttons = [b for b in reply.get("buttons") or [] if b.get("payload")]
            if len(buttons) > MAX_QUICK_REPLIES:
                log.warning("messenger.quick_replies_truncated", extra={"count": len(buttons)})
            quick = [
                {
                    "content_type": "text",
                    "title": str(b.get("title", ""))[:MAX_QUICK_REPLY_TITLE],
                    "payload": str(b["payload"])[:MAX_QUICK_REPLY_PAYLOAD],
                }
                for b in buttons[:MAX_QUICK_REPLIES]
            ]
            chunks = split_text(text, MAX_TEXT) or (["…"] if quick else [])
            for i, chunk in enumerate(chunks):
                body: dict[str, Any] = {"text": chunk}
                if quick and i == len(chunks) - 1:
                    body["quick_replies"] = quick
                bodies.append(body)
        return bodies

    async def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            async with self._session.post(
                self._url,
                params={"access_token": self._token},
                json=payload,
                timeout=self._timeout,
            ) as response:
                status, retry_after = response.status, response.headers.get("Retry-After")
                try:
                    data: Any = await response.json(content_type=None)
                except ValueError:
                    data = {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ChannelError(f"Graph API: {type(exc).__name__}") from exc
        if HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
            return data if isinstance(data, dict) else {}
        error = (data.get("error") or {}) if isinstance(data, dict) else {}
        code = error.get("code")
        if status == HTTPStatus.TOO_MANY_REQUESTS or code in RATE_LIMIT_CODES:
            raise RateLimited(
                float(retry_after) if retry_after else DEFAULT_RETRY_AFTER_S, "Graph rate limit"
            )
        if status == HTTPStatus.FORBIDDEN or code in UNREACHABLE_CODES:
            raise RecipientBlocked(f"Graph API {status} code {code}")
        raise ChannelError(f"Graph API {status} code {code}")

    async def send(self, chat_id: str, body: dict[str, Any]) -> str | None:
        """POST /me/messages with messaging_type RESPONSE (inside the 24-hour window)."""
        data = await self._post(
            {"recipient": {"id": chat_id}, "messaging_type": "RESPONSE", "message": body}
        )
        mid = data.get("message_id")
        return str(mid) if mid else None

    def recorded(self, chat_id: str) -> None:
        """Nothing to do: the platform already has the message."""

    async def typing(self, chat_id: str) -> None:
        """sender_action typing_on (a separate request: it cannot ride with a message)."""
        try:
            await self._post({"recipient": {"id": chat_id}, "sender_action": "typing_on"})
        except ChannelError as exc:
            log.info("messenger.typing_failed", extra={"error": str(exc)})

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._session.close()
