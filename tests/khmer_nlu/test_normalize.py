"""Normalisation: one form for what citizens type in several ways, offsets kept."""

import pytest

from khmer_nlu.normalize import normalize, normalize_with_offsets

ZWSP = "\u200b"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (f"ខ្ញុំ{ZWSP}ចង់{ZWSP}ដឹង", "ខ្ញុំចង់ដឹង"),  # zero-width spaces between words
        ("ថ្នាក់ទី១០", "ថ្នាក់ទី10"),  # Khmer digits
        ("៨០០០០ រៀល", "80000 រៀល"),
        ("សួស្ដី", "សួស្តី"),  # subscript DA typed for subscript TA
        ("ធ្វេី", "ធ្វើ"),  # composite vowel typed in two keystrokes
        ("ជ្រេាះ", "ជ្រោះ"),
        ("ចំា", "ចាំ"),  # nikahit typed before the vowel
        ("ខ្ញំុ", "ខ្ញុំ"),  # nikahit typed before the u vowel
        ("ជួយឱ្យខ្ញុំ", "ជួយឲ្យខ្ញុំ"),  # the three spellings of "give / for" people type
        ("ជួយអោយខ្ញុំ", "ជួយឲ្យខ្ញុំ"),
        ("ជួយឲ្យខ្ញុំ", "ជួយឲ្យខ្ញុំ"),
        ("អរគុណណណណ", "អរគុណណ"),  # emphasis
        ("thanksssss", "thankss"),
        ("ពពោះ", "ពពោះ"),  # a real double letter stays
        ("ＮＳＳＦ", "NSSF"),  # full-width Latin
    ],
)
def test_normalize(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


def test_offsets_point_into_the_original_text() -> None:
    typed = f"ប័ណ្ណ{ZWSP}ក្រ១"
    norm = normalize_with_offsets(typed)
    assert norm.text == "ប័ណ្ណក្រ1"
    start, end = norm.span(norm.text.index("ក្រ"), len(norm.text))
    assert typed[start:end] == "ក្រ១"


def test_a_two_character_fix_maps_to_both_characters() -> None:
    typed = "សួស្ដី"
    norm = normalize_with_offsets(typed)
    assert norm.span(0, len(norm.text)) == (0, len(typed))
