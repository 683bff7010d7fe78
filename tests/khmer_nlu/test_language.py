"""Which language the citizen wrote in."""

import pytest

from khmer_nlu import ENGLISH, KHMER, detect_language


@pytest.mark.parametrize(
    "text",
    [
        "សួស្តីបង",
        "ខ្ញុំបាត់ប័ណ្ណសមធម៌",
        "equity card បាត់ហើយ ធ្វើម៉េចបង",  # mixed, mostly Khmer
        "ចង់ដឹងពី NSSF",
        "sousdey bong",  # romanised Khmer
        "orkun bong",
        "knhom ot mean luy te",
    ],
)
def test_khmer(text: str) -> None:
    assert detect_language(text) == KHMER


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "I lost my equity card",
        "how much is the scholarship for grade 10",
        "my wife is pregnent what money we get",
    ],
)
def test_english(text: str) -> None:
    assert detect_language(text) == ENGLISH


NO_SIGNAL = ["", "ok", "OK", "NSSF", "2", "១០", "👍", "?"]
PAYLOADS = ["/affirm", '/inform{"equity_level": "1"}']


@pytest.mark.parametrize("text", NO_SIGNAL + PAYLOADS)
def test_no_signal_keeps_the_current_language(text: str) -> None:
    assert detect_language(text) is None
