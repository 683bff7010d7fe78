"""Jinja2 for every console page: autoescaping on, undefined names an error, templates
loaded once per console (one Environment), words and URLs as globals.

Globals and filters a template can use:

* ``t(key, **values)``: a console label in the page's language (``lang``)
* ``word(kind, value)``: a stored value in words (``word("reason", "voice_note")``)
* ``url(name, **parts)``: the path of a named route (``url("handoff:conversation", id=3)``)
* ``|when``: a time in Asia/Phnom_Penh; ``|duration``: 5 min, 2 h 10 min; ``|lang_of``:
  the language of a text for ``lang=""`` attributes; ``|json``: JSON with Khmer kept
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    ChoiceLoader,
    Environment,
    PackageLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from ..channels._texts import detect_language
from ._labels import label, word

__all__ = ["PHNOM_PENH", "build_environment", "duration", "local_time"]

PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")
MINUTE_S = 60
HOUR_S = 3600


def duration(seconds: float) -> str:
    """12 s / 5 min / 2 h 10 min: waiting times as people read them."""
    if seconds < MINUTE_S:
        return f"{int(seconds)} s"
    if seconds < HOUR_S:
        return f"{int(seconds // MINUTE_S)} min"
    return f"{int(seconds // HOUR_S)} h {int(seconds % HOUR_S // MINUTE_S)} min"


def local_time(at: datetime | None) -> str:
    """A stored (UTC) time as people in Cambodia read it."""
    if at is None:
        return "–"
    aware = at if at.tzinfo else at.replace(tzinfo=ZoneInfo("UTC"))
    return aware.astimezone(PHNOM_PENH).strftime("%Y-%m-%d %H:%M")


def _json(value: Any) -> str:
    """JSON as people read it (Khmer stays Khmer; autoescaping makes it safe)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _lang_of(text: str) -> str:
    return detect_language(str(text)) or "und"


@pass_context
def _t(ctx: Context, key: str, **values: Any) -> str:
    return label(key, ctx["lang"], **{k: str(v) for k, v in values.items()})


@pass_context
def _word(ctx: Context, kind: str, value: Any) -> str:
    return word(kind, None if value is None else str(value), ctx["lang"])


def build_environment(packages: Iterable[str], url: Callable[..., str]) -> Environment:
    """One Environment for the console and its features' template folders."""
    env = Environment(
        loader=ChoiceLoader([PackageLoader(p, "templates") for p in packages]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.update(t=_t, word=_word, url=url)
    env.filters.update(when=local_time, duration=duration, lang_of=_lang_of, json=_json)
    return env
