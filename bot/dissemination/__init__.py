"""Dissemination: subscriptions in chat, announcements and alerts, planned for delivery at
national scale (the delivery engine's bulk path sends them), reports and public pages."""

from __future__ import annotations

from aiohttp import web

from ._service import Broadcast, DisseminationService, Person, Report, Subscriber
from ._tables import BroadcastKind, BroadcastStatus, RecipientStatus, SkipReason, Topic

__all__ = [
    "DISSEMINATION",
    "Broadcast",
    "BroadcastKind",
    "BroadcastStatus",
    "DisseminationService",
    "Person",
    "RecipientStatus",
    "Report",
    "SkipReason",
    "Subscriber",
    "Topic",
]

DISSEMINATION = web.AppKey("dissemination", DisseminationService)
