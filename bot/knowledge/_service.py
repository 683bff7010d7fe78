"""The editorial workflow of the knowledge base (issue #14), on the gateway's database.

A *change* is a draft of one programme (an HSDS service) made from the live revision:
draft -> in_review -> published (a reviewer may send it back to draft). Publishing writes a
new revision of the whole catalogue; the live revision is the newest. Rolling back publishes
an earlier revision's document again, so every revision stays with who and when.

Rules (each refusal is one of bot._exceptions' Refused kinds, and changes nothing):
* a ministry editor drafts only their own ministry's programmes; a CSO account may suggest a
  change, with a source; the secretariat's reviewers (and admins) draft anything;
* a save names the version it was made from: a save from an older page is refused, and so is
  a save while someone else holds the programme's edit lock;
* only a reviewer publishes, never their own draft, and only when every changed fact has
  both languages, a source (url, title, issuer, date) and a verified date, and the live
  programme has not changed since the draft began.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import kbprofile

from .._exceptions import Conflict, Invalid, NotAllowed, NotFound
from ..accounts import OrgKind, Role, Viewer
from ..storage._db import Agent, Organisation, utcnow
from ._models import ChangeStatus, CommentKind, KbChange, KbComment, KbLock, KbRevision

__all__ = [
    "REVIEWER_ROLES",
    "Actor",
    "FactChange",
    "KnowledgeService",
    "Live",
    "SourceInput",
    "is_official",
]

log = logging.getLogger("bot.knowledge")

REVIEWER_ROLES = frozenset({Role.SECRETARIAT_REVIEWER, Role.ADMIN})
CSO_SUGGESTERS = frozenset({Role.AGENT, Role.SUPERVISOR})
LOCK_MINUTES = 15
MAX_TEXT_CHARS = 4000
MAX_COMMENT_CHARS = 2000
AMOUNT_UNITS = ("riel", "percent")
AMOUNT_PERIODS = ("per_month", "per_visit", "per_baby", "of_wage")
UNKNOWN_KM = "មិនដឹង"  # what a Khmer editor types for "unknown"
_KHMER_DIGITS = "០១២៣៤៥៦៧៨៩"
_FROM_KHMER_DIGITS = str.maketrans(_KHMER_DIGITS, "0123456789")
_URL = re.compile(r"https?://[^\s/]+\.[a-z]{2,}(/\S*)?")
_PUBLISHED = re.compile(r"undated|~?\d{4}(-\d{2}(-\d{2})?)?")
OPTIONAL_FACTS = ("eligibility_description", "alert")  # a draft may add these
_HOST = re.compile(r"https?://([^/:]+)")
# Refusals' Khmer words (the console shows them to a person whose console is in Khmer).
SOURCE_PARTS_KM = {
    "url": "អាសយដ្ឋានគេហទំព័រ",
    "title": "ចំណងជើង",
    "issuer": "អ្នកចេញផ្សាយ",
    "date": "កាលបរិច្ឆេទចេញផ្សាយ",
    "verified": "កាលបរិច្ឆេទផ្ទៀងផ្ទាត់",
}
LANGUAGES_KM = {"km": "ខ្មែរ", "en": "អង់គ្លេស"}
SAME_TIME_KM = "កំណែមួយទៀតត្រូវបានផ្សព្វផ្សាយក្នុងពេលតែមួយ៖ សូមព្យាយាមម្តងទៀត"
NO_REVISION_KM = "មូលដ្ឋានចំណេះដឹងមិនទាន់មានកំណែដែលបានផ្សព្វផ្សាយនៅឡើយទេ"
# Official sources: the government's own sites (the NSPC, the ministries, NSAF, NSSF).
OFFICIAL_SUFFIXES = (".gov.kh",)


def is_official(url: str) -> bool:
    """Whether a source is an official one (a .gov.kh site)."""
    match = _HOST.match(url)
    host = match.group(1).lower() if match else ""
    return any(host.endswith(s) or host == s.lstrip(".") for s in OFFICIAL_SUFFIXES)


@dataclass(frozen=True)
class Actor:
    """The console user as the workflow needs them: role and organisation (slug, kind)."""

    agent_id: int
    role: str
    org_slug: str
    org_kind: str
    name: str

    @property
    def reviewer(self) -> bool:
        return self.role in REVIEWER_ROLES


@dataclass(frozen=True)
class SourceInput:
    """The source an editor gives for the facts changed in one save."""

    url: str
    title: str
    issuer: str
    date: str  # published: YYYY-MM-DD, YYYY-MM, YYYY, "~..." or "undated"
    verified: str  # YYYY-MM-DD, the day the editor checked it

    def check(self, today: dt.date) -> None:
        """Invalid (nothing saved) if a part is missing or malformed."""
        for name in ("url", "title", "issuer", "date", "verified"):
            if not getattr(self, name).strip():
                raise Invalid(
                    f"the source needs its {name}", km=f"ប្រភពត្រូវមាន{SOURCE_PARTS_KM[name]}"
                )
        if not _URL.fullmatch(self.url.strip()):
            raise Invalid(
                "the source's url is not a web address",
                km="អាសយដ្ឋានរបស់ប្រភពមិនមែនជាអាសយដ្ឋានគេហទំព័រទេ",
            )
        if not _PUBLISHED.fullmatch(self.date.strip()):
            raise Invalid(
                "the source's date is not YYYY-MM-DD, YYYY-MM, YYYY or undated",
                km="កាលបរិច្ឆេទរបស់ប្រភពត្រូវជា YYYY-MM-DD, YYYY-MM, YYYY ឬ undated",
            )
        try:
            verified = dt.date.fromisoformat(self.verified.strip())
        except ValueError as exc:
            raise Invalid(
                "the verified date is not YYYY-MM-DD",
                km="កាលបរិច្ឆេទផ្ទៀងផ្ទាត់ត្រូវជា YYYY-MM-DD",
            ) from exc
        if verified > today:
            raise Invalid(
                "the verified date is in the future",
                km="កាលបរិច្ឆេទផ្ទៀងផ្ទាត់មិនអាចនៅថ្ងៃអនាគតបានទេ",
            )


@dataclass(frozen=True)
class FactChange:
    """One fact that differs between the live programme and a draft (None: absent)."""

    path: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass(frozen=True)
class Live:
    """The live revision: its number, canonical text and ETag."""

    number: int
    etag: str
    text: str
    published_at: dt.datetime

    def document(self) -> dict[str, Any]:
        return kbprofile.loads(self.text)


def _value(fact: Mapping[str, Any] | None) -> Any:
    """A fact without its provenance (what a citizen reads)."""
    if fact is None:
        return None
    return {k: v for k, v in fact.items() if k not in ("source", "assured_date", "assurer")}


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FactChange]:
    """The facts that differ (value or provenance), in the service's order."""
    before = dict(kbprofile.fact_paths(dict(old)))
    after = dict(kbprofile.fact_paths(dict(new)))
    paths = list(after) + [p for p in before if p not in after]
    return [
        FactChange(p, before.get(p), after.get(p)) for p in paths if before.get(p) != after.get(p)
    ]


