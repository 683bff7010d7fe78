"""The citizen's channels: Telegram, Messenger and the web chat, and the shared rendering of
Rasa's replies (buttons, platform length limits, the gateway's own sentences).

Public surface::

    from bot.channels import Channel, TelegramChannel, MessengerChannel, WebChatChannel
"""

from __future__ import annotations

from ._base import Channel, callback_key
from ._geo import Commune, load_communes, nearest_commune
from ._keys import COMMUNES, MESSENGER, POLLER_KEY, TELEGRAM, TELEGRAM_APP, WEBCHAT_KEY
from ._messenger import MessengerChannel, parse_events, verify_challenge, verify_signature
from ._telegram import ALLOWED_UPDATES, TelegramChannel, build_application, parse_update
from ._texts import HUMAN_PAYLOAD, detect_language, gateway_text, human_button, when_text
from ._webchat import WebChatChannel, checked_session, parse_webchat_message

__all__ = [
    "ALLOWED_UPDATES",
    "COMMUNES",
    "HUMAN_PAYLOAD",
    "MESSENGER",
    "POLLER_KEY",
    "TELEGRAM",
    "TELEGRAM_APP",
    "WEBCHAT_KEY",
    "Channel",
    "Commune",
    "MessengerChannel",
    "TelegramChannel",
    "WebChatChannel",
    "build_application",
    "callback_key",
    "checked_session",
    "detect_language",
    "gateway_text",
    "human_button",
    "load_communes",
    "nearest_commune",
    "parse_events",
    "parse_update",
    "parse_webchat_message",
    "verify_challenge",
    "verify_signature",
    "when_text",
]
