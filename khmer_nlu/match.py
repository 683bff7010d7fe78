"""Find keywords and phrases in a citizen's message on word boundaries, in Khmer and English.

Khmer has no spaces between words, so ``keyword in text`` matches inside other words: the
abuse keyword វាយ ("hit") is inside ស្វាយ (Svay, a province) and ការវាយតម្លៃ ("rating").
A Khmer phrase here matches only where it starts and ends on a word boundary given by the
segmenter (khmer_nlu.segment), after the same normalisation on both sides (zero-width
spaces, Khmer digits, variant spellings); the spaces people put between some Khmer words
count as boundaries too, and are ignored inside a phrase ("មិនទាន់ ទទួល" = "មិនទាន់ទទួល").
Latin phrases match as whole words ("hit" is not in "white").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import regex

from khmer_nlu.normalize import normalize
from khmer_nlu.segment import split_words

__all__ = ["PhraseMatcher", "fold_for_matching"]

_KHMER = regex.compile(r"[\u1780-\u17ff\u19e0-\u19ff]")
_SPACES = regex.compile(r"\s+")
_WORD_CHAR = r"[\p{L}\p{M}\p{N}]"


def fold_for_matching(text: str) -> str:
    """Normalised Khmer, lower case, single spaces: the form both sides are compared in."""
    return _SPACES.sub(" ", normalize(text)).strip().casefold()


@dataclass(frozen=True)
class _Squeezed:
    """Folded text without spaces, the positions in it where a word starts or ends, and
    where each of its characters is in the folded text."""

    text: str
    boundaries: frozenset[int]
    origin: tuple[int, ...]


def _squeeze(folded: str) -> _Squeezed:
    chars: list[str] = []
    origin: list[int] = []
    edges: set[int] = {0}
    for index, char in enumerate(folded):
        if char.isspace():
            edges.add(len(chars))
        else:
            chars.append(char)
            origin.append(index)
    squeezed = "".join(chars)
    edges.add(len(squeezed))
    for word in split_words(squeezed):
        edges.add(word.start)
        edges.add(word.end)
    return _Squeezed(squeezed, frozenset(edges), tuple(origin))


class PhraseMatcher:
    """The phrases of a list that occur in a text as whole words, in the list's order."""

    def __init__(
        self, phrases: Iterable[str], fold: Callable[[str], str] = fold_for_matching
    ) -> None:
        self._fold = fold
        self._khmer: list[tuple[str, str]] = []  # (phrase as given, squeezed folded form)
        self._latin: list[tuple[str, regex.Pattern[str]]] = []
        self._order: dict[str, int] = {}
        for phrase in phrases:
            folded = fold(phrase)
            if not folded or phrase in self._order:
                continue
            self._order[phrase] = len(self._order)
            if _KHMER.search(folded):
                self._khmer.append((phrase, folded.replace(" ", "")))
            else:
                words = r"\s+".join(regex.escape(w) for w in folded.split())
                pattern = regex.compile(rf"(?<!{_WORD_CHAR}){words}(?!{_WORD_CHAR})")
                self._latin.append((phrase, pattern))

    def __bool__(self) -> bool:
        return bool(self._order)

    def mask(self, text: str) -> str:
        """``text`` folded, with every occurrence of a phrase replaced by a space: a place
        name such as ដំរីស្លាប់ (Damrei Slab, "dead elephant") must not be read as ស្លាប់
        ("dying") by a later match."""
        folded = self._fold(text)
        cut: list[tuple[int, int]] = []
        for _phrase, pattern in self._latin:
            cut.extend(match.span() for match in pattern.finditer(folded))
        if self._khmer and _KHMER.search(folded):
            squeezed = _squeeze(folded)
            for _phrase, key in self._khmer:
                for start in _occurrences(key, squeezed):
                    end = start + len(key)
                    cut.append((squeezed.origin[start], squeezed.origin[end - 1] + 1))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(cut):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        for start, end in reversed(merged):
            folded = folded[:start] + " " + folded[end:]
        return folded

    def found(self, text: str) -> list[str]:
        """Every phrase that occurs in ``text`` on word boundaries, in the list's order."""
        folded = self._fold(text)
        hits = [phrase for phrase, pattern in self._latin if pattern.search(folded)]
        if self._khmer and _KHMER.search(folded):
            squeezed = _squeeze(folded)
            hits.extend(phrase for phrase, key in self._khmer if _occurs(key, squeezed))
        return sorted(hits, key=self._order.__getitem__)

    def first(self, text: str) -> str | None:
        """The earliest-listed phrase that occurs in ``text``, or None."""
        hits = self.found(text)
        return hits[0] if hits else None

    def matches(self, text: str) -> bool:
        """Whether any phrase occurs in ``text`` on word boundaries."""
        return bool(self.found(text))


def _occurrences(key: str, squeezed: _Squeezed) -> list[int]:
    """Where ``key`` starts and ends on word boundaries (not overlapping: leftmost first)."""
    found: list[int] = []
    start = squeezed.text.find(key)
    while start != -1:
        end = start + len(key)
        if start in squeezed.boundaries and end in squeezed.boundaries:
            found.append(start)
            start = squeezed.text.find(key, end)
        else:
            start = squeezed.text.find(key, start + 1)
    return found


def _occurs(key: str, squeezed: _Squeezed) -> bool:
    return bool(_occurrences(key, squeezed))
