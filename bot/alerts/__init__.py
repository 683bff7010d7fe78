"""Emergency alerts from CAP 1.2 (issue #15, part 3 and the CAP feed of part 6).

Warning authorities send CAP 1.2 alerts by REST (``POST /api/alerts/v1/cap`` with their own
bearer token), the command line (``python -m bot import-cap FILE``) or an Atom/RSS feed the
gateway polls (``CAP_FEED_URLS``). Each is validated against the OASIS schema and the CAP §3
rules, its areas mapped to Cambodian administrative codes, stored, and handed to the
dissemination service through an ``AlertHook`` (``make_hook()``). Partners read the alerts
the mechanism issues at ``/alerts/feed.atom`` and ``/alerts/{id}.xml``; the console shows
them at /console/alerts, where the secretariat sets each sender's approval policy.

Public surface::

    from bot.alerts import parse_cap, CapInvalid, AlertService, CapRefused
    from bot.alerts import AlertHook, ImportedAlert, NoHook, make_hook
"""

from __future__ import annotations

from ._areas import Gazetteer, area_codes, gazetteer, reduce_codes
from ._cap import CAP_NS, CapAlert, CapArea, CapInfo, CapInvalid, MsgType, parse_cap
from ._hook import AlertHook, AlertTarget, DisseminationHook, ImportedAlert, NoHook, make_hook
from ._models import AlertSource, AlertState, CapAlertRow, CapSender
from ._service import AlertService, CapRefused, ImportResult

__all__ = [
    "CAP_NS",
    "AlertHook",
    "AlertService",
    "AlertSource",
    "AlertState",
    "AlertTarget",
    "CapAlert",
    "CapAlertRow",
    "CapArea",
    "CapInfo",
    "CapInvalid",
    "CapRefused",
    "CapSender",
    "DisseminationHook",
    "Gazetteer",
    "ImportResult",
    "ImportedAlert",
    "MsgType",
    "NoHook",
    "area_codes",
    "gazetteer",
    "make_hook",
    "parse_cap",
    "reduce_codes",
]
