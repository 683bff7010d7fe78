"""The Rasa client's application state (``web.AppKey``)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ._client import RasaClient

__all__ = ["RASA", "RASA_WARMER_KEY"]

RASA = web.AppKey("rasa", RasaClient)
RASA_WARMER_KEY = web.AppKey("rasa_warmer", asyncio.Task[None])
