"""SP4ALL gateway: Telegram, Messenger and a web chat in front of Rasa's REST channel.

Public surface (everything else lives in private ``_modules``)::

    from bot import Settings, create_app
    app = create_app(Settings.from_env())
"""

from __future__ import annotations

from ._app import create_app
from ._exceptions import (
    BadInbound,
    ChannelError,
    Conflict,
    GatewayError,
    HandoffError,
    Invalid,
    NotAllowed,
    NotFound,
    RasaUnavailable,
    RateLimited,
    RecipientBlocked,
    SettingsError,
    Undeliverable,
    UnsupportedUpdate,
)
from ._settings import Settings
from .storage._migrate import migrate

__all__ = [
    "BadInbound",
    "ChannelError",
    "Conflict",
    "GatewayError",
    "HandoffError",
    "Invalid",
    "NotAllowed",
    "NotFound",
    "RasaUnavailable",
    "RateLimited",
    "RecipientBlocked",
    "Settings",
    "SettingsError",
    "Undeliverable",
    "UnsupportedUpdate",
    "create_app",
    "migrate",
]
