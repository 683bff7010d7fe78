"""Intent metrics split by language, so Khmer is never hidden behind an English average."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from khmer_nlu.language import KHMER, detect_language

ENGLISH_BUCKET = "en"


def language_bucket(text: str) -> str:
    """Khmer script or romanised Khmer counts as Khmer; anything else as English."""
    return KHMER if detect_language(text) == KHMER else ENGLISH_BUCKET


@dataclass(frozen=True)
class Scores:
    """Accuracy and macro-F1 of (target, predicted) intent pairs."""

    messages: int
    accuracy: float
    macro_f1: float


def score(pairs: list[tuple[str, str]]) -> Scores:
    """Accuracy and unweighted mean F1 over the intents that occur as targets."""
    if not pairs:
        return Scores(0, 0.0, 0.0)
    f1s = []
    for label in {target for target, _ in pairs}:
        tp = sum(1 for t, p in pairs if t == label and p == label)
        fp = sum(1 for t, p in pairs if t != label and p == label)
        fn = sum(1 for t, p in pairs if t == label and p != label)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    correct = sum(1 for t, p in pairs if t == p)
    return Scores(len(pairs), correct / len(pairs), sum(f1s) / len(f1s))


def score_by_language(items: Iterable[tuple[str, str, str]]) -> dict[str, Scores]:
    """Scores per language bucket from (text, target, predicted) triples."""
    pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for text, target, predicted in items:
        pairs[language_bucket(text)].append((target, predicted))
    return {language: score(found) for language, found in sorted(pairs.items())}
