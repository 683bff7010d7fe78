"""The conversation loop's application state (``web.AppKey``)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ._pipeline import Pipeline

__all__ = ["PIPELINE", "WORKER_KEY"]

PIPELINE = web.AppKey("pipeline", Pipeline)
WORKER_KEY = web.AppKey("worker", asyncio.Task[None])
