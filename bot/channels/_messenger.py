"""Facebook Messenger: webhook verification, signed events, Send API through httpx."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from http import HTTPStatus
from typing import Any

import aiohttp

from .._exceptions import BadInbound, ChannelError, RateLimited, RecipientBlocked, Undeliverable
from ..rasa._client import RasaReply
from ..storage._db import CHAT_ID_LEN, EXTERNAL_ID_LEN
from ..storage._models import InboundKind, InboundMessage
from ._text_split import split_text
from ._texts import author_line, detect_language

__all__ = [
    "CHANNEL",
    "MessengerChannel",
    "delivered_mids",
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
INFORM_PLACE = "/inform_place"  # what a shared location says to Rasa (as on Telegram)


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """HMAC-SHA256 of the raw body with the app secret, compared in constant time.

    The header is compared as bytes: ``compare_digest`` refuses non-ASCII strings, and a
    header the server decoded with surrogate escapes must not crash the request either.
    """
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest().encode()
    given = header[len(SIGNATURE_PREFIX) :].encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected, given)


def verify_challenge(verify_token: str, params: dict[str, str]) -> str | None:
    """The hub.challenge to echo back, or None if mode or token are wrong."""
    if params.get("hub.mode") != SUBSCRIBE_MODE:
        return None
    given = params.get("hub.verify_token", "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, verify_token.encode()):
        return None
    return params.get("hub.challenge")


def _object(value: Any, field: str) -> dict[str, Any] | None:
    """An optional object: None if absent, 400 if present with another type."""
    if value is None or isinstance(value, dict):
        return value
    raise BadInbound(f"{field} must be an object")


def _id(value: Any, field: str, max_len: int) -> str:
    """A Graph id (a string, or a number for some ids) that fits the column it is stored in."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        text = str(value)
        if 0 < len(text) <= max_len:
            return text
    raise BadInbound(f"{field} must be an id of 1-{max_len} characters")


def _optional_str(container: dict[str, Any], key: str, field: str) -> str | None:
    value = container.get(key)
    if value is None or isinstance(value, str):
        return value
    raise BadInbound(f"{field}.{key} must be a string")


def _attachment_kinds(message: dict[str, Any]) -> list[str]:
    attachments = message.get("attachments")
    if attachments is None:
        return []
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        raise BadInbound("message.attachments must be a list of objects")
    return [str(a.get("type")) for a in attachments]


def _shared_location(message: dict[str, Any]) -> dict[str, float] | None:
    """A location attachment's point (``payload.coordinates.lat/long``), if one is valid."""
    for attachment in message.get("attachments") or []:
        if not isinstance(attachment, dict) or attachment.get("type") != "location":
            continue
        payload = attachment.get("payload")
        coordinates = payload.get("coordinates") if isinstance(payload, dict) else None
        if not isinstance(coordinates, dict):
            continue
        lat, lon = coordinates.get("lat"), coordinates.get("long")
        if isinstance(lat, bool) or isinstance(lon, bool):
            continue
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            continue
        # in range first: a huge integer would overflow isfinite's float
        if abs(lat) <= 90 and abs(lon) <= 180 and math.isfinite(lat) and math.isfinite(lon):
            return {"latitude": float(lat), "longitude": float(lon)}
    return None


def _from_message(sender: str, message: dict[str, Any]) -> InboundMessage | None:
    if message.get("is_echo"):  # our own sends, reflected back
        return None
    if message.get("mid") is None:
        return None
    mid = _id(message["mid"], "message.mid", EXTERNAL_ID_LEN)
    base: dict[str, Any] = {"channel": CHANNEL, "external_id": mid, "chat_id": sender}
    quick = _object(message.get("quick_reply"), "message.quick_reply") or {}
    payload = _optional_str(quick, "payload", "message.quick_reply")
    if payload:
        return InboundMessage(**base, kind=InboundKind.BUTTON, text=payload)
    text = _optional_str(message, "text", "message")
    if text:
        return InboundMessage(
            **base, kind=InboundKind.TEXT, text=text, language=detect_language(text)
        )
    kinds = _attachment_kinds(message)
    point = _shared_location(message)
    if point is not None:  # as Telegram's: the subscription's place, or Rasa's inform_place
        return InboundMessage(
            **base, kind=InboundKind.LOCATION, text=INFORM_PLACE, meta={"location": point}
        )
    return InboundMessage(
        **base, kind=InboundKind.MEDIA, meta={"media": ",".join(kinds) or "other"}
    )


