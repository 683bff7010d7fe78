"""Human handoff to civil-society agents: routing, queues, office hours, the service.

Public surface::

    from bot.handoff import HandoffService, HandoffRequest, Viewer, LiveHub, route
    # organisations, people and Viewer live in bot.accounts (re-exported here)
"""

from __future__ import annotations

from ..accounts import (  # administration lives in bot.accounts; kept here for old imports
    LANGUAGES,
    ROLE_RANK,
    Admin,
    AdminRules,
    AgentInfo,
    OrgInfo,
    generate_password,
    load_topics,
)
from ._keys import ESCALATOR_KEY, HANDOFFS, LIVE
from ._live import RESYNC, LiveEvent, LiveHub
from ._live_relay import live_relay
from ._places import PlaceNames
from ._routing import (
    PHNOM_PENH,
    OfficeHours,
    OrgProfile,
    parse_office_hours,
    priority_for,
    route,
)
from ._service import (
    RATING_PREFIX,
    EventKind,
    HandoffRequest,
    HandoffService,
    HandoffView,
    HistoryItem,
    OrgStats,
    Viewer,
    parse_rating,
)

__all__ = [
    "ESCALATOR_KEY",
    "HANDOFFS",
    "LANGUAGES",
    "LIVE",
    "PHNOM_PENH",
    "RATING_PREFIX",
    "RESYNC",
    "ROLE_RANK",
    "Admin",
    "AdminRules",
    "AgentInfo",
    "EventKind",
    "HandoffRequest",
    "HandoffService",
    "HandoffView",
    "HistoryItem",
    "LiveEvent",
    "LiveHub",
    "OfficeHours",
    "OrgInfo",
    "OrgProfile",
    "OrgStats",
    "PlaceNames",
    "Viewer",
    "generate_password",
    "live_relay",
    "load_topics",
    "parse_office_hours",
    "parse_rating",
    "priority_for",
    "route",
]
