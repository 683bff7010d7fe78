"""Case codes a citizen can read aloud and type on a phone: ``ABC-D2F``.

Five random characters and a check character (six in all, shown in two groups of three),
from an alphabet without the look-alikes 0/O, 1/I/L. The check character (a weighted sum
modulo 31, a prime) catches every single wrong character and every swap of two neighbours,
so a mistyped code is told apart from someone else's case. Input is accepted with or without
the dash, in lower case, with Khmer digits and zero-width spaces.
"""

from __future__ import annotations

import re
import secrets

from khmer_nlu.normalize import KHMER_DIGITS, ZERO_WIDTH

__all__ = [
    "ALPHABET",
    "CodeMatch",
    "find_code",
    "format_code",
    "is_valid",
    "new_code",
    "parse_code",
]

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RANDOM_LEN = 5
CODE_LEN = RANDOM_LEN + 1
GROUP = 3
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_CHAR = f"[{ALPHABET}]"
_CODE_RE = re.compile(
    rf"(?<![A-Z0-9])({_CHAR}{{{GROUP}}})(-|\s)?({_CHAR}{{{CODE_LEN - GROUP}}})(?![A-Z0-9])"
)


def _check(body: str) -> str:
    total = sum((i + 1) * _VALUE[c] for i, c in enumerate(body))
    return ALPHABET[total % len(ALPHABET)]


def new_code() -> str:
    """A fresh code as stored (no dash): five random characters and the check."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LEN))
    return body + _check(body)


def is_valid(code: str) -> bool:
    """Six characters of the alphabet whose last one is the check of the others."""
    return (
        len(code) == CODE_LEN
        and all(c in _VALUE for c in code)
        and _check(code[:RANDOM_LEN]) == code[RANDOM_LEN]
    )


def format_code(code: str) -> str:
    """``ABCD2F`` -> ``ABC-D2F`` (how the citizen is shown it)."""
    return f"{code[:GROUP]}-{code[GROUP:]}"


def _fold(text: str) -> str:
    # not khmer_nlu's normalize: it shortens "JJJ" (emphasis in words, not in codes)
    return "".join(KHMER_DIGITS.get(c, c) for c in text if c not in ZERO_WIDTH).upper()


def parse_code(text: str) -> str | None:
    """The stored form of a code typed on its own ("abc-d2f", "ABCD2F", Khmer digits), or
    None if it is not a valid code."""
    squeezed = re.sub(r"[\s\-]", "", _fold(text))
    return squeezed if is_valid(squeezed) else None


class CodeMatch:
    """A code found in a message; ``dashed`` when written as ``ABC-D2F`` (clearly a code)."""

    __slots__ = ("code", "dashed", "valid")

    def __init__(self, code: str, dashed: bool, valid: bool) -> None:
        self.code = code
        self.dashed = dashed
        self.valid = valid


def find_code(text: str) -> CodeMatch | None:
    """The first valid code in ``text``; else the first written with a dash (clearly meant
    as a code, mistyped); else None (a word such as "status" is not a code)."""
    found = [
        CodeMatch(m.group(1) + m.group(3), m.group(2) == "-", is_valid(m.group(1) + m.group(3)))
        for m in _CODE_RE.finditer(_fold(text))
    ]
    return next((m for m in found if m.valid), None) or next((m for m in found if m.dashed), None)
