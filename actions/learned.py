"""`action_answer_learned`: answers the intents admins created in the review queue.

An intent created with `python -m bot training intent` (or the console) gets a rule
`intent -> action_answer_learned` and its answer, in Khmer and English, in
knowledge/learned_answers.yml. The answer is read here at run time, not written into
domain.yml: a ministry can correct it without retraining. The file is re-read when it
changes; a broken edit keeps the last good answers (and is reported) instead of breaking
conversations, while a broken file at start-up stops the server like any knowledge file.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.compose import Composer, get_resources
from actions.i18n import language_of
from actions.knowledge import KNOWLEDGE_DIR, KnowledgeError, LocalText, _Reader, read_yaml

__all__ = ["LEARNED_ANSWERS_FILE", "ActionAnswerLearned", "LearnedAnswers"]

LEARNED_ANSWERS_FILE = "learned_answers.yml"
MAX_ANSWER_CHARS = 1500

log = logging.getLogger(__name__)


def load_learned_answers(path: Path) -> dict[str, LocalText]:
    """Intent -> answer; KnowledgeError names the entry that lacks a language."""
    if not path.exists():
        return {}
    reader = _Reader(path)
    data = reader.mapping(read_yaml(path) or {}, "top level")
    answers = reader.mapping(data.get("answers") or {}, "answers")
    return {
        str(intent): reader.text(value, f"answers.{intent}", MAX_ANSWER_CHARS)
        for intent, value in answers.items()
    }


class LearnedAnswers:
    """The answers file, re-read when its modification time changes."""

    def __init__(self, directory: Path = KNOWLEDGE_DIR) -> None:
        self.path = directory / LEARNED_ANSWERS_FILE
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._answers = load_learned_answers(self.path)  # broken at start-up: refuse
        self._stamp = self._mtime()

    def _mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    def get(self, intent: str) -> LocalText | None:
        """The current answer of `intent`, if it has one."""
        stamp = self._mtime()
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._answers = load_learned_answers(self.path)
                except KnowledgeError as error:
                    log.error("keeping the previous learned answers: %s", error)
                self._stamp = stamp
            return self._answers.get(intent)


_answers: LearnedAnswers | None = None


def get_learned_answers() -> LearnedAnswers:
    """The process-wide answers (loaded on first use; actions/__init__ loads them at start)."""
    global _answers
    if _answers is None:
        _answers = LearnedAnswers()
    return _answers


class ActionAnswerLearned(Action):
    """Answers a learned intent in the conversation's language; the menu if it has none."""

    def name(self) -> str:
        return "action_answer_learned"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        composer = Composer(get_resources(), language_of(tracker))
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        answer = get_learned_answers().get(intent)
        if answer is None:
            dispatcher.utter_message(text=composer.t("menu"), buttons=composer.menu_buttons())
            return []
        dispatcher.utter_message(
            text=answer.get(composer.language),
            buttons=[composer.button("menu", "/ask_menu")],
        )
        return []
