"""What a citizen's message already says about the household, in passing.

"I am pregnant and we have an equity card, how much do I get?" answers two of the eligibility
form's questions before any is asked. `stated_facts` finds such statements (form slot ->
value) so the answer can give the amount for the citizen's case and the form asks only what
is missing. It is deliberately narrower than the parsers of actions/parsing.py, which read the
answer to a question just asked: here nothing was asked, so only a statement counts, not a
topic word ("how much do pregnant women get?" says nothing about the citizen). Khmer phrases
match on the segmenter's word boundaries (khmer_nlu.match), never as substrings.
"""

from __future__ import annotations

import re
from functools import lru_cache

from actions.parsing import parse_equity_level, parse_school_level, parse_work_status
from actions.text import fold
from khmer_nlu.match import PhraseMatcher

YES, NO = "yes", "no"
ELDERLY_AGE = 60
_MAX_AGE = 120

_PREGNANT = PhraseMatcher(
    (
        "i am pregnant", "i'm pregnant", "im pregnant", "i am expecting", "we are expecting",
        "wife is pregnant", "my pregnant wife", "daughter is pregnant", "pregnant now",
        "months pregnant", "weeks pregnant", "my baby", "our baby", "my newborn", "i gave birth",
        "just gave birth", "my infant",
        "ខ្ញុំមានផ្ទៃពោះ", "ខ្ញុំកំពុងមានផ្ទៃពោះ", "ខ្ញុំពពោះ", "ខ្ញុំមានគភ៌",
        "ប្រពន្ធខ្ញុំមានផ្ទៃពោះ", "ប្រពន្ធខ្ញុំពពោះ", "កូនស្រីខ្ញុំមានផ្ទៃពោះ",
        "មានផ្ទៃពោះបាន", "ខ្ញុំទើបសម្រាលកូន", "ខ្ញុំទើបឆ្លងទន្លេ", "កូនខ្ញុំទើបកើត", "ខ្ញុំមានកូនខ្ចី",
    ),
    fold=fold,
)  # fmt: skip
_NO_CARD = PhraseMatcher(
    (
        "no equity card", "no idpoor card", "not have an equity card", "not have equity card",
        "don't have an equity card", "don't have equity card", "dont have equity card",
        "do not have an equity card", "do not have equity card", "without an equity card",
        "without equity card", "don't have the card", "do not have the card", "no card",
        "មិនមានប័ណ្ណសមធម៌", "អត់មានប័ណ្ណសមធម៌", "គ្មានប័ណ្ណសមធម៌", "អត់ប័ណ្ណសមធម៌",
        "មិនមានប័ណ្ណក្រីក្រ", "អត់មានប័ណ្ណក្រីក្រ", "គ្មានប័ណ្ណក្រីក្រ", "អត់មានប័ណ្ណ", "មិនមានប័ណ្ណ",
        "គ្មានប័ណ្ណ", "អត់មានប័ណ្ណ IDPoor", "មិនទាន់មានប័ណ្ណ",
    ),
    fold=fold,
)  # fmt: skip
_HAS_CARD = PhraseMatcher(
    (
        "have an equity card", "have equity card", "have the equity card", "have our equity card",
        "have an idpoor card", "have idpoor card", "have id poor card", "have a poor card",
        "got an equity card", "got equity card", "equity card holder", "equity card holders",
        "we hold an equity card", "i hold an equity card", "have a level 1 card",
        "have a level 2 card",
        "មានប័ណ្ណសមធម៌", "មានប័ណ្ណក្រីក្រ", "មានប័ណ្ណ IDPoor", "កាន់ប័ណ្ណសមធម៌", "បានប័ណ្ណសមធម៌",
        "មានប័ណ្ណក្រ១", "មានប័ណ្ណក្រ២",
    ),
    fold=fold,
)  # fmt: skip
_DISABILITY = PhraseMatcher(
    (
        "i am disabled", "i'm disabled", "i have a disability", "is disabled", "has a disability",
        "my disabled", "in a wheelchair", "is blind", "i am blind", "is deaf",
        "ខ្ញុំពិការ", "ខ្ញុំជាជនពិការ", "កូនខ្ញុំពិការ", "ប្តីខ្ញុំពិការ", "ប្រពន្ធខ្ញុំពិការ",
        "ម្តាយខ្ញុំពិការ", "ឪពុកខ្ញុំពិការ", "ខ្ញុំមានពិការភាព", "កូនខ្ញុំមានពិការភាព",
    ),
    fold=fold,
)  # fmt: skip
# A first-person cue before the work parser may read the message: "how does the government
# help?" is not the citizen being a civil servant.
_WORK_CUE = PhraseMatcher(
    (
        "i work", "i am a", "i'm a", "im a", "i sell", "we sell", "my job", "i drive", "i farm",
        "i am unemployed", "i'm unemployed", "i have no job", "i don't work",
        "ខ្ញុំធ្វើការ", "ខ្ញុំជា", "ខ្ញុំលក់", "ខ្ញុំរកស៊ី", "ខ្ញុំធ្វើស្រែ", "ខ្ញុំបើក", "ខ្ញុំគ្មានការងារ",
        "ខ្ញុំអត់ការងារ", "ខ្ញុំអត់មានការងារ", "ខ្ញុំមិនមានការងារ",
    ),
    fold=fold,
)  # fmt: skip
# A grade only with its word ("grade 5", "ថ្នាក់ទី៥"): a bare number in a question is not one.
_GRADE = re.compile(r"(?<![a-z])(?:grade|class)\s*\d{1,2}(?!\d)|ថ្នាក់ទី\s*\d{1,2}(?!\d)")
_SCHOOL_WORDS = PhraseMatcher(
    (
        "primary school", "lower secondary", "upper secondary", "high school", "middle school",
        "secondary school", "បឋមសិក្សា", "អនុវិទ្យាល័យ", "វិទ្យាល័យ",
    ),
    fold=fold,
)  # fmt: skip
_AGE = re.compile(
    r"(?<!\d)(\d{2,3})\s*(?:years? old|yrs? old|year-old|ឆ្នាំ)"
    r"|(?:aged?|អាយុ)\s*(\d{2,3})(?!\d)"
)
_LEVEL_WORD = re.compile(r"(?:ក្រ|កម្រិត|level|idpoor)\s*[-#:]?\s*[12](?!\d)")


