"""The cases feature's application keys."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ._service import CaseService

__all__ = ["CASES", "CASE_TIMER"]

CASES = web.AppKey("cases", CaseService)
CASE_TIMER = web.AppKey("case_timer", asyncio.Task[None])
