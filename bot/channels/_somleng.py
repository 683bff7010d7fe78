"""SMS and voice calls through Somleng, the open-source telco platform behind Cambodia's
EWS1294, with the ``twilio`` library pointed at Somleng's Twilio-compatible REST API.

Two channels for the delivery engine: ``sms`` (a body ``{"text": ...}``) and ``voice`` (a
body ``{"audio_url": ..., "text": ..., "language": "km"}``: the call plays the recording,
or says the text when there is none). The chat id is the phone number (E.164); it never
goes to a log. Somleng calls back with each message's and call's status at
``/somleng/status/{sms|voice}``, signed like Twilio's (``X-Twilio-Signature``): a bad
signature gets 403, a good one is recorded in gw_delivery_receipts.

Settings: ``SOMLENG_ACCOUNT_SID``, ``SOMLENG_AUTH_TOKEN``, ``SOMLENG_API_URL`` (default
https://api.somleng.org), ``SOMLENG_SMS_FROM``, ``SOMLENG_VOICE_FROM``; the pace per account
is ``DELIVERY_SMS_PER_S`` (10) and ``DELIVERY_VOICE_PER_S`` (2) of the gateway's settings.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from .. import keys
from .._exceptions import ChannelError, RateLimited, RecipientBlocked, Undeliverable
from ..rasa._client import RasaReply
from ..storage._db import utcnow
from ._receipts import DeliveryReceipt
from ._text_split import split_text

__all__ = [
    "SMS",
    "SOMLENG",
    "VOICE",
    "SomlengChannel",
    "SomlengSettings",
    "add_somleng_routes",
    "signed_by_somleng",
    "somleng_ctx",
    "somleng_form",
    "twiml_for",
]

log = logging.getLogger("bot.channels.somleng")

SMS = "sms"
VOICE = "voice"
DEFAULT_API_URL = "https://api.somleng.org"
STATUS_PATH = "/somleng/status/{kind}"
SIGNATURE_HEADER = "X-Twilio-Signature"
# A Khmer SMS is UCS-2: 70 characters, or 67 per part of a long message; up to 10 parts.
MAX_SMS_CHARS = 670
DEFAULT_RETRY_AFTER_S = 1.0
HTTP_TOO_MANY = 429
HTTP_BAD_REQUEST = 400
HTTP_SERVER_ERROR = 500
# Twilio error codes Somleng answers with: a number that cannot receive (never retry) and a
# recipient who opted out (like a blocked chat).
UNDELIVERABLE_CODES = frozenset({21211, 21212, 21214, 21217, 21401, 21408, 21421, 21614})
BLOCKED_CODES = frozenset({21610})
VOICE_LANGUAGES = {"km": "km-KH", "en": "en-US"}
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_QUIET = logging.getLogger("bot.channels.somleng.http")  # twilio logs requests at INFO
_QUIET.setLevel(logging.WARNING)


@dataclass(frozen=True, kw_only=True)
class SomlengSettings:
    """Somleng's account and numbers; empty ``account_sid``: no SMS or voice channel."""

    account_sid: str = ""
    auth_token: str = ""
    api_url: str = DEFAULT_API_URL
    sms_from: str = ""
    voice_from: str = ""
    timeout_s: float = 15.0

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SomlengSettings:
        e = os.environ if env is None else env
        return cls(
            account_sid=e.get("SOMLENG_ACCOUNT_SID", ""),
            auth_token=e.get("SOMLENG_AUTH_TOKEN", ""),
            api_url=(e.get("SOMLENG_API_URL") or DEFAULT_API_URL).rstrip("/"),
            sms_from=e.get("SOMLENG_SMS_FROM", ""),
            voice_from=e.get("SOMLENG_VOICE_FROM", ""),
        )


