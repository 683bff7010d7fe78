"""Predict the intent of every held-out message with one or more trained models, in batches.

`rasa test nlu` parses the held-out messages one at a time (381 graph runs, each embedding
one sentence): about 2.5 minutes per model on a loaded 2-core machine. This runs the same
NLU graph on all messages at once (the embedding featurizer then works in batches) and
applies the same rule as `rasa test nlu` to a FallbackClassifier prediction (the intent
behind the fallback is scored), so the predictions are the ones `rasa test nlu` reports
(tests/training checks this), in a fraction of the time. Several models share one process,
so TensorFlow and the embedding are imported once.

Used by the retraining tool (bot/training) with the Rasa environment's Python:

    .venv-rasa/bin/python scripts/evaluate_nlu.py --nlu tests/nlu_heldout \
        --model models/a.tar.gz --out a.json [--model b.tar.gz --out b.json ...]

`--nlu` is given once (for every model) or once per `--model` (the retraining tool also
reads its annotations, data/nlu/learned.yml, with the live model). Each output file is a
JSON list of {text, intent, predicted, confidence, fallback, language}
(language as in scripts/check_nlu_report.py: Khmer script or romanised Khmer is "km").
With --rasa-format DIR it also writes DIR/intent_successes.json and intent_errors.json in
the format of `rasa test nlu --successes`, for scripts/check_nlu_report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from khmer_nlu.metrics import language_bucket


def _examples(nlu: str) -> list[tuple[str, str]]:
    """(text, intent) of every held-out example that has an intent, as `rasa test nlu`."""
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.shared.nlu.constants import INTENT, TEXT

    data = TrainingDataImporter.load_from_dict(training_data_paths=[nlu]).get_nlu_data()
    return [(e.get(TEXT), e.get(INTENT)) for e in data.nlu_examples if e.get(INTENT)]


@functools.cache
def _processor(model: str) -> Any:
    """A model's message processor, loaded once even when several data sets use it."""
    from rasa.core.agent import Agent

    processor = Agent.load(model).processor
    if processor is None:
        raise SystemExit(f"{model}: no model could be loaded")
    return processor


def _predict(model: str, texts: list[str]) -> list[dict[str, Any]]:
    """Parse data of each text: one run of the model's NLU graph over all of them."""
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.nlu.classifiers import fallback_classifier

    if not texts:
        return []
    processor = _processor(model)
    target = processor.model_metadata.nlu_target
    results = processor.graph_runner.run(
        inputs={
            PLACEHOLDER_MESSAGE: [UserMessage(text=text) for text in texts],
            PLACEHOLDER_TRACKER: None,
        },
        targets=[target],
    )
    parsed = []
    for message in results[target]:
        data = message.as_dict(only_output_properties=False)
        fallback = fallback_classifier.is_fallback_classifier_prediction(data)
        if fallback:  # score the intent behind the fallback, as `rasa test nlu` does
            data = fallback_classifier.undo_fallback_prediction(data)
        intent = data.get("intent") or {}
        parsed.append(
            {
                "predicted": intent.get("name") or "None",
                "confidence": float(intent.get("confidence") or 0.0),
                "fallback": fallback,
            }
        )
    return parsed


def _rasa_format(items: list[dict[str, Any]], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, keep in (("intent_successes.json", True), ("intent_errors.json", False)):
        rows = [
            {
                "text": item["text"],
                "intent": item["intent"],
                "intent_prediction": {
                    "name": item["predicted"],
                    "confidence": item["confidence"],
                },
            }
            for item in items
            if (item["intent"] == item["predicted"]) == keep
        ]
        (directory / name).write_text(
            json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8"
        )


def main(argv: list[str] | None = None) -> int:
    """Evaluate each --model into the matching --out file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--nlu", action="append", required=True, help="data (file or directory): once or per model"
    )
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--out", action="append", required=True)
    parser.add_argument("--rasa-format", action="append", default=[])
    args = parser.parse_args(argv)
    if len(args.model) != len(args.out):
        parser.error("give one --out per --model")
    if args.rasa_format and len(args.rasa_format) != len(args.model):
        parser.error("give one --rasa-format per --model, or none")
    if len(args.nlu) not in (1, len(args.model)):
        parser.error("give --nlu once, or once per --model")
    data_sets = args.nlu * len(args.model) if len(args.nlu) == 1 else args.nlu
    for i, (nlu, model, out) in enumerate(zip(data_sets, args.model, args.out, strict=True)):
        examples = _examples(nlu)
        texts = [text for text, _ in examples]
        languages = [language_bucket(text) for text in texts]
        started = time.monotonic()
        predictions = _predict(model, texts)
        items = [
            {"text": text, "intent": intent, "language": language, **prediction}
            for (text, intent), language, prediction in zip(
                examples, languages, predictions, strict=True
            )
        ]
        Path(out).write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
        if args.rasa_format:
            _rasa_format(items, Path(args.rasa_format[i]))
        correct = sum(1 for item in items if item["intent"] == item["predicted"])
        print(
            f"evaluated {model}: {correct}/{len(items)} correct"
            f" in {time.monotonic() - started:.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    # Rasa's parse is synchronous inside; a loop must exist for components that ask for one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    sys.exit(main())
