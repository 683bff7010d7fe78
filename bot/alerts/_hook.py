"""The hand-off to dissemination: what an imported alert asks to be sent, and the hook
that receives it. ``make_hook()`` is the one place that chooses the hook; the default
``NoHook`` sends nothing (alerts are still stored, published in the CAP feed and shown)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["AlertHook", "ImportedAlert", "NoHook", "make_hook"]

log = logging.getLogger("bot.alerts")


@dataclass(frozen=True)
class ImportedAlert:
    """An alert to send, with exactly the values of ``plan_alert_broadcast``."""

    cap_identifier: str
    headline_km: str
    headline_en: str
    text_km: str
    text_en: str
    area_codes: list[str] = field(default_factory=list)
    expires_at: float | None = None  # epoch seconds; None: no expiry
    severity: str = ""
    urgency: str = ""
    supersedes: str | None = None  # the cap_identifier this Update replaces
    require_approval: bool = True


class AlertHook(Protocol):
    """Receives alerts to send and cancellations (called after the alert is committed)."""

    async def on_alert(self, alert: ImportedAlert) -> None:
        """Plan the alert's broadcast (an Update carries ``supersedes``)."""
        ...

    async def on_cancel(self, alert: ImportedAlert, reason: str) -> None:
        """Stop the pending sends of ``alert``."""
        ...


class NoHook:
    """Sends nothing: no dissemination service is wired in."""

    async def on_alert(self, alert: ImportedAlert) -> None:
        log.info("alerts.no_hook", extra={"cap_identifier": alert.cap_identifier})

    async def on_cancel(self, alert: ImportedAlert, reason: str) -> None:
        log.info("alerts.no_hook_cancel", extra={"cap_identifier": alert.cap_identifier})


def make_hook() -> AlertHook:
    """The hook the gateway uses (the dissemination service, once wired here)."""
    return NoHook()
