"""Keyword and phrase matching on word boundaries (khmer_nlu.match), with real Khmer text."""

from __future__ import annotations

import pytest

from khmer_nlu.match import PhraseMatcher

HIT = "វាយ"  # "hit", "beat"


@pytest.mark.parametrize(
    "text",
    [
        "ខ្ញុំរស់នៅស្វាយរៀង",  # Svay Rieng: វាយ is inside ស្វាយ
        "ស្រុកកៀនស្វាយ",  # Kien Svay
        "សូមផ្តល់ការវាយតម្លៃ",  # "please give a rating", a word the bot itself sends
        "ខេត្ត ស្វាយ រៀង",
    ],
)
def test_a_khmer_keyword_inside_another_word_is_not_found(text: str) -> None:
    assert PhraseMatcher([HIT]).found(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "ប្តីខ្ញុំវាយខ្ញុំ",  # "my husband hits me"
        "ប្តី\u200bខ្ញុំ\u200bវាយ\u200bខ្ញុំ",  # typed with zero-width spaces
        "គាត់ វាយ ខ្ញុំ",  # with spaces
        "វាយ",
    ],
)
def test_a_khmer_keyword_that_is_a_word_is_found(text: str) -> None:
    assert PhraseMatcher([HIT]).found(text) == [HIT]


def test_a_khmer_phrase_matches_with_or_without_spaces_and_with_khmer_digits() -> None:
    matcher = PhraseMatcher(["មិនទាន់ទទួលបានប្រាក់", "ក្រ2"])
    said = "ខ្ញុំ មិនទាន់ ទទួលបាន ប្រាក់ឧបត្ថម្ភ ពីរខែហើយ"
    assert matcher.found(said) == ["មិនទាន់ទទួលបានប្រាក់"]
    assert matcher.found("ប័ណ្ណសមធម៌ក្រ២") == ["ក្រ2"]  # ២ is normalised to 2 on both sides
    assert matcher.first("ក្រ២ ហើយមិនទាន់ទទួលបានប្រាក់") == "មិនទាន់ទទួលបានប្រាក់"


def test_latin_phrases_match_whole_words_only() -> None:
    matcher = PhraseMatcher(["hit me", "flood"])
    assert matcher.found("He HIT  me yesterday") == ["hit me"]
    assert matcher.found("the white mess") == []
    assert matcher.found("floods") == []
    assert matcher.found("a flood in Kampong Chhnang, ទឹកជំនន់") == ["flood"]


def test_found_keeps_the_order_of_the_list() -> None:
    matcher = PhraseMatcher(["ទឹកជំនន់", "urgent", "វាយ"])
    assert matcher.found("urgent វាយ ទឹកជំនន់") == ["ទឹកជំនន់", "urgent", "វាយ"]
    assert not PhraseMatcher([])
    assert matcher.matches("urgent")
    assert not matcher.matches("ស្វាយ")


def test_mask_takes_out_the_phrases_and_keeps_the_rest() -> None:
    places = PhraseMatcher(["ដំរីស្លាប់", "ស្វាយរៀង"])
    masked = places.mask("ខ្ញុំនៅដំរីស្លាប់ ម្តាយជិតស្លាប់ ស្វាយ រៀង")
    assert "ដំរី" not in masked
    assert "រៀង" not in masked
    assert PhraseMatcher(["ស្លាប់"]).found(masked) == ["ស្លាប់"]
    assert PhraseMatcher(["ស្លាប់"]).found(places.mask("ខ្ញុំនៅដំរីស្លាប់")) == []
