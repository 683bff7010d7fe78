"""Case queries: the queue, one case with its history, and a status for the citizen."""

from __future__ import annotations

from sqlalchemy import or_, select

from .._exceptions import NotFound
from ..accounts import NATIONAL_POOL_NAME, Role, Viewer
from ..channels._texts import org_for_citizens
from ..storage._db import Agent
from ._codes import format_code, parse_code
from ._commands import OPEN
from ._core import CaseCore, CaseView, EventView, aware
from ._tables import Case, CaseEvent, CaseStatus

__all__ = ["CaseQueries"]

QUEUE_LIMIT = 200


class CaseQueries(CaseCore):
    """What the console and the chat read."""

    async def queue(self, viewer: Viewer, *, open_only: bool = True) -> list[CaseView]:
        """The viewer's cases, urgent and most overdue first."""
        query = select(Case)
        if open_only:
            query = query.where(Case.status.in_([*OPEN, CaseStatus.RESOLVED]))
        if viewer.role == Role.SECRETARIAT_REVIEWER:
            query = query.where(Case.escalation_level >= len(self.config.escalation))
        elif not viewer.is_admin:
            query = query.where(
                or_(
                    Case.organisation_id == viewer.organisation_id,
                    Case.referred_org_id == viewer.organisation_id,
                )
            )
        query = query.order_by(
            Case.urgent.desc(), Case.escalation_level.desc(), Case.due_at, Case.id
        ).limit(QUEUE_LIMIT)
        async with self._store.reading() as session:
            cases = list((await session.scalars(query)).all())
            return await self._views(session, cases)

    async def detail(self, viewer: Viewer, case_id: int) -> tuple[CaseView, list[EventView]]:
        """One case and its audit log, oldest first."""
        async with self._store.reading() as session:
            case = await session.get(Case, case_id)
            if case is None or not self.may_see(viewer, case):
                raise NotFound(f"no case {case_id}")
            (view,) = await self._views(session, [case])
            rows = (
                await session.execute(
                    select(CaseEvent, Agent.display_name)
                    .outerjoin(Agent, Agent.id == CaseEvent.agent_id)
                    .where(CaseEvent.case_id == case_id)
                    .order_by(CaseEvent.id)
                )
            ).all()
        events = [
            EventView(
                kind=e.kind,
                agent_name=name,
                from_status=e.from_status,
                to_status=e.to_status,
                reason=e.reason,
                detail=dict(e.detail or {}),
                created_at=aware(e.created_at),
            )
            for e, name in rows
        ]
        return view, events

    async def by_code(self, code_text: str) -> CaseView | None:
        """A case by its code as the citizen typed it (None if no such case)."""
        code = parse_code(code_text)
        if code is None:
            return None
        async with self._store.reading() as session:
            case = await session.scalar(select(Case).where(Case.code == code))
            if case is None:
                return None
            (view,) = await self._views(session, [case])
            return view

    async def status_text(self, code_text: str, language: str | None) -> str:
        """What the citizen is told when they ask with a code: the status and who holds it
        (the organisation, never a person's name)."""
        view = await self.by_code(code_text)
        shown = code_text.strip().upper()
        if view is None:
            return self.config.text("unknown_code", language, code=shown)
        lang = language or view.language
        said = self.config.text(
            "status", lang, code=view.code, status=self.config.status_name(view.status, lang)
        )
        holder = view.referred_org_name if view.status == CaseStatus.REFERRED else None
        if holder is None and view.organisation_name is not None:
            # the national pool is "the SP4ALL national team" to citizens
            holder = org_for_citizens(
                view.organisation_name, view.organisation_name == NATIONAL_POOL_NAME, lang
            )
        if holder and view.status not in (CaseStatus.CLOSED, CaseStatus.RESOLVED):
            said += " " + self.config.text("handled_by", lang, org=holder)
        return said

    @staticmethod
    def shown(code: str) -> str:
        return format_code(code)
