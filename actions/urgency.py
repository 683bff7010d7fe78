"""How urgent a handoff is, from the citizen's own words (knowledge/urgency.yml).

The gateway puts emergencies, abuse and missing payments first in the agents' queue; the
keyword lists are content, so partners can extend them without retraining the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from actions.knowledge import KNOWLEDGE_DIR, KnowledgeError
from actions.text import ENGLISH, KHMER, fold

URGENCY_FILE = "urgency.yml"


@dataclass(frozen=True)
class UrgencyRules:
    """Levels in priority order, each with folded Khmer keywords and English word patterns."""

    levels: tuple[tuple[str, tuple[str, ...], re.Pattern[str] | None], ...]

    def classify(self, text: str) -> str | None:
        """The first level whose keyword occurs in ``text``, else None."""
        folded = fold(text)
        for name, khmer, english in self.levels:
            if any(word in folded for word in khmer):
                return name
            if english is not None and english.search(folded):
                return name
        return None


def load_urgency(directory: Path = KNOWLEDGE_DIR) -> UrgencyRules:
    """Read and check urgency.yml; raise KnowledgeError if a level lacks a language."""
    path = directory / URGENCY_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    levels = []
    for name, words in (data.get("levels") or {}).items():
        if not isinstance(words, dict) or not words.get(KHMER) or not words.get(ENGLISH):
            raise KnowledgeError(f"{path}: level {name!r} needs Khmer and English keywords")
        khmer = tuple(fold(str(w)) for w in words[KHMER])
        english = re.compile(
            r"\b(?:" + "|".join(re.escape(fold(str(w))) for w in words[ENGLISH]) + r")\b"
        )
        levels.append((str(name), khmer, english))
    return UrgencyRules(tuple(levels))


@cache
def get_urgency() -> UrgencyRules:
    """Loaded once per action server."""
    return load_urgency()
