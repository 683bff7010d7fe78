"""The bilingual message catalogue (knowledge/messages.yml) and the conversation's language.

Everything the actions say that is not a fact comes from the catalogue, so wording can be
fixed without retraining, and the tests can check that no text lacks a translation.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa_sdk import Tracker

from actions.knowledge import KNOWLEDGE_DIR, LocalText, _Reader, read_yaml
from actions.text import ENGLISH, KHMER

MESSAGES_FILE = "messages.yml"
MAX_BUTTON_CHARS = 20  # Messenger's limit for a button title
LANGUAGE_SLOT = "language"

Button = dict[str, str]


KHMER_NAME_SUFFIX = "_km"  # English texts may add the Khmer name of a place to show at the office


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _same_placeholders(text: LocalText) -> bool:
    english = {name for name in _placeholders(text.en) if not name.endswith(KHMER_NAME_SUFFIX)}
    return _placeholders(text.km) == english


@dataclass(frozen=True)
class Catalogue:
    """Messages and button titles by key, each in Khmer and English."""

    messages: Mapping[str, LocalText]
    buttons: Mapping[str, LocalText]

    def text(self, key: str, language: str, **values: Any) -> str:
        """The message `key` in `language`, with its {placeholders} filled from `values`."""
        if key not in self.messages:
            raise KeyError(f"no message {key!r} in {MESSAGES_FILE}")
        return self.messages[key].get(language).format(**values)

    def button(self, key: str, language: str, payload: str) -> Button:
        """A button whose title is the catalogue's button `key`."""
        if key not in self.buttons:
            raise KeyError(f"no button {key!r} in {MESSAGES_FILE}")
        return {"title": self.buttons[key].get(language), "payload": payload}


def load_catalogue(directory: Path = KNOWLEDGE_DIR) -> Catalogue:
    """Load and check `directory`/messages.yml; raise KnowledgeError if it is broken."""
    path = directory / MESSAGES_FILE
    reader = _Reader(path)
    data = reader.mapping(read_yaml(path), "top level")
    messages = {}
    for key, value in reader.mapping(
        reader.field(data, "messages", "top level"), "messages"
    ).items():
        text = reader.text(value, f"messages.{key}")
        if not _same_placeholders(text):
            raise reader.fail(f"messages.{key}", "km and en must have the same placeholders")
        messages[key] = text
    buttons = {
        key: reader.text(value, f"buttons.{key}", MAX_BUTTON_CHARS)
        for key, value in reader.mapping(
            reader.field(data, "buttons", "top level"), "buttons"
        ).items()
    }
    return Catalogue(messages=messages, buttons=buttons)


def language_of(tracker: Tracker) -> str:
    """The language to answer in: the `language` slot, Khmer unless it says English."""
    return ENGLISH if tracker.get_slot(LANGUAGE_SLOT) == ENGLISH else KHMER
