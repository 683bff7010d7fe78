"""Human handoff: open and route, claim, reply, note, transfer, close, rate, escalate.

Every state change is one database transaction that also queues what the citizen must be
told (as outbound rows the pipeline delivers), so a crash never leaves a citizen waiting
without a word, and nothing said by a person is lost. Permissions are checked here, not
only in the web layer: an agent sees the conversations of their own organisation only.
"""

from __future__ import annotations

from ..accounts import Viewer  # identity lives in accounts; re-exported for old callers
from ._commands import HandoffCommands
from ._queries import HandoffQueries
from ._types import (
    RATING_PREFIX,
    EventKind,
    HandoffRequest,
    HandoffView,
    HistoryItem,
    OrgStats,
    parse_rating,
)

__all__ = [
    "RATING_PREFIX",
    "EventKind",
    "HandoffRequest",
    "HandoffService",
    "HandoffView",
    "HistoryItem",
    "OrgStats",
    "Viewer",
    "parse_rating",
]


class HandoffService(HandoffCommands, HandoffQueries):
    """All handoff state changes; the console and the pipeline call it.

    A facade: the state changes are in ``_commands``, what the console reads is in
    ``_queries``, and what both share (telling the citizen, the audit trail, visibility,
    views) in ``_core``.
    """
