"""The hand-off to dissemination: what an imported alert asks to be sent, and the hook
that receives it. ``make_hook()`` is the one place that chooses the hook: the
dissemination service when there is one (the gateway, the CLI), else ``NoHook``, which
sends nothing (alerts are still stored, published in the CAP feed and shown).

The alerts package does not import dissemination: the service is anything with
``plan_alert_broadcast`` and ``cancel_alert`` (``AlertTarget``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

__all__ = ["AlertHook", "AlertTarget", "DisseminationHook", "ImportedAlert", "NoHook", "make_hook"]

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


class AlertTarget(Protocol):
    """What the hook needs of the dissemination service."""

    async def plan_alert_broadcast(
        self,
        *,
        cap_identifier: str,
        headline_km: str,
        headline_en: str,
        text_km: str,
        text_en: str,
        area_codes: Sequence[str],
        expires_at: float | None,
        severity: str,
        urgency: str,
        supersedes: str | None = None,
        require_approval: bool = False,
        plan_now: bool = True,
    ) -> int: ...

    async def cancel_alert(self, cap_identifier: str) -> int: ...


class DisseminationHook:
    """Hands alerts to the dissemination service: a broadcast per alert (the same
    identifier twice is one broadcast), planned by the service's next tick in whichever
    process runs first, so an import answers at once even for a million subscribers."""

    def __init__(self, target: AlertTarget) -> None:
        self._target = target

    async def on_alert(self, alert: ImportedAlert) -> None:
        broadcast_id = await self._target.plan_alert_broadcast(**asdict(alert), plan_now=False)
        log.info(
            "alerts.broadcast",
            extra={"cap_identifier": alert.cap_identifier, "broadcast_id": broadcast_id},
        )

    async def on_cancel(self, alert: ImportedAlert, reason: str) -> None:
        stopped = await self._target.cancel_alert(alert.cap_identifier)
        log.info(
            "alerts.broadcast_cancelled",
            extra={"cap_identifier": alert.cap_identifier, "stopped": stopped},
        )


def make_hook(target: AlertTarget | None = None) -> AlertHook:
    """The dissemination service's hook when there is a service, else ``NoHook``."""
    return NoHook() if target is None else DisseminationHook(target)
