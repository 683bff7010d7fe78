"""Word segmentation of Khmer chat messages."""

import pytest

from khmer_nlu.normalize import normalize
from khmer_nlu.segment import get_segmenter, split_words

ZWSP = "\u200b"


def words(text: str, segmenter: str = "khmercut") -> list[str]:
    return [w.text for w in split_words(text, segmenter)]


def test_unspaced_khmer_is_split_into_words() -> None:
    assert words("ខ្ញុំចង់ដឹងអំពីប័ណ្ណសមធម៌") == ["ខ្ញុំ", "ចង់", "ដឹង", "អំពី", "ប័ណ្ណ", "សមធម៌"]


def test_zero_width_spaces_give_the_same_words() -> None:
    plain = "ប្រពន្ធខ្ញុំមានផ្ទៃពោះតើបានលុយប៉ុន្មាន"
    spaced = ZWSP.join(["ប្រពន្ធ", "ខ្ញុំ", "មាន", "ផ្ទៃពោះ", "តើ", "បាន", "លុយ", "ប៉ុន្មាន"])
    assert words(spaced) == words(plain)
    assert len(words(plain)) >= 6


def test_mixed_khmer_and_english() -> None:
    assert words("equity card បាត់ហើយ!!") == ["equity", "card", "បាត់", "ហើយ"]
    assert words("NSSFបាត់") == ["NSSF", "បាត់"]


def test_khmer_digits_become_numbers_with_original_offsets() -> None:
    text = "កូនរៀនថ្នាក់ទី១០"
    found = split_words(text)
    assert [w.text for w in found][-1] == "10"
    assert text[found[-1].start : found[-1].end] == "១០"


def test_each_word_is_its_original_span_normalised() -> None:
    text = f"សួស្ដី{ZWSP}បង ខ្ញុំបាត់ប័ណ្ណ ថ្នាក់ទី១០"
    words = split_words(text)
    assert [w.text for w in words][-3:] == ["ថ្នាក់", "ទី", "10"]
    for word in words:
        assert normalize(text[word.start : word.end]) == word.text


def test_punctuation_and_emoji_are_not_words() -> None:
    assert words("សួស្តី។ 👍 ?") == ["សួស្តី"]


def test_without_segmenter_a_khmer_run_is_one_token() -> None:
    assert words("ខ្ញុំចង់ដឹង", "none") == ["ខ្ញុំចង់ដឹង"]


def test_unknown_segmenter_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown Khmer segmenter"):
        get_segmenter("nope")
