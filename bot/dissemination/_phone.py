"""Phone subscribers (SMS and voice calls through Somleng): Somleng's inbound SMS webhook
(STOP / ឈប់); numbers are read and masked by ``_numbers``.

* ``POST /somleng/inbound/sms``: Somleng posts an SMS sent to the gateway's number
  (Twilio-compatible form fields ``From``, ``To``, ``Body``, ``MessageSid``), signed like
  its status callbacks (``X-Twilio-Signature``; 403 if the signature is bad). A body that is
  just STOP / ឈប់ (the chat's word list) stops that number's SMS and voice subscriptions;
  anything else is answered with how to reach us. The answer is TwiML (``<Message>``), in
  Khmer and English; nothing goes to Rasa.
"""

from __future__ import annotations

import logging

from aiohttp import web
from twilio.twiml.messaging_response import MessagingResponse

from .. import keys
from ..channels._somleng import SOMLENG_SETTINGS, signed_by_somleng, somleng_form
from . import DISSEMINATION
from ._chat import STOP_WORDS, TEXTS, fold
from ._numbers import cambodian_mobile, masked

__all__ = [
    "INBOUND_SMS_PATH",
    "PHONE_CHANNELS",
    "add_inbound_sms_route",
    "cambodian_mobile",
    "masked",
]

log = logging.getLogger("bot.dissemination.phone")

INBOUND_SMS_PATH = "/somleng/inbound/sms"
PHONE_CHANNELS = ("sms", "voice")


def _both(key: str) -> str:
    return f"{TEXTS[key]['km']}\n{TEXTS[key]['en']}"


async def inbound_sms(request: web.Request) -> web.Response:
    """An SMS to the gateway's number: STOP / ឈប់ stops that number; else how to reach us."""
    settings = request.config_dict.get(SOMLENG_SETTINGS)
    if settings is None or not settings.enabled:
        raise web.HTTPNotFound()
    params = await somleng_form(request)
    if not signed_by_somleng(request, settings, params):
        log.warning("somleng.inbound_bad_signature", extra={"channel": "sms"})
        raise web.HTTPForbidden(text="bad signature")
    sender = params.get("From", "")
    number = cambodian_mobile(sender) or sender.strip()
    response = MessagingResponse()
    if fold(params.get("Body", "")) in STOP_WORDS:
        service = request.config_dict[DISSEMINATION]
        stopped = [await service.unsubscribe(kind, number) for kind in PHONE_CHANNELS]
        log.info("somleng.inbound_stop", extra={"channel": "sms", "stopped": sum(stopped)})
        response.message(_both("sms_stopped"))
    else:
        log.info("somleng.inbound_other", extra={"channel": "sms"})
        public = request.config_dict[keys.SETTINGS].public_url
        text = _both("sms_help")
        if public:
            text = f"{text}\n{public}/chat"
        response.message(text)
    return web.Response(text=str(response), content_type="application/xml")


def add_inbound_sms_route(app: web.Application) -> None:
    app.router.add_post(INBOUND_SMS_PATH, inbound_sms)