def publish_problems(
    service: Mapping[str, Any], changes: list[FactChange], language: str = "en"
) -> list[str]:
    """Why a draft may not be published yet (empty: it may), in English or Khmer."""
    km = language == "km"
    problems = []
    sources = {s["id"]: s for s in service.get("sources", [])}
    for change in changes:
        fact = change.new
        if fact is None:
            continue
        path = change.path
        if "value" not in fact:
            for lang in ("km", "en"):
                if not str(fact.get(lang, "")).strip():
                    problems.append(
                        f"{path}៖ ខ្វះអត្ថបទ{LANGUAGES_KM[lang]}"
                        if km
                        else f"{path}: the {lang} text is missing"
                    )
        source = sources.get(fact.get("source", ""))
        if source is None or not all(
            str(source.get(k, "")).strip() for k in ("url", "title", "issuer", "date")
        ):
            problems.append(
                f"{path}៖ គ្មានប្រភព (អាសយដ្ឋាន ចំណងជើង អ្នកចេញផ្សាយ កាលបរិច្ឆេទ)"
                if km
                else f"{path}: no source (url, title, issuer, date)"
            )
        try:
            dt.date.fromisoformat(str(fact.get("assured_date", "")))
        except ValueError:
            problems.append(
                f"{path}៖ គ្មានកាលបរិច្ឆេទផ្ទៀងផ្ទាត់" if km else f"{path}: no verified date"
            )
    return problems


