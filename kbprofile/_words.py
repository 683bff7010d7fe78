"""Facts in words for people, in Khmer and English: a fact's label from the catalogue's own
names ("Amount — Upper secondary (grades 10-12)") and an amount as a reader says it
("30,000 riel a month" / "៣០.០០០ រៀល ក្នុងមួយខែ"), never a dotted path or a code.

Numbers are written the way the assistant's answers write them (actions/text.py): 20,000 in
English, ២០.០០០ with Khmer digits in Khmer. Standard library only (Python 3.10 and 3.11).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._convert import AMOUNT_UNKNOWN, fact_paths

KHMER = "km"
ENGLISH = "en"
_TO_KHMER_DIGITS = str.maketrans("0123456789", "០១២៣៤៥៦៧៨៩")
_GROUP = {ENGLISH: ",", KHMER: "."}
_DECIMAL = {ENGLISH: ".", KHMER: ","}
SEPARATOR = " — "

# The words of units and periods (as knowledge/messages.yml words them for citizens).
UNIT_WORDS: dict[str, dict[str, str]] = {
    "riel": {"en": "{value} riel", "km": "{value} រៀល"},
    "percent": {"en": "{value}%", "km": "{value}%"},
}
PERIOD_WORDS: dict[str, dict[str, str]] = {
    "per_month": {"en": "a month", "km": "ក្នុងមួយខែ"},
    "per_visit": {"en": "each time", "km": "ក្នុងមួយដង"},
    "per_baby": {"en": "for each baby", "km": "សម្រាប់ទារកម្នាក់"},
    "of_wage": {"en": "of wages", "km": "នៃប្រាក់ឈ្នួល"},
}
UNIT_NAMES: dict[str, dict[str, str]] = {
    "riel": {"en": "riel", "km": "រៀល"},
    "percent": {"en": "percent", "km": "ភាគរយ"},
}
UNKNOWN_WORDS = {"en": "not known (no figure in the sources)", "km": "មិនដឹង (ប្រភពមិនផ្តល់តួលេខ)"}

# A fact's label by the kind of field; {name} is the catalogue's own name of the cost
# option or the document.
FIELD_WORDS: dict[str, dict[str, str]] = {
    "name": {"en": "Name of the programme", "km": "ឈ្មោះកម្មវិធី"},
    "description": {"en": "What it is", "km": "ការពិពណ៌នា"},
    "operated_by": {"en": "Who runs it", "km": "អ្នកដំណើរការកម្មវិធី"},
    "eligibility_description": {"en": "Who can get it", "km": "អ្នកមានសិទ្ធិទទួល"},
    "alert": {"en": "Notice", "km": "សេចក្តីជូនដំណឹង"},
    "option": {"en": "Name of the amount", "km": "ឈ្មោះនៃចំនួនទឹកប្រាក់"},
    "amount": {"en": "Amount", "km": "ចំនួនទឹកប្រាក់"},
    "amount_description": {"en": "Note on the amount", "km": "កំណត់សម្គាល់អំពីចំនួនទឹកប្រាក់"},
    "how": {"en": "How to apply", "km": "របៀបចុះឈ្មោះ"},
    "required_documents": {"en": "Document to bring", "km": "ឯកសារត្រូវយកមក"},
    "other": {"en": "Other fact", "km": "ព័ត៌មានផ្សេងទៀត"},
}


def _lang(language: str) -> str:
    return KHMER if language == KHMER else ENGLISH


def format_number(value: float, language: str) -> str:
    """A number as readers of ``language`` write it (30,000 / ៣០.០០០)."""
    language = _lang(language)
    if float(value).is_integer():
        whole, fraction = f"{int(value):,}", ""
    else:
        whole, _, fraction = f"{value:,}".partition(".")
    text = whole.replace(",", _GROUP[language]) + (
        _DECIMAL[language] + fraction if fraction else ""
    )
    return text.translate(_TO_KHMER_DIGITS) if language == KHMER else text


_UNDATED = {ENGLISH: "undated", KHMER: "គ្មានកាលបរិច្ឆេទ"}
_APPROXIMATE = {ENGLISH: "about {date}", KHMER: "ប្រហែល {date}"}
_MONTHS = {
    ENGLISH: "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
    KHMER: "មករា កុម្ភៈ មីនា មេសា ឧសភា មិថុនា កក្កដា សីហា កញ្ញា តុលា វិច្ឆិកា ធ្នូ".split(),
}


def date_words(date: str | None, language: str) -> str:
    """A catalogue date as the assistant's answers write it: 25 Nov 2026, about May 2020,
    2019, undated / ២៥ វិច្ឆិកា ២០២៦, ប្រហែល ឧសភា ២០២០ (anything else is returned as it is)."""
    language = _lang(language)
    raw = str(date or "")
    if raw == "undated":
        return _UNDATED[language]
    approximate = raw.startswith("~")
    parts = raw.lstrip("~").split("-")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return raw
    if len(parts) > 1 and not 1 <= int(parts[1]) <= 12:
        return raw
    words = [parts[0]]
    if len(parts) > 1:
        words.insert(0, _MONTHS[language][int(parts[1]) - 1])
    if len(parts) > 2:
        words.insert(0, str(int(parts[2])))
    text = " ".join(words)
    text = text.translate(_TO_KHMER_DIGITS) if language == KHMER else text
    return _APPROXIMATE[language].format(date=text) if approximate else text


def amount_words(fact: Mapping[str, Any] | None, language: str) -> str:
    """An amount fact in words: "30,000 riel a month", "៣០.០០០ រៀល ក្នុងមួយខែ"."""
    language = _lang(language)
    if fact is None:
        return "–"
    value = fact.get("value")
    if value is None or value == AMOUNT_UNKNOWN or not isinstance(value, int | float):
        return UNKNOWN_WORDS[language]
    number = format_number(value, language)
    unit = UNIT_WORDS.get(str(fact.get("unit")))
    text = unit[language].format(value=number) if unit else number
    period = PERIOD_WORDS.get(str(fact.get("period")))
    return f"{text} {period[language]}" if period else text


def unit_name(unit: str, language: str) -> str:
    """A unit's name for a form's choice ("riel", "ភាគរយ")."""
    return UNIT_NAMES.get(unit, {}).get(_lang(language), unit)


def period_name(period: str, language: str) -> str:
    """A period's words for a form's choice ("a month", "ក្នុងមួយខែ")."""
    return PERIOD_WORDS.get(period, {}).get(_lang(language), period)


def _named(kind: str, name: Mapping[str, Any] | None, language: str) -> str:
    words = FIELD_WORDS[kind][language]
    text = str((name or {}).get(language) or (name or {}).get(ENGLISH) or "").strip()
    return f"{words}{SEPARATOR}{text}" if text else words


def fact_label(path: str, language: str, *services: Mapping[str, Any]) -> str:
    """The words for the fact at ``path`` of a service (the first of ``services`` that has
    it names it): "Amount — Upper secondary (grades 10-12)", "ឯកសារត្រូវយកមក — …"."""
    language = _lang(language)
    parts = path.split(".")
    if len(parts) == 1 and parts[0] in FIELD_WORDS:
        return FIELD_WORDS[parts[0]][language]
    if parts[0] == "cost_options" and len(parts) == 3 and parts[2] in FIELD_WORDS:
        for service in services:
            for option in service.get("cost_options") or []:
                if option.get("id") == parts[1]:
                    return _named(parts[2], option.get("option"), language)
        return FIELD_WORDS[parts[2]][language]
    if parts[:2] == ["application_process", "how"]:
        return FIELD_WORDS["how"][language]
    if parts[:2] == ["application_process", "required_documents"] and len(parts) == 3:
        for service in services:
            document = dict(fact_paths(dict(service))).get(path)
            if document is not None:
                return _named("required_documents", document, language)
        return FIELD_WORDS["required_documents"][language]
    return FIELD_WORDS["other"][language]


def title_of(service: Mapping[str, Any] | None, language: str, fallback: str = "") -> str:
    """A programme's title in ``language`` (its other language's title if that is empty)."""
    name = (service or {}).get("name") or {}
    return str(name.get(_lang(language)) or name.get(ENGLISH) or name.get(KHMER) or fallback)


def organisation_name(document: Mapping[str, Any], slug: str, language: str) -> str:
    """An owning agency's name in ``language`` (the slug only if the catalogue lacks it)."""
    for organisation in document.get("organizations") or []:
        if organisation.get("id") == slug:
            name = organisation.get("name") or {}
            return str(name.get(_lang(language)) or name.get(ENGLISH) or slug)
    return slug
