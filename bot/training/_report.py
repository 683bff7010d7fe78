"""Scores of a held-out evaluation, the gate, and the before/after report (pure functions).

An evaluation is the list scripts/evaluate_nlu.py writes: one item per held-out message
with its ``text``, target ``intent``, ``predicted`` intent, ``confidence`` and ``language``
(``km`` for Khmer script and romanised Khmer, as in scripts/check_nlu_report.py). The live
model's evaluation of the annotations themselves (data/nlu/learned.yml) has the same form:
there ``intent`` is what the admin taught.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._settings import GatePolicy

__all__ = [
    "GateResult",
    "Scores",
    "build_report",
    "confused_pairs",
    "contradictions",
    "gate",
    "intent_f1",
    "score",
    "scores_by_language",
]

Item = Mapping[str, Any]
EPSILON = 1e-9  # a drop exactly equal to the margin is allowed
TOP_CONFUSED = 10
TOP_CHANGED = 25
TOP_EXAMPLES = 3  # example texts per contradicted pair in the gate's reason
NO_INTENT = frozenset({"None", "nlu_fallback", ""})


@dataclass(frozen=True)
class Scores:
    """Accuracy and macro-F1 over a set of held-out messages."""

    messages: int
    accuracy: float
    macro_f1: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"messages": self.messages, "accuracy": self.accuracy, "macro_f1": self.macro_f1}


@dataclass(frozen=True)
class GateResult:
    """Whether the candidate may go live, and every reason it may not."""

    passed: bool
    reasons: list[str]
    contradictions: list[dict[str, Any]] = field(default_factory=list)  # see contradictions()


def _f1(pairs: Sequence[tuple[str, str]], label: str) -> float:
    tp = sum(1 for t, p in pairs if t == label and p == label)
    fp = sum(1 for t, p in pairs if t != label and p == label)
    fn = sum(1 for t, p in pairs if t == label and p != label)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _pairs(items: Iterable[Item]) -> list[tuple[str, str]]:
    return [(str(i["intent"]), str(i["predicted"])) for i in items]


def score(items: Iterable[Item]) -> Scores:
    """Accuracy, and the unweighted mean F1 of the intents that occur as targets."""
    pairs = _pairs(items)
    if not pairs:
        return Scores(0, 0.0, 0.0)
    labels = sorted({t for t, _ in pairs})
    macro = sum(_f1(pairs, label) for label in labels) / len(labels)
    return Scores(len(pairs), sum(1 for t, p in pairs if t == p) / len(pairs), macro)


def scores_by_language(items: Iterable[Item]) -> dict[str, Scores]:
    """Scores per language bucket."""
    buckets: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        buckets[str(item.get("language") or "en")].append(item)
    return {language: score(found) for language, found in sorted(buckets.items())}


def intent_f1(items: Iterable[Item]) -> dict[str, tuple[int, float]]:
    """Intent -> (held-out examples, F1) for every intent that is a target."""
    pairs = _pairs(items)
    support = Counter(t for t, _ in pairs)
    return {label: (support[label], _f1(pairs, label)) for label in sorted(support)}


def confused_pairs(items: Iterable[Item], top: int = TOP_CONFUSED) -> list[dict[str, Any]]:
    """The most frequent (target, predicted) mistakes."""
    mistakes = Counter((t, p) for t, p in _pairs(items) if t != p)
    ranked = sorted(mistakes.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"intent": t, "predicted": p, "count": n} for (t, p), n in ranked]


def _drop(label: str, before: float, after: float, allowed: float) -> str | None:
    if before - after > allowed + EPSILON:
        return (
            f"{label} {before:.3f} -> {after:.3f} ({after - before:+.3f};"
            f" the allowed drop is {allowed:.3f})"
        )
    return None


def contradictions(taught: Iterable[Item], policy: GatePolicy) -> list[dict[str, Any]]:
    """Annotations that give another intent to a text the live model reads confidently."""
    return [
        {
            "text": str(item["text"]),
            "taught": str(item["intent"]),
            "live": str(item["predicted"]),
            "confidence": float(item["confidence"]),
        }
        for item in taught
        if str(item["predicted"]) not in NO_INTENT
        and item["predicted"] != item["intent"]
        and float(item["confidence"]) >= policy.confident
    ]


def _contradiction_reason(found: Sequence[Mapping[str, Any]], policy: GatePolicy) -> str:
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in found:
        pairs[(row["live"], row["taught"])].append(row["text"])
    ranked = sorted(pairs.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    described = "; ".join(
        f"{live} -> {taught} x{len(texts)} (e.g. "
        + ", ".join(repr(t) for t in texts[:TOP_EXAMPLES])
        + ")"
        for (live, taught), texts in ranked
    )
    return (
        f"{len(found)} annotations relabel messages the live model reads with confidence"
        f" >= {policy.confident:.2f}: {described}; at most {policy.max_contradictions} are"
        " allowed: check these labels"
    )


def gate(
    before: Sequence[Item],
    after: Sequence[Item],
    policy: GatePolicy,
    taught: Sequence[Item] = (),
) -> GateResult:
    """Overall and per-language accuracy within the margin; no supported intent collapses;
    the annotations (``taught``, as the live model reads them) do not overturn much of what
    the live model is sure of."""
    reasons = []
    found_contradictions = contradictions(taught, policy)
    if len(found_contradictions) > policy.max_contradictions:
        reasons.append(_contradiction_reason(found_contradictions, policy))
    found = _drop("overall accuracy", score(before).accuracy, score(after).accuracy, policy.margin)
    if found:
        reasons.append(found)
    languages_after = scores_by_language(after)
    for language, scores in scores_by_language(before).items():
        later = languages_after.get(language)
        if later is None:
            reasons.append(f"no {language} messages were evaluated for the candidate")
            continue
        found = _drop(f"{language} accuracy", scores.accuracy, later.accuracy, policy.margin)
        if found:
            reasons.append(found)
    f1_after = intent_f1(after)
    for intent, (support, f1) in intent_f1(before).items():
        if support < policy.min_support:
            continue
        found = _drop(
            f"F1 of {intent} ({support} held-out examples)",
            f1,
            f1_after.get(intent, (0, 0.0))[1],
            policy.max_intent_drop,
        )
        if found:
            reasons.append(found)
    return GateResult(passed=not reasons, reasons=reasons, contradictions=found_contradictions)


def _changed(before: Sequence[Item], after: Sequence[Item]) -> dict[str, list[dict[str, Any]]]:
    """Messages the candidate now gets right (fixed) or wrong (broken)."""
    later = {(str(i["text"]), str(i["intent"])): str(i["predicted"]) for i in after}
    fixed, broken = [], []
    for item in before:
        key = (str(item["text"]), str(item["intent"]))
        if key not in later or later[key] == item["predicted"]:
            continue
        row = {
            "text": key[0],
            "intent": key[1],
            "before": item["predicted"],
            "after": later[key],
            "language": item.get("language"),
        }
        if later[key] == key[1]:
            fixed.append(row)
        elif item["predicted"] == key[1]:
            broken.append(row)
    return {"fixed": fixed[:TOP_CHANGED], "broken": broken[:TOP_CHANGED]}


def build_report(
    before: Sequence[Item],
    after: Sequence[Item],
    policy: GatePolicy,
    taught: Sequence[Item] = (),
) -> dict[str, Any]:
    """Everything the report page shows: scores before/after, per intent, confusions, gate."""
    result = gate(before, after, policy, taught)
    languages_before = scores_by_language(before)
    languages_after = scores_by_language(after)
    f1_before, f1_after = intent_f1(before), intent_f1(after)
    intents = []
    for intent in sorted(set(f1_before) | set(f1_after)):
        support, f1_was = f1_before.get(intent, (f1_after.get(intent, (0, 0.0))[0], 0.0))
        f1_now = f1_after.get(intent, (support, 0.0))[1]
        intents.append(
            {
                "intent": intent,
                "support": support,
                "f1_before": f1_was,
                "f1_after": f1_now,
                "delta": f1_now - f1_was,
                "gated": support >= policy.min_support,
            }
        )
    intents.sort(key=lambda row: (row["delta"], row["intent"]))
    return {
        "overall": {"before": score(before).as_dict(), "after": score(after).as_dict()},
        "languages": {
            language: {
                "before": languages_before[language].as_dict()
                if language in languages_before
                else None,
                "after": languages_after[language].as_dict()
                if language in languages_after
                else None,
            }
            for language in sorted(set(languages_before) | set(languages_after))
        },
        "intents": intents,
        "confused": {"before": confused_pairs(before), "after": confused_pairs(after)},
        "changed": _changed(before, after),
        "contradictions": result.contradictions[:TOP_CHANGED],
        "gate": {
            "passed": result.passed,
            "reasons": result.reasons,
            "margin": policy.margin,
            "min_support": policy.min_support,
            "max_intent_drop": policy.max_intent_drop,
            "confident": policy.confident,
            "max_contradictions": policy.max_contradictions,
        },
    }
