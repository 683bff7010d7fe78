"""Text helpers: what citizens type must match what the knowledge base says."""

from __future__ import annotations

import pytest

from actions.text import domain_of, fold, format_date, format_number, to_khmer_digits


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("ថ្នាក់ទី\u200b១០", "ថ្នាក់ទី10"),  # zero-width space and Khmer digits
        ("Kompong  Cham", "kompong cham"),  # case and repeated spaces
        ("ស្ដី", "ស្តី"),  # subscript DA typed for subscript TA
        ("\u200bបាត់ដំបង\u200c", "បាត់ដំបង"),
        ("Takéo", "takeo"),  # accents do not matter
    ],
)
def test_fold_gives_one_form_for_what_looks_the_same(typed: str, folded: str) -> None:
    assert fold(typed) == folded


def test_khmer_digits_replace_ascii_digits_only() -> None:
    assert to_khmer_digits("Grade 10, 2026") == "Grade ១០, ២០២៦"


@pytest.mark.parametrize(
    ("value", "language", "expected"),
    [
        (20000, "en", "20,000"),
        (1520000, "en", "1,520,000"),
        (20000, "km", "២០.០០០"),
        (400000, "km", "៤០០.០០០"),
        (2.6, "en", "2.6"),
        (2.6, "km", "២,៦"),
        (800, "km", "៨០០"),
    ],
)
def test_numbers_follow_the_language(value: float, language: str, expected: str) -> None:
    assert format_number(value, language) == expected


@pytest.mark.parametrize(
    ("date", "language", "expected"),
    [
        ("2026-11-25", "en", "25 Nov 2026"),
        ("2026-11-25", "km", "២៥ វិច្ឆិកា ២០២៦"),
        ("2022-07", "en", "Jul 2022"),
        ("2022-07", "km", "កក្កដា ២០២២"),
        ("2024", "en", "2024"),
        ("~2020-05", "en", "about May 2020"),
        ("~2020-05", "km", "ប្រហែល ឧសភា ២០២០"),
        ("undated", "en", "undated"),
        ("undated", "km", "គ្មានកាលបរិច្ឆេទ"),
    ],
)
def test_dates_read_naturally(date: str, language: str, expected: str) -> None:
    assert format_date(date, language) == expected


def test_format_date_rejects_what_is_not_a_date() -> None:
    with pytest.raises(ValueError, match="2024-13"):
        format_date("2024-13", "en")


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.nssf.gov.kh/2018/10/22/x/", "nssf.gov.kh"),
        ("https://m.phnompenhpost.com/national/x", "phnompenhpost.com"),
        ("https://idpoor.gov.kh/en/faqs/", "idpoor.gov.kh"),
    ],
)
def test_domain_of_a_source(url: str, domain: str) -> None:
    assert domain_of(url) == domain
