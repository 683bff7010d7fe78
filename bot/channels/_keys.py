"""The channels' application state (``web.AppKey``), next to the channels."""

from __future__ import annotations

import asyncio

from aiohttp import web
from telegram.ext import Application

from ._geo import Commune
from ._messenger import MessengerChannel
from ._telegram import TelegramChannel
from ._webchat import WebChatChannel

__all__ = ["COMMUNES", "MESSENGER", "POLLER_KEY", "TELEGRAM", "TELEGRAM_APP", "WEBCHAT_KEY"]

COMMUNES = web.AppKey("communes", list[Commune])
TELEGRAM_APP = web.AppKey("telegram_app", Application)
TELEGRAM = web.AppKey("telegram", TelegramChannel)
MESSENGER = web.AppKey("messenger", MessengerChannel)
WEBCHAT_KEY = web.AppKey("webchat", WebChatChannel)
POLLER_KEY = web.AppKey("poller", asyncio.Task[None])
