"""The typed application state every feature may read: settings, the database, the Store
and the metrics (``web.AppKey``). Each feature keeps its own keys next to it
(``bot.channels.TELEGRAM``, ``bot.handoff.HANDOFFS``, ``bot.console.CONSOLE``...), so this
module imports no feature and no feature has to edit it."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ._metrics import Metrics
from ._settings import Settings
from .storage._store import Store

__all__ = ["ENGINE", "METRICS", "SETTINGS", "STORE"]

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
