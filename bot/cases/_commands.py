"""Case commands: every change is one transaction with its audit line and, when the citizen
must hear of it, the outbound rows the delivery engine sends."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .._exceptions import Conflict, Invalid, NotAllowed, NotFound
from ..accounts import OrgKind, Role, Viewer, ensure_national_pool
from ..handoff import route
from ..handoff._types import _profile as org_profile
from ..storage._db import Agent, Chat, Handoff, Organisation, utcnow
from ._codes import format_code, new_code, parse_code
from ._core import CaseCore, aware
from ._tables import Case, CaseDraft, CaseEventKind, CaseKind, CaseStatus, CaseTopic

__all__ = ["CaseCommands", "NewCase"]

log = logging.getLogger("bot.cases")

S = CaseStatus
OPEN = (S.NEW, S.ASSIGNED, S.IN_PROGRESS, S.REFERRED, S.REOPENED)
MOVES: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.REFERRED, S.RESOLVED, S.CLOSED}),
    S.ASSIGNED: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.REFERRED, S.RESOLVED, S.CLOSED}),
    S.IN_PROGRESS: frozenset({S.ASSIGNED, S.REFERRED, S.RESOLVED, S.CLOSED}),
    S.REFERRED: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED}),
    S.REOPENED: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.REFERRED, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
}
MAX_TEXT = 4000
CODE_ATTEMPTS = 8
PROVINCE, DISTRICT, COMMUNE = 2, 4, 6


@dataclass(frozen=True)
class NewCase:
    """What is needed to file a case; ``chat`` is (channel, chat id) unless anonymous or
    filed by an agent for someone without a chat."""

    kind: str
    channel: str
    language: str = "km"
    topic: str | None = None
    programme: str | None = None
    description: str = ""
    place_code: str | None = None
    anonymous: bool = False
    audio_ref: str | None = None
    chat: tuple[str, str] | None = None


def _reason(text: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise Invalid("a reason is required")
    return cleaned[:MAX_TEXT]


class CaseCommands(CaseCore):
    """The state changes of :class:`CaseService`."""

    # ----- filing ----------------------------------------------------------------------

    async def file(
        self, new: NewCase, viewer: Viewer | None = None, *, draft_chat_id: int | None = None
    ) -> Case:
        """File a case, route it, log it; ``draft_chat_id`` ends that chat's form in the
        same transaction."""
        if new.kind not in set(CaseKind):
            raise Invalid(f"unknown kind {new.kind!r}")
        topic = new.topic or self.config.topic_of(new.description) or CaseTopic.OTHER
        if topic not in set(CaseTopic):
            raise Invalid(f"unknown topic {topic!r}")
        place = (new.place_code or "")[:COMMUNE] or None
        for _attempt in range(CODE_ATTEMPTS):
            try:
                return await self._file_once(new, topic, place, viewer, draft_chat_id)
            except IntegrityError:  # the code was taken meanwhile: draw another
                continue
        raise Conflict("no free case code")

    async def _file_once(
        self,
        new: NewCase,
        topic: str,
        place: str | None,
        viewer: Viewer | None,
        draft_chat_id: int | None,
    ) -> Case:
        now = self._clock()
        async with self._store.writing() as session:
            chat_row_id = None
            if new.chat is not None and not new.anonymous:
                chat_row_id = await session.scalar(
                    select(Chat.id).where(Chat.channel == new.chat[0], Chat.chat_id == new.chat[1])
                )
            code = new_code()
            while await session.scalar(select(Case.id).where(Case.code == code)) is not None:
                code = new_code()
            await ensure_national_pool(session)
            orgs = [
                org_profile(o)
                for o in await session.scalars(
                    select(Organisation).where(
                        Organisation.active.is_(True), Organisation.kind != OrgKind.SECRETARIAT
                    )
                )
            ]
            org = route(orgs, place_code=place, language=new.language, topic=new.programme)
            urgent = topic in self.config.urgent_topics
            sla = self.config.service_level(S.NEW, urgent)
            case = Case(
                code=code,
                kind=new.kind,
                topic=topic,
                programme=new.programme,
                status=S.NEW,
                urgent=urgent,
                anonymous=new.anonymous,
                channel="agent" if viewer is not None else new.channel,
                language=new.language,
                province_code=place[:PROVINCE] if place else None,
                district_code=place[:DISTRICT] if place and len(place) >= DISTRICT else None,
                commune_code=place if place and len(place) >= COMMUNE else None,
                chat_id=chat_row_id,
                organisation_id=org.id if org else None,
                filed_by_id=viewer.agent_id if viewer else None,
                escalation_level=0,
                description=new.description[:MAX_TEXT],
                # a voice note's reference leads back to the chat's messages: not when anonymous
                audio_ref=None if new.anonymous else new.audio_ref,
                created_at=now,
                updated_at=now,
                due_at=now + sla if sla else None,
            )
            session.add(case)
            await session.flush()
            await self._event(
                session,
                case,
                CaseEventKind.CREATED,
                viewer,
                to_status=S.NEW,
                organisation=org.slug if org else None,
                channel=new.channel,
            )
            if draft_chat_id is not None:
                await session.execute(delete(CaseDraft).where(CaseDraft.chat_id == draft_chat_id))
                await session.execute(
                    update(Chat).where(Chat.id == draft_chat_id).values(case_step=None)
                )
            await session.commit()
        log.info("cases.filed", extra={"kind": case.kind, "topic": topic, "urgent": urgent})
        return case

    async def from_handoff(
        self,
        viewer: Viewer,
        handoff_id: int,
        *,
        kind: str,
        description: str,
        topic: str | None = None,
        programme: str | None = None,
    ) -> Case:
        """Turn a handoff chat into a case: same chat, place and language; the history
        stays with the handoff, the case links to it."""
        async with self._store.reading() as session:
            handoff = await session.get(Handoff, handoff_id)
        if handoff is None or not viewer.may_see(handoff.organisation_id):
            raise NotFound(f"no conversation {handoff_id}")
        new = NewCase(
            kind=kind,
            channel=handoff.channel,
            language=handoff.language,
            topic=topic,
            programme=programme or handoff.topic,
            description=description or handoff.summary,
            place_code=handoff.place_code,
            chat=(handoff.channel, handoff.chat_id),
        )
        case = await self.file(new, viewer)
        async with self._store.writing() as session:
            case.channel = handoff.channel  # from a chat, even though an agent filed it
            await session.execute(
                update(Case).where(Case.id == case.id).values(channel=handoff.channel)
            )
            await self._event(session, case, CaseEventKind.NOTE, viewer, handoff=handoff_id)
            await session.commit()
        return case

    # ----- the console -----------------------------------------------------------------

    async def _move(
        self,
        session: AsyncSession,
        case: Case,
        to: str,
        viewer: Viewer | None,
        *,
        kind: str = CaseEventKind.STATUS,
        reason: str = "",
        **detail: object,
    ) -> None:
        if to not in MOVES.get(case.status, frozenset()):
            raise Conflict(f"a {case.status} case cannot become {to}")
        now = self._clock()
        before = case.status
        case.status = to
        case.updated_at = now
        sla = self.config.service_level(to, case.urgent)
        case.due_at = now + sla if sla else None
        if to == S.RESOLVED:
            case.resolved_at = now
            case.followed_up_at = None
            case.resolved_confirmed = None
        if to == S.CLOSED:
            case.closed_at = now
        if to == S.REOPENED:
            case.closed_at = None
            case.resolved_confirmed = False
        await self._event(
            session, case, kind, viewer, from_status=before, to_status=to, reason=reason, **detail
        )

    async def _commit_and_tell(
        self, session: AsyncSession, case: Case, replies: list[dict[str, Any]]
    ) -> None:
        chat = await self._tell(session, case, replies) if replies else None
        await session.commit()
        if chat is not None:
            self._wake(*chat)

    async def assign(self, viewer: Viewer, case_id: int, agent_id: int | None = None) -> None:
        """Give the case to a person of its organisation (oneself by default); only a
        supervisor gives it to someone else."""
        target = agent_id or viewer.agent_id
        if target != viewer.agent_id and not viewer.is_supervisor:
            raise NotAllowed("only a supervisor assigns a case to someone else")
        async with self._store.writing() as session:
            case = await self._visible(session, viewer, case_id)
            agent = await session.get(Agent, target)
            if agent is None or not agent.active:
                raise NotFound(f"no person {target}")
            if agent.organisation_id not in (case.organisation_id, case.referred_org_id):
                raise Invalid("a case goes to a person of its organisation")
            case.assignee_id = target
            await self._move(
                session, case, S.ASSIGNED, viewer, kind=CaseEventKind.ASSIGNED, assignee=target
            )
            await self._commit_and_tell(session, case, [self._status_notice(case)])

    async def start(self, viewer: Viewer, case_id: int) -> None:
        """Work has started on the case (in progress)."""
        async with self._store.writing() as session:
            case = await self._visible(session, viewer, case_id)
            if case.assignee_id is None:
                case.assignee_id = viewer.agent_id
            await self._move(session, case, S.IN_PROGRESS, viewer)
            await self._commit_and_tell(session, case, [self._status_notice(case)])

    async def refer(self, viewer: Viewer, case_id: int, organisation_id: int, reason: str) -> None:
        """Refer the case to a ministry focal point (with a reason); the ministry sees it."""
        why = _reason(reason)
        async with self._store.writing() as session:
            case = await self._visible(session, viewer, case_id)
            org = await session.get(Organisation, organisation_id)
            if org is None or not org.active or org.kind != OrgKind.MINISTRY:
                raise Invalid("a case is referred to a ministry")
            case.referred_org_id = org.id
            case.assignee_id = None
            await self._move(
                session,
                case,
                S.REFERRED,
                viewer,
                kind=CaseEventKind.REFERRED,
                reason=why,
                organisation=org.slug,
            )
            await self._commit_and_tell(session, case, [self._status_notice(case)])

    async def resolve(self, viewer: Viewer, case_id: int, answer: str) -> None:
        """Resolved: the citizen gets the answer and is asked whether it was resolved."""
        said = _reason(answer)
        async with self._store.writing() as session:
            case = await self._visible(session, viewer, case_id)
            await self._move(session, case, S.RESOLVED, viewer, reason=said)
            text = self.config.text(
                "agent_reply", case.language, code=format_code(case.code), text=said
            )
            notice = self._status_notice(case)
            question = {
                "text": self.config.text("followup", case.language, code=format_code(case.code)),
                "buttons": self.followup_buttons(case),
                "language": case.language,
            }
            await self._commit_and_tell(
                session, case, [notice, {"text": text, "language": case.language}, question]
            )

    async def reject(self, viewer: Viewer, case_id: int, reason: str) -> None:
        """Close without resolving (not ours, a duplicate, abusive...): a reason is required."""
        why = _reason(reason)
        async with self._store.writing() as session:
            case = await self._visible(session, viewer, case_id)
            await self._move(session, case, S.CLOSED, viewer, reason=why, rejected=True)
            await self._commit_and_tell(session, case, [self._status_notice(case)])

    async def note(self, viewer: Viewer, case_id: int, text: str) -> None:
        """An internal note: never shown to the citizen."""
        body = _reason(text)
        async with self._store.writing() as session:
            case = await self._visible(session, viewer, case_id)
            await self._event(session, case, CaseEventKind.NOTE, viewer, reason=body)
            await session.commit()

    async def reply(self, viewer: Viewer, case_id: int, text: str) -> None:
        """A message to the citizen about the case (anonymous cases: refused)."""
        body = _reason(text)
        async with self._store.writing() as session:
            case = await self._visible(session, viewer, case_id)
            if case.chat_id is None:
                raise Conflict("this case has no chat to answer (anonymous or filed offline)")
            await self._event(session, case, CaseEventKind.REPLY, viewer, reason=body)
            said = self.config.text(
                "agent_reply", case.language, code=format_code(case.code), text=body
            )
            await self._commit_and_tell(session, case, [{"text": said, "language": case.language}])

    # ----- the citizen -----------------------------------------------------------------

    async def citizen_answer(
        self, code_text: str, resolved: bool, chat_row_id: int | None = None
    ) -> str | None:
        """The citizen says whether the case was resolved: closed, or reopened within the
        configured period. The sentence to answer with; None if the code is unknown, or the
        case belongs to another chat (``chat_row_id``: the gw_chats row answering; an
        anonymous case's code is its only key)."""
        code = parse_code(code_text)
        if code is None:
            return None
        async with self._store.writing() as session:
            case = await session.scalar(select(Case).where(Case.code == code))
            if case is None:
                return None
            if chat_row_id is not None and case.chat_id not in (None, chat_row_id):
                return None
            shown = format_code(case.code)
            language = case.language
            if resolved:
                if case.status == S.RESOLVED:
                    case.resolved_confirmed = True
                    await self._move(
                        session, case, S.CLOSED, None, kind=CaseEventKind.CITIZEN, confirmed=True
                    )
                    await session.commit()
                return self.config.text("thanks_closed", language, code=shown)
            now = self._clock()
            limit = timedelta(days=self.config.reopen_days)
            ended = case.closed_at or case.resolved_at
            if case.status in OPEN:
                return self.config.text("reopened", language, code=shown)
            if ended is None or now - aware(ended) > limit:
                return self.config.text(
                    "too_late", language, code=shown, days=str(self.config.reopen_days)
                )
            await self._move(
                session, case, S.REOPENED, None, kind=CaseEventKind.CITIZEN, confirmed=False
            )
            await session.commit()
            return self.config.text("reopened", language, code=shown)

    # ----- timers ----------------------------------------------------------------------

    def _for_update(self, query: Select[tuple[Case]]) -> Select[tuple[Case]]:
        """On PostgreSQL several gateway processes run the timer: each row once."""
        if self._store.dialect == "postgresql":
            return query.with_for_update(skip_locked=True)
        return query

    async def escalate_overdue(self) -> int:
        """Cases past their service level go up one level (a supervisor, then the
        secretariat); the next level has its own time. How many moved."""
        now = self._clock()
        levels = len(self.config.escalation)
        moved = 0
        async with self._store.writing() as session:
            overdue = (
                await session.scalars(
                    self._for_update(select(Case))
                    .where(
                        Case.status.in_(OPEN),
                        Case.due_at <= now,
                        Case.escalation_level < levels,
                    )
                    .limit(500)
                )
            ).all()
            for case in overdue:
                case.escalation_level += 1
                case.due_at = now + timedelta(hours=self.config.escalated_sla_hours)
                await self._event(
                    session,
                    case,
                    CaseEventKind.ESCALATED,
                    to=self.config.escalation[case.escalation_level - 1],
                    level=case.escalation_level,
                    status=case.status,
                )
                moved += 1
            await session.commit()
        if moved:
            log.info("cases.escalated", extra={"cases": moved})
        return moved

    async def send_followups(self) -> int:
        """Ask "was this resolved?" again of citizens who did not answer within the
        configured time after resolution (once)."""
        now = self._clock()
        before = now - timedelta(hours=self.config.followup_hours)
        woken: list[tuple[str, str]] = []
        async with self._store.writing() as session:
            due = (
                await session.scalars(
                    self._for_update(select(Case))
                    .where(
                        Case.status == S.RESOLVED,
                        Case.chat_id.is_not(None),
                        Case.resolved_confirmed.is_(None),
                        Case.resolved_at <= before,
                        Case.followed_up_at.is_(None),
                    )
                    .limit(500)
                )
            ).all()
            for case in due:
                case.followed_up_at = now  # asked once more, never again
                question = {
                    "text": self.config.text(
                        "followup", case.language, code=format_code(case.code)
                    ),
                    "buttons": self.followup_buttons(case),
                    "language": case.language,
                }
                chat = await self._tell(session, case, [question])
                await self._event(session, case, CaseEventKind.REPLY, followup=True)
                if chat:
                    woken.append(chat)
            await session.commit()
        for chat in woken:
            self._wake(*chat)
        return len(due)

    async def purge_drafts(self) -> int:
        """Drop chat forms left unanswered (with the words they hold) and close them."""
        before = utcnow() - timedelta(minutes=self.config.form_minutes)
        async with self._store.writing() as session:
            chats = list(
                (
                    await session.scalars(
                        select(CaseDraft.chat_id).where(CaseDraft.updated_at < before)
                    )
                ).all()
            )
            if chats:
                await session.execute(delete(CaseDraft).where(CaseDraft.chat_id.in_(chats)))
                await session.execute(
                    update(Chat).where(Chat.id.in_(chats)).values(case_step=None)
                )
            await session.commit()
        return len(chats)

    async def ministries(self) -> list[tuple[int, str]]:
        """The ministries a case can be referred to (id, name)."""
        async with self._store.reading() as session:
            rows = await session.execute(
                select(Organisation.id, Organisation.name)
                .where(Organisation.kind == OrgKind.MINISTRY, Organisation.active.is_(True))
                .order_by(Organisation.name)
            )
            return [(int(i), str(n)) for i, n in rows.all()]

    @staticmethod
    def may_refer(viewer: Viewer) -> bool:
        return viewer.role in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
