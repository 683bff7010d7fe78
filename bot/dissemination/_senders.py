"""Bulk senders: one message per call, the idempotency key sent as ``X-Idempotency-Key``.

Telegram's is a lean ``sendMessage`` over aiohttp (PTB builds objects we do not need for
a broadcast); Messenger's applies the 24-hour rule's three forms; others (the web chat) go
through their channel's own ``send``.

An announcement's recording (``audio_url`` in the body) is one row and two calls: the text,
then the recording by its public URL (Telegram: ``sendVoice`` for OGG/Opus, a voice note;
``sendAudio`` for MP3 and M4A; ``sendDocument`` for WAV and Ogg Vorbis, which Telegram
plays neither way.
Messenger: an ``audio`` attachment). Why not a second row: the recipient keeps its one
outbound row and its idempotency key ``broadcast:recipient`` (reports count each citizen
once; a pause, a cancel or STOP stops text and recording together), and a recording never
arrives without its text or before it. The second call has its own key
(``broadcast:recipient:audio``). Once the text went out, a failed recording does not fail
the row (a retry would send the text again): a 429 is waited out once, then the failure is
logged and the row counts as sent; the recording stays on the public page. The delivery
engine makes the second call (``send_recording``) with its own pace slot, so a broadcast
with a recording stays within the account's limit. Messenger sends the recording only
inside the 24-hour window (a notification token or a utility template allows the one
message).
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

import aiohttp

from .._exceptions import ChannelError, RateLimited, RecipientBlocked, Undeliverable
from ..channels._base import Channel

__all__ = ["ChannelBulkSender", "MessengerBulkSender", "TelegramBulkSender"]

KEY_HEADER = "X-Idempotency-Key"
TELEGRAM_AUDIO = {  # others (Ogg Vorbis, WAV) as a document
    "audio/ogg; codecs=opus": "sendVoice",
    "audio/mpeg": "sendAudio",
    "audio/mp4": "sendAudio",
}
TELEGRAM_AUDIO_FIELD = {"sendVoice": "voice", "sendAudio": "audio", "sendDocument": "document"}


class TelegramBulkSender:
    """sendMessage (HTML) with Telegram's errors mapped like the channel's."""

    def __init__(
        self, session: aiohttp.ClientSession, api_url: str, token: str, timeout_s: float = 10.0
    ) -> None:
        self._session = session
        self._base = f"{api_url.rstrip('/')}{token}/"
        self._url = f"{self._base}sendMessage"
        self._me_url = f"{self._base}getMe"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._text = ""
        self._tail = json.dumps({"text": "", "parse_mode": "HTML"})[1:].encode()

    async def warm(self, connections: int) -> None:
        """Open ``connections`` keep-alive connections (getMe on each) before a paced run:
        a send that first has to connect (and, to Telegram, shake hands over TLS) arrives
        late and bunches with the punctual ones after it, above the limit in that second."""

        async def get_me() -> None:
            async with self._session.get(self._me_url, timeout=self._timeout) as response:
                await response.read()

        results = await asyncio.gather(
            *(get_me() for _ in range(max(1, connections))), return_exceptions=True
        )
        if all(isinstance(r, BaseException) for r in results):
            raise ChannelError("Telegram: no connection")

    async def send_bulk(self, chat_id: str, body: dict[str, Any], key: str) -> str | None:
        return await self._call(
            self._url, self._message(chat_id, str(body.get("html") or "")), key
        )

    def _message(self, chat_id: str, html: str) -> bytes:
        """sendMessage's JSON. The text's part is encoded once per text, not once per
        recipient: a Khmer announcement is kilobytes, and encoding it took about a
        sixth of a worker's time per message (cProfile of the bench's worker). UTF-8,
        not escapes: half the bytes for Khmer."""
        if html != self._text:
            self._text = html
            # '"text": "...", "parse_mode": "HTML"}': the object's tail after its first field
            whole = json.dumps({"text": html, "parse_mode": "HTML"}, ensure_ascii=False)
            self._tail = whole[1:].encode()
        return b'{"chat_id": ' + json.dumps(chat_id).encode() + b", " + self._tail

    async def send_recording(self, chat_id: str, body: dict[str, Any], key: str) -> None:
        """The recording after the text, by its public URL, as a voice note if it can."""
        method = TELEGRAM_AUDIO.get(str(body.get("audio_type") or ""), "sendDocument")
        voice = {"chat_id": chat_id, TELEGRAM_AUDIO_FIELD[method]: str(body["audio_url"])}
        await self._call(self._base + method, json.dumps(voice).encode(), f"{key}:audio")

    async def _call(self, url: str, payload: bytes, key: str) -> str | None:
        headers = {KEY_HEADER: key, "Content-Type": "application/json"}
        try:
            async with self._session.post(
                url, data=payload, headers=headers, timeout=self._timeout
            ) as response:
                status = response.status
                data: Any = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ChannelError(f"Telegram: {type(exc).__name__}") from exc
        if status == HTTPStatus.OK and isinstance(data, dict) and data.get("ok"):
            result = data.get("result") or {}
            return str(result.get("message_id")) if isinstance(result, dict) else None
        data = data if isinstance(data, dict) else {}
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            retry = (data.get("parameters") or {}).get("retry_after", 1)
            raise RateLimited(float(retry), "Telegram 429")
        if status == HTTPStatus.FORBIDDEN:
            raise RecipientBlocked(f"Telegram 403: {data.get('description', '')}"[:200])
        if status == HTTPStatus.BAD_REQUEST:
            raise Undeliverable(f"Telegram 400: {data.get('description', '')}"[:200])
        raise ChannelError(f"Telegram {status}")


class MessengerBulkSender:
    """POST /me/messages: inside the 24-hour window a RESPONSE; outside it with the
    citizen's notification token, or as an approved utility template."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        graph_url: str,
        page_token: str,
        timeout_s: float = 10.0,
    ) -> None:
        self._session = session
        self._url = f"{graph_url.rstrip('/')}/me/messages"
        self._token = page_token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def send_bulk(self, chat_id: str, body: dict[str, Any], key: str) -> str | None:
        text = str(body.get("text") or "")
        payload: dict[str, Any]
        if body.get("notification_token"):
            payload = {
                "recipient": {"notification_messages_token": body["notification_token"]},
                "message": {"text": text},
            }
        elif body.get("utility_template"):
            payload = {
                "recipient": {"id": chat_id},
                "messaging_type": "UTILITY",
                "message": {
                    "attachment": {
                        "type": "template",
                        "payload": {
                            "template_type": "utility",
                            "template_name": body["utility_template"],
                            "text": text,
                        },
                    }
                },
            }
        else:
            payload = {
                "recipient": {"id": chat_id},
                "messaging_type": "RESPONSE",
                "message": {"text": text},
            }
        return await self._post(payload, key)

    async def send_recording(self, chat_id: str, body: dict[str, Any], key: str) -> None:
        """The recording as an audio attachment, inside the 24-hour window only."""
        if body.get("notification_token") or body.get("utility_template"):
            return
        attachment = {
            "recipient": {"id": chat_id},
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {
                    "type": "audio",
                    "payload": {"url": str(body["audio_url"]), "is_reusable": True},
                }
            },
        }
        await self._post(attachment, f"{key}:audio")

    async def _post(self, payload: dict[str, Any], key: str) -> str | None:
        try:
            async with self._session.post(
                self._url,
                params={"access_token": self._token},
                json=payload,
                headers={KEY_HEADER: key},
                timeout=self._timeout,
            ) as response:
                status = response.status
                data: Any = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ChannelError(f"Graph API: {type(exc).__name__}") from exc
        data = data if isinstance(data, dict) else {}
        if HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
            mid = data.get("message_id")
            return str(mid) if mid else None
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = error.get("code")
        if status == HTTPStatus.TOO_MANY_REQUESTS or code in (4, 613):
            raise RateLimited(60.0, "Graph rate limit")
        if status == HTTPStatus.FORBIDDEN or code in (10, 200, 551):
            raise RecipientBlocked(f"Graph API {status} code {code}")
        if status == HTTPStatus.BAD_REQUEST:
            raise Undeliverable(f"Graph API {status} code {code}")
        raise ChannelError(f"Graph API {status} code {code}")


class ChannelBulkSender:
    """Any channel through its own send (the web chat: the row is what the page fetches)."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    async def warm(self, connections: int) -> None:
        """The channel's own warm-up, if it has one (Somleng's SMS and voice)."""
        warm = getattr(self._channel, "warm", None)
        if warm is not None:
            await warm(connections)

    async def send_bulk(self, chat_id: str, body: dict[str, Any], key: str) -> str | None:
        external_id = await self._channel.send(chat_id, body)
        self._channel.recorded(chat_id)
        return external_id
