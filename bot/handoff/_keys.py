"""The handoff feature's application state (``web.AppKey``)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ._live import LiveHub
from ._service import HandoffService

__all__ = ["ESCALATOR_KEY", "HANDOFFS", "LIVE"]

LIVE = web.AppKey("live", LiveHub)
HANDOFFS = web.AppKey("handoffs", HandoffService)
ESCALATOR_KEY = web.AppKey("escalator", asyncio.Task[None])
