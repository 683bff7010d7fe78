"""The knowledge base's tables (migration 0007): published revisions of the whole
catalogue, changes (drafts of one programme) with their comments, and edit locks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..storage._db import NAME_LEN, SLUG_LEN, Base, utcnow

__all__ = ["ChangeStatus", "CommentKind", "KbChange", "KbComment", "KbLock", "KbRevision"]

ETAG_LEN = 40
STATUS_LEN = 16


class ChangeStatus(StrEnum):
    """draft -> in_review -> published; a reviewer sends it back to draft (rejected)."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class CommentKind(StrEnum):
    """A comment, or the note that goes with a decision."""

    COMMENT = "comment"
    SUBMIT = "submit"
    REJECT = "reject"
    PUBLISH = "publish"


class KbRevision(Base):
    """One published catalogue (the HSDS profile document's canonical text); the live
    revision is the one with the highest number. Never changed or deleted."""

    __tablename__ = "gw_kb_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    document: Mapped[str] = mapped_column(Text)
    etag: Mapped[str] = mapped_column(String(ETAG_LEN))
    note: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    published_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: import
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    change_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rollback_of: Mapped[int | None] = mapped_column(Integer, nullable=True)


class KbChange(Base):
    """A proposed change to one programme (service): the edited service as JSON, the live
    service it started from (for the diff and the stale check) and ``version``, which every
    save increments (optimistic concurrency: a save from an older page is refused)."""

    __tablename__ = "gw_kb_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[str] = mapped_column(String(SLUG_LEN), index=True)
    status: Mapped[str] = mapped_column(String(STATUS_LEN), default=ChangeStatus.DRAFT)
    service: Mapped[str] = mapped_column(Text)
    base_service: Mapped[str] = mapped_column(Text)
    base_revision: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int] = mapped_column(Integer)
    suggestion: Mapped[bool] = mapped_column(Boolean, default=False)  # from a CSO
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    published_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)


class KbComment(Base):
    """A comment on a change, or the note of a submit, reject or publish."""

    __tablename__ = "gw_kb_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(Integer, index=True)
    agent_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(STATUS_LEN), default=CommentKind.COMMENT)
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KbLock(Base):
    """Who is editing a programme, until when (taken when a draft is opened or saved)."""

    __tablename__ = "gw_kb_locks"

    service_id: Mapped[str] = mapped_column(String(SLUG_LEN), primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer)
    change_id: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
