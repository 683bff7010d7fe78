"""Cross-validation of the NLU pipeline on the training data only, split by language.

Why: the held-out set (tests/nlu_heldout) must stay a final check, looked at rarely, so
decisions about training data and classifier settings are made here instead. The pipeline of
config.yml runs in-process with Rasa's own components (khmer_nlu.KhmerTokenizer,
CountVectorsFeaturizer, the embedding, khmer_nlu.LinearIntentClassifier), refitted on every
fold; only the untrainable steps (tokens, the embedding) are computed once and shared.

Prints accuracy and macro-F1 per language (mean over seeds), and with --details each
intent's recall per language and the most frequent confusions, so weak Khmer intents show up.
`--C` and `--dense-weight` take several values to compare classifier settings side by side.

Adding examples changes what CV tests on, so before/after figures would not compare like with
like. `--test-ref REF` keeps the test items fixed: only examples that existed at git revision
REF are split into folds and scored; examples added since are always in the training part.

    .venv-rasa/bin/python bench/nlu_cv.py --details
    .venv-rasa/bin/python bench/nlu_cv.py --C 10 30 100 --dense-weight 2 4 8
    .venv-rasa/bin/python bench/nlu_cv.py --test-ref HEAD~3
    .venv-rasa/bin/python bench/nlu_cv.py --errors km

`--errors LANGUAGE` lists that language's training examples misclassified in most runs, with
the intent they went to: what to look at when writing new examples (training data only).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before Rasa loads TensorFlow
sys.path.insert(0, str(ROOT))

from khmer_nlu.metrics import Scores, language_bucket, score  # noqa: E402

FOLDS = 5
SEEDS = (0, 1, 2)
TOP_CONFUSIONS = 25
TOKENIZER = "khmer_nlu.KhmerTokenizer"
COUNTS = "CountVectorsFeaturizer"
WORD_COUNTS = "khmer_nlu.KhmerWordCountsFeaturizer"  # word counts of the segmenter's words
EMBEDDING = "khmer_nlu.MultilingualEmbeddingFeaturizer"
LINEAR = "khmer_nlu.LinearIntentClassifier"
IGNORED = {"FallbackClassifier"}  # does not change the predicted intent that is scored


@dataclass(frozen=True)
class Example:
    """One training example: text, intent, language bucket and the file it came from."""

    text: str
    intent: str
    language: str


def parse_examples(content: str) -> list[Example]:
    """Every example of one Rasa NLU YAML document."""
    examples = []
    for block in (yaml.safe_load(content) or {}).get("nlu", []):
        for line in block.get("examples", "").splitlines():
            text = line.strip()
            if text.startswith("- "):
                text = text[2:].strip()
                examples.append(Example(text, block["intent"], language_bucket(text)))
    return examples


def load_examples(folder: Path) -> list[Example]:
    """Every example of the Rasa NLU YAML files in `folder`."""
    examples = []
    for path in sorted(folder.glob("*.yml")):
        examples += parse_examples(path.read_text(encoding="utf-8"))
    return examples


def examples_at(ref: str, folder: Path) -> set[Example]:
    """The examples of `folder` as committed at git revision `ref`."""
    relative = folder.resolve().relative_to(ROOT)
    listing = subprocess.run(["git", "ls-tree", "--name-only", f"{ref}:{relative}"], cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout.split()
    found: set[Example] = set()
    for name in (n for n in listing if n.endswith(".yml")):
        content = subprocess.run(["git", "show", f"{ref}:{relative}/{name}"], cwd=ROOT,
                                 check=True, capture_output=True, text=True).stdout
        found.update(parse_examples(content))
    return found


def pipeline_config(path: Path) -> list[dict[str, Any]]:
    """The NLU pipeline of a Rasa config file; refuses components this script can't run."""
    pipeline = yaml.safe_load(path.read_text(encoding="utf-8"))["pipeline"]
    known = {TOKENIZER, COUNTS, WORD_COUNTS, EMBEDDING, LINEAR} | IGNORED
    unknown = [c["name"] for c in pipeline if c["name"] not in known]
    if unknown:
        raise SystemExit(f"nlu_cv.py cannot run {unknown}; extend it or use `rasa test nlu`")
    return [c for c in pipeline if c["name"] not in IGNORED]


