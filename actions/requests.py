"""What a message asks for, beside its intent: a person, an amount, or help against a demand
for money.

The NLU gives one intent per message, and a message can say two things: "I need to talk to
someone, I live in Svay Rieng" is a request for a person that names a place, "how much do I
get?" asks for an amount while the intent may start the eligibility check, and "the village
chief asked us for 20,000 riel" reports a demand for money. Khmer phrases match on the
segmenter's word boundaries (khmer_nlu.match), Latin ones as whole words.
"""

from __future__ import annotations

import re

from actions.text import fold
from khmer_nlu.match import PhraseMatcher

_PERSON = PhraseMatcher(
    (
        "talk to someone", "talk to somebody", "speak to someone", "speak with someone",
        "talk to a person", "talk to a human", "speak to a person", "speak to a human",
        "talk to a real person", "real person", "talk to staff", "talk to an agent",
        "speak to an agent", "need a human", "want a human", "someone call me", "call me back",
        "និយាយជាមួយមនុស្ស", "និយាយជាមួយបុគ្គលិក", "និយាយជាមួយនរណាម្នាក់", "និយាយជាមួយអ្នកណាម្នាក់",
        "ជជែកជាមួយបុគ្គលិក", "ជជែកជាមួយមនុស្ស", "និយាយផ្ទាល់", "ភ្នាក់ងារមនុស្ស", "ខលមកខ្ញុំវិញ",
    ),
    fold=fold,
)  # fmt: skip
_HOW_MUCH = PhraseMatcher(
    (
        "how much", "what amount", "how many riel", "how much money",
        "ប៉ុន្មាន", "ប៉ុន្មានលុយ", "ប៉ុន្មានរៀល", "ចំនួនប៉ុន្មាន",
    ),
    fold=fold,
)  # fmt: skip
# Someone demanding money: a Khmer demand verb, or an English one next to money.
_DEMAND_KHMER = PhraseMatcher(
    (
        "ទារលុយ", "ទារប្រាក់", "សុំលុយ", "សុំប្រាក់", "ទាមទារលុយ", "ទាមទារប្រាក់", "ចូលលុយ",
        "ឲ្យលុយ", "ឱ្យលុយ", "បង់លុយ", "បង់ប្រាក់", "សំណូក", "ពុករលួយ", "ទាមទារ",
    ),
    fold=fold,
)  # fmt: skip
_MONEY = (
    r"(?:money|cash|a bribe|bribes?|a fee|fees?|\$\s*\d+"
    r"|\d[\d,.]*\s*(?:riel|dollars?|usd|\$))"
)
_DEMAND_ENGLISH = re.compile(
    rf"\b(?:ask(?:s|ed|ing)?|demand(?:s|ed|ing)?|want(?:s|ed)?|charg(?:e|es|ed|ing)|took"
    rf"|take[sn]?)\s+(?:me|us|my \w+|our \w+)?\s*(?:for\s+)?{_MONEY}"
    rf"|\b(?:had|have|has|must|forced to|made (?:me|us))\s+(?:to\s+)?pay\b"
    rf"|\bbribe"
)


def asks_for_person(text: str) -> bool:
    """ "I need to talk to someone", "ខ្ញុំចង់និយាយជាមួយមនុស្ស"."""
    return not _payload(text) and _PERSON.matches(text)


def asks_how_much(text: str) -> bool:
    """ "How much do I get?", "តើទទួលបានប៉ុន្មាន?"."""
    return not _payload(text) and _HOW_MUCH.matches(text)


def demands_money(text: str) -> bool:
    """ "The village chief asked us for 20,000 riel", "មេភូមិទារលុយ"."""
    if _payload(text):
        return False
    return _DEMAND_KHMER.matches(text) or _DEMAND_ENGLISH.search(fold(text)) is not None


def _payload(text: str) -> bool:
    return not text or text.lstrip().startswith("/")