def twiml_for(body: Mapping[str, Any]) -> str:
    """What a call does: play the announcement's recording, else say its text."""
    response = VoiceResponse()
    audio = str(body.get("audio_url") or "")
    if audio:
        response.play(audio)
    else:
        language = VOICE_LANGUAGES.get(str(body.get("language") or "km"), "km-KH")
        response.say(str(body.get("text") or ""), language=language)
    return str(response)


def _retry_after(exc: TwilioRestException) -> float:
    details = exc.details if isinstance(exc.details, dict) else {}
    try:
        return float(details.get("retry_after") or DEFAULT_RETRY_AFTER_S)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S


def _channel_error(exc: TwilioRestException) -> ChannelError:
    """Somleng's refusal as the delivery engine's exception."""
    reason = f"somleng {exc.status} code {exc.code}"
    if exc.status == HTTP_TOO_MANY:
        return RateLimited(_retry_after(exc), reason)
    if exc.code in BLOCKED_CODES:
        return RecipientBlocked(reason)
    if exc.code in UNDELIVERABLE_CODES or HTTP_BAD_REQUEST <= exc.status < HTTP_SERVER_ERROR:
        return Undeliverable(reason)
    return ChannelError(reason)


class SomlengChannel:
    """One Somleng channel (``sms`` or ``voice``) for the delivery engine."""

    needs_callback_keys = False
    retires_buttons = False

    def __init__(self, kind: str, settings: SomlengSettings, status_url: str = "") -> None:
        if kind not in (SMS, VOICE):
            raise ValueError(f"a Somleng channel is {SMS} or {VOICE}, not {kind!r}")
        self.name = kind
        self._settings = settings
        self._status_url = status_url
        self._http = AsyncTwilioHttpClient(timeout=settings.timeout_s, logger=_QUIET)
        self._client = Client(settings.account_sid, settings.auth_token, http_client=self._http)
        self._client.api.base_url = settings.api_url  # Somleng instead of api.twilio.com
        # twilio imports its resources on first use: done here, not inside the first paced
        # send (a late call would bunch with the next one)
        account = self._client.api.account
        self._messages = account.messages
        self._calls = account.calls

    async def warm(self, connections: int) -> None:
        """Open the connection to Somleng before a paced run (a first send that has to
        connect arrives late and bunches with the next ones, above the account's limit):
        a GET of the account; any HTTP answer, even a refusal, leaves it open."""
        del connections  # paced at a few per second: one connection carries them
        try:
            await self._client.api.v2010.accounts(self._settings.account_sid).fetch_async()
        except TwilioRestException:
            return
        except (TwilioException, OSError, TimeoutError) as exc:
            raise ChannelError(f"somleng unreachable: {type(exc).__name__}") from exc

    def render(self, replies: list[RasaReply]) -> list[dict[str, Any]]:
        """Texts only (no buttons on a phone line); a voice body says the text."""
        bodies: list[dict[str, Any]] = []
        for reply in replies:
            text = str(reply.get("text") or "").strip()
            if not text:
                continue
            if self.name == SMS:
                bodies.extend({"text": chunk} for chunk in split_text(text, MAX_SMS_CHARS))
            else:
                bodies.append({"text": text, "audio_url": ""})
        return bodies

    async def send(self, chat_id: str, body: dict[str, Any]) -> str | None:
        """Queue the SMS or call at Somleng; returns its sid."""
        if not _E164.match(chat_id):
            raise Undeliverable("not an E.164 phone number")
        extra: dict[str, Any] = {}
        if self._status_url:
            extra["status_callback"] = self._status_url
        try:
            if self.name == SMS:
                text = str(body.get("text") or "")
                if not text:
                    raise Undeliverable("an SMS needs text")
                message = await self._messages.create_async(
                    to=chat_id, from_=self._settings.sms_from, body=text, **extra
                )
                return str(message.sid) if message.sid else None
            call = await self._calls.create_async(
                to=chat_id, from_=self._settings.voice_from, twiml=twiml_for(body), **extra
            )
            return str(call.sid) if call.sid else None
        except TwilioRestException as exc:
            raise _channel_error(exc) from exc
        except (TwilioException, OSError, TimeoutError) as exc:
            raise ChannelError(f"somleng unreachable: {type(exc).__name__}") from exc

    def recorded(self, chat_id: str) -> None:
        """Nothing waits on a phone line."""

    async def typing(self, chat_id: str) -> None:
        """No typing indicator on SMS or calls."""

    async def retire_buttons(self, chat_id: str, message_id: str) -> None:
        """No buttons."""

    async def aclose(self) -> None:
        await self._http.close()