class KnowledgeService:
    """The knowledge base's revisions, changes, comments and locks."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._parsed: tuple[str, dict[str, Any]] | None = None  # (etag, document)

    # --- revisions ---------------------------------------------------------------------

    async def live(self) -> Live | None:
        """The live revision (None before the first import)."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(KbRevision).order_by(KbRevision.number.desc()).limit(1)
            )
            if row is None:
                return None
            return Live(row.number, row.etag, row.document, row.published_at)

    async def live_document(self) -> dict[str, Any] | None:
        """The live revision's document, parsed once per revision: each call asks only for
        the live ETag, so a publish or a roll back (by any process) shows at the next call.
        Callers must not change it."""
        head = await self.live_etag()
        if head is None:
            return None
        cached = self._parsed
        if cached is not None and cached[0] == head[1]:
            return cached[1]
        live = await self.live()
        if live is None:  # pragma: no cover - the head was there a moment ago
            return None
        document = live.document()
        self._parsed = (live.etag, document)
        return document

    async def live_etag(self) -> tuple[int, str] | None:
        """The live revision's number and ETag, without its document (cheap polling)."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(KbRevision.number, KbRevision.etag)
                    .order_by(KbRevision.number.desc())
                    .limit(1)
                )
            ).first()
            return (int(row[0]), str(row[1])) if row is not None else None

    async def revisions(self) -> list[KbRevision]:
        """Every published revision, newest first."""
        async with self._sessions() as session:
            rows = await session.scalars(select(KbRevision).order_by(KbRevision.number.desc()))
            return list(rows)

    async def revision(self, number: int) -> KbRevision:
        async with self._sessions() as session:
            row = await session.scalar(select(KbRevision).where(KbRevision.number == number))
        if row is None:
            raise NotFound(f"no revision {number}", km=f"មិនមានកំណែទី {number} ទេ")
        return row

    async def _publish(
        self,
        session: AsyncSession,
        document: dict[str, Any],
        *,
        by: int | None,
        note: str,
        change_id: int | None = None,
        rollback_of: int | None = None,
    ) -> KbRevision:
        problems = kbprofile.validate(document)
        if problems:
            raise Invalid(
                "the catalogue does not fit the profile: " + "; ".join(problems[:5]),
                km="កាតាឡុកមិនត្រូវនឹងទម្រង់ទេ៖ " + "; ".join(problems[:5]),
            )
        last = await session.scalar(select(func.max(KbRevision.number)))
        number = (last or 0) + 1
        document = copy.deepcopy(document)
        text = kbprofile.dumps(kbprofile.normalise(document))
        row = KbRevision(
            number=number,
            document=text,
            etag=kbprofile.etag_of(text),
            note=note[:200],
            published_by=by,
            published_at=self._clock(),
            change_id=change_id,
            rollback_of=rollback_of,
        )
        session.add(row)
        return row

    async def import_document(self, text: str, *, note: str = "import") -> int:
        """Publish a whole profile document (the CLI's import, the seed at start-up)."""
        document = kbprofile.loads(text)
        async with self._sessions() as session:
            row = await self._publish(session, document, by=None, note=note)
            try:
                await session.commit()
            except IntegrityError as exc:
                raise Conflict(
                    "another revision was published at the same time", km=SAME_TIME_KM
                ) from exc
            log.info("knowledge.imported", extra={"revision": row.number})
            return row.number

    async def ensure_seeded(self, seed_dir: Path) -> int | None:
        """Import the seed files as revision 1 if there is no revision yet."""
        if await self.live_etag() is not None:
            return None
        document = kbprofile.seed_to_document(seed_dir)
        try:
            return await self.import_document(kbprofile.dumps(document), note="seed")
        except Conflict:
            return None  # another process seeded it first

    # --- who ---------------------------------------------------------------------------

    async def actor(self, viewer: Viewer) -> Actor:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Organisation.slug, Organisation.kind, Agent.display_name)
                    .join(Agent, Agent.organisation_id == Organisation.id)
                    .where(Agent.id == viewer.agent_id, Agent.active.is_(True))
                )
            ).first()
        if row is None:
            raise NotAllowed("this console user no longer exists", km="អ្នកប្រើប្រាស់នេះលែងមានទៀតហើយ")
        return Actor(viewer.agent_id, viewer.role, str(row[0]), str(row[1]), str(row[2]))

    @staticmethod
    def may_draft(actor: Actor, service: Mapping[str, Any]) -> bool:
        """Whether ``actor`` may draft (or, for a CSO, suggest) a change to ``service``."""
        if actor.reviewer:
            return True
        if actor.role == Role.MINISTRY_EDITOR:
            return actor.org_slug == service.get("organization_id")
        return actor.role in CSO_SUGGESTERS and actor.org_kind == OrgKind.CSO

    # --- changes -----------------------------------------------------------------------

    async def _live_service(self, service_id: str) -> tuple[int, dict[str, Any]]:
        live = await self.live()
        if live is None:
            raise Conflict("the knowledge base has no published revision yet", km=NO_REVISION_KM)
        for service in live.document()["services"]:
            if service["id"] == service_id:
                return live.number, service
        raise NotFound(f"no programme {service_id!r}", km=f"មិនមានកម្មវិធី {service_id} ទេ")

    async def start(self, actor: Actor, service_id: str) -> int:
        """A new draft of ``service_id`` from the live revision; takes the edit lock."""
        number, service = await self._live_service(service_id)
        if not self.may_draft(actor, service):
            raise NotAllowed(
                f"{service_id} belongs to {service['organization_id']}: "
                "an editor changes only their own ministry's programmes",
                km=f"{service_id} ជារបស់ {service['organization_id']}៖ "
                "អ្នកកែសម្រួលកែបានតែកម្មវិធីរបស់ក្រសួងខ្លួនប៉ុណ្ណោះ",
            )
        now = self._clock()
        async with self._sessions() as session:
            await self._check_lock(session, service_id, actor.agent_id, now)
            text = json.dumps(service, ensure_ascii=False, sort_keys=True)
            change = KbChange(
                service_id=service_id,
                status=ChangeStatus.DRAFT,
                service=text,
                base_service=text,
                base_revision=number,
                author_id=actor.agent_id,
                suggestion=not actor.reviewer and actor.role != Role.MINISTRY_EDITOR,
                version=1,
                created_at=now,
                updated_at=now,
            )
            session.add(change)
            await session.flush()
            await self._take_lock(session, service_id, actor.agent_id, change.id, now)
            await session.commit()
            return change.id

    async def change(self, change_id: int) -> KbChange:
        async with self._sessions() as session:
            row = await session.get(KbChange, change_id)
        if row is None:
            raise NotFound(f"no change {change_id}", km=f"មិនមានការកែប្រែលេខ {change_id} ទេ")
        return row

    async def changes(self, *, open_only: bool = True) -> list[KbChange]:
        async with self._sessions() as session:
            query = select(KbChange).order_by(KbChange.id.desc())
            if open_only:
                query = query.where(
                    KbChange.status.in_((ChangeStatus.DRAFT, ChangeStatus.IN_REVIEW))
                )
            return list(await session.scalars(query))

    async def comments(self, change_id: int) -> list[tuple[KbComment, str]]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(KbComment, Agent.display_name)
                .join(Agent, Agent.id == KbComment.agent_id)
                .where(KbComment.change_id == change_id)
                .order_by(KbComment.id)
            )
            return [(c, str(n)) for c, n in rows.all()]

    async def lock_of(self, service_id: str) -> KbLock | None:
        async with self._sessions() as session:
            lock = await session.get(KbLock, service_id)
        if lock is None or _aware(lock.expires_at) <= self._clock():
            return None
        return lock

    async def _check_lock(
        self, session: AsyncSession, service_id: str, agent_id: int, now: dt.datetime
    ) -> None:
        lock = await session.get(KbLock, service_id)
        if lock is not None and lock.agent_id != agent_id and _aware(lock.expires_at) > now:
            raise Conflict(
                f"someone else is editing {service_id}: try again later",
                km=f"មានអ្នកផ្សេងកំពុងកែ {service_id}៖ សូមព្យាយាមម្តងទៀតនៅពេលក្រោយ",
            )

    async def _take_lock(
        self,
        session: AsyncSession,
        service_id: str,
        agent_id: int,
        change_id: int,
        now: dt.datetime,
    ) -> None:
        lock = await session.get(KbLock, service_id)
        until = now + dt.timedelta(minutes=LOCK_MINUTES)
        if lock is None:
            session.add(
                KbLock(
                    service_id=service_id, agent_id=agent_id, change_id=change_id, expires_at=until
                )
            )
        else:
            lock.agent_id, lock.change_id, lock.expires_at = agent_id, change_id, until

    async def save(
        self,
        actor: Actor,
        change_id: int,
        version: int,
        edits: Mapping[str, Any],
        source: SourceInput | None,
    ) -> int:
        """Apply ``edits`` (fact path -> {"km","en"} or {"value","unit","period"}) to a draft
        made at ``version``; the changed facts get ``source``. Returns the new version."""
        now = self._clock()
        async with self._sessions() as session:
            change = await _change(session, change_id, for_update=True)
            if change.author_id != actor.agent_id:
                raise NotAllowed(
                    "only the author edits a draft; comment instead",
                    km="មានតែអ្នកសរសេរទេដែលកែសេចក្តីព្រាងបាន៖ សូមសរសេរមតិជំនួសវិញ",
                )
            if change.status != ChangeStatus.DRAFT:
                raise Conflict(
                    "this change is not a draft any more",
                    km="ការកែប្រែនេះលែងជាសេចក្តីព្រាងទៀតហើយ",
                )
            if change.version != version:
                raise Conflict(
                    "this draft was saved since you opened it (a newer version exists): "
                    "reload it and make your change again",
                    km="សេចក្តីព្រាងនេះត្រូវបានរក្សាទុកតាំងពីអ្នកបានបើកវា (មានកំណែថ្មីជាង)៖ "
                    "សូមបើកវាឡើងវិញ ហើយធ្វើការកែប្រែរបស់អ្នកម្តងទៀត",
                )
            await self._check_lock(session, change.service_id, actor.agent_id, now)
            if source is not None:
                source.check(now.date())
            elif change.suggestion:
                raise Invalid("a suggestion needs a source", km="សំណើត្រូវមានប្រភព")
            service = json.loads(change.service)
            changed = _apply(service, edits, source, actor)
            if not changed:
                raise Invalid("nothing changed", km="គ្មានអ្វីផ្លាស់ប្តូរទេ")
            change.service = json.dumps(service, ensure_ascii=False, sort_keys=True)
            change.version += 1
            change.updated_at = now
            await self._take_lock(session, change.service_id, actor.agent_id, change.id, now)
            await session.commit()
            log.info("knowledge.saved", extra={"change": change_id, "facts": len(changed)})
            return change.version

    async def submit(self, actor: Actor, change_id: int, note: str = "") -> None:
        """draft -> in_review (the author); releases the edit lock."""
        async with self._sessions() as session:
            change = await _change(session, change_id, for_update=True)
            if change.author_id != actor.agent_id:
                raise NotAllowed(
                    "only the author submits a draft",
                    km="មានតែអ្នកសរសេរទេដែលដាក់ស្នើសេចក្តីព្រាងបាន",
                )
            if change.status != ChangeStatus.DRAFT:
                raise Conflict("this change is not a draft", km="ការកែប្រែនេះមិនមែនជាសេចក្តីព្រាងទេ")
            if not diff(json.loads(change.base_service), json.loads(change.service)):
                raise Invalid("nothing changed", km="គ្មានអ្វីផ្លាស់ប្តូរទេ")
            change.status = ChangeStatus.IN_REVIEW
            change.updated_at = self._clock()
            self._comment(session, change_id, actor, CommentKind.SUBMIT, note)
            await session.execute(
                delete(KbLock).where(
                    KbLock.service_id == change.service_id, KbLock.change_id == change_id
                )
            )
            await session.commit()

    def _comment(
        self, session: AsyncSession, change_id: int, actor: Actor, kind: str, body: str
    ) -> None:
        body = body.strip()
        if len(body) > MAX_COMMENT_CHARS:
            raise Invalid(
                f"a comment has at most {MAX_COMMENT_CHARS} characters",
                km=f"មតិមួយមានយ៉ាងច្រើន {MAX_COMMENT_CHARS} តួអក្សរ",
            )
        if body or kind != CommentKind.COMMENT:
            session.add(
                KbComment(
                    change_id=change_id,
                    agent_id=actor.agent_id,
                    kind=kind,
                    body=body,
                    created_at=self._clock(),
                )
            )

    async def comment(self, actor: Actor, change_id: int, body: str) -> None:
        if not body.strip():
            raise Invalid("write a comment first", km="សូមសរសេរមតិជាមុនសិន")
        async with self._sessions() as session:
            await _change(session, change_id)
            self._comment(session, change_id, actor, CommentKind.COMMENT, body)
            await session.commit()

    async def reject(self, actor: Actor, change_id: int, note: str) -> None:
        """in_review -> draft, with the reviewer's reason (a reviewer)."""
        if not actor.reviewer:
            raise NotAllowed(
                "only the secretariat's reviewers send a change back",
                km="មានតែអ្នកពិនិត្យរបស់អគ្គលេខាធិការដ្ឋានទេដែលបញ្ជូនការកែប្រែត្រឡប់វិញបាន",
            )
        if not note.strip():
            raise Invalid(
                "say why the change goes back",
                km="សូមប្រាប់មូលហេតុដែលការកែប្រែត្រូវបញ្ជូនត្រឡប់វិញ",
            )
        async with self._sessions() as session:
            change = await _change(session, change_id, for_update=True)
            if change.status != ChangeStatus.IN_REVIEW:
                raise Conflict("this change is not in review", km="ការកែប្រែនេះមិនកំពុងត្រូវបានពិនិត្យទេ")
            change.status = ChangeStatus.DRAFT
            change.updated_at = self._clock()
            self._comment(session, change_id, actor, CommentKind.REJECT, note)
            await session.commit()

    async def publish(self, actor: Actor, change_id: int, note: str = "") -> int:
        """in_review -> published: a new live revision with the changed programme."""
        if not actor.reviewer:
            raise NotAllowed(
                "only the secretariat's reviewers publish",
                km="មានតែអ្នកពិនិត្យរបស់អគ្គលេខាធិការដ្ឋានទេដែលផ្សព្វផ្សាយបាន",
            )
        async with self._sessions() as session:
            change = await _change(session, change_id, for_update=True)
            if change.author_id == actor.agent_id:
                raise NotAllowed(
                    "a reviewer cannot publish their own draft",
                    km="អ្នកពិនិត្យមិនអាចផ្សព្វផ្សាយសេចក្តីព្រាងរបស់ខ្លួនឯងបានទេ",
                )
            if change.status != ChangeStatus.IN_REVIEW:
                raise Conflict(
                    "only a change in review is published",
                    km="មានតែការកែប្រែដែលកំពុងពិនិត្យទេដែលអាចផ្សព្វផ្សាយបាន",
                )
            base = json.loads(change.base_service)
            service = json.loads(change.service)
            problems = publish_problems(service, diff(base, service))
            if problems:
                raise Invalid(
                    "not ready to publish: " + "; ".join(problems),
                    km="មិនទាន់រួចរាល់សម្រាប់ផ្សព្វផ្សាយទេ៖ "
                    + "; ".join(publish_problems(service, diff(base, service), "km")),
                )
            live = await session.scalar(
                select(KbRevision).order_by(KbRevision.number.desc()).limit(1)
            )
            if live is None:
                raise Conflict(
                    "the knowledge base has no published revision yet", km=NO_REVISION_KM
                )
            document = kbprofile.loads(live.document)
            index = next(
                (i for i, s in enumerate(document["services"]) if s["id"] == change.service_id),
                None,
            )
            if index is None or document["services"][index] != base:
                raise Conflict(
                    f"{change.service_id} changed since this draft began (revision "
                    f"{change.base_revision} -> {live.number}): start a new draft",
                    km=f"{change.service_id} បានផ្លាស់ប្តូរតាំងពីសេចក្តីព្រាងនេះបានចាប់ផ្តើម "
                    f"(កំណែទី {change.base_revision} -> {live.number})៖ សូមចាប់ផ្តើមសេចក្តីព្រាងថ្មី",
                )
            document["services"][index] = service
            row = await self._publish(
                session,
                document,
                by=actor.agent_id,
                note=note or f"change {change_id}",
                change_id=change_id,
            )
            change.status = ChangeStatus.PUBLISHED
            change.decided_by = actor.agent_id
            change.decided_at = self._clock()
            change.published_revision = row.number
            self._comment(session, change_id, actor, CommentKind.PUBLISH, note)
            try:
                await session.commit()
            except IntegrityError as exc:
                raise Conflict(
                    "another revision was published at the same time: try again",
                    km=SAME_TIME_KM,
                ) from exc
            log.info("knowledge.published", extra={"change": change_id, "revision": row.number})
            return row.number

    async def rollback(self, actor: Actor, number: int) -> int:
        """Publish revision ``number``'s document again (a reviewer)."""
        if not actor.reviewer:
            raise NotAllowed(
                "only the secretariat's reviewers roll back",
                km="មានតែអ្នកពិនិត្យរបស់អគ្គលេខាធិការដ្ឋានទេដែលត្រឡប់ទៅកំណែមុនបាន",
            )
        async with self._sessions() as session:
            old = await session.scalar(select(KbRevision).where(KbRevision.number == number))
            if old is None:
                raise NotFound(f"no revision {number}", km=f"មិនមានកំណែទី {number} ទេ")
            row = await self._publish(
                session,
                kbprofile.loads(old.document),
                by=actor.agent_id,
                note=f"rollback to r{number}",
                rollback_of=number,
            )
            try:
                await session.commit()
            except IntegrityError as exc:
                raise Conflict(
                    "another revision was published at the same time: try again",
                    km=SAME_TIME_KM,
                ) from exc
            log.info("knowledge.rolled_back", extra={"to": number, "revision": row.number})
            return row.number

    # --- quality -----------------------------------------------------------------------

    async def stale_facts(self, max_age_days: int) -> list[dict[str, Any]]:
        """Facts verified more than ``max_age_days`` ago, with their owner."""
        live = await self.live()
        if live is None:
            return []
        limit = self._clock().date() - dt.timedelta(days=max_age_days)
        found = []
        for service in live.document()["services"]:
            for path, fact in kbprofile.fact_paths(service):
                verified = dt.date.fromisoformat(fact["assured_date"])
                if verified < limit:
                    found.append(
                        {
                            "service": service["id"],
                            "owner": service["organization_id"],
                            "path": path,
                            "assured_date": fact["assured_date"],
                            "age_days": (self._clock().date() - verified).days,
                        }
                    )
        return found

    async def source_report(self) -> list[dict[str, Any]]:
        """Sources that facts cite and that are not official (not a .gov.kh site)."""
        live = await self.live()
        if live is None:
            return []
        found = []
        for service in live.document()["services"]:
            cited: dict[str, int] = {}
            for _, fact in kbprofile.fact_paths(service):
                cited[fact["source"]] = cited.get(fact["source"], 0) + 1
            for source in service["sources"]:
                if not is_official(source["url"]):
                    found.append(
                        {
                            "service": service["id"],
                            "owner": service["organization_id"],
                            "facts": cited.get(source["id"], 0),
                            **{k: source[k] for k in ("url", "title", "issuer", "date")},
                        }
                    )
        return found


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _text(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise Invalid(
            f"{path}: expected Khmer and English texts", km=f"{path}៖ ត្រូវការអត្ថបទខ្មែរ និងអង់គ្លេស"
        )
    found = {}
    for language in ("km", "en"):
        text = str(value.get(language) or "").strip()
        if len(text) > MAX_TEXT_CHARS:
            raise Invalid(
                f"{path}: the {language} text is too long",
                km=f"{path}៖ អត្ថបទ{LANGUAGES_KM[language]}វែងពេក",
            )
        found[language] = text
    return found


def _number_text(text: str) -> str:
    """An amount as typed, in ASCII: "35,000" and, as the Khmer console writes it,
    "៣៥.០០០" (Khmer digits: "." groups, "," is the decimal point) -> "35000"."""
    text = "".join(text.split())
    if any(c in _KHMER_DIGITS for c in text):
        return text.translate(_FROM_KHMER_DIGITS).replace(".", "").replace(",", ".")
    return text.replace(",", "")


def _amount(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(f"{path}: expected an amount", km=f"{path}៖ ត្រូវការចំនួនទឹកប្រាក់")
    raw = _number_text(str(value.get("value", "")))
    if raw.lower() in (kbprofile.AMOUNT_UNKNOWN, UNKNOWN_KM):
        return {"value": kbprofile.AMOUNT_UNKNOWN, "unit": None, "period": None}
    try:
        number: float | int = int(raw) if raw.isdigit() else float(raw)
    except ValueError as exc:
        raise Invalid(
            f"{path}: the amount is a number or 'unknown'",
            km=f"{path}៖ ចំនួនទឹកប្រាក់ត្រូវជាលេខ ឬ unknown (មិនដឹង)",
        ) from exc
    if not number > 0:
        raise Invalid(f"{path}: the amount is above 0", km=f"{path}៖ ចំនួនទឹកប្រាក់ត្រូវធំជាង ០")
    unit, period = value.get("unit"), value.get("period")
    if unit not in AMOUNT_UNITS or period not in AMOUNT_PERIODS:
        raise Invalid(
            f"{path}: choose the amount's unit and period",
            km=f"{path}៖ សូមជ្រើសរើសឯកតា និងរយៈពេលនៃចំនួនទឹកប្រាក់",
        )
    return {"value": number, "unit": unit, "period": period}


def _source_id(url: str) -> str:
    return "src-" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]


def _apply(
    service: dict[str, Any], edits: Mapping[str, Any], source: SourceInput | None, actor: Actor
) -> list[str]:
    """Change the facts in ``edits`` that differ; the changed ones cite ``source`` (added to
    the service's sources) or, without one, have none yet (publishing needs one)."""
    provenance = {"source": "", "assured_date": "", "assurer": actor.name}
    if source is not None:
        url = source.url.strip()
        entry = {
            "id": _source_id(url),
            "url": url,
            "title": source.title.strip(),
            "issuer": source.issuer.strip(),
            "date": source.date.strip(),
            "assured_date": source.verified.strip(),
            "assurer": actor.name,
        }
        service["sources"] = [s for s in service["sources"] if s["id"] != entry["id"]] + [entry]
        provenance = {
            "source": entry["id"],
            "assured_date": entry["assured_date"],
            "assurer": actor.name,
        }
    changed = []
    for path, value in edits.items():
        current = kbprofile.get_fact(service, path)
        if current is None and path not in OPTIONAL_FACTS:
            raise Invalid(
                f"no fact {path!r} in {service['id']}",
                km=f"មិនមានព័ត៌មាន {path} នៅក្នុង {service['id']} ទេ",
            )
        new = _amount(value, path) if path.endswith(".amount") else _text(value, path)
        if _value(current) == new or (current is None and not any(new.values())):
            continue
        kbprofile.set_fact(service, path, {**new, **provenance})
        changed.append(path)
    return changed


async def _change(session: AsyncSession, change_id: int, *, for_update: bool = False) -> KbChange:
    """The change, locked for an update when asked; NotFound in both languages."""
    change = await session.get(KbChange, change_id, with_for_update=for_update)
    if change is None:
        raise NotFound(f"no change {change_id}", km=f"មិនមានការកែប្រែលេខ {change_id} ទេ")
    return change
