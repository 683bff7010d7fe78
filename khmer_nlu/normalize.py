"""Khmer text normalisation that keeps a map back to the original characters.

Citizens type the same Khmer word in several byte sequences: with or without zero-width
spaces between words, Khmer or Arabic digits, the subscript ដ or ត (which look alike),
composite vowels typed in two keystrokes, signs typed in the wrong order, and the three
spellings of ឲ្យ. The NLU must see one form, while token offsets must still point into the
text the citizen wrote (Rasa uses them for entities), so every output character remembers the
span of input it came from.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
KHMER_DIGITS = {chr(0x17E0 + i): str(i) for i in range(10)}
COENG = "\u17d2"

# (typed sequence, canonical sequence), longest first where they overlap.
SEQUENCE_FIXES: tuple[tuple[str, str], ...] = (
    (COENG + "\u178a", COENG + "\u178f"),  # subscript DA -> subscript TA: ស្ដី / ស្តី
    ("\u17c1\u17b8", "\u17be"),  # េ + ី -> ើ
    ("\u17c1\u17b6", "\u17c4"),  # េ + ា -> ោ
    ("\u17c6\u17b6", "\u17b6\u17c6"),  # ំ + ា -> ាំ (nikahit typed before the vowel)
    ("\u17c6\u17bb", "\u17bb\u17c6"),  # ំ + ុ -> ុំ (the same, as in ខ្ញុំ)
    # "give / for" has three spellings in everyday use: ឲ្យ, ឱ្យ and the misspelt អោយ.
    ("\u17b1\u17d2\u1799", "\u17b2\u17d2\u1799"),  # ឱ្យ -> ឲ្យ
    ("\u17a2\u17c4\u1799", "\u17b2\u17d2\u1799"),  # អោយ -> ឲ្យ
)
MAX_REPEAT = 2  # "អរគុណណណណ", "thanksssss": three or more of a letter are emphasis


@dataclass(frozen=True)
class Normalized:
    """Normalised text plus, for each of its characters, the [start, end) span in the input."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the normalised text back to the original text."""
        return self.starts[start], self.ends[end - 1]


def _fold(char: str) -> str:
    """Normalise one character on its own (digits, compatibility forms)."""
    if char in KHMER_DIGITS:
        return KHMER_DIGITS[char]
    return unicodedata.normalize("NFKC", char)


def normalize_with_offsets(text: str) -> Normalized:
    """Return `text` normalised for matching, with a character map to the original."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in ZERO_WIDTH:
            i += 1
            continue
        for typed, canonical in SEQUENCE_FIXES:
            if text.startswith(typed, i):
                replacement, width = canonical, len(typed)
                break
        else:
            replacement, width = _fold(char), 1
        for piece in replacement:
            if len(out) >= MAX_REPEAT and out[-1] == out[-2] == piece and piece.isalpha():
                ends[-1] = i + width  # swallow the repeat into the previous character
                continue
            out.append(piece)
            starts.append(i)
            ends.append(i + width)
        i += width
    return Normalized("".join(out), tuple(starts), tuple(ends))


def normalize(text: str) -> str:
    """Return `text` normalised for matching (see module docstring)."""
    return normalize_with_offsets(text).text