def _from_postback(sender: str, event: dict[str, Any]) -> InboundMessage | None:
    postback = _object(event.get("postback"), "postback")
    if postback is None:
        return None
    payload = _optional_str(postback, "payload", "postback")
    if not payload:
        return None
    if postback.get("mid") is not None:
        ext = _id(postback["mid"], "postback.mid", EXTERNAL_ID_LEN)
    else:
        fallback = f"postback:{sender}:{event.get('timestamp')}"
        ext = _id(fallback, "postback timestamp", EXTERNAL_ID_LEN)
    return InboundMessage(
        channel=CHANNEL, external_id=ext, chat_id=sender, kind=InboundKind.BUTTON, text=payload
    )


def _event_message(event: dict[str, Any]) -> InboundMessage | None:
    """One messaging event; fields of the wrong type, or ids longer than their columns
    (SQLite would store them, PostgreSQL would not), are refused with a 400."""
    sender_object = _object(event.get("sender"), "sender") or {}
    if sender_object.get("id") in (None, ""):
        return None
    sender = _id(sender_object["id"], "sender.id", CHAT_ID_LEN)
    message = _object(event.get("message"), "message")
    if message is not None:
        return _from_message(sender, message)
    return _from_postback(sender, event)  # else deliveries, reads, reactions: no answer


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
        events = entry.get("messaging") or []
        if not isinstance(events, list):
            raise BadInbound("messaging must be a list")
        for event in events:
            if not isinstance(event, dict):
                raise BadInbound("messaging items must be objects")
            msg = _event_message(event)
            if msg is not None:
                found.append(msg)
    return found


def delivered_mids(payload: Any) -> dict[str, list[str]]:
    """The message ids of every ``delivery`` event (Meta says they reached the person's
    device) by the chat they went to, for the broadcasts' reports. ``read`` events carry
    only a watermark (a time, no ids), so they are not recorded. Call after
    ``parse_events`` (which checked the envelope and the senders); an id of another type or
    length is left out, not refused."""
    found: dict[str, list[str]] = {}
    for entry in payload.get("entry") or []:
        for event in entry.get("messaging") or []:
            delivery = event.get("delivery")
            sender = (event.get("sender") or {}).get("id")
            if not isinstance(delivery, dict) or not isinstance(delivery.get("mids"), list):
                continue
            if sender in (None, ""):
                continue
            mids = [
                m for m in delivery["mids"] if isinstance(m, str) and 0 < len(m) <= EXTERNAL_ID_LEN
            ]
            if mids:
                found.setdefault(str(sender), []).extend(mids)
    return found


def _retry_after(header: str | None) -> float:
    """Retry-After in seconds; absent or not a finite number of seconds: one minute."""
    try:
        seconds = float(header) if header else DEFAULT_RETRY_AFTER_S
    except ValueError:
        return DEFAULT_RETRY_AFTER_S
    return seconds if math.isfinite(seconds) and seconds >= 0 else DEFAULT_RETRY_AFTER_S


class MessengerChannel:
    """Text under 2,000 characters with up to 13 quick replies, via the Graph Send API."""

    name = CHANNEL
    needs_callback_keys = False
    retires_buttons = False  # quick replies disappear by themselves

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
            author = author_line(reply)  # a person, not the assistant, is talking
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
            room = MAX_TEXT - (len(author) + 2 if author else 0)
            chunks = split_text(text, room) or (["…"] if quick else [])
            for i, chunk in enumerate(chunks):
                body: dict[str, Any] = {"text": chunk}
                if author and i == 0:  # named when sent; the stored words stay alone
                    body["author"] = author
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
        except (TypeError, ValueError) as exc:  # the request cannot even be built
            raise Undeliverable(
                f"Graph API: cannot build the request ({type(exc).__name__})"
            ) from exc
        if HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
            return data if isinstance(data, dict) else {}
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else None
        if status == HTTPStatus.TOO_MANY_REQUESTS or code in RATE_LIMIT_CODES:
            raise RateLimited(_retry_after(retry_after), "Graph rate limit")
        if status == HTTPStatus.FORBIDDEN or code in UNREACHABLE_CODES:
            raise RecipientBlocked(f"Graph API {status} code {code}")
        if status == HTTPStatus.BAD_REQUEST:  # not a rate limit: the same request fails again
            detail = str(error.get("message", ""))[:200]
            raise Undeliverable(f"Graph API {status} code {code}: {detail}")
        raise ChannelError(f"Graph API {status} code {code}")

    async def send(self, chat_id: str, body: dict[str, Any]) -> str | None:
        """POST /me/messages with messaging_type RESPONSE (inside the 24-hour window)."""
        message = {k: v for k, v in body.items() if k != "author"}
        if body.get("author"):  # a person's name above their words
            message["text"] = f"{body['author']}:\n{message.get('text', '')}"
        data = await self._post(
            {"recipient": {"id": chat_id}, "messaging_type": "RESPONSE", "message": message}
        )
        mid = data.get("message_id")
        return str(mid) if mid else None

    async def retire_buttons(self, chat_id: str, message_id: str) -> None:
        """Nothing to do: quick replies disappear by themselves."""

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
