"""The few sentences the gateway itself says (no facts: those come from Rasa's actions)."""

from __future__ import annotations

import re

__all__ = ["HUMAN_PAYLOAD", "detect_language", "gateway_text", "human_button"]

KHMER = "km"
ENGLISH = "en"
DEFAULT_LANGUAGE = KHMER
HUMAN_PAYLOAD = "/request_human"
_KHMER_RE = re.compile("[\u1780-\u17ff\u19e0-\u19ff]")
_LATIN_RE = re.compile("[A-Za-z]")

_TEXTS: dict[str, dict[str, str]] = {
    "delayed": {
        KHMER: "សូមអភ័យទោស ចម្លើយរបស់ខ្ញុំយឺតបន្តិច។ ខ្ញុំនឹងឆ្លើយអ្នកឆាប់ៗ។",
        ENGLISH: "Sorry, my answer is delayed. I will reply as soon as I can.",
    },
    "no_reply": {
        KHMER: "សូមអភ័យទោស ខ្ញុំមិនអាចឆ្លើយបានទេពេលនេះ។ សូមព្យាយាមម្តងទៀត ឬនិយាយជាមួយមនុស្ស។",
        ENGLISH: "Sorry, I could not answer that just now. Please try again, or talk to a person.",
    },
    "media": {
        KHMER: "ខ្ញុំបានទទួលសាររបស់អ្នកហើយ ប៉ុន្តែខ្ញុំមិនអាចស្តាប់សំឡេង ឬមើលរូបភាពបានទេ។ "
        "សូមសរសេរសំណួររបស់អ្នក ឬចុចប៊ូតុងខាងក្រោមដើម្បីនិយាយជាមួយមនុស្ស។",
        ENGLISH: "I received your message, but I cannot listen to voice notes or look at "
        "pictures. Please type your question, or tap below to talk to a person.",
    },
    "human": {KHMER: "និយាយជាមួយមនុស្ស", ENGLISH: "Talk to a person"},
}


def gateway_text(name: str, language: str | None) -> str:
    """The gateway's own sentence ``name`` in the citizen's language (Khmer first)."""
    texts = _TEXTS[name]
    return texts.get(language or DEFAULT_LANGUAGE, texts[DEFAULT_LANGUAGE])


def human_button(language: str | None) -> dict[str, str]:
    """The "talk to a person" button, in the same shape as Rasa's buttons."""
    return {"title": gateway_text("human", language), "payload": HUMAN_PAYLOAD}


def detect_language(text: str) -> str | None:
    """Khmer script wins; Latin letters alone mean English; digits alone decide nothing."""
    if _KHMER_RE.search(text):
        return KHMER
    if _LATIN_RE.search(text) and not text.startswith("/"):
        return ENGLISH
    return None
