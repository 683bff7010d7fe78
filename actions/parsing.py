"""Free-text answers to the eligibility questions: "ក្រ២", "grade 10", "I sell at the market".

Buttons give clean values, but many citizens type (or dictate) their answer. These parsers
run only for the question just asked (see actions/form.py), so they can be generous: a bare
"2" after "Which level is the card?" is level 2, after "Which grade?" it is grade 2. Text is
folded first (Khmer digits, zero-width spaces, case), so "ថ្នាក់ទី១០" and "grade 10" agree.
"""

from __future__ import annotations

import re
from functools import cache

from actions.text import fold
from khmer_nlu.match import PhraseMatcher

PAYLOAD_PREFIX = "/"  # button payloads such as /affirm carry no free text

# --- equity card level -----------------------------------------------------------------------
_LEVEL = re.compile(r"(?:ក្រ|កម្រិត|level|poor|type|idpoor|lvl)\s*[-#:]?\s*([12])(?!\d)")
_BARE_LEVEL = re.compile(r"\s*([12])\s*")
_VERY_POOR = ("very poor", "ក្រីក្រខ្លាំង")

# --- school level ----------------------------------------------------------------------------
PRIMARY, LOWER_SECONDARY, UPPER_SECONDARY = "primary", "lower_secondary", "upper_secondary"
_GRADE = re.compile(r"(?:grade|class|year|ថ្នាក់ទី|ថ្នាក់|g)\s*(\d{1,2})(?!\d)")
_BARE_GRADE = re.compile(r"\s*(\d{1,2})\s*")
_LAST_PRIMARY_GRADE, _LAST_LOWER_SECONDARY_GRADE, _LAST_GRADE = 6, 9, 12
# Checked in order: "upper secondary" before "secondary", អនុវិទ្យាល័យ before វិទ្យាល័យ.
_SCHOOL_WORDS = (
    ("upper secondary", UPPER_SECONDARY),
    ("high school", UPPER_SECONDARY),
    ("lower secondary", LOWER_SECONDARY),
    ("អនុវិទ្យាល័យ", LOWER_SECONDARY),
    ("មធ្យមសិក្សាបឋមភូមិ", LOWER_SECONDARY),
    ("មធ្យមសិក្សាទុតិយភូមិ", UPPER_SECONDARY),
    ("វិទ្យាល័យ", UPPER_SECONDARY),
    ("secondary", LOWER_SECONDARY),
    ("middle school", LOWER_SECONDARY),
    ("primary", PRIMARY),
    ("elementary", PRIMARY),
    ("បឋមសិក្សា", PRIMARY),
)

# --- work ------------------------------------------------------------------------------------
# Checked in order: "no job" before anything with "job"; a company driver is an employee.
_WORK_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (status, tuple(words.split("|")))
    for status, words in (
        (
            "none",
            "unemployed|no job|no work|not working|don't work|do not work|jobless"
            "|គ្មានការងារ|អត់ការងារ|អត់មានការងារ|មិនមានការងារ|អត់ធ្វើការ|មិនធ្វើការ",
        ),
        (
            "civil_servant",
            "civil servant|government|public school|teacher|police|soldier|ministry"
            "|មន្ត្រីរាជការ|រាជការ|គ្រូបង្រៀន|ប៉ូលិស|នគរបាល|ទាហាន",
        ),
        (
            "employee",
            "factory|garment|company|employee|worker|staff|construction|hotel|restaurant"
            "|រោងចក្រ|ក្រុមហ៊ុន|កម្មករ|បុគ្គលិក|កាត់ដេរ|សំណង់",
        ),
        (
            "self_employed",
            "sell|vendor|market|shop|tuk|moto|taxi|driver|farmer|farm|fisher|own business"
            "|self-employed|self employed|business|លក់|លក់ដូរ|ម៉ូតូឌុប|តុកតុក|កសិករ|ធ្វើស្រែ|ចម្ការ"
            "|នេសាទ|អាជីវកម្ម|រកស៊ី|ផ្សារ",
        ),
    )
)

