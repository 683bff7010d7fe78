"""Cambodian phone numbers as people type them, and masked wherever they are shown.

* ``cambodian_mobile`` reads a number as typed -- Khmer digits (០-៩), spaces, dashes, dots,
  brackets, a leading 0, ``855``, ``00855`` or ``+855`` -- and gives its E.164 form
  (``+855`` and the 8 or 9 digits after the trunk 0), or None.
* ``masked`` shows only the last three digits (``+855 ••• ••• 678``). A full number never
  goes to a log, and the console shows numbers only masked.
"""

from __future__ import annotations

import re

__all__ = ["cambodian_mobile", "masked"]

COUNTRY = "855"
KHMER_DIGITS = str.maketrans("០១២៣៤៥៦៧៨៩", "0123456789")
_SEPARATORS = re.compile(r"[\s\-\.\(\)\u00a0\u200b]+")
# After the trunk 0: 8 or 9 digits, the first not 0 (0 is the trunk prefix itself).
_NATIONAL = re.compile(r"^[1-9][0-9]{7,8}$")
MASK = "•••"


def cambodian_mobile(text: str) -> str | None:
    """The E.164 form of a Cambodian number as typed, or None if it is not one."""
    raw = _SEPARATORS.sub("", text.strip().translate(KHMER_DIGITS))
    if raw.startswith("+"):
        if not raw.startswith("+" + COUNTRY):
            return None
        national = raw[1 + len(COUNTRY) :]
    elif raw.startswith("00" + COUNTRY):
        national = raw[2 + len(COUNTRY) :]
    elif raw.startswith(COUNTRY) and len(raw) >= len(COUNTRY) + 8:
        national = raw[len(COUNTRY) :]
    elif raw.startswith("00"):  # another country's international prefix
        return None
    elif raw.startswith("0"):
        national = raw[1:]
    else:
        return None
    if national.startswith("0"):  # +855 012 345 678: the trunk 0 typed after the code
        national = national[1:]
    if not _NATIONAL.match(national):
        return None
    return f"+{COUNTRY}{national}"


def masked(number: str) -> str:
    """``+855 ••• ••• 678``: enough for its owner to recognise it, no more."""
    tail = "".join(c for c in number if c.isdigit())[-3:]
    prefix = f"+{COUNTRY}" if number.startswith(f"+{COUNTRY}") else "+"
    return f"{prefix} {MASK} {MASK} {tail}"
