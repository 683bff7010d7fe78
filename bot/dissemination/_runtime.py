"""Dissemination inside the gateway: the service, the chat subscriptions and the delivery
engine's bulk path, started and stopped with the pipeline (``bot._app``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from .._metrics import Metrics
from .._settings import Settings
from ..delivery._bulk import (
    SEND_CONNECTIONS,
    BulkDelivery,
    BulkLimiter,
    LocalBulkLimiter,
    LocalSendJournal,
    RedisBulkLimiter,
    RedisSendJournal,
    SendJournal,
)
from ._chat import SubscriptionChat, places_in
from ._senders import ChannelBulkSender, MessengerBulkSender, TelegramBulkSender
from ._service import DisseminationService

__all__ = ["Dissemination", "bulk_limits"]

STOP_WAIT_S = 15.0


PHONE_REPLY_SHARE = 0.2  # of an SMS or voice account's rate, kept for replies and call-backs


def bulk_limits(settings: Settings) -> dict[str, float]:
    """Bulk sends per second per account: the channel's limit less the replies' headroom
    (0 = unpaced: Messenger by default, the web chat). Somleng's SMS and voice accounts
    keep a share of their rate for replies (a few calls per second in all)."""
    headroom = settings.delivery_reply_headroom_per_s
    limits = {}
    for name, per_s in (
        ("telegram", settings.delivery_telegram_per_s),
        ("messenger", settings.delivery_messenger_per_s),
    ):
        limits[name] = max(per_s - headroom, per_s * 0.1) if per_s > 0 else 0.0
    for name, per_s in (
        ("sms", settings.delivery_sms_per_s),
        ("voice", settings.delivery_voice_per_s),
    ):
        limits[name] = per_s * (1 - PHONE_REPLY_SHARE) if per_s > 0 else 0.0
    return limits


class Dissemination:
    """What the gateway runs for dissemination; ``aclose()`` stops it."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        owner: str,
        settings: Settings,
        channels: Mapping[str, Any],
        metrics: Metrics,
    ) -> None:
        # per platform, as many connections as the bulk worker has sends in flight to it
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=SEND_CONNECTIONS)
        )
        senders: dict[str, Any] = {
            name: ChannelBulkSender(channel) for name, channel in channels.items()
        }
        timeout = settings.send_timeout_s
        if "telegram" in channels:
            senders["telegram"] = TelegramBulkSender(
                self._session, settings.telegram_api_url, settings.telegram_token, timeout
            )
        if "messenger" in channels:
            senders["messenger"] = MessengerBulkSender(
                self._session, settings.graph_api_url, settings.messenger_page_token, timeout
            )
        limits = bulk_limits(settings)
        self._limiter: BulkLimiter = (
            RedisBulkLimiter.from_url(
                settings.redis_url, limits, prefix=f"{settings.redis_prefix}bulk:"
            )
            if settings.redis_url
            else LocalBulkLimiter(limits)
        )
        self._journal: SendJournal = (
            RedisSendJournal.from_url(settings.redis_url, prefix=f"{settings.redis_prefix}bulk:")
            if settings.redis_url
            else LocalSendJournal()
        )
        self.bulk = BulkDelivery(
            engine=engine,
            owner=owner,
            senders=senders,
            limiter=self._limiter,
            limits=limits,
            metrics=metrics,
            lease_s=settings.lease_s,
            poll_s=settings.delivery_poll_s,
            max_attempts=settings.max_send_attempts,
            retry_base_s=settings.retry_base_s,
            retry_max_s=settings.retry_max_s,
            journal=self._journal,
        )
        self.service = DisseminationService(
            engine,
            owner=owner,
            wake_bulk=self.bulk.wake,
            channels=tuple(channels),
            public_url=settings.public_url,
        )
        self.chat = SubscriptionChat(self.service, places_in(settings.gazetteer_path.parent))
        self._tasks = [
            asyncio.create_task(self.bulk.run(), name="bulk delivery"),
            asyncio.create_task(self.service.run(), name="dissemination"),
        ]

    async def aclose(self) -> None:
        """Stop without cutting a query short; cancel only what is still running after
        ``STOP_WAIT_S`` (a send cannot take longer than its timeout)."""
        self.bulk.stop()
        self.service.stop()
        _done, pending = await asyncio.wait(self._tasks, timeout=STOP_WAIT_S)
        for task in pending:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._limiter.aclose()
        await self._journal.aclose()
        await self._session.close()
