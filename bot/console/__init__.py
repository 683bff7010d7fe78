"""The agent console served by the gateway under /console: login, the queue, conversations,
the supervisor view and administration (organisations, agents), live over server-sent events.

Public surface::

    from bot.console import setup_console   # called by create_app
"""

from __future__ import annotations

from ._routes import ConsoleState, setup_console

__all__ = ["ConsoleState", "setup_console"]
