"""Facts of a profile document as a reader sees them: a programme's summary and its known
amounts in Khmer and English with their source and verified date (announcements quote
them), and ``{fact:<programme>.<amount id>}`` placeholders (canned replies) filled from the
live revision in one language. An amount that is unknown, or a placeholder naming no
amount, reads as the assistant's "not sure, please contact ..." wording: never a guess."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ._convert import AMOUNT_UNKNOWN
from ._words import PERIOD_WORDS, UNIT_WORDS, amount_words

__all__ = ["FACT_PLACEHOLDER", "Fact", "amount_text", "document_facts", "fact_text", "fill_facts"]

# The assistant's own words and number format (knowledge/messages.yml's amount_riel,
# amount_percent and period_*, actions/text.py's format_number; a test keeps them equal), so
# an announcement or a canned reply says an amount exactly as the assistant does.
UNITS = {unit: (w["km"], w["en"]) for unit, w in UNIT_WORDS.items()}
PERIODS = {period: (w["km"], w["en"]) for period, w in PERIOD_WORDS.items()}
# knowledge/messages.yml's not_sure_contact (the assistant's own words; a test keeps them equal)
NOT_SURE = {
    "km": "ខ្ញុំមិនប្រាកដពីចំនួនទឹកប្រាក់បច្ចុប្បន្នទេ។ សូមទាក់ទង {contact}។",
    "en": "I'm not sure of the current amount. Please contact {contact}.",
}
FALLBACK_CONTACT = "agencies"  # when the placeholder names no programme
FALLBACK_CONTACT_TEXT = {"km": "nsaf.gov.kh ឬសាលាឃុំ/សង្កាត់របស់អ្នក", "en": "nsaf.gov.kh"}
FACT_PLACEHOLDER = re.compile(r"\{fact:([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\}")


@dataclass(frozen=True)
class Fact:
    """One fact to quote, in both languages, with where it comes from."""

    id: str
    km: str
    en: str
    source: str = ""  # the source's title
    url: str = ""
    verified: str = ""  # YYYY-MM-DD: the day someone checked it

    def text(self, language: str) -> str:
        return self.en if language == "en" else self.km


def amount_text(amount: dict[str, Any], language: str) -> str | None:
    """ "30,000 riel a month" / "៣០.០០០ រៀល ក្នុងមួយខែ" (None if the amount is unknown):
    the console's words (``amount_words``), one formatter for every reader."""
    value = amount.get("value")
    if value is None or value == AMOUNT_UNKNOWN:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    return amount_words({**amount, "value": value}, language)


def _provenance(service: dict[str, Any], fact: dict[str, Any]) -> dict[str, str]:
    sources: list[dict[str, Any]] = service.get("sources", [])
    source: dict[str, Any] = next((s for s in sources if s["id"] == fact.get("source")), {})
    return {
        "source": str(source.get("title", "")),
        "url": str(source.get("url", "")),
        "verified": str(fact.get("assured_date", "")),
    }


def document_facts(document: dict[str, Any]) -> list[Fact]:
    """Each programme's summary and known amounts, in the catalogue's order."""
    facts: list[Fact] = []
    for service in document.get("services", []):
        summary = service.get("description")
        if summary and summary.get("km") and summary.get("en"):
            facts.append(
                Fact(
                    f"{service['id']}.summary",
                    summary["km"],
                    summary["en"],
                    **_provenance(service, summary),
                )
            )
        for option in service.get("cost_options", []):
            amount = option["amount"]
            km, en = amount_text(amount, "km"), amount_text(amount, "en")
            if km is None or en is None:
                continue
            label = option.get("option") or service.get("name") or {}
            facts.append(
                Fact(
                    f"{service['id']}.{option['id']}",
                    f"{label.get('km', '')}៖ {km}".strip(),
                    f"{label.get('en', '')}: {en}".strip(),
                    **_provenance(service, amount),
                )
            )
    return facts


def _contact(document: dict[str, Any], contact_id: str, language: str) -> str:
    for contact in document.get("contacts", []):
        if contact["id"] == contact_id:
            return str(contact["text"]["en" if language == "en" else "km"])
    return FALLBACK_CONTACT_TEXT["en" if language == "en" else "km"]


def fact_text(
    document: dict[str, Any] | None, programme: str, amount_id: str, language: str
) -> str:
    """The amount ``programme.amount_id`` in ``language``, or "not sure, contact ..."."""
    words = NOT_SURE["en" if language == "en" else "km"]
    services = (document or {}).get("services", [])
    service = next((s for s in services if s["id"] == programme), None)
    if service is None:
        return words.format(contact=_contact(document or {}, FALLBACK_CONTACT, language))
    for option in service.get("cost_options", []):
        if option["id"] == amount_id:
            text = amount_text(option["amount"], language)
            if text is not None:
                return text
    return words.format(contact=_contact(document or {}, service.get("contact_id", ""), language))


def fill_facts(text: str, document: dict[str, Any] | None, language: str) -> str:
    """Every ``{fact:<programme>.<amount id>}`` in ``text`` replaced from ``document``."""
    return FACT_PLACEHOLDER.sub(
        lambda m: fact_text(document, m.group(1), m.group(2), language), text
    )
