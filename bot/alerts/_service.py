"""Importing CAP alerts (REST, command line, feeds), the senders' tokens and policies.

An alert is parsed and validated (``CapInvalid``), checked against what is stored
(``CapRefused``: an unknown reference, a duplicate identifier, an expired alert, no area in
Cambodia, another sender's token), stored, then handed to the ``AlertHook``: an ``Alert`` or
``Update`` to send (an Update supersedes what it references), a ``Cancel`` stops the sends
of what it references. Only ``Actual`` alerts of ``Public`` scope go to the hook.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from ..accounts import token_hash
from ..storage._db import utcnow
from ..storage._store import Store
from ._areas import Gazetteer, area_codes
from ._cap import CapAlert, CapInfo, CapInvalid, MsgType, parse_cap
from ._hook import AlertHook, ImportedAlert
from ._models import AlertSource, AlertState, CapAlertRow, CapSender

__all__ = ["AlertService", "CapRefused", "ImportResult"]

log = logging.getLogger("bot.alerts")

TOKEN_BYTES = 32
FEED_LIMIT = 100
FEED_UNDATED_DAYS = 7  # an alert without expiry (a Cancel) stays in the feed this long
SEND_STATUS = "Actual"
SEND_SCOPE = "Public"


class CapRefused(ValueError):
    """A valid CAP document the mechanism will not take; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ImportResult:
    """What happened to an imported alert."""

    id: int
    identifier: str
    msg_type: str
    state: str
    duplicate: bool = False  # the same document was imported before (a feed repeats)
    handed_off: bool = False  # the hook took it
    imported: ImportedAlert | None = None


def _pick(alert: CapAlert, prefix: str) -> CapInfo | None:
    for info in alert.infos:
        if info.language.lower().startswith(prefix):
            return info
    return None


def _text(info: CapInfo) -> str:
    return "\n\n".join(p for p in (info.description, info.instruction) if p)


def imported_from(row: CapAlertRow, supersedes: str | None = None) -> ImportedAlert:
    """The hook's values of a stored alert."""
    return ImportedAlert(
        cap_identifier=row.identifier,
        headline_km=row.headline_km,
        headline_en=row.headline_en,
        text_km=row.text_km,
        text_en=row.text_en,
        area_codes=list(row.area_codes),
        expires_at=row.expires_at,
        severity=row.severity,
        urgency=row.urgency,
        supersedes=supersedes,
        require_approval=row.require_approval,
    )


def _row(alert: CapAlert, codes: list[str], source: AlertSource, approval: bool) -> CapAlertRow:
    km, en = _pick(alert, "km"), _pick(alert, "en")
    first = alert.infos[0] if alert.infos else None
    km_info = km or en or first
    en_info = en or km or first
    expires = alert.expires
    return CapAlertRow(
        identifier=alert.identifier,
        sender=alert.sender,
        sent_at=alert.sent,
        status=alert.status,
        msg_type=alert.msg_type,
        scope=alert.scope,
        event=first.event if first else "",
        severity=first.severity if first else "",
        urgency=first.urgency if first else "",
        certainty=first.certainty if first else "",
        headline_km=(km_info.headline or km_info.event) if km_info else "",
        headline_en=(en_info.headline or en_info.event) if en_info else "",
        text_km=_text(km_info) if km_info else "",
        text_en=_text(en_info) if en_info else "",
        area_codes=codes,
        area_desc="; ".join(a.description for a in (first.areas if first else ())),
        audio_uri=next((i.audio_uri for i in alert.infos if i.audio_uri), ""),
        expires_at=expires.timestamp() if expires else None,
        state=AlertState.ACTIVE,
        references=" ".join(r.identifier for r in alert.references),
        require_approval=approval,
        source=source,
        xml=alert.xml,
    )


