"""The tables of feedback and grievance cases (issue #16).

A case is what a citizen (or a CSO agent on their behalf) reported: a question, a complaint,
a suggestion or praise, tracked from ``new`` to ``closed``. The dashboard counts these rows;
only the columns documented here are read outside ``bot.cases``.

``description`` is the citizen's own words: it never leaves the console (exports, public
pages and logs use only the coded columns). An anonymous case has no ``chat_id``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage._db import Base, utcnow

__all__ = [
    "Case",
    "CaseDraft",
    "CaseEvent",
    "CaseEventKind",
    "CaseKind",
    "CaseStatus",
    "CaseTopic",
]

CODE_LEN = 12
KIND_LEN = 16
TOPIC_LEN = 32
PROGRAMME_LEN = 64
CHANNEL_LEN = 16
PROVINCE_LEN = 2
DISTRICT_LEN = 4
COMMUNE_LEN = 6


class CaseKind(StrEnum):
    """What the citizen gives."""

    QUESTION = "question"
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"
    PRAISE = "praise"


class CaseTopic(StrEnum):
    """What it is about; the first three are urgent complaints."""

    MONEY_DEMAND = "money_demand"  # someone asked the citizen for money
    ABUSE = "abuse"
    MISSING_PAYMENT = "missing_payment"
    ELIGIBILITY = "eligibility"
    SERVICE = "service"  # how a service point or staff treated the citizen
    INFORMATION = "information"
    OTHER = "other"


class CaseStatus(StrEnum):
    """The lifecycle: new → assigned → in progress → referred → resolved → closed (reopened)."""

    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    REFERRED = "referred"  # to a ministry focal point
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


class CaseEventKind(StrEnum):
    """One line of a case's audit log."""

    CREATED = "created"
    STATUS = "status"
    ASSIGNED = "assigned"
    REFERRED = "referred"
    NOTE = "note"  # internal, never shown to the citizen
    REPLY = "reply"  # a message sent to the citizen
    ESCALATED = "escalated"
    CITIZEN = "citizen"  # the citizen confirmed, denied or reopened


class Case(Base):
    """One piece of feedback or grievance; the columns the dashboard reads are all coded."""

    __tablename__ = "gw_cases"
    __table_args__ = (
        Index("ix_gw_cases_status_org", "status", "organisation_id"),
        Index("ix_gw_cases_created_at", "created_at"),
        Index("ix_gw_cases_due_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LEN), unique=True)
    kind: Mapped[str] = mapped_column(String(KIND_LEN))
    topic: Mapped[str] = mapped_column(String(TOPIC_LEN), default=CaseTopic.OTHER)
    programme: Mapped[str | None] = mapped_column(String(PROGRAMME_LEN), nullable=True)
    status: Mapped[str] = mapped_column(String(KIND_LEN), default=CaseStatus.NEW)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    # telegram, messenger, webchat, or agent (filed by a CSO agent on a citizen's behalf)
    channel: Mapped[str] = mapped_column(String(CHANNEL_LEN))
    language: Mapped[str] = mapped_column(String(8), default="km")
    province_code: Mapped[str | None] = mapped_column(String(PROVINCE_LEN), nullable=True)
    district_code: Mapped[str | None] = mapped_column(String(DISTRICT_LEN), nullable=True)
    commune_code: Mapped[str | None] = mapped_column(String(COMMUNE_LEN), nullable=True)
    # gw_chats.id; NULL when anonymous or filed by an agent without a chat
    chat_id: Mapped[int | None] = mapped_column(ForeignKey("gw_chats.id"), nullable=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("gw_organisations.id"), nullable=True
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("gw_agents.id"), nullable=True)
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("gw_agents.id"), nullable=True)
    # 0 none, 1 the supervisor, 2 the secretariat
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(Text, default="")  # never leaves the console
    audio_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    resolved_confirmed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # the ministry (or other organisation) a case was referred to; it sees the case too
    referred_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("gw_organisations.id"), nullable=True
    )
    # when "was this resolved?" was asked (once per resolution)
    followed_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CaseEvent(Base):
    """The audit log: every change to a case, who made it and why."""

    __tablename__ = "gw_case_events"
    __table_args__ = (Index("ix_gw_case_events_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("gw_cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(KIND_LEN))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("gw_agents.id"), nullable=True)
    from_status: Mapped[str | None] = mapped_column(String(KIND_LEN), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(KIND_LEN), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CaseDraft(Base):
    """A feedback form being filled in chat: what the citizen said so far (one per chat;
    gw_chats.case_step says which question was asked last)."""

    __tablename__ = "gw_case_drafts"

    chat_id: Mapped[int] = mapped_column(
        ForeignKey("gw_chats.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
