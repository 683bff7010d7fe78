"""Cutting text between grapheme clusters, with real Khmer (khmer_nlu.graphemes)."""

from __future__ import annotations

import pytest

from khmer_nlu.graphemes import COENG, is_boundary, last_boundary, shorten

WOMAN = "ស្ត្រី"  # ស + coeng + ត + coeng + រ + ី: one written syllable
SENTENCE = "ប្រាក់ឧបត្ថម្ភសម្រាប់ស្ត្រីមានផ្ទៃពោះ និងកុមារអាយុក្រោម២ឆ្នាំ"


def _dangling(text: str) -> bool:
    """A cut piece that ends on a coeng, or a piece that starts with a mark."""
    return text.endswith(COENG) or (bool(text) and not is_boundary("a" + text, 1))


def test_no_boundary_after_a_coeng_or_before_a_vowel_sign() -> None:
    assert [i for i in range(len(WOMAN) + 1) if is_boundary(WOMAN, i)] == [0, len(WOMAN)]


@pytest.mark.parametrize("limit", range(1, len(SENTENCE) + 1))
def test_every_cut_of_a_khmer_sentence_keeps_clusters_whole(limit: int) -> None:
    cut = last_boundary(SENTENCE, limit)
    assert cut <= limit
    head, tail = SENTENCE[:cut], SENTENCE[cut:]
    assert not _dangling(head)
    assert not _dangling(tail)
    short = shorten(SENTENCE, max(limit, 2))
    assert len(short) <= max(limit, 2)
    assert not short.rstrip("…").endswith(COENG)


def test_shorten_leaves_short_text_alone_and_handles_latin_and_emoji() -> None:
    assert shorten("Family Package", 20) == "Family Package"
    assert shorten("Scholarship for grade 10", 10) == "Scholarsh…"
    thumbs = "ok 👍🏽 thanks"
    assert shorten(thumbs, 6) == "ok 👍🏽…"
    assert shorten(thumbs, 5) == "ok…"  # not "ok 👍…": the skin tone stays with its emoji
