"""Grouping key and masking for citizens' messages in the review queue.

Citizens write the same question with and without zero-width spaces, with Khmer or Arabic
digits, in upper or lower case, with trailing "??". The queue groups those together, so the
key is a normalised form. (The NLU's normaliser, khmer_nlu, lives in the Rasa environment
and needs packages the gateway does not have; this is the small part that matters for
grouping.) Before anything is shown or stored, phone numbers (bot._logging's redaction) and
names people give for themselves are masked: the queue is read by people outside the
conversation, and annotated examples end up in git.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from .._logging import redact

__all__ = ["NAME_MASK", "group_key", "key_hash", "mask", "normalise"]

NAME_MASK = "[name]"
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
KHMER_DIGITS = {0x17E0 + i: str(i) for i in range(10)}
COENG_DA = "\u17d2\u178a"  # subscript DA, often typed for subscript TA (they look alike)
COENG_TA = "\u17d2\u178f"
_KHMER = "\u1780-\u17d3\u17dc\u17dd"  # letters, vowels and signs: not ។ ៕ ៖ nor digits
MAX_SECOND_NAME_CHARS = 8  # "សុខ ដារា": a second short word is the given name
# Spaces between two Khmer characters carry no meaning (Khmer has no word spaces).
_KHMER_GAP = re.compile(rf"(?<=[{_KHMER}])\s+(?=[{_KHMER}])")
_SPACES = re.compile(r"\s+")
# Punctuation at either end ("??", "!!", "។ ៕"), but not Khmer vowel signs (which Python
# does not count as word characters) nor the brackets of a mask.
_EDGE = rf"(?:[^\w{_KHMER}\[\]]|_)+"
_EDGE_PUNCT = re.compile(rf"^{_EDGE}|{_EDGE}$")
_REPEATS = re.compile(r"(\w)\1{2,}")  # "pleaseeee", "អរគុណណណ": emphasis, not meaning
# "my name is Sok Dara": the first word always, a second one when capitalised.
_EN_NAME = re.compile(
    r"\b((?i:my name is|my name's|i am called|i'm called|name\s*:))\s+"
    r"([^\W\d_][\w'-]*(?:\s+[A-Z][\w'-]*)?)"
)
# "ខ្ញុំឈ្មោះ សុខ ដារា", "ឈ្មោះខ្ញុំគឺ ដារា"; never "ចុះឈ្មោះ" (to register) or "មានឈ្មោះ".
_KM_NAME = re.compile(
    rf"((?:ខ្ញុំ\s*(?:បាទ\s*)?ឈ្មោះ|ឈ្មោះ\s*ខ្ញុំ\s*(?:គឺ|ជា)?)\s*)"
    rf"([{_KHMER}]+(?:\s+[{_KHMER}]{{1,{MAX_SECOND_NAME_CHARS}}}(?![{_KHMER}]))?)"
)


def mask(text: str) -> str:
    """The text with phone numbers and self-introduced names replaced by placeholders."""
    masked = str(redact(text))
    masked = _KM_NAME.sub(lambda m: m.group(1) + NAME_MASK, masked)
    return _EN_NAME.sub(lambda m: f"{m.group(1)} {NAME_MASK}", masked)


def normalise(text: str) -> str:
    """One form for grouping: NFKC, no zero-width, ASCII digits, lower case, trimmed."""
    folded = unicodedata.normalize("NFKC", text).translate(ZERO_WIDTH).translate(KHMER_DIGITS)
    folded = folded.replace(COENG_DA, COENG_TA).casefold()
    folded = _REPEATS.sub(r"\1\1", folded)
    folded = _KHMER_GAP.sub("", folded)
    folded = _EDGE_PUNCT.sub("", folded)
    return _SPACES.sub(" ", folded).strip()


def group_key(text: str) -> str:
    """The queue's grouping key of a raw message: masked, then normalised."""
    return normalise(mask(text))


def key_hash(key: str) -> str:
    """A fixed-length index for a grouping key (Khmer keys are long in bytes)."""
    return hashlib.sha256(key.encode()).hexdigest()