# ----- status callbacks --------------------------------------------------------------------

SOMLENG = web.AppKey("somleng_channels", dict[str, SomlengChannel])
SOMLENG_SETTINGS = web.AppKey("somleng_settings", SomlengSettings)


def _callback_url(request: web.Request) -> str:
    """The URL Somleng called, as it signed it (the public URL behind a proxy)."""
    public = request.config_dict[keys.SETTINGS].public_url
    return f"{public}{request.rel_url}" if public else str(request.url)


FORM_TYPE = "application/x-www-form-urlencoded"


async def somleng_form(request: web.Request) -> dict[str, str]:
    """The form Somleng posts (always URL-encoded, like Twilio's): 415 for any other body,
    so a malformed multipart body is refused instead of failing the handler."""
    if request.content_type != FORM_TYPE:
        raise web.HTTPUnsupportedMediaType(text="expected a URL-encoded form")
    form = await request.post()
    return {k: str(v) for k, v in form.items()}


def signed_by_somleng(
    request: web.Request, settings: SomlengSettings, params: Mapping[str, str]
) -> bool:
    """Whether Somleng signed this form post (its URL as Somleng called it)."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    return bool(
        RequestValidator(settings.auth_token).validate(
            _callback_url(request), dict(params), signature
        )
    )


async def status_callback(request: web.Request) -> web.Response:
    """Record a message's or call's status; 403 unless Somleng signed it."""
    kind = request.match_info["kind"]
    settings = request.config_dict.get(SOMLENG_SETTINGS)
    if kind not in (SMS, VOICE) or settings is None or not settings.enabled:
        raise web.HTTPNotFound()
    params = await somleng_form(request)
    if not signed_by_somleng(request, settings, params):
        log.warning("somleng.bad_signature", extra={"channel": kind})
        raise web.HTTPForbidden(text="bad signature")
    sid = params.get("MessageSid" if kind == SMS else "CallSid", "")
    status = params.get("MessageStatus" if kind == SMS else "CallStatus", "")
    if not sid or not status:
        raise web.HTTPBadRequest(text="a status callback needs a sid and a status")
    duration = params.get("CallDuration", "")
    receipt = DeliveryReceipt(
        channel=kind,
        external_id=sid[:128],
        status=status[:32],
        error_code=params.get("ErrorCode", "")[:32],
        duration_s=float(duration) if duration.isdigit() else None,
        received_at=utcnow(),
    )
    async with request.config_dict[keys.STORE].writing() as session:
        session.add(receipt)
        await session.commit()
    log.info("somleng.status", extra={"channel": kind, "status": receipt.status})
    return web.Response(status=204)


def add_somleng_routes(app: web.Application) -> None:
    app.router.add_post(STATUS_PATH, status_callback)


async def somleng_ctx(app: web.Application) -> AsyncIterator[None]:
    """The SMS and voice channels, when Somleng is configured (before the delivery engine)."""
    settings = app.get(SOMLENG_SETTINGS) or SomlengSettings.from_env()
    app[SOMLENG_SETTINGS] = settings
    channels: dict[str, SomlengChannel] = {}
    if settings.enabled:
        public = app[keys.SETTINGS].public_url
        for kind in (SMS, VOICE):
            url = f"{public}{STATUS_PATH.format(kind=kind)}" if public else ""
            channels[kind] = SomlengChannel(kind, settings, url)
    app[SOMLENG] = channels
    yield
    for channel in channels.values():
        await channel.aclose()