class Pipeline:
    """config.yml's components, built with Rasa's own classes in a scratch model storage."""

    def __init__(self, components: list[dict[str, Any]], storage_dir: Path) -> None:
        from rasa.engine.graph import ExecutionContext, GraphSchema
        from rasa.engine.storage.local_model_storage import LocalModelStorage

        self.components = components
        self.storage = LocalModelStorage(storage_dir)
        self.context = ExecutionContext(GraphSchema({}), node_name="cv")
        self.counter = itertools.count()

    def _create(self, cls: Any, config: dict[str, Any]) -> Any:
        from rasa.engine.storage.resource import Resource

        options = {k: v for k, v in config.items() if k != "name"}
        resource = Resource(f"{cls.__name__}{next(self.counter)}")
        return cls.create({**cls.get_default_config(), **options}, self.storage, resource,
                          self.context)

    def prepare(self, examples: list[Example]) -> list[Any]:
        """Messages tokenised and embedded once (these steps learn nothing from the data)."""
        from rasa.shared.nlu.training_data.message import Message

        from khmer_nlu.embedding import MultilingualEmbeddingFeaturizer
        from khmer_nlu.tokenizer import KhmerTokenizer

        messages = [Message.build(text=e.text, intent=e.intent) for e in examples]
        for config in self.components:
            if config["name"] == TOKENIZER:
                self._create(KhmerTokenizer, config).process(messages)
            elif config["name"] == EMBEDDING:
                self._create(MultilingualEmbeddingFeaturizer, config).process(messages)
        return messages

    def fold_features(self, prepared: list[Any], train: list[int], test: list[int]
                      ) -> tuple[list[Any], list[Any]]:
        """Copies of the prepared messages; n-gram counts fitted on the fold's training part."""
        from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
            CountVectorsFeaturizer,
        )
        from rasa.shared.nlu.training_data.message import Message
        from rasa.shared.nlu.training_data.training_data import TrainingData

        from khmer_nlu.featurizer import KhmerWordCountsFeaturizer

        counters = {COUNTS: CountVectorsFeaturizer, WORD_COUNTS: KhmerWordCountsFeaturizer}

        def copy(message: Message) -> Message:
            return Message(data=dict(message.data), features=list(message.features))

        train_messages = [copy(prepared[i]) for i in train]
        test_messages = [copy(prepared[i]) for i in test]
        for config in self.components:
            if config["name"] in counters:
                featurizer = self._create(counters[config["name"]], config)
                featurizer.train(TrainingData(train_messages))
                featurizer.process(train_messages)
                featurizer.process(test_messages)
        return train_messages, test_messages

    def classify(self, overrides: dict[str, Any], train_messages: list[Any],
                 test_messages: list[Any]) -> list[str]:
        """Trains the linear classifier (config.yml's settings + overrides); predicts intents."""
        from rasa.shared.nlu.constants import INTENT
        from rasa.shared.nlu.training_data.training_data import TrainingData

        from khmer_nlu.classifier import LinearIntentClassifier

        config = next(c for c in self.components if c["name"] == LINEAR)
        classifier = self._create(LinearIntentClassifier, {**config, **overrides})
        classifier.train(TrainingData(train_messages))
        copies = [type(m)(data={k: v for k, v in m.data.items() if k != INTENT},
                          features=list(m.features)) for m in test_messages]
        classifier.process(copies)
        return [m.get(INTENT)["name"] for m in copies]


def folds(examples: list[Example], tested: list[int], seed: int
          ) -> list[tuple[list[int], list[int]]]:
    """Stratified folds of the `tested` examples by (intent, language); the rest always train."""
    from sklearn.model_selection import StratifiedKFold

    always = sorted(set(range(len(examples))) - set(tested))
    labels = [f"{examples[i].intent}|{examples[i].language}" for i in tested]
    splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    return [([tested[i] for i in a] + always, [tested[i] for i in b])
            for a, b in splitter.split(labels, labels)]


def report_errors(examples: list[Example], predictions: list[list[str]], language: str) -> None:
    """The examples of `language` misclassified in more than half of the runs, by intent."""
    wrong = []
    for j, example in enumerate(examples):
        if example.language != language:
            continue
        guesses = Counter(run[j] for run in predictions if run[j] != example.intent)
        if sum(guesses.values()) * 2 > len(predictions):
            wrong.append((example.intent, guesses.most_common(1)[0][0], example.text))
    print(f"\n  {language} examples misclassified in most runs ({len(wrong)}):")
    for intent, guess, text in sorted(wrong):
        print(f"  {intent:<28} -> {guess:<28} {text}")


