"""Facts an announcement may quote, from the knowledge base, so amounts and dates are the
harmonised ones. Today the knowledge/*.yml files; a live knowledge base replaces this one
function later."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Fact", "knowledge_facts"]

UNITS = {"riel": ("រៀល", "riel"), "percent": ("ភាគរយ", "percent")}
PERIODS = {
    "per_month": ("ក្នុងមួយខែ", "a month"),
    "per_visit": ("ក្នុងមួយដង", "a visit"),
    "per_baby": ("ក្នុងម្នាក់", "per baby"),
    "of_wage": ("នៃប្រាក់ឈ្នួល", "of the wage"),
}
KHMER_DIGITS = str.maketrans("0123456789", "០១២៣៤៥៦៧៨៩")


@dataclass(frozen=True)
class Fact:
    id: str
    km: str
    en: str


def _amount(topic: dict[str, Any], amount: dict[str, Any]) -> tuple[str, str] | None:
    if amount.get("unknown") or "value" not in amount:
        return None
    label = amount.get("label") or topic.get("title") or {}
    value = f"{amount['value']:,}"
    unit = UNITS.get(str(amount.get("unit")), ("", ""))
    period = PERIODS.get(str(amount.get("period")), ("", ""))
    km = f"{label.get('km', '')}៖ {value.translate(KHMER_DIGITS)} {unit[0]} {period[0]}"
    en = f"{label.get('en', '')}: {value} {unit[1]} {period[1]}"
    return km.strip(), en.strip()


def knowledge_facts(directory: Path) -> list[Fact]:
    """Each programme's summary and amounts, in Khmer and English."""
    path = directory / "programmes.yml"
    if not path.exists():
        return []
    data: dict[str, Any] = yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader) or {}
    facts: list[Fact] = []
    for key, topic in (data.get("topics") or {}).items():
        summary = topic.get("summary") or {}
        if summary.get("km") and summary.get("en"):
            facts.append(Fact(f"{key}.summary", summary["km"], summary["en"]))
        for amount in topic.get("amounts") or []:
            texts = _amount(topic, amount)
            if texts:
                facts.append(Fact(f"{key}.{amount.get('id', 'amount')}", *texts))
    return facts
