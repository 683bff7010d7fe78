"""The case service: commands (state changes) and queries (reads) over one core."""

from __future__ import annotations

from ._commands import CaseCommands
from ._queries import CaseQueries

__all__ = ["CaseService"]


class CaseService(CaseCommands, CaseQueries):
    """Every case operation; the console, the chat desk and the timers call it."""
