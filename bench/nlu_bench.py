"""NLU benchmark: segmenters, intent accuracy per language, parse latency, training cost.

Everything is measured side by side in one run on this machine and printed as a table, so
the numbers compare like with like:

1. Khmer segmenters (khmercut, khmer-nltk, ICU, none): speed, and word-boundary F1 against
   the boundaries our data writers marked with zero-width spaces. Caveat: some of those lines
   had their zero-width spaces placed with khmercut's help, which favours khmercut here; the
   intent accuracy in (2) and the khPOS figures in ../shared/research/khmer-nlu.md (khmercut
   0.93, ICU 0.72 word F1) are the independent evidence.
2. The NLU pipeline of config.yml trained on data/ with each segmenter (and, with --diet,
   the DIET baseline), scored on the held-out set (tests/nlu_heldout, never trained on):
   accuracy and macro-F1 per language, training time.
3. The full assistant (config.yml, all of data/): training time and peak memory, then a Rasa
   server with that model: /model/parse latency p50/p99 and the server's peak memory.

Targets (issue #2): Khmer held-out accuracy >= 0.90 and within 3 points of English; parse
p50 <= 50 ms. Run with `make bench` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before Rasa loads TensorFlow
sys.path.insert(0, str(ROOT))

from khmer_nlu.metrics import Scores, score_by_language  # noqa: E402
from khmer_nlu.normalize import normalize  # noqa: E402
from khmer_nlu.segment import split_words  # noqa: E402

RASA = str(ROOT / ".venv-rasa" / "bin" / "rasa")
SEGMENTERS = ("khmercut", "khmer-nltk", "icu", "none")
ZWSP = "\u200b"
KHMER_TARGET = 0.90
MAX_GAP = 0.03
P50_TARGET_MS = 50.0


@dataclass(frozen=True)
class PipelineResult:
    """Held-out scores per language, fallbacks and training time of one NLU pipeline."""

    scores: dict[str, Scores]
    fallbacks: int
    seconds: float


@dataclass(frozen=True)
class Run:
    """Wall time and peak resident memory of one child process."""

    seconds: float
    peak_mib: float


def run(command: list[str], cwd: Path = ROOT) -> Run:
    """Run a command to completion; measure it with wait4 (this child only).

    Rasa's cache is off so every training pays for every component, as a first training does.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
           "RASA_MAX_CACHE_SIZE": "0"}
    with tempfile.TemporaryFile() as log:  # a pipe would fill up with progress bars and block
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-3000:]
            raise SystemExit(f"{' '.join(command)} failed:\n{tail}")
    return Run(seconds, usage.ru_maxrss / 1024)


