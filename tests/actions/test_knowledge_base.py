"""The knowledge base: complete, bilingual, sourced, and refused when broken."""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions.knowledge import (
    KNOWLEDGE_DIR,
    MAX_TITLE_CHARS,
    KnowledgeBase,
    KnowledgeError,
    LocalText,
    load_knowledge,
)

KHMER_LETTER = re.compile("[\u1780-\u17ff]")
TOPIC_PREFIX = "ask_"
NOT_A_TOPIC = {"ask_where_to_enrol", "ask_menu", "ask_pin_or_money"}
# Sources disagree on the NSSF hotline (1286 / 1297 vs 1258): no number may be stated.
DISPUTED_NUMBERS = ("1286", "1297", "1258")


def walk_texts(value: Any) -> Iterator[LocalText]:
    """Every bilingual text inside a loaded knowledge-base object."""
    if isinstance(value, LocalText):
        yield value
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            yield from walk_texts(getattr(value, field.name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from walk_texts(item)


def test_the_knowledge_base_loads(knowledge: KnowledgeBase) -> None:
    assert knowledge.version == "2026.11.25"
    assert knowledge.verified_on == datetime.date(2026, 11, 25)


def test_every_topic_intent_has_an_entry_and_every_entry_an_intent(
    knowledge: KnowledgeBase, domain: dict[str, Any]
) -> None:
    topic_intents = {
        intent.removeprefix(TOPIC_PREFIX)
        for intent in domain["intents"]
        if intent.startswith(TOPIC_PREFIX) and intent not in NOT_A_TOPIC
    }
    assert set(knowledge.topics) == topic_intents


def test_every_text_has_khmer_and_english(knowledge: KnowledgeBase) -> None:
    texts = list(walk_texts(knowledge))
    assert len(texts) > 100  # the walk reaches into every topic
    for text in texts:
        assert KHMER_LETTER.search(text.km), f"not Khmer: {text.km!r}"
        assert not KHMER_LETTER.search(text.en), f"Khmer in the English text: {text.en!r}"


def test_titles_fit_on_a_button(knowledge: KnowledgeBase) -> None:
    for topic in knowledge.topics.values():
        for language in ("km", "en"):
            assert 0 < len(topic.title.get(language)) <= MAX_TITLE_CHARS


def test_every_amount_is_a_number_or_explicitly_unknown(knowledge: KnowledgeBase) -> None:
    amounts = [amount for topic in knowledge.topics.values() for amount in topic.amounts]
    assert amounts
    for amount in amounts:
        if amount.unknown:
            assert amount.value is None
        else:
            assert isinstance(amount.value, (int, float))
            assert amount.value > 0
            assert amount.unit in {"riel", "percent"}
            assert amount.period is not None


@pytest.mark.parametrize(
    ("topic", "amount"),
    [
        ("disability_allowance", "monthly"),
        ("elderly_allowance", "monthly"),
        ("health_equity_fund", "transport"),
        ("health_equity_fund", "caretaker_food"),
        ("family_package", "disability"),
        ("family_package", "elderly"),
    ],
)
def test_amounts_the_sources_do_not_give_stay_unknown(
    knowledge: KnowledgeBase, topic: str, amount: str
) -> None:
    assert knowledge.topics[topic].amount(amount).unknown


@pytest.mark.parametrize(
    ("topic", "amount", "riel"),
    [
        ("scholarship", "primary_lower_secondary", 20_000),
        ("scholarship", "upper_secondary", 30_000),
        ("hiv_support", "base_support", 28_000),
        ("pregnancy_cash", "antenatal", 80_000),
        ("pregnancy_cash", "delivery", 400_000),
        ("nssf", "childbirth_allowance", 400_000),
        ("vocational_training", "allowance", 280_000),
    ],
)
def test_sourced_amounts(knowledge: KnowledgeBase, topic: str, amount: str, riel: int) -> None:
    found = knowledge.topics[topic].amount(amount)
    assert (found.value, found.unit) == (riel, "riel")


def test_every_entry_cites_a_checked_source(knowledge: KnowledgeBase) -> None:
    for topic in knowledge.topics.values():
        assert topic.sources, topic.id
        for source in topic.sources:
            assert re.match(r"https?://[\w.-]+\.\w+/", source.url), source.url
            assert source.title
            assert source.verified == knowledge.verified_on


def test_closed_programmes_say_when_they_ended_and_what_replaced_them(
    knowledge: KnowledgeBase,
) -> None:
    closed = [topic for topic in knowledge.topics.values() if topic.status == "closed"]
    assert [topic.id for topic in closed] == ["closed_programmes"]
    assert closed[0].ended == "2024-03"
    assert closed[0].replaced_by == "family_package"


def test_active_programmes_say_who_is_eligible_and_how_to_enrol(
    knowledge: KnowledgeBase,
) -> None:
    for topic in knowledge.topics.values():
        if topic.status == "active" and topic.kind == "programme":
            assert topic.eligibility is not None, topic.id
            assert topic.enrol is not None, topic.id
            assert topic.enrol.where, topic.id


def test_no_disputed_hotline_number_is_stated(knowledge: KnowledgeBase) -> None:
    for text in walk_texts(knowledge):
        for number in DISPUTED_NUMBERS:
            assert number not in text.en
        assert "hotline" not in text.en.lower()


def test_nssf_contact_is_the_website_and_the_app(knowledge: KnowledgeBase) -> None:
    contact = knowledge.topics["nssf"].contact
    assert contact.website == "nssf.gov.kh"
    assert "nssf.gov.kh" in contact.text.en
    assert "app" in contact.text.en


# --- a broken knowledge base is refused with a message that says where -----------------


def edit_and_load(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> KnowledgeBase:
    data = yaml.load(
        (KNOWLEDGE_DIR / "programmes.yml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader
    )
    edit(data)
    (tmp_path / "programmes.yml").write_text(
        yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True)
    )
    return load_knowledge(tmp_path)


def drop_english_summary(data: dict[str, Any]) -> None:
    del data["topics"]["scholarship"]["summary"]["en"]


def guess_an_amount(data: dict[str, Any]) -> None:
    data["topics"]["elderly_allowance"]["amounts"][0]["value"] = 100_000


def amount_without_value(data: dict[str, Any]) -> None:
    del data["topics"]["scholarship"]["amounts"][0]["value"]


def amount_as_text(data: dict[str, Any]) -> None:
    data["topics"]["scholarship"]["amounts"][0]["value"] = "20,000"


def long_title(data: dict[str, Any]) -> None:
    data["topics"]["nssf"]["title"]["en"] = "National Social Security Fund"


def unknown_place(data: dict[str, Any]) -> None:
    data["topics"]["scholarship"]["enrol"]["where"] = ["pagoda"]


def closed_without_replacement(data: dict[str, Any]) -> None:
    del data["topics"]["closed_programmes"]["replaced_by"]


def no_sources(data: dict[str, Any]) -> None:
    data["topics"]["lost_card"]["sources"] = []


def bad_verified_date(data: dict[str, Any]) -> None:
    data["topics"]["lost_card"]["sources"][0]["verified"] = "last week"


def unknown_contact(data: dict[str, Any]) -> None:
    data["topics"]["nssf"]["contact"] = "hotline"


def duplicate_amount_id(data: dict[str, Any]) -> None:
    amounts = data["topics"]["scholarship"]["amounts"]
    amounts[1]["id"] = amounts[0]["id"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (drop_english_summary, r"topics\.scholarship\.summary: missing 'en'"),
        (guess_an_amount, r"topics\.elderly_allowance\.amounts\[0\].*both"),
        (amount_without_value, r"topics\.scholarship\.amounts\[0\].*value.*unknown"),
        (amount_as_text, r"topics\.scholarship\.amounts\[0\]\.value: expected a number"),
        (long_title, r"topics\.nssf\.title\.en.*20 characters"),
        (unknown_place, r"topics\.scholarship\.enrol\.where.*pagoda"),
        (closed_without_replacement, r"topics\.closed_programmes: .*replaced_by"),
        (no_sources, r"topics\.lost_card\.sources: at least one source"),
        (bad_verified_date, r"topics\.lost_card\.sources\[0\]\.verified.*last week"),
        (unknown_contact, r"topics\.nssf\.contact: unknown contact 'hotline'"),
        (duplicate_amount_id, r"topics\.scholarship\.amounts\[1\]\.id: duplicate"),
    ],
)
def test_a_broken_knowledge_base_is_refused(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(KnowledgeError, match=message):
        edit_and_load(tmp_path, edit)


def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match=r"programmes\.yml"):
        load_knowledge(tmp_path)
