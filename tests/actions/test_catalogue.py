"""The message catalogue: every text in both languages, buttons that fit, clear failures."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker

from actions.i18n import MAX_BUTTON_CHARS, Catalogue, language_of, load_catalogue
from actions.knowledge import KNOWLEDGE_DIR, KnowledgeError


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_has_both_languages_with_the_same_placeholders(
    catalogue: Catalogue,
) -> None:
    assert len(catalogue.messages) > 50
    for key, text in catalogue.messages.items():
        assert text.km, key
        assert text.en, key
        english = {name for name in placeholders(text.en) if not name.endswith("_km")}
        assert placeholders(text.km) == english, key


def test_every_button_title_fits_messenger(catalogue: Catalogue) -> None:
    assert catalogue.buttons
    for key, title in catalogue.buttons.items():
        for language in ("km", "en"):
            assert 0 < len(title.get(language)) <= MAX_BUTTON_CHARS, (key, language)


def test_text_fills_placeholders_in_the_requested_language(catalogue: Catalogue) -> None:
    assert catalogue.text("topic_runs", "en", text="NSAF.") == "Run by: NSAF."
    assert catalogue.text("topic_runs", "km", text="NSAF។") == "អ្នកទទួលខុសត្រូវ៖ NSAF។"


def test_button_is_a_title_and_a_payload(catalogue: Catalogue) -> None:
    assert catalogue.button("request_human", "en", "/request_human") == {
        "title": "Talk to a person",
        "payload": "/request_human",
    }


def test_an_unknown_key_is_a_programming_error(catalogue: Catalogue) -> None:
    with pytest.raises(KeyError, match="no_such_message"):
        catalogue.text("no_such_message", "en")


@pytest.mark.parametrize(
    ("slot", "language"), [("en", "en"), ("km", "km"), (None, "km"), ("fr", "km")]
)
def test_language_of_a_conversation_is_khmer_unless_english(
    slot: str | None, language: str
) -> None:
    tracker = Tracker.from_dict({"sender_id": "t", "slots": {"language": slot}})
    assert language_of(tracker) == language


def write_catalogue(tmp_path: Path, edit: Any) -> Path:
    data = yaml.load(
        (KNOWLEDGE_DIR / "messages.yml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader
    )
    edit(data)
    (tmp_path / "messages.yml").write_text(
        yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True)
    )
    return tmp_path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["messages"]["menu"].pop("en"), r"messages\.menu: missing 'en'"),
        (
            lambda d: d["messages"]["topic_runs"].update(km="{txt}"),
            r"messages\.topic_runs: .*placeholders",
        ),
        (
            lambda d: d["buttons"]["menu"].update(en="Back to the main menu"),
            r"buttons\.menu\.en: .*20 characters",
        ),
    ],
)
def test_a_broken_catalogue_is_refused(tmp_path: Path, edit: Any, message: str) -> None:
    with pytest.raises(KnowledgeError, match=message):
        load_catalogue(write_catalogue(tmp_path, edit))
