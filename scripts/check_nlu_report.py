"""Per-language intent accuracy on the held-out set, from `rasa test nlu --successes` output.

Rasa reports one accuracy for all messages; the assistant must be as good in Khmer as in
English, so this splits its predictions by the language of each message and fails (exit 1)
when either language drops below the floor. The floor is a regression gate; the targets
(Khmer >= 0.90, within 3 points of English) are measured and printed by bench/nlu_bench.py.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from khmer_nlu import KHMER, detect_language

MIN_ACCURACY = {"km": 0.85, "en": 0.85}


def language_of(text: str) -> str:
    """Khmer script or romanised Khmer counts as Khmer; anything else as English."""
    return KHMER if detect_language(text) == KHMER else "en"


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    """Unweighted mean F1 over the intents that occur as targets."""
    labels = {target for target, _ in pairs}
    scores = []
    for label in labels:
        tp = sum(1 for t, p in pairs if t == label and p == label)
        fp = sum(1 for t, p in pairs if t != label and p == label)
        fn = sum(1 for t, p in pairs if t == label and p != label)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def load_predictions(results: Path) -> dict[str, list[tuple[str, str]]]:
    """(target, predicted) pairs per language from Rasa's successes and errors files."""
    by_language: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name in ("intent_successes.json", "intent_errors.json"):
        path = results / name
        if not path.exists():
            continue
        for item in json.loads(path.read_text(encoding="utf-8")):
            predicted = (item.get("intent_prediction") or {}).get("name") or "None"
            by_language[language_of(item["text"])].append((item["intent"], predicted))
    return by_language


def main(results: Path) -> int:
    """Print the per-language table; return 1 if a language is below its floor."""
    by_language = load_predictions(results)
    if not by_language:
        print(f"no predictions found in {results} (run rasa test nlu --successes)")
        return 1
    failed = False
    print(f"{'language':<9}{'messages':>9}{'accuracy':>10}{'macro-F1':>10}{'floor':>7}")
    for language in sorted(MIN_ACCURACY):
        pairs = by_language.get(language, [])
        accuracy = sum(1 for t, p in pairs if t == p) / len(pairs) if pairs else 0.0
        floor = MIN_ACCURACY[language]
        failed |= accuracy < floor
        print(f"{language:<9}{len(pairs):>9}{accuracy:>10.3f}{macro_f1(pairs):>10.3f}{floor:>7.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/nlu")))