class AlertService:
    """Imports alerts and manages senders; one instance per gateway (or command)."""

    def __init__(
        self, store: Store, hook: AlertHook, *, gazetteer: Gazetteer | None = None
    ) -> None:
        self._store = store
        self._hook = hook
        self._gazetteer = gazetteer

    # ----- import -------------------------------------------------------------------------

    async def import_cap(
        self,
        data: bytes | str,
        *,
        source: AlertSource,
        sender: CapSender | None = None,
        now: float | None = None,
    ) -> ImportResult:
        """Validate, store and hand off one CAP document (see the module's docstring).
        ``sender``: the authenticated sender (REST), whose CAP ``<sender>`` it must be."""
        alert = parse_cap(data)
        if sender is not None and alert.sender != sender.cap_sender:
            raise CapRefused(
                f"this token belongs to sender {sender.cap_sender!r}, not {alert.sender!r}",
                403,
            )
        now = time.time() if now is None else now
        if alert.msg_type in (MsgType.ACK, MsgType.ERROR):
            raise CapRefused(f"a {alert.msg_type} message is not an alert to publish")
        try:
            return await self._store_and_hand_off(alert, source, now)
        except IntegrityError:  # the same identifier committed meanwhile by another request
            return await self._store_and_hand_off(alert, source, now)

    async def _store_and_hand_off(
        self, alert: CapAlert, source: AlertSource, now: float
    ) -> ImportResult:
        async with self._store.writing() as session:
            existing = await session.scalar(
                select(CapAlertRow).where(CapAlertRow.identifier == alert.identifier)
            )
            if existing is not None:
                if existing.xml == alert.xml:
                    return ImportResult(
                        existing.id, existing.identifier, existing.msg_type, existing.state, True
                    )
                raise CapRefused(
                    f"an alert with identifier {alert.identifier!r} was received already", 409
                )
            referenced: list[CapAlertRow] = []
            for ref in alert.references:
                if ref.sender != alert.sender:
                    raise CapRefused(
                        f"{alert.sender!r} may only update or cancel its own alerts, "
                        f"not those of {ref.sender!r}; nothing was sent",
                        403,
                    )
                row = await session.scalar(
                    select(CapAlertRow).where(CapAlertRow.identifier == ref.identifier)
                )
                if row is None or row.sender != ref.sender:
                    raise CapRefused(
                        f"references an unknown alert: {ref.sender},{ref.identifier}; "
                        "nothing was sent"
                    )
                referenced.append(row)
            policy = await session.scalar(
                select(CapSender).where(CapSender.cap_sender == alert.sender)
            )
            approval = True if policy is None else policy.require_approval
            sendable = alert.status == SEND_STATUS and alert.scope == SEND_SCOPE
            codes: list[str] = []
            if alert.msg_type != MsgType.CANCEL:
                expires = alert.expires
                if expires is not None and expires.timestamp() <= now:
                    raise CapRefused(
                        f"the alert expired at {expires.isoformat()}; nothing was sent"
                    )
                codes = area_codes(alert, self._gazetteer)
                if sendable and not codes:
                    raise CapRefused(
                        "no area of the alert is in Cambodia: give an NCDD or ISO 3166-2 "
                        "geocode, or a polygon or circle around communes; nothing was sent"
                    )
            row = _row(alert, codes, source, approval)
            if alert.msg_type == MsgType.CANCEL or not sendable:
                row.state = AlertState.RECORDED
            session.add(row)
            await session.flush()
            cancelled: list[CapAlertRow] = []
            superseded: str | None = None
            for old in referenced:
                if old.state not in (AlertState.ACTIVE, AlertState.SUPERSEDED):
                    continue
                if alert.msg_type == MsgType.CANCEL:
                    old.state = AlertState.CANCELLED
                    old.cancel_reason = alert.note or row.headline_en or "cancelled"
                    cancelled.append(old)
                elif alert.msg_type == MsgType.UPDATE and sendable:
                    old.state = AlertState.SUPERSEDED
                    old.superseded_by = alert.identifier
                    superseded = old.identifier
            await session.commit()
            result_row = (row.id, row.identifier, row.msg_type, row.state)
            imported = imported_from(row, superseded) if row.state == AlertState.ACTIVE else None
            cancels = [(imported_from(old), old.cancel_reason) for old in cancelled]
        log.info(
            "alerts.imported",
            extra={"cap_identifier": alert.identifier, "msg_type": str(alert.msg_type)},
        )
        handed = await self._hand_off(imported, cancels)
        return ImportResult(*result_row, handed_off=handed, imported=imported)

    async def _hand_off(
        self, imported: ImportedAlert | None, cancels: list[tuple[ImportedAlert, str]]
    ) -> bool:
        """Give the committed alert to the hook; a failure is logged (the alert is kept and
        shown in the console), never raised to the sender."""
        try:
            for old, reason in cancels:
                await self._hook.on_cancel(old, reason)
            if imported is not None:
                await self._hook.on_alert(imported)
        except Exception:
            log.exception("alerts.hand_off_failed")
            return False
        return bool(cancels) or imported is not None

    # ----- reading ------------------------------------------------------------------------

    async def expire_due(self, now: float | None = None) -> int:
        """Active alerts past their expiry become expired (never sent after)."""
        now = time.time() if now is None else now
        async with self._store.writing() as session:
            result = await session.execute(
                update(CapAlertRow)
                .where(CapAlertRow.state == AlertState.ACTIVE)
                .where(CapAlertRow.expires_at.is_not(None))
                .where(CapAlertRow.expires_at <= now)
                .values(state=AlertState.EXPIRED)
            )
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    async def alerts(self, limit: int = 200) -> list[CapAlertRow]:
        """The newest alerts first."""
        async with self._store.reading() as session:
            rows = await session.scalars(
                select(CapAlertRow).order_by(CapAlertRow.id.desc()).limit(limit)
            )
            return list(rows)

    async def alert(self, alert_id: int) -> CapAlertRow | None:
        async with self._store.reading() as session:
            row: CapAlertRow | None = await session.get(CapAlertRow, alert_id)
            return row

    async def feed_alerts(self, now: float | None = None) -> list[CapAlertRow]:
        """What the public CAP feed lists: Actual, Public alerts in force (not expired,
        superseded or cancelled) and the Cancel messages, those without an expiry for a
        week."""
        now = time.time() if now is None else now
        since = datetime.fromtimestamp(now, UTC) - timedelta(days=FEED_UNDATED_DAYS)
        async with self._store.reading() as session:
            rows = await session.scalars(
                select(CapAlertRow)
                .where(CapAlertRow.status == SEND_STATUS, CapAlertRow.scope == SEND_SCOPE)
                .where(CapAlertRow.state.in_((AlertState.ACTIVE, AlertState.RECORDED)))
                .where(
                    or_(
                        CapAlertRow.expires_at > now,
                        (CapAlertRow.expires_at.is_(None)) & (CapAlertRow.received_at >= since),
                    )
                )
                .order_by(CapAlertRow.id.desc())
                .limit(FEED_LIMIT)
            )
            return list(rows)

    # ----- senders ------------------------------------------------------------------------

    async def senders(self) -> list[CapSender]:
        async with self._store.reading() as session:
            return list(await session.scalars(select(CapSender).order_by(CapSender.cap_sender)))

    async def sender_by_token(self, token: str) -> CapSender | None:
        """The sender whose bearer token this is (None: no such token)."""
        if not token:
            return None
        async with self._store.reading() as session:
            found: CapSender | None = await session.scalar(
                select(CapSender).where(CapSender.token_hash == token_hash(token))
            )
            return found

    async def new_token(self, cap_sender: str, name: str = "") -> str:
        """A new bearer token for the sender (created if new); the old token stops working.
        Only its hash is stored: the token is shown once."""
        cap_sender = cap_sender.strip()
        if not cap_sender or any(ch in cap_sender for ch in " ,<&"):
            raise CapInvalid("a CAP sender may not be empty or hold spaces, commas, '<' or '&'")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        async with self._store.writing() as session:
            row = await session.scalar(select(CapSender).where(CapSender.cap_sender == cap_sender))
            if row is None:
                row = CapSender(cap_sender=cap_sender, name=name, require_approval=True)
                session.add(row)
            elif name:
                row.name = name
            row.token_hash = token_hash(token)
            row.updated_at = utcnow()
            await session.commit()
        return token

    async def set_policy(self, cap_sender: str, *, require_approval: bool, by: str) -> CapSender:
        """The secretariat requires or waives approval of this sender's alerts."""
        async with self._store.writing() as session:
            row = await session.scalar(select(CapSender).where(CapSender.cap_sender == cap_sender))
            if row is None:
                row = CapSender(cap_sender=cap_sender, name="")
                session.add(row)
            row.require_approval = require_approval
            row.policy_by = by
            row.updated_at = utcnow()
            await session.commit()
            await session.refresh(row)
            return row
