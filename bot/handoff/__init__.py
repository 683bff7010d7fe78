"""Human handoff to civil-society agents: routing, queues, office hours, the service.

Public surface::

    from bot.handoff import HandoffService, HandoffRequest, Viewer, LiveHub, route
"""

from __future__ import annotations

from ._live import LiveEvent, LiveHub
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
    "PHNOM_PENH",
    "RATING_PREFIX",
    "EventKind",
    "HandoffRequest",
    "HandoffService",
    "HandoffView",
    "HistoryItem",
    "LiveEvent",
    "LiveHub",
    "OfficeHours",
    "OrgProfile",
    "OrgStats",
    "PlaceNames",
    "Viewer",
    "parse_office_hours",
    "parse_rating",
    "priority_for",
    "route",
]
