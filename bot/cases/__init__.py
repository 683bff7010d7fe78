"""Feedback and grievance cases: filed in chat or by an agent, tracked to resolution.

Public surface::

    from bot.cases import CaseService, NewCase, FeedbackDesk, CASES
"""

from bot.cases._codes import find_code, format_code, new_code, parse_code
from bot.cases._commands import NewCase
from bot.cases._config import CasesConfig, load_config
from bot.cases._core import CaseView, EventView
from bot.cases._desk import FeedbackDesk
from bot.cases._keys import CASE_TIMER, CASES
from bot.cases._service import CaseService
from bot.cases._tables import (
    Case,
    CaseDraft,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseStatus,
    CaseTopic,
)
from bot.cases._wiring import make_cases, run_case_timer

__all__ = [
    "CASES",
    "CASE_TIMER",
    "Case",
    "CaseDraft",
    "CaseEvent",
    "CaseEventKind",
    "CaseKind",
    "CaseService",
    "CaseStatus",
    "CaseTopic",
    "CaseView",
    "CasesConfig",
    "EventView",
    "FeedbackDesk",
    "NewCase",
    "find_code",
    "format_code",
    "load_config",
    "make_cases",
    "new_code",
    "parse_code",
    "run_case_timer",
]
