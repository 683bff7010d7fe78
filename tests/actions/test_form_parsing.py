"""Free-text answers to the eligibility questions, in Khmer, English and romanised Khmer."""

from __future__ import annotations

import pytest

from actions.parsing import parse_equity_level, parse_school_level, parse_work_status, parse_yes_no


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("1", "1"),
        ("១", "1"),
        ("ក្រ១", "1"),
        ("ក្រ ២", "2"),
        ("ក្រ-២", "2"),
        ("កម្រិត២", "2"),
        ("level 2", "2"),
        ("Poor 2", "2"),
        ("poor1", "1"),
        ("It is type 1", "1"),
        ("very poor", "1"),
        ("ក្រីក្រខ្លាំង", "1"),
        ("12", None),
        ("2024", None),
        ("level 3", None),
        ("I have a card", None),
        ('/inform{"equity_level": "1"}', None),
    ],
)
def test_equity_level(text: str, level: str | None) -> None:
    assert parse_equity_level(text) == level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("grade 4", "primary"),
        ("Grade 10", "upper_secondary"),
        ("ថ្នាក់ទី៤", "primary"),
        ("ថ្នាក់ទី ៩", "lower_secondary"),
        ("ថ្នាក់\u200bទី\u200b១២", "upper_secondary"),
        ("class 7", "lower_secondary"),
        ("she is in year 6", "primary"),
        ("11", "upper_secondary"),
        ("primary school", "primary"),
        ("បឋមសិក្សា", "primary"),
        ("secondary", "lower_secondary"),
        ("lower secondary", "lower_secondary"),
        ("អនុវិទ្យាល័យ", "lower_secondary"),
        ("high school", "upper_secondary"),
        ("upper secondary", "upper_secondary"),
        ("វិទ្យាល័យ", "upper_secondary"),
        ("grade 13", None),
        ("university", None),
        ("0", None),
    ],
)
def test_school_level(text: str, level: str | None) -> None:
    assert parse_school_level(text) == level


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("I work in a garment factory", "employee"),
        ("company staff", "employee"),
        ("employee", "employee"),
        ("ធ្វើការរោងចក្រ", "employee"),
        ("បុគ្គលិកក្រុមហ៊ុន", "employee"),
        ("I sell vegetables at the market", "self_employed"),
        ("street vendor", "self_employed"),
        ("tuk-tuk driver", "self_employed"),
        ("tuk tuk", "self_employed"),
        ("farmer", "self_employed"),
        ("លក់ដូរនៅផ្សារ", "self_employed"),
        ("ម៉ូតូឌុប", "self_employed"),
        ("ខ្ញុំលក់ដូរ", "self_employed"),  # one word for the segmenter: listed whole
        ("ឆ្លក់", None),  # លក់ "sell" is not a word here: matched on word boundaries only
        ("civil servant", "civil_servant"),
        ("I am a teacher in a public school", "civil_servant"),
        ("police", "civil_servant"),
        ("មន្ត្រីរាជការ", "civil_servant"),
        ("គ្រូបង្រៀន", "civil_servant"),
        ("unemployed", "none"),
        ("I have no job", "none"),
        ("គ្មានការងារ", "none"),
        ("អត់មានការងារធ្វើ", "none"),
        ("hello", None),
    ],
)
def test_work_status(text: str, status: str | None) -> None:
    assert parse_work_status(text) == status


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("yes", "yes"),
        ("Yes we do", "yes"),
        ("yeah", "yes"),
        ("បាទ", "yes"),
        ("ចាស", "yes"),
        ("មាន", "yes"),
        ("bat", "yes"),
        ("jas", "yes"),
        ("no", "no"),
        ("nope", "no"),
        ("ទេ", "no"),
        ("អត់ទេ", "no"),
        ("អត់មានទេ", "no"),
        ("គ្មាន", "no"),
        ("ot mean te", "no"),
        ("មិនត្រូវ", "no"),  # "not right": ត្រូវ alone would be yes
        ("មិនមែនទេ", "no"),
        ("ត្រូវហើយ", "yes"),
        ("I don't know", "unknown"),
        ("not sure", "unknown"),
        ("មិនដឹង", "unknown"),
        ("ខ្ញុំមិនដឹងទេ", "unknown"),
        ("min deng", "unknown"),
        ("I'd rather not say", "unknown"),
        ("មិនចង់ប្រាប់", "unknown"),
        ("where is the office?", None),
        ("/affirm", None),
    ],
)
def test_yes_no(text: str, answer: str | None) -> None:
    assert parse_yes_no(text) == answer
