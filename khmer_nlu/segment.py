"""Split text into words: Khmer runs by a word segmenter, everything else on spaces.

Khmer is written without spaces between words, so Rasa's WhitespaceTokenizer sees a whole
phrase as one token. Runs of Khmer letters are segmented with khmercut (a CRF, word F1 0.93
on khPOS; see ../shared/research/khmer-nlu.md and bench/nlu_bench.py for the comparison with
the ICU dictionary breaker). Text is normalised first (khmer_nlu.normalize), so a message with
zero-width spaces, Khmer digits or a variant spelling gives the same words as without.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import regex

from khmer_nlu.normalize import normalize_with_offsets

# Khmer letters, signs and the two archaic vowels; not punctuation (U+17D4-U+17DA) or ៛.
_KHMER_RUN = regex.compile(r"[\u1780-\u17d3\u17dc\u17dd]+")
# Words outside Khmer runs: letters and digits, keeping 10.000 / 3,5 / e-mail / it's together.
_OTHER_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+(?:[.,'’@_-][\p{L}\p{M}\p{N}]+)*")

Segmenter = Callable[[str], list[str]]


@dataclass(frozen=True)
class Word:
    """A word in normalised form with its [start, end) span in the original text."""

    text: str
    start: int
    end: int


@lru_cache(maxsize=4)
def get_segmenter(name: str) -> Segmenter:
    """Return the Khmer segmenter `name`: khmercut (default), khmer-nltk, icu or none.

    khmer-nltk and icu are optional (requirements/bench.txt), for bench/nlu_bench.py.
    """
    if name == "khmercut":
        from khmercut import tokenize

        return tokenize
    if name == "khmer-nltk":
        from khmernltk import word_tokenize  # type: ignore[import-not-found]

        return word_tokenize  # type: ignore[no-any-return]
    if name == "icu":
        from icu4py.breakers import WordBreaker  # type: ignore[import-not-found]
        from icu4py.locale import Locale  # type: ignore[import-not-found]

        khmer = Locale("km")

        def icu_segment(run: str) -> list[str]:
            return [w for w in WordBreaker(run, khmer) if w.strip()]

        return icu_segment
    if name == "none":  # Rasa's behaviour: a run of Khmer is one token
        return lambda run: [run]
    raise ValueError(f"unknown Khmer segmenter {name!r}: use khmercut, khmer-nltk, icu or none")


def _split_run(run: str, segmenter: Segmenter) -> list[tuple[int, int]]:
    """Segment one Khmer run; return [start, end) offsets inside it.

    A segmenter that drops or changes characters would shift every later offset, so its
    pieces are located in the run; anything it lost stays inside the neighbouring word.
    """
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in segmenter(run):
        found = run.find(piece, cursor) if piece else -1
        if found < 0:
            continue
        if spans and found > spans[-1][1]:
            spans[-1] = (spans[-1][0], found)  # glue skipped characters to the previous word
        elif not spans and found > 0:
            found = 0
        spans.append((found, found + len(piece)))
        cursor = found + len(piece)
    if not spans:
        return [(0, len(run))]
    if spans[-1][1] < len(run):
        spans[-1] = (spans[-1][0], len(run))
    return spans


def split_words(text: str, segmenter: str = "khmercut") -> list[Word]:
    """Return the words of `text`, normalised, with offsets into the original `text`."""
    norm = normalize_with_offsets(text)
    segment = get_segmenter(segmenter)
    found: list[tuple[int, int]] = []
    for match in _KHMER_RUN.finditer(norm.text):
        base = match.start()
        found.extend((base + s, base + e) for s, e in _split_run(match.group(), segment))
    for match in _OTHER_WORD.finditer(norm.text):
        found.extend(_split_other(norm.text, match.start(), match.end()))
    found.sort()
    words = []
    for start, end in found:
        original_start, original_end = norm.span(start, end)
        words.append(Word(norm.text[start:end], original_start, original_end))
    return words


def _split_other(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of a non-Khmer word, leaving out any Khmer runs inside it ("NSSFបាត់")."""
    spans = []
    cursor = start
    for match in _KHMER_RUN.finditer(text, start, end):
        if match.start() > cursor:
            spans.append((cursor, match.start()))
        cursor = match.end()
    if cursor < end:
        spans.append((cursor, end))
    return spans
