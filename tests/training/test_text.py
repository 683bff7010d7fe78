"""Grouping keys and masking of citizens' messages (real Khmer, real ways of writing)."""

from __future__ import annotations

import pytest

from bot.training import group_key, mask, normalise

ZWSP = "\u200b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Cambodian mobile numbers in the ways people type them
        ("ខលមកលេខ 012 345 678 ផង", "ខលមកលេខ [redacted] ផង"),
        ("call me +855 97 123 4567 please", "call me [redacted] please"),
        ("លេខខ្ញុំ ០១២៣៤៥៦៧៨", "លេខខ្ញុំ [redacted]"),
        # names people give for themselves
        ("ខ្ញុំឈ្មោះ សុខ ដារា ចង់សួរពីប័ណ្ណសមធម៌", "ខ្ញុំឈ្មោះ [name] ចង់សួរពីប័ណ្ណសមធម៌"),
        ("ឈ្មោះខ្ញុំគឺ ចាន់ថា រស់នៅកំពត", "ឈ្មោះខ្ញុំគឺ [name] រស់នៅកំពត"),
        ("My name is Sok Dara and I lost my card", "My name is [name] and I lost my card"),
        ("my name is dara, where do i enrol", "my name is [name], where do i enrol"),
        # "ចុះឈ្មោះ" is "to register": not a name
        ("ចុះឈ្មោះ ប.ស.ស. នៅណា", "ចុះឈ្មោះ ប.ស.ស. នៅណា"),
        ("ខ្ញុំមានឈ្មោះក្នុងបញ្ជីក្រីក្រទេ", "ខ្ញុំមានឈ្មោះក្នុងបញ្ជីក្រីក្រទេ"),
    ],
)
def test_masks_phone_numbers_and_names(text: str, expected: str) -> None:
    assert mask(text) == expected


def test_the_same_question_written_differently_has_one_key() -> None:
    variants = [
        "ធ្វើប័ណ្ណសមធម៌ ត្រូវទៅណាមុន",
        f"ធ្វើ{ZWSP}ប័ណ្ណ{ZWSP}សមធម៌ ត្រូវ{ZWSP}ទៅ{ZWSP}ណា{ZWSP}មុន??",
        "ធ្វើប័ណ្ណសមធម៌ត្រូវទៅណាមុន ។",
    ]
    assert len({group_key(v) for v in variants}) == 1
    assert group_key(variants[0]) == "ធ្វើប័ណ្ណសមធម៌ត្រូវទៅណាមុន"


def test_normalisation_keeps_khmer_vowel_signs_and_folds_digits_and_case() -> None:
    assert normalise("ប័ណ្ណសមធម៌") == "ប័ណ្ណសមធម៌"  # the final sign ៌ is not punctuation
    assert normalise("ក្រ២") == normalise("ក្រ2") == "ក្រ2"
    assert normalise("  Hello!!! ") == normalise("HELLO") == "hello"
    assert normalise("pleaseeeee") == normalise("pleasee")  # emphasis, as khmer_nlu does
    assert normalise("សួស្ដី") == normalise("សួស្តី")  # subscript ដ typed for ត
    assert normalise("អរគុណណណណ") == "អរគុណណ"


def test_two_phone_numbers_group_together() -> None:
    assert group_key("ខលមក 012345678") == group_key("ខលមក 097 765 4321")
