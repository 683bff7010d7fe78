"""Small text helpers shared by the actions: matching forms, numbers and dates per language.

Matching uses khmer_nlu's normalisation (zero-width spaces, Khmer digits, variant spellings),
the same one the NLU pipeline applies, so the actions see what the NLU saw.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from kbprofile import format_number as format_number  # one format: answers and catalogue
from khmer_nlu.normalize import normalize

KHMER = "km"
ENGLISH = "en"
LANGUAGES = (KHMER, ENGLISH)

_TO_KHMER_DIGITS = str.maketrans("0123456789", "០១២៣៤៥៦៧៨៩")
_LATIN_ACCENTS = re.compile("[\u0300-\u036f]")  # only Latin combining marks: Khmer signs stay
_SPACES = re.compile(r"\s+")

_MONTHS = {
    ENGLISH: "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
    KHMER: "មករា កុម្ភៈ មីនា មេសា ឧសភា មិថុនា កក្កដា សីហា កញ្ញា តុលា វិច្ឆិកា ធ្នូ".split(),
}
_APPROXIMATE = {ENGLISH: "about {date}", KHMER: "ប្រហែល {date}"}
_UNDATED_WORD = "undated"
_UNDATED = {ENGLISH: "undated", KHMER: "គ្មានកាលបរិច្ឆេទ"}
_DATE = re.compile(r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?")
_MONTHS_IN_YEAR = 12
_DAYS_IN_MONTH = 31
_URL_PREFIXES = ("www.", "m.", "mail.")


def fold(text: str) -> str:
    """Return `text` in one comparable form: normalised Khmer, lower case, no Latin accents."""
    text = unicodedata.normalize("NFKD", normalize(text))
    text = unicodedata.normalize("NFC", _LATIN_ACCENTS.sub("", text))
    return _SPACES.sub(" ", text).strip().casefold()


def to_khmer_digits(text: str) -> str:
    """Write the ASCII digits of `text` as Khmer digits."""
    return text.translate(_TO_KHMER_DIGITS)


def format_date(date: str, language: str) -> str:
    """Format an ISO date, a year-month, a year, "~" for approximate, or "undated"."""
    if date == _UNDATED_WORD:
        return _UNDATED[language]
    approximate = date.startswith("~")
    match = _DATE.fullmatch(date.lstrip("~"))
    month = int(match["month"]) if match and match["month"] else None
    day = int(match["day"]) if match and match["day"] else None
    if (
        match is None
        or (month is not None and not 1 <= month <= _MONTHS_IN_YEAR)
        or (day is not None and not 1 <= day <= _DAYS_IN_MONTH)
    ):
        raise ValueError(f"not a date: {date!r} (use YYYY-MM-DD, YYYY-MM, YYYY or undated)")
    parts = [match["year"]]
    if month is not None:
        parts.insert(0, _MONTHS[language][month - 1])
    if day is not None:
        parts.insert(0, str(day))
    text = " ".join(parts)
    if language == KHMER:
        text = to_khmer_digits(text)
    return _APPROXIMATE[language].format(date=text) if approximate else text


def domain_of(url: str) -> str:
    """The site a source is on, as a citizen would type it (nssf.gov.kh)."""
    host = urlsplit(url).hostname or url
    for prefix in _URL_PREFIXES:
        if host.startswith(prefix):
            return host[len(prefix) :]
    return host
