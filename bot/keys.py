"""The gateway's typed application state, as ``web.AppKey``. The console's and the
training tool's keys live with them (``bot.console.CONSOLE``, ``bot.training.TRAINING``), so
this module imports neither."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import Application

from ._metrics import Metrics
from ._settings import Settings
from .channels._geo import Commune
from .channels._messenger import MessengerChannel
from .channels._telegram import TelegramChannel
from .channels._webchat import WebChatChannel
from .conversation._pipeline import Pipeline
from .handoff import HandoffService, LiveHub
from .rasa._client import RasaClient
from .storage._store import Store

__all__ = [
    "COMMUNES",
    "ENGINE",
    "ESCALATOR_KEY",
    "HANDOFFS",
    "LIVE",
    "MESSENGER",
    "METRICS",
    "PIPELINE",
    "POLLER_KEY",
    "RASA",
    "RASA_WARMER_KEY",
    "SETTINGS",
    "STORE",
    "TELEGRAM",
    "TELEGRAM_APP",
    "WEBCHAT_KEY",
    "WORKER_KEY",
]

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
RASA = web.AppKey("rasa", RasaClient)
RASA_WARMER_KEY = web.AppKey("rasa_warmer", asyncio.Task[None])
PIPELINE = web.AppKey("pipeline", Pipeline)
COMMUNES = web.AppKey("communes", list[Commune])
TELEGRAM_APP = web.AppKey("telegram_app", Application)
TELEGRAM = web.AppKey("telegram", TelegramChannel)
MESSENGER = web.AppKey("messenger", MessengerChannel)
WEBCHAT_KEY = web.AppKey("webchat", WebChatChannel)
WORKER_KEY = web.AppKey("worker", asyncio.Task[None])
POLLER_KEY = web.AppKey("poller", asyncio.Task[None])
LIVE = web.AppKey("live", LiveHub)
HANDOFFS = web.AppKey("handoffs", HandoffService)
ESCALATOR_KEY = web.AppKey("escalator", asyncio.Task[None])
