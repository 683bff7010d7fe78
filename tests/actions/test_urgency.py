"""Urgency from the citizen's words: place names never fire a level; real complaints do."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.urgency import get_urgency

GAZETTEER = Path(__file__).resolve().parents[2] / "knowledge" / "gazetteer"


def _gazetteer_names() -> list[str]:
    names: list[str] = []
    for level in ("provinces", "districts", "communes"):
        data = yaml.safe_load((GAZETTEER / f"{level}.yml").read_text(encoding="utf-8"))
        for place in data[level].values():
            unit = place.get("administrative_unit") or {}
            for script in ("km", "latin"):
                name = place["name"][script]
                names.append(name)
                if unit.get(script):  # "ខេត្តស្វាយរៀង", "Khaet Svay Rieng"
                    space = "" if script == "km" else " "
                    names.append(f"{unit[script]}{space}{name}")
    return names


NAMES = _gazetteer_names()


def test_the_gazetteer_is_all_there() -> None:
    # 25 provinces, ~200 districts, ~1,600 communes; two scripts; with and without the unit
    assert len(NAMES) > 6000


def test_no_province_district_or_commune_name_fires_an_urgency_level() -> None:
    urgency = get_urgency()
    fired = {name: urgency.classify(name) for name in NAMES}
    assert {name: level for name, level in fired.items() if level} == {}


def test_a_request_for_a_person_that_names_a_place_is_not_urgent() -> None:
    urgency = get_urgency()
    for place in ("ស្វាយរៀង", "កៀនស្វាយ", "ស្វាយជ្រំ", "ស្វាយទាប", "ស្វាយអន្ទរ"):
        assert urgency.classify(f"ខ្ញុំចង់និយាយជាមួយមនុស្ស ខ្ញុំរស់នៅ{place}") is None
    assert urgency.classify("I need to talk to someone, I live in Svay Rieng") is None


@pytest.mark.parametrize(
    ("said", "level"),
    [
        # missing payments, as citizens write them
        ("ខ្ញុំមិនទាន់ទទួលបានប្រាក់ឧបត្ថម្ភពីរខែហើយ", "payment"),
        ("៣ខែហើយ អត់ទាន់បានលុយកញ្ចប់គ្រួសារ", "payment"),
        ("កញ្ចប់គ្រួសារ លុយមិនទាន់មកទេ", "payment"),
        ("ប្រាក់សម្រាប់ស្ត្រីមានផ្ទៃពោះ មិនទាន់ ទទួលបាន ប្រាក់ទេ", "payment"),
        ("ខ្ញុំឈប់បានលុយតាំងពីខែមុន", "payment"),
        ("មេភូមិទារលុយ ទើបដាក់ឈ្មោះក្នុងបញ្ជីក្រីក្រ", "payment"),
        ("គេឲ្យបង់លុយ ដើម្បីធ្វើប័ណ្ណសមធម៌", "payment"),
        ("I have not received the allowance for two months", "payment"),
        ("I haven't received my family package payment", "payment"),
        ("The village chief asked for money to put us on the IDPoor list", "payment"),
        ("We had to pay a bribe for the card", "payment"),
        # abuse and emergencies
        ("ប្តី​ខ្ញុំ​វាយ​ខ្ញុំ ខ្ញុំ​ត្រូវការ​ជំនួយ", "abuse"),
        ("ឪពុកចុងវាយដំកូនខ្ញុំ", "abuse"),
        ("He beats me every night", "abuse"),
        ("ទឹកជំនន់លិចផ្ទះ ជួយផង", "emergency"),
        ("Urgent! my child is seriously ill", "emergency"),
        # not urgent
        ("ខ្ញុំចង់សួរអំពីប័ណ្ណសមធម៌", None),
        ("សូមផ្តល់ការវាយតម្លៃ", None),
        ("I want to ask about the hit TV show", None),
        ("How much is the scholarship for grade 5?", None),
    ],
)
def test_real_complaints_fire_the_right_level(said: str, level: str | None) -> None:
    assert get_urgency().classify(said) == level


def test_a_keyword_after_a_place_name_that_contains_it_still_fires() -> None:
    urgency = get_urgency()
    assert urgency.classify("ខ្ញុំរស់នៅឃុំដំរីស្លាប់") is None  # Damrei Slab, a commune
    assert urgency.classify("ខ្ញុំរស់នៅដំរីស្លាប់ ម្តាយខ្ញុំជិតស្លាប់ហើយ") == "emergency"
