"""The `language` slot, set from the text of every message (a custom slot mapping)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from khmer_nlu import detect_language

LANGUAGE_SLOT = "language"


class ActionDetectLanguage(Action):
    """Sets `language` to the language of the latest message, when the text tells.

    Rasa runs this after each user message (domain.yml: the slot's custom mapping), so every
    reply, form question and fact is in the language the citizen just used. Messages with no
    signal ("ok", "2", button payloads) leave the language as it was.
    """

    def name(self) -> str:
        return "action_detect_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text: Any = tracker.latest_message.get("text")
        language = detect_language(text) if isinstance(text, str) else None
        if language is None or language == tracker.get_slot(LANGUAGE_SLOT):
            return []
        return [SlotSet(LANGUAGE_SLOT, language)]
