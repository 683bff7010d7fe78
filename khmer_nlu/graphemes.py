"""Cut text only between grapheme clusters, with Khmer's stacked consonants kept whole.

A Khmer syllable such as ស្រ្តី is one letter, the coeng sign (U+17D2) and a subscript
consonant, vowel signs and diacritics: cut after the coeng and the reader sees a dangling
subscript. Unicode's default extended grapheme clusters (UAX #29) break between a coeng and
the consonant after it (Khmer has no Indic_Conjunct_Break property), so this module adds
that rule to the default ones that matter in chat text: never before a combining mark or a
joiner, never after a coeng or a zero-width joiner, never inside CR LF or an emoji skin tone.

Standard library only: the gateway (bot/, Python 3.11) imports it as well as the actions.
"""

from __future__ import annotations

import unicodedata

__all__ = ["ELLIPSIS", "is_boundary", "last_boundary", "shorten"]

COENG = "\u17d2"
ZWJ = "\u200d"
ELLIPSIS = "…"
_MARKS = frozenset({"Mn", "Mc", "Me"})
_SKIN_TONES = range(0x1F3FB, 0x1F400)


def is_boundary(text: str, index: int) -> bool:
    """Whether ``text`` may be cut before ``text[index]`` (both ends always may)."""
    if index <= 0 or index >= len(text):
        return True
    before, after = text[index - 1], text[index]
    if before in (COENG, ZWJ) or after == ZWJ:
        return False
    if before == "\r" and after == "\n":
        return False
    if ord(after) in _SKIN_TONES:
        return False
    return unicodedata.category(after) not in _MARKS


def last_boundary(text: str, limit: int) -> int:
    """The largest cut position <= ``limit`` that does not split a cluster (0 if none)."""
    position = min(max(limit, 0), len(text))
    while position > 0 and not is_boundary(text, position):
        position -= 1
    return position


def shorten(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """``text`` if it fits in ``limit`` characters, else its start cut on a cluster boundary
    with ``ellipsis`` added (the result, ellipsis included, fits in ``limit``)."""
    if len(text) <= limit:
        return text
    cut = last_boundary(text, limit - len(ellipsis))
    return text[:cut].rstrip() + ellipsis
