"""Finding a citizen's commune, district or province in what they typed."""

from __future__ import annotations

import time

import pytest

from actions.places import KHMER_HINTS, Gazetteer, PlaceMatch, load_gazetteer


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return load_gazetteer()


def code_of(match: PlaceMatch) -> str | None:
    return match.place.code if match.place else None


def test_the_gazetteer_holds_every_unit(gazetteer: Gazetteer) -> None:
    levels = [place.level for place in gazetteer.places.values()]
    assert (levels.count("province"), levels.count("district"), levels.count("commune")) == (
        25,
        210,
        1652,
    )


def test_parents_come_from_the_code(gazetteer: Gazetteer) -> None:
    commune = gazetteer.places["010201"]
    assert commune.name_latin == "Banteay Neang"
    assert gazetteer.district_of(commune).name_latin == "Mongkol Borey"
    assert gazetteer.province_of(commune).name_latin == "Banteay Meanchey"
    assert gazetteer.province_of(gazetteer.places["12"]).code == "12"
    assert gazetteer.district_of(gazetteer.places["12"]) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # provinces, as typed: misspelt, run together, lower case, with filler words
        ("Kompong Cham", "03"),
        ("Battambong", "02"),
        ("Siemreap", "17"),
        ("i live in siem reap province", "17"),
        ("Phnom Penh", "12"),
        ("Tbong Khmum", "25"),
        ("Kg Speu", "05"),
        ("Takeo", "21"),
        ("kep", "23"),
        ("Kampong Thum", "06"),  # a commune is spelt so, but the province is meant
        ("Sihanoukville", "18"),  # names in common use
        ("Kratie", "10"),
        ("Rattanakiri", "16"),
        ("Mondul Kiri", "11"),
        # Khmer, with and without unit words, spaces and zero-width spaces
        ("កំពង់ចាម", "03"),
        ("ខេត្តកំពង់ចាម", "03"),
        ("ខេត្ត\u200bបាត់\u200bដំបង", "02"),
        ("ខ្ញុំរស់នៅខេត្តសៀមរាប", "17"),
        ("ខេត្តបាត់ដំបុង", "02"),  # misspelt
        ("រាជធានីភ្នំពេញ", "12"),
        ("ក្រុងភ្នំពេញ", "12"),  # colloquial: Phnom Penh is a capital, not a krong
        # districts and khans
        ("srok Mongkol Borey", "0102"),
        ("Khan Chamkar Mon", "1201"),
        ("ខណ្ឌចំការមន", "1201"),
        ("Siem Reap city", "1710"),
        ("Phnom Srok district", "0103"),  # the name contains the word "srok"
        # communes: the most specific unit wins
        ("ឃុំបន្ទាយនាង ស្រុកមង្គលបូរី ខេត្តបន្ទាយមានជ័យ", "010201"),
        ("khum Banteay Neang", "010201"),
        ("Sangkat Svay Dankum, Siem Reap", "171002"),
        ("Svay Dangkum sangkat", "171002"),  # misspelt
        ("សង្កាត់ស្វាយដង្គំ", "171002"),
        ("សង្កាត់ ២ ក្រុងព្រះសីហនុ", "180102"),  # a commune named with a digit
        ("Boeng Tumpun 1", "120611"),
        # numbered sangkats: "Ti Muoy" (the first) is typed as a digit, in both scripts
        ("Boeung Keng Kang 1", "121301"),
        ("sangkat Boeng Keng Kang Ti Muoy", "121301"),
        ("Toul Svay Prey 2", "121307"),  # not khum Svay in Kampong Chhnang
        ("Phsar Thmei 3, Daun Penh", "120203"),
        ("Boeng Tumpun Ti Pir", "120612"),  # the gazetteer spells this one with a digit
        ("សង្កាត់បឹងកេងកង១", "121301"),
        ("បឹងកេងកង ទី ៣", "121303"),
        ("ផ្សារកណ្ដាល ២", "120206"),
        ("khum Ti Pou", "060709"),  # "Ti" of a name, not of a number
        # the answer to "which province?" is resolved with the name asked about
        ("Samraong commune, Prey Veng province", "141309"),
        ("ឃុំសំរោង ខេត្តព្រៃវែង", "141309"),
        ("Samraong commune, Tram Kak district, Takéo province", "210910"),
    ],
)
def test_places_are_found(gazetteer: Gazetteer, text: str, code: str) -> None:
    assert code_of(gazetteer.find(text)) == code


@pytest.mark.parametrize(
    "text",
    [
        "hello, how are you?",
        "I want to know where to enrol",
        "ខ្ញុំរស់នៅទីនេះ",
        "តើការិយាល័យនៅឯណា?",
        "2",
        "",
    ],
)
def test_text_without_a_place_finds_nothing(gazetteer: Gazetteer, text: str) -> None:
    match = gazetteer.find(text)
    assert match.place is None
    assert match.candidates == ()


def test_a_commune_name_in_several_provinces_is_ambiguous(gazetteer: Gazetteer) -> None:
    match = gazetteer.find("Samraong commune")
    assert match.place is None
    provinces = {gazetteer.province_of(place).code for place in match.candidates}
    assert provinces == {"01", "03", "12", "14", "15", "17", "20", "21", "22"}
    assert match.name_latin == "Samraong"
    assert match.name_km == "សំរោង"
    assert match.hint == "commune"


def test_ambiguity_within_one_province_remains_to_be_asked(gazetteer: Gazetteer) -> None:
    match = gazetteer.find("Samraong, Takéo")
    assert match.place is None
    assert {place.code for place in match.candidates} == {"2107", "210910"}


def test_every_unit_is_found_from_its_full_address(gazetteer: Gazetteer) -> None:
    """Each commune and district, written with its district and province (Khmer or Latin,
    alternately, to keep the suite fast: both scripts are each tried on ~930 units)."""
    km_unit = {kind: word for word, kind in KHMER_HINTS.items()}
    latin_unit = {"khaet": "khett", "reach_theani": "capital"}
    wrong = []
    units = [place for place in gazetteer.places.values() if place.level != "province"]
    for index, place in enumerate(units):
        chain = [place, gazetteer.district_of(place), gazetteer.province_of(place)]
        units = [p for i, p in enumerate(chain) if p is not None and p not in chain[:i]]
        khmer = " ".join(km_unit[p.kind] + p.name_km for p in units)
        latin = ", ".join(f"{latin_unit.get(p.kind, p.kind)} {p.name_latin}" for p in units)
        text = khmer if index % 2 == 0 else latin
        found = gazetteer.find(text).place
        if found != place:
            wrong.append((text, found))
    assert wrong == []


def test_matching_is_fast_enough_for_a_chat(gazetteer: Gazetteer) -> None:
    texts = ["I live in Battambong", "ឃុំបន្ទាយនាង ស្រុកមង្គលបូរី", "Svay Dangkum sangkat"] * 10
    start = time.perf_counter()
    for text in texts:
        gazetteer.find(text)
    assert (time.perf_counter() - start) / len(texts) < 0.05
