"""action_answer_learned answers intents created in the review queue from
knowledge/learned_answers.yml, in the conversation's language, re-reading the file when a
ministry edits it (no retraining, no restart)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import actions.learned as learned
from actions.knowledge import KnowledgeError
from actions.learned import ActionAnswerLearned, LearnedAnswers, load_learned_answers

REPO = Path(__file__).resolve().parents[2]
ANSWERS = """\
answers:
  ask_birth_certificate:
    km: "សំបុត្រកំណើតកូន សូមសុំនៅសាលាឃុំ/សង្កាត់ ដោយឥតគិតថ្លៃ ក្នុងរយៈពេល ៣០ ថ្ងៃ។"
    en: "Ask for your child's birth certificate at the commune office, free, within 30 days."
"""


@pytest.fixture
def answers_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "learned_answers.yml").write_text(ANSWERS, encoding="utf-8")
    monkeypatch.setattr(learned, "_answers", LearnedAnswers(tmp_path))
    return tmp_path


def _intent(name: str) -> dict[str, Any]:
    return {"name": name, "confidence": 0.93}


async def test_answers_in_khmer_for_a_khmer_conversation(
    answers_dir: Path, load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker(
        "ask_topic_km", text="សុំសំបុត្រកំណើតកូននៅណា", intent=_intent("ask_birth_certificate")
    )
    events, messages = await run_action(ActionAnswerLearned(), tracker, domain)
    assert events == []
    assert messages[0]["text"].startswith("សំបុត្រកំណើតកូន សូមសុំនៅសាលាឃុំ")
    assert messages[0]["buttons"] == [{"title": "ម៉ឺនុយដើម", "payload": "/ask_menu"}]


async def test_answers_in_english_for_an_english_conversation(
    answers_dir: Path, load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker(
        "ask_topic_en",
        text="where do I get a birth certificate",
        intent=_intent("ask_birth_certificate"),
    )
    _events, messages = await run_action(ActionAnswerLearned(), tracker, domain)
    assert messages[0]["text"].startswith("Ask for your child's birth certificate")
    assert messages[0]["buttons"][0]["payload"] == "/ask_menu"


async def test_an_intent_without_an_answer_gets_the_menu(
    answers_dir: Path, load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("ask_topic_km", intent=_intent("ask_something_removed"))
    _events, messages = await run_action(ActionAnswerLearned(), tracker, domain)
    assert messages[0]["text"] == "តើអ្នកចង់ដឹងអំពីអ្វី?"
    assert len(messages[0]["buttons"]) > 3  # the main menu's buttons


async def test_an_edited_answer_is_used_without_a_restart(
    answers_dir: Path, load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    path = answers_dir / "learned_answers.yml"
    path.write_text(ANSWERS.replace("ដោយឥតគិតថ្លៃ", "ដោយមិនបង់លុយ"), encoding="utf-8")
    os.utime(path, (1, 1))  # a different modification time, whatever the clock resolution
    tracker = load_tracker("ask_topic_km", intent=_intent("ask_birth_certificate"))
    _events, messages = await run_action(ActionAnswerLearned(), tracker, domain)
    assert "ដោយមិនបង់លុយ" in messages[0]["text"]


async def test_a_broken_edit_keeps_the_previous_answers(
    answers_dir: Path, load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    path = answers_dir / "learned_answers.yml"
    path.write_text(ANSWERS.split("    en:")[0], encoding="utf-8")  # English removed
    os.utime(path, (2, 2))
    tracker = load_tracker("ask_topic_en", intent=_intent("ask_birth_certificate"))
    _events, messages = await run_action(ActionAnswerLearned(), tracker, domain)
    assert messages[0]["text"].startswith("Ask for your child's birth certificate")


def test_an_answer_without_english_is_refused_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "learned_answers.yml"
    path.write_text(ANSWERS.split("    en:")[0], encoding="utf-8")
    with pytest.raises(KnowledgeError, match="ask_birth_certificate"):
        load_learned_answers(path)


def test_the_repository_file_loads() -> None:
    answers = load_learned_answers(REPO / "knowledge" / "learned_answers.yml")
    assert all(text.km and text.en for text in answers.values())
