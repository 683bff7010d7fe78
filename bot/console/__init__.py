"""The agent console served by the gateway under /console: login, the queue, conversations,
the supervisor view and administration (organisations, agents), live over server-sent events.

Public surface::

    from bot.console import setup_console   # called by create_app
    # for other admin pages in the console's layout (bot/training):
    from bot.console import html_response, page_context, request_fields, wants_json
"""

from __future__ import annotations

from ._routes import (
    ConsoleState,
    html_response,
    page_context,
    request_fields,
    setup_console,
    wants_json,
)

__all__ = [
    "ConsoleState",
    "html_response",
    "page_context",
    "request_fields",
    "setup_console",
    "wants_json",
]
