"""action_detect_language: the `language` slot follows the language of each message."""

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.language import ActionDetectLanguage


def tracker_after(text: str, language: str) -> Tracker:
    state: dict[str, Any] = {
        "sender_id": "telegram:42",
        "slots": {"language": language},
        "latest_message": {"text": text, "intent": {"name": "greet", "confidence": 0.9}},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    return Tracker.from_dict(state)


@pytest.mark.parametrize(
    ("text", "before", "events"),
    [
        ("hello, what is the equity card?", "km", [SlotSet("language", "en")]),
        ("សួស្តីបង ខ្ញុំចង់សួរពីប័ណ្ណសមធម៌", "en", [SlotSet("language", "km")]),
        ("sousdey bong", "en", [SlotSet("language", "km")]),
        ("ខ្ញុំបាត់ប័ណ្ណ", "km", []),  # already Khmer: nothing to set
        ("ok", "en", []),  # no signal: keep English
        ("/affirm", "en", []),  # a button payload carries no language
    ],
)
async def test_language_follows_the_message(text: str, before: str, events: list) -> None:
    dispatcher = CollectingDispatcher()
    result = await ActionDetectLanguage().run(dispatcher, tracker_after(text, before), {})
    assert result == events
    assert dispatcher.messages == []  # a slot mapping action never speaks