def report(examples: list[Example], predictions: list[list[str]], details: bool) -> None:
    """Per-language scores averaged over seeds; with details, per-intent recall and confusions."""
    by_language: dict[str, list[Scores]] = defaultdict(list)
    for predicted in predictions:
        pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for example, guess in zip(examples, predicted, strict=True):
            pairs[example.language].append((example.intent, guess))
        for language, found in pairs.items():
            by_language[language].append(score(found))
    for language in sorted(by_language):
        runs = by_language[language]
        accuracies = [s.accuracy for s in runs]
        print(f"  {language}: {runs[0].messages} examples  accuracy {mean(accuracies):.3f} "
              f"(min {min(accuracies):.3f}, max {max(accuracies):.3f})  "
              f"macro-F1 {mean([s.macro_f1 for s in runs]):.3f}")
    if "km" in by_language and "en" in by_language:
        gap = (mean([s.accuracy for s in by_language["en"]])
               - mean([s.accuracy for s in by_language["km"]]))
        print(f"  en - km: {gap:+.3f}")
    if not details:
        return
    hits: Counter[tuple[str, str]] = Counter()
    totals: Counter[tuple[str, str]] = Counter()
    confusions: Counter[tuple[str, str, str]] = Counter()
    for predicted in predictions:
        for example, guess in zip(examples, predicted, strict=True):
            totals[(example.intent, example.language)] += 1
            if guess == example.intent:
                hits[(example.intent, example.language)] += 1
            else:
                confusions[(example.language, example.intent, guess)] += 1
    print(f"\n  {'intent':<30}{'km recall':>10}{'en recall':>10}")
    for intent in sorted({e.intent for e in examples}):
        cells = []
        for language in ("km", "en"):
            total = totals[(intent, language)]
            cells.append(f"{hits[(intent, language)] / total:>10.2f}" if total else f"{'-':>10}")
        print(f"  {intent:<30}{''.join(cells)}")
    runs = len(predictions)
    print(f"\n  most frequent confusions (count per run, over {runs} run(s)):")
    for (language, target, guess), count in confusions.most_common(TOP_CONFUSIONS):
        print(f"  {language}  {target:<28} -> {guess:<28} {count / runs:5.1f}")


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "nlu")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--C", type=float, nargs="+", default=None, dest="c_values",
                        help="LinearIntentClassifier C values to compare (default: config.yml)")
    parser.add_argument("--dense-weight", type=float, nargs="+", default=None,
                        help="embedding weights to compare (default: config.yml)")
    parser.add_argument("--test-ref", default=None,
                        help="score only examples that existed at this git revision")
    parser.add_argument("--details", action="store_true",
                        help="per-intent recall by language and the top confusions")
    parser.add_argument("--errors", metavar="LANGUAGE", choices=("km", "en"), default=None,
                        help="list the examples of this language misclassified in most runs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    examples = load_examples(args.data)
    tested = list(range(len(examples)))
    if args.test_ref:
        before = examples_at(args.test_ref, args.data)
        tested = [i for i, e in enumerate(examples) if e in before]
    components = pipeline_config(args.config)
    grid: list[dict[str, Any]] = [{}]
    if args.c_values:
        grid = [{**g, "C": c} for g in grid for c in args.c_values]
    if args.dense_weight:
        grid = [{**g, "dense_weight": w} for g in grid for w in args.dense_weight]
    languages = Counter(e.language for e in examples)
    print(f"{len(examples)} training examples ({dict(sorted(languages.items()))}), "
          f"{FOLDS}-fold CV, seeds {args.seeds}", flush=True)
    if args.test_ref:
        print(f"scoring the {len(tested)} examples that existed at {args.test_ref}; "
              f"{len(examples) - len(tested)} added since always train", flush=True)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sp4all-cv-") as folder:
        pipeline = Pipeline(components, Path(folder))
        prepared = pipeline.prepare(examples)
        results: dict[int, list[list[str]]] = {i: [] for i in range(len(grid))}
        for seed in args.seeds:
            predicted: dict[int, list[str]] = {i: [""] * len(examples) for i in range(len(grid))}
            for train, test in folds(examples, tested, seed):
                train_messages, test_messages = pipeline.fold_features(prepared, train, test)
                for i, overrides in enumerate(grid):
                    guesses = pipeline.classify(overrides, train_messages, test_messages)
                    for index, guess in zip(test, guesses, strict=True):
                        predicted[i][index] = guess
            for i in range(len(grid)):
                results[i].append(predicted[i])
    scored = [examples[i] for i in tested]
    for i, overrides in enumerate(grid):
        print(f"\nsettings: {overrides or 'config.yml'}")
        runs = [[run[j] for j in tested] for run in results[i]]
        report(scored, runs, args.details)
        if args.errors:
            report_errors(scored, runs, args.errors)
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
