"""How urgent a handoff is, from the citizen's own words (knowledge/urgency.yml).

The gateway puts emergencies, abuse and missing payments first in the agents' queue; the
keyword lists are content, so partners can extend them without retraining the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from actions.knowledge import KNOWLEDGE_DIR, KnowledgeError
from actions.places import GAZETTEER_DIR, load_gazetteer
from actions.text import ENGLISH, KHMER, fold
from khmer_nlu.match import PhraseMatcher

URGENCY_FILE = "urgency.yml"


@dataclass(frozen=True)
class UrgencyRules:
    """Levels in priority order, each with its Khmer and its English phrases.

    Both match on word boundaries (khmer_nlu.match): a Khmer keyword inside a longer word
    (វាយ "hit" inside ស្វាយ "Svay") is not that keyword.
    """

    levels: tuple[tuple[str, PhraseMatcher, PhraseMatcher], ...]
    #: Khmer place names of the gazetteer, taken out before the keywords are looked for:
    #: ដំរីស្លាប់ (Damrei Slab) is a commune, not ស្លាប់ ("dying").
    places: PhraseMatcher | None = None

    def classify(self, text: str) -> str | None:
        """The first level one of whose phrases occurs in ``text``, else None."""
        if self.places is not None:
            text = self.places.mask(text)
        for name, khmer, english in self.levels:
            if khmer.matches(text) or english.matches(text):
                return name
        return None


def load_urgency(directory: Path = KNOWLEDGE_DIR) -> UrgencyRules:
    """Read and check urgency.yml (and the gazetteer's Khmer names, if it is there); raise
    KnowledgeError if a level lacks a language."""
    path = directory / URGENCY_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    levels = []
    for name, words in (data.get("levels") or {}).items():
        if not isinstance(words, dict) or not words.get(KHMER) or not words.get(ENGLISH):
            raise KnowledgeError(f"{path}: level {name!r} needs Khmer and English keywords")
        khmer = PhraseMatcher((str(w) for w in words[KHMER]), fold=fold)
        english = PhraseMatcher((str(w) for w in words[ENGLISH]), fold=fold)
        levels.append((str(name), khmer, english))
    places = None
    if (directory / GAZETTEER_DIR.name).is_dir():
        gazetteer = load_gazetteer(directory / GAZETTEER_DIR.name)
        places = PhraseMatcher((p.name_km for p in gazetteer.places.values()), fold=fold)
    return UrgencyRules(tuple(levels), places)


@cache
def get_urgency() -> UrgencyRules:
    """Loaded once per action server."""
    return load_urgency()
