"""Server-rendered HTML that cannot forget to escape: every value passed to ``h()`` is
escaped unless it is already ``Markup`` (built by ``h()`` itself). Citizens' words, names
and summaries therefore reach the page as text, never as markup."""

from __future__ import annotations

import html
from collections.abc import Iterable

__all__ = ["Markup", "h", "join"]


class Markup(str):
    """A fragment of HTML that is already safe (only ``h`` and ``join`` make one)."""

    __slots__ = ()


def _escape(value: object) -> str:
    if isinstance(value, Markup):
        return value
    return html.escape("" if value is None else str(value), quote=True)


def h(template: str, /, **values: object) -> Markup:
    """Fill a literal template; the values are escaped (attributes and text alike)."""
    return Markup(template.format(**{key: _escape(v) for key, v in values.items()}))


def join(parts: Iterable[Markup], separator: str = "") -> Markup:
    """Concatenate safe fragments."""
    return Markup(separator.join(_escape(p) for p in parts))
