"""Phrases in a citizen's message, on word boundaries where the gateway can see them.

``khmer_nlu.match.PhraseMatcher`` cuts Khmer at the segmenter's word boundaries; it needs
``regex`` and ``khmercut``, which the Rasa side has and the gateway's venv may not. Without
them a Khmer phrase must start and end on a character-cluster boundary (so វាយ "hit" is not
found inside ស្វាយ, where it follows a subscript), after the same normalisation (zero-width
spaces, Khmer digits, variant spellings); Latin phrases match as whole words either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from khmer_nlu.graphemes import is_boundary
from khmer_nlu.normalize import normalize

__all__ = ["Phrases", "fold"]

_SPACES = re.compile(r"\s+")
_KHMER = re.compile("[\u1780-\u17ff\u19e0-\u19ff]")


def fold(text: str) -> str:
    """Normalised, lower case, single spaces (both sides are compared in this form)."""
    return _SPACES.sub(" ", normalize(text)).strip().casefold()


class _Matcher(Protocol):
    def matches(self, text: str) -> bool: ...


class _ClusterMatcher:
    def __init__(self, phrases: Iterable[str]) -> None:
        self._khmer: list[str] = []
        self._latin: list[re.Pattern[str]] = []
        for phrase in phrases:
            folded = fold(phrase)
            if not folded:
                continue
            if _KHMER.search(folded):
                self._khmer.append(folded.replace(" ", ""))
            else:
                words = r"\s+".join(re.escape(w) for w in folded.split())
                self._latin.append(re.compile(rf"(?<!\w){words}(?!\w)"))

    def matches(self, text: str) -> bool:
        folded = fold(text)
        if any(p.search(folded) for p in self._latin):
            return True
        squeezed = folded.replace(" ", "")
        for key in self._khmer:
            start = squeezed.find(key)
            while start != -1:
                end = start + len(key)
                if is_boundary(squeezed, start) and is_boundary(squeezed, end):
                    return True
                start = squeezed.find(key, start + 1)
        return False


class Phrases:
    """Whether any of ``phrases`` occurs in a text (segmenter boundaries when available)."""

    def __init__(self, phrases: Iterable[str]) -> None:
        listed = list(phrases)
        try:
            from khmer_nlu.match import PhraseMatcher
        except ImportError:  # the gateway's venv without regex/khmercut
            self._impl: _Matcher = _ClusterMatcher(listed)
        else:
            self._impl = PhraseMatcher(listed)

    def matches(self, text: str) -> bool:
        return self._impl.matches(text)