# --- yes / no / don't know -------------------------------------------------------------------
YES, NO, UNKNOWN = "yes", "no", "unknown"
_UNKNOWN_PHRASES = (
    "don't know", "dont know", "do not know", "not sure", "unsure", "no idea", "idk", "maybe",
    "min deng", "ot deng", "prefer not", "rather not", "មិនដឹង", "អត់ដឹង", "មិនច្បាស់",
    "មិនប្រាកដ", "ប្រហែល", "មិនចង់ប្រាប់",
)  # fmt: skip
_NO_WORDS = frozenset("no nope nah not none never don't dont ot ort te kmean otte".split())
_NO_KHMER = ("អត់", "គ្មាន", "មិនមាន", "មិនត្រូវ", "មិនមែន")
_YES_WORDS = frozenset("yes yeah yep yup y sure correct bat baat chas jas cha mean".split())
_YES_KHMER = ("បាទ", "ចាស", "ចា៎", "មាន", "ត្រូវ")
_KHMER_NO_AT_END = "ទេ"  # "ទេ" ends a negative answer; inside a word it means nothing
_WORD = re.compile(r"[a-z']+")
_TRAILING = re.compile(r"[\s.!?។៕,]+$")


def _prepare(text: str) -> str | None:
    """Folded text, or None for a button payload or an empty message."""
    if not text or text.lstrip().startswith(PAYLOAD_PREFIX):
        return None
    return fold(text) or None


@cache
def _matcher(phrase: str) -> PhraseMatcher:
    return PhraseMatcher([phrase], fold=fold)


def _has(text: str, phrase: str) -> bool:
    """`phrase` as a whole word or phrase: Khmer on the segmenter's word boundaries (មាន
    "have" is not in មិនមាន "do not have" read from its middle, nor លក់ "sell" in ឆ្លក់)."""
    if phrase.isascii():
        return re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", text) is not None
    return _matcher(phrase).matches(text)


def parse_equity_level(text: str) -> str | None:
    """ "1" or "2" from "ក្រ២", "level 1", "poor 2", "very poor" or a bare digit."""
    folded = _prepare(text)
    if folded is None:
        return None
    found = _LEVEL.search(folded) or _BARE_LEVEL.fullmatch(folded)
    if found:
        return found.group(1)
    if any(_has(folded, phrase) for phrase in _VERY_POOR):
        return "1"
    return None


def parse_school_level(text: str) -> str | None:
    """primary / lower_secondary / upper_secondary from a grade (1-12) or a school word."""
    folded = _prepare(text)
    if folded is None:
        return None
    found = _GRADE.search(folded) or _BARE_GRADE.fullmatch(folded)
    if found:
        grade = int(found.group(1))
        if not 1 <= grade <= _LAST_GRADE:
            return None
        if grade <= _LAST_PRIMARY_GRADE:
            return PRIMARY
        if grade <= _LAST_LOWER_SECONDARY_GRADE:
            return LOWER_SECONDARY
        return UPPER_SECONDARY
    return next((level for phrase, level in _SCHOOL_WORDS if _has(folded, phrase)), None)


def parse_work_status(text: str) -> str | None:
    """employee / self_employed / civil_servant / none from a description of one's work."""
    folded = _prepare(text)
    if folded is None:
        return None
    for status, phrases in _WORK_WORDS:
        if any(_has(folded, phrase) for phrase in phrases):
            return status
    return None


def parse_yes_no(text: str) -> str | None:
    """yes / no / unknown from Khmer, English or romanised Khmer words."""
    folded = _prepare(text)
    if folded is None:
        return None
    if any(_has(folded, phrase) for phrase in _UNKNOWN_PHRASES):
        return UNKNOWN
    words = set(_WORD.findall(folded))
    khmer = _TRAILING.sub("", folded.replace(" ", ""))
    said_no = any(_has(folded, w) for w in _NO_KHMER) or khmer.endswith(_KHMER_NO_AT_END)
    if words & _NO_WORDS or said_no:
        return NO
    if words & _YES_WORDS or any(_has(folded, w) for w in _YES_KHMER):
        return YES
    return None