def load_examples(folder: Path) -> list[tuple[str, str]]:
    """(text, intent) of every example in the Rasa NLU YAML files of a folder."""
    examples = []
    for path in sorted(folder.glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            for line in block.get("examples", "").splitlines():
                text = line.strip()
                if text.startswith("- "):
                    examples.append((text[2:].strip(), block["intent"]))
    return examples


def boundaries(words: list[str]) -> set[int]:
    """Inner word-boundary positions of a segmentation."""
    positions, cursor = set(), 0
    for word in words[:-1]:
        cursor += len(word)
        positions.add(cursor)
    return positions


def installed(segmenter: str) -> bool:
    """Whether an optional segmenter (requirements/bench.txt) can be loaded."""
    try:
        split_words("ខ្ញុំ", segmenter)
    except ImportError:
        return False
    return True


def bench_segmenters(texts: list[str]) -> list[list[str]]:
    """Speed and boundary F1 of each segmenter; gold = lines written with zero-width spaces."""
    khmer = [t for t in texts if any("\u1780" <= c <= "\u17ff" for c in t)]
    gold = [t for t in khmer if ZWSP in t]
    rows = []
    for name in SEGMENTERS:
        if not installed(name):
            rows.append([name, "not installed", "", ""])
            continue
        started = time.perf_counter()
        for text in khmer:
            split_words(text, name)
        per_second = len(khmer) / (time.perf_counter() - started)
        tp = fp = fn = 0
        for text in gold:
            for run_text in text.split():
                if ZWSP not in run_text:
                    continue
                expected = boundaries([normalize(w) for w in run_text.split(ZWSP) if w])
                found = boundaries([w.text for w in split_words(run_text.replace(ZWSP, ""), name)])
                tp += len(expected & found)
                fp += len(found - expected)
                fn += len(expected - found)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        rows.append([name, f"{per_second:,.0f}", f"{f1:.3f}", str(len(gold))])
    return rows


EMBEDDING = "khmer_nlu.MultilingualEmbeddingFeaturizer"
LINEAR = "khmer_nlu.LinearIntentClassifier"
DIET_BASELINE = {  # the first pipeline tried, kept as the baseline it was measured against
    "name": "DIETClassifier", "epochs": 100, "entity_recognition": False,
    "constrain_similarities": True, "random_seed": 1,
}


def config_with(segmenter: str, classifier: str, work: Path) -> Path:
    """config.yml with another segmenter, or DIET instead of the linear classifier."""
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    pipeline = []
    for component in config["pipeline"]:
        if component["name"] == "khmer_nlu.KhmerTokenizer":
            component["segmenter"] = segmenter
        if classifier == "diet" and component["name"] == EMBEDDING:
            continue
        if classifier == "diet" and component["name"] == LINEAR:
            component = DIET_BASELINE
        pipeline.append(component)
    config["pipeline"] = pipeline
    path = work / f"config-{segmenter}-{classifier}.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


async def predict(model: Path, texts: list[str]) -> tuple[list[str], int]:
    """Intent predicted for each text, and how many fell below the fallback threshold.

    As `rasa test nlu` does, a fallback is scored by the intent it replaced, so accuracy
    measures the classifier; the fallback count says how often the citizen is asked again.
    """
    from rasa.core.agent import Agent
    from rasa.nlu.classifiers import fallback_classifier
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    agent = Agent.load(str(model))
    predicted, fallbacks = [], 0
    for text in texts:
        parsed = await agent.parse_message(text)
        if fallback_classifier.is_fallback_classifier_prediction(parsed):
            fallbacks += 1
            parsed = fallback_classifier.undo_fallback_prediction(parsed)
        predicted.append(parsed["intent"]["name"])
    return predicted, fallbacks


def bench_pipelines(
    heldout: list[tuple[str, str]], variants: list[tuple[str, str]], work: Path
) -> dict[str, PipelineResult]:
    """Train the NLU on data/ per (segmenter, classifier); score on the held-out set."""
    results: dict[str, PipelineResult] = {}
    texts = [text for text, _ in heldout]
    for segmenter, classifier in variants:
        if not installed(segmenter):
            continue
        name = f"{segmenter}-{classifier}"
        training = run([RASA, "train", "nlu", "--config",
                        str(config_with(segmenter, classifier, work)), "--nlu", "data/nlu",
                        "--out", str(work), "--fixed-model-name", name])
        predicted, fallbacks = asyncio.run(predict(work / f"{name}.tar.gz", texts))
        scores = score_by_language(
            (text, target, guess)
            for (text, target), guess in zip(heldout, predicted, strict=True)
        )
        results[name] = PipelineResult(scores, fallbacks, training.seconds)
        print(f"  trained and scored {name} in {training.seconds:.0f} s", flush=True)
    return results


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of a running process (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_parse_latency(model: Path, texts: list[str]) -> tuple[float, float, float]:
    """p50 and p99 of POST /model/parse on a Rasa server, and the server's peak memory."""
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    server = subprocess.Popen(
        [RASA, "run", "--enable-api", "--model", str(model), "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("Rasa server did not start") from None
                time.sleep(1)
        latencies = []
        for text in texts[:20] + texts:  # the first 20 warm the server up
            body = json.dumps({"text": text}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/model/parse", data=body,
                headers={"Content-Type": "application/json"},
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                response.read()
            latencies.append((time.perf_counter() - started) * 1000)
        latencies = sorted(latencies[20:])
        p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
        return statistics.median(latencies), p99, peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=False))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)) for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--diet", action="store_true",
                        help="also train the DIET baseline (about 10 more minutes)")
    args = parser.parse_args()
    training = load_examples(ROOT / "data" / "nlu")
    heldout = load_examples(ROOT / "tests" / "nlu_heldout")
    print(f"{len(training)} training and {len(heldout)} held-out examples\n", flush=True)

    print("1. Khmer segmenters", flush=True)
    print(table(["segmenter", "sentences/s", "boundary F1", "gold lines"],
                bench_segmenters([t for t, _ in training + heldout])), "\n", flush=True)

    with tempfile.TemporaryDirectory(prefix="sp4all-bench-") as folder:
        work = Path(folder)
        print("2. Intent classification on the held-out set", flush=True)
        variants = [(segmenter, "linear") for segmenter in SEGMENTERS]
        if args.diet:
            variants.append(("khmercut", "diet"))
        results = bench_pipelines(heldout, variants, work)
        rows = []
        none = Scores(0, 0.0, 0.0)
        for name, result in results.items():
            km, en = result.scores.get("km", none), result.scores.get("en", none)
            rows.append([name, f"{km.accuracy:.3f}", f"{km.macro_f1:.3f}", f"{en.accuracy:.3f}",
                         f"{en.macro_f1:.3f}", f"{en.accuracy - km.accuracy:+.3f}",
                         f"{result.fallbacks / len(heldout):.1%}", f"{result.seconds:.0f}"])
        print(table(["pipeline", "km accuracy", "km macro-F1", "en accuracy", "en macro-F1",
                     "en - km", "fallback", "train s"], rows), "\n", flush=True)

        print("3. The full assistant (config.yml)", flush=True)
        training_run = run([RASA, "train", "--force", "--out", str(work),
                            "--fixed-model-name", "full"])
        p50, p99, server_mib = bench_parse_latency(work / "full.tar.gz", [t for t, _ in heldout])
        print(table(["measure", "value"], [
            ["training time (s)", f"{training_run.seconds:.0f}"],
            ["training peak memory (MiB)", f"{training_run.peak_mib:.0f}"],
            ["/model/parse p50 (ms)", f"{p50:.1f}"],
            ["/model/parse p99 (ms)", f"{p99:.1f}"],
            ["Rasa server peak memory (MiB)", f"{server_mib:.0f}"],
        ]), "\n")

    chosen = results["khmercut-linear"].scores
    km, en = chosen["km"].accuracy, chosen["en"].accuracy
    print("Targets with the chosen pipeline (config.yml: khmercut + linear):")
    print(f"  Khmer accuracy {km:.3f} >= {KHMER_TARGET}: "
          f"{'met' if km >= KHMER_TARGET else 'MISSED'}")
    print(f"  English - Khmer {en - km:+.3f} <= {MAX_GAP}: "
          f"{'met' if en - km <= MAX_GAP else 'MISSED'}")
    print(f"  parse p50 {p50:.1f} ms <= {P50_TARGET_MS}: "
          f"{'met' if p50 <= P50_TARGET_MS else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