def _age_over(text: str) -> bool:
    for match in _AGE.finditer(text):
        age = int(match.group(1) or match.group(2))
        if ELDERLY_AGE <= age <= _MAX_AGE:
            return True
    return False


@lru_cache(maxsize=256)
def stated_facts(text: str) -> dict[str, str]:
    """Form slot -> value for what ``text`` states about the household (nothing for a button
    payload). Only "yes" is read from a mention (pregnancy, disability, age); a card can be
    stated either way."""
    if not text or text.lstrip().startswith("/"):
        return {}
    folded = fold(text)
    facts: dict[str, str] = {}
    if _PREGNANT.matches(text):
        facts["pregnant_or_infant"] = YES
    level = parse_equity_level(folded) if _LEVEL_WORD.search(folded) else None
    if _NO_CARD.matches(text):
        facts["has_equity_card"] = NO
    elif level is not None or _HAS_CARD.matches(text):
        facts["has_equity_card"] = YES
        if level is not None:
            facts["equity_level"] = level
    grade = _GRADE.search(folded)
    school_word = _SCHOOL_WORDS.first(text)
    school = parse_school_level(grade.group(0) if grade else school_word or "")
    if school is not None:
        facts["school_children"] = YES
        facts["school_level"] = school
    if _DISABILITY.matches(text):
        facts["disability"] = YES
    if _age_over(folded):
        facts["elderly"] = YES
    if _WORK_CUE.matches(text):
        work = parse_work_status(text)
        if work is not None:
            facts["work_status"] = work
    return facts
