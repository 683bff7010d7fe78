"""The gate's arithmetic and the report: overall and per-language accuracy within the margin,
no intent with enough held-out examples losing too much F1."""

from __future__ import annotations

from typing import Any

from bot.training import GatePolicy, build_report, gate

POLICY = GatePolicy(margin=0.01, min_support=5, max_intent_drop=0.10)


def items(rows: list[tuple[str, str, str, int]]) -> list[dict[str, Any]]:
    """(language, intent, predicted, how many) -> evaluation items."""
    found = []
    for language, intent, predicted, count in rows:
        for n in range(count):
            found.append(
                {
                    "text": f"{language}-{intent}-{predicted}-{n}",
                    "intent": intent,
                    "predicted": predicted,
                    "confidence": 0.9,
                    "language": language,
                }
            )
    return found


def baseline() -> list[dict[str, Any]]:
    # 100 Khmer and 100 English messages, 90% right in each
    return items(
        [
            ("km", "greet", "greet", 45),
            ("km", "ask_nssf", "ask_nssf", 45),
            ("km", "ask_nssf", "report_problem", 10),
            ("en", "greet", "greet", 45),
            ("en", "ask_nssf", "ask_nssf", 45),
            ("en", "ask_nssf", "report_problem", 10),
        ]
    )


def moved(language: str, intent: str, old: str, new: str, count: int) -> list[dict[str, Any]]:
    """The baseline with ``count`` of (language, intent, old) predicted as ``new``."""
    result, left = [], count
    for item in baseline():
        if left and (item["language"], item["intent"], item["predicted"]) == (
            language,
            intent,
            old,
        ):
            item = {**item, "predicted": new}
            left -= 1
        result.append(item)
    return result


def test_the_same_scores_pass() -> None:
    assert gate(baseline(), baseline(), POLICY).passed


def test_a_drop_equal_to_the_margin_passes_and_one_more_message_fails() -> None:
    # one Khmer message wrong: km 0.90 -> 0.89 (= margin), overall 0.900 -> 0.895
    one = moved("km", "greet", "greet", "ask_nssf", 1)
    assert gate(baseline(), one, POLICY).passed
    two = moved("km", "greet", "greet", "ask_nssf", 2)
    result = gate(baseline(), two, POLICY)
    assert not result.passed
    assert result.reasons == ["km accuracy 0.900 -> 0.880 (-0.020; the allowed drop is 0.010)"]


def test_a_language_can_block_while_the_overall_accuracy_holds() -> None:
    # Khmer loses 3 messages while English gains 3: overall unchanged, Khmer -0.03
    fixed, after = 0, []
    for item in moved("km", "greet", "greet", "ask_nssf", 3):
        if item["language"] == "en" and item["predicted"] == "report_problem" and fixed < 3:
            item = {**item, "predicted": "ask_nssf"}
            fixed += 1
        after.append(item)
    result = gate(baseline(), after, POLICY)
    assert not result.passed
    assert result.reasons == ["km accuracy 0.900 -> 0.870 (-0.030; the allowed drop is 0.010)"]


def test_an_intent_with_enough_examples_that_collapses_blocks() -> None:
    base = baseline() + items([("km", "thank", "thank", 5)])
    worse = baseline() + items([("km", "thank", "thank", 4), ("km", "thank", "greet", 1)])
    # thank: F1 1.0 -> 0.889 (-0.111 > 0.10); km accuracy 105 msgs: 0.905 -> 0.895 (< margin)
    result = gate(base, worse, POLICY)
    assert not result.passed
    assert any(r.startswith("F1 of thank (5 held-out examples)") for r in result.reasons)


def test_an_intent_with_few_examples_does_not_block() -> None:
    base = baseline() + items([("km", "thank", "thank", 4)])
    worse = baseline() + items([("km", "thank", "thank", 3), ("km", "thank", "greet", 1)])
    result = gate(base, worse, GatePolicy(margin=0.05, min_support=5, max_intent_drop=0.10))
    assert result.passed


def test_the_report_shows_languages_intents_confusions_and_changes() -> None:
    after = moved("km", "ask_nssf", "report_problem", "ask_nssf", 4)
    report = build_report(baseline(), after, POLICY)
    assert report["gate"]["passed"]
    assert report["languages"]["km"]["before"]["accuracy"] == 0.9
    assert report["languages"]["km"]["after"]["accuracy"] == 0.94
    assert report["languages"]["en"]["after"]["accuracy"] == 0.9
    nssf = next(row for row in report["intents"] if row["intent"] == "ask_nssf")
    assert nssf["support"] == 110
    assert nssf["delta"] > 0
    assert report["confused"]["before"][0] == {
        "intent": "ask_nssf",
        "predicted": "report_problem",
        "count": 20,
    }
    assert len(report["changed"]["fixed"]) == 4
    assert report["changed"]["broken"] == []


def taught(rows: list[tuple[str, str, str, float]]) -> list[dict[str, Any]]:
    """(text, taught intent, what the live model read, its confidence) -> evaluation items."""
    return [
        {"text": t, "intent": i, "predicted": p, "confidence": c, "language": "km"}
        for t, i, p, c in rows
    ]


GREETINGS_AS_NSSF = taught(
    [(f"សួស្តី អ្នកគ្រូ {n}", "ask_nssf", "greet", 0.99) for n in range(6)]
    + [("hello sir", "ask_nssf", "greet", 0.97)]
)


def test_a_batch_that_overturns_what_the_live_model_is_sure_of_is_stopped() -> None:
    # the held-out scores do not move: only the contradiction check can see this batch
    result = gate(baseline(), baseline(), POLICY, GREETINGS_AS_NSSF)
    assert not result.passed
    assert len(result.reasons) == 1
    reason = result.reasons[0]
    assert reason.startswith("7 annotations relabel messages the live model reads")
    assert "greet -> ask_nssf x7" in reason
    assert "'សួស្តី អ្នកគ្រូ 0'" in reason
    report = build_report(baseline(), baseline(), POLICY, GREETINGS_AS_NSSF)
    assert not report["gate"]["passed"]
    assert report["contradictions"][0] == {
        "text": "សួស្តី អ្នកគ្រូ 0",
        "taught": "ask_nssf",
        "live": "greet",
        "confidence": 0.99,
    }


def test_corrections_of_unsure_or_fallback_readings_and_a_few_confident_ones_pass() -> None:
    corrections = taught(
        [
            ("ខ្ញុំចង់ធ្វើសំបុត្រកំណើតឲ្យកូន", "ask_birth_certificate", "nlu_fallback", 0.95),
            (
                "how do i get a birth certificate",
                "ask_birth_certificate",
                "ask_pregnancy_cash",
                0.84,
            ),
            ("ប.ស.ស. សម្រាប់អ្នកលក់ដូរ", "ask_nssf_self_employed", "ask_nssf", 0.89),
            ("សួស្តីបង", "greet", "greet", 0.99),  # already understood: no contradiction
        ]
        + [(f"confident but wrong {n}", "ask_where_to_enrol", "deny", 0.95) for n in range(5)]
    )
    # five confident contradictions are allowed (the policy's max_contradictions)
    assert POLICY.max_contradictions == 5
    assert gate(baseline(), baseline(), POLICY, corrections).passed
    strict = GatePolicy(margin=0.01, min_support=5, max_intent_drop=0.10, max_contradictions=4)
    assert not gate(baseline(), baseline(), strict, corrections).passed
