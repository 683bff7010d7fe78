"""Feedback and grievance cases: filed in chat or by an agent, tracked to resolution."""

from bot.cases._tables import Case, CaseEvent, CaseEventKind, CaseKind, CaseStatus, CaseTopic

__all__ = ["Case", "CaseEvent", "CaseEventKind", "CaseKind", "CaseStatus", "CaseTopic"]
