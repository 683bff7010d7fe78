"""The preview of a draft (actions/preview.py): the same composer as the actions, from a
profile document; the seed's preview is today's answers."""

from __future__ import annotations

from pathlib import Path

import pytest

import kbprofile
from actions.compose import Composer, get_resources
from actions.knowledge import KnowledgeError
from actions.preview import preview

REPO = Path(__file__).resolve().parents[2]


def test_the_seed_previews_as_today_s_answers() -> None:
    answers = preview(kbprofile.seed_to_document(REPO / "knowledge"), "scholarship")
    topic = get_resources().knowledge.topics["scholarship"]
    for language in ("km", "en"):
        composer = Composer(get_resources(), language)
        assert answers[language]["what"] == composer.short_answer(topic)
        assert answers[language]["source"] == composer.topic_sources(topic)
    assert "30,000 riel a month" in answers["en"]["how_much"]
    assert "៣០.០០០ រៀល" in answers["km"]["how_much"]


def test_an_unknown_programme_is_refused() -> None:
    with pytest.raises(KnowledgeError):
        preview(kbprofile.seed_to_document(REPO / "knowledge"), "nothing")
