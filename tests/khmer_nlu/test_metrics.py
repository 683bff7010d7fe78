"""Per-language intent metrics."""

import pytest

from khmer_nlu.metrics import score, score_by_language


def test_accuracy_and_macro_f1() -> None:
    pairs = [("greet", "greet"), ("greet", "greet"), ("thank", "greet"), ("thank", "thank")]
    result = score(pairs)
    assert result.messages == 4
    assert result.accuracy == pytest.approx(0.75)
    # greet: P=2/3 R=1 F1=0.8; thank: P=1 R=1/2 F1=2/3
    assert result.macro_f1 == pytest.approx((0.8 + 2 / 3) / 2)


def test_scores_are_split_by_the_language_of_each_message() -> None:
    scores = score_by_language(
        [
            ("សួស្តីបង", "greet", "greet"),
            ("sousdey bong", "greet", "thank"),  # romanised Khmer is Khmer
            ("hello", "greet", "greet"),
        ]
    )
    assert scores["km"].messages == 2
    assert scores["km"].accuracy == pytest.approx(0.5)
    assert scores["en"].accuracy == pytest.approx(1.0)


def test_no_pairs_scores_zero() -> None:
    assert score([]).messages == 0
