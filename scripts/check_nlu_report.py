"""Per-language intent accuracy on the held-out set, from `rasa test nlu --successes` output.

Rasa reports one accuracy for all messages; the assistant must be as good in Khmer as in
English, so this splits its predictions by the language of each message and fails (exit 1)
when either language drops below the floor. The floor is a regression gate; the targets
(Khmer >= 0.90, within 3 points of English) are measured and printed by bench/nlu_bench.py.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from khmer_nlu.metrics import score_by_language

MIN_ACCURACY = {"km": 0.85, "en": 0.85}


def predictions(results: Path) -> Iterator[tuple[str, str, str]]:
    """(text, target, predicted) from Rasa's successes and errors files."""
    for name in ("intent_successes.json", "intent_errors.json"):
        path = results / name
        if path.exists():
            for item in json.loads(path.read_text(encoding="utf-8")):
                predicted = (item.get("intent_prediction") or {}).get("name") or "None"
                yield item["text"], item["intent"], predicted


def main(results: Path) -> int:
    """Print the per-language table; return 1 if a language is missing or below its floor."""
    scores = score_by_language(predictions(results))
    failed = False
    print(f"{'language':<9}{'messages':>9}{'accuracy':>10}{'macro-F1':>10}{'floor':>7}")
    for language, floor in sorted(MIN_ACCURACY.items()):
        found = scores.get(language)
        if found is None:
            print(f"{language:<9} no held-out messages in {results}")
            failed = True
            continue
        failed |= found.accuracy < floor
        print(
            f"{language:<9}{found.messages:>9}{found.accuracy:>10.3f}"
            f"{found.macro_f1:>10.3f}{floor:>7.2f}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/nlu")))
