"""The agent console under /console: one aiohttp sub-application with a nested
sub-application per feature, one middleware (login, CSRF, roles, refusals, security headers)
and Jinja2 templates in Khmer and English.

Public surface::

    from bot.console import setup_console, ConsoleFeature   # create_app: the console + features
    # a feature's handlers:
    from bot.console import render, fields, payload, done, viewer, wants_json, CONSOLE
"""

from __future__ import annotations

from ._canned import LIVE_CATALOGUE, LiveCatalogue
from ._features import ConsoleFeature, FeatureRoutes, MenuEntry
from ._labels import label, word
from ._middleware import SECURITY_HEADERS, refusal_status
from ._routes import Console, setup_console
from ._web import (
    CONSOLE,
    ConsoleState,
    done,
    fields,
    number,
    path_id,
    payload,
    render,
    state,
    ui_language,
    viewer,
    wants_json,
)

__all__ = [
    "CONSOLE",
    "LIVE_CATALOGUE",
    "SECURITY_HEADERS",
    "Console",
    "ConsoleFeature",
    "ConsoleState",
    "FeatureRoutes",
    "LiveCatalogue",
    "MenuEntry",
    "done",
    "fields",
    "label",
    "number",
    "path_id",
    "payload",
    "refusal_status",
    "render",
    "setup_console",
    "state",
    "ui_language",
    "viewer",
    "wants_json",
    "word",
]
