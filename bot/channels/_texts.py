"""The few sentences the gateway itself says (no facts: those come from Rasa's actions)."""

from __future__ import annotations

import re
from datetime import datetime

__all__ = [
    "HUMAN_PAYLOAD",
    "author_line",
    "detect_language",
    "gateway_text",
    "human_button",
    "org_for_citizens",
    "when_text",
]

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
    "human": {KHMER: "និយាយជាមួយមនុស្ស", ENGLISH: "Talk to a person"},
    # Human handoff (bot/handoff): what the citizen is told at each step.
    "handoff_queued": {
        KHMER: "សំណើរបស់អ្នកបានទៅដល់ {org} ហើយ។ បុគ្គលិកម្នាក់នឹងឆ្លើយតបអ្នកនៅទីនេះឆាប់ៗ។",
        ENGLISH: "Your request has reached {org}. Someone will reply here soon.",
    },
    "handoff_out_of_hours": {
        KHMER: "{org} បិទនៅពេលនេះ។ បុគ្គលិកនឹងឆ្លើយតបអ្នកចាប់ពី{when}។ សាររបស់អ្នកត្រូវបានរក្សាទុក។",
        ENGLISH: "{org} is closed right now. Someone will answer you from {when}. "
        "Your messages are kept.",
    },
    "handoff_claimed": {
        KHMER: "{agent} មកពី {org} កំពុងឆ្លើយតបអ្នកឥឡូវនេះ។",
        ENGLISH: "{agent} from {org} is answering you now.",
    },
    "handoff_joined": {
        KHMER: "បុគ្គលិកម្នាក់មកពី {org} បានចូលរួមក្នុងការសន្ទនានេះ។",
        ENGLISH: "A person from {org} has joined this conversation.",
    },
    # the national pool, as citizens read it (its name in the console is for operators)
    "national_team": {KHMER: "ក្រុមការងារ SP4ALL ថ្នាក់ជាតិ", ENGLISH: "the SP4ALL national team"},
    "handoff_escalated": {
        KHMER: "សូមអភ័យទោសដែលអ្នកត្រូវរង់ចាំ។ ការសន្ទនារបស់អ្នកត្រូវបានបញ្ជូនទៅក្រុមការងារថ្នាក់ជាតិ "
        "ដើម្បីឆ្លើយតបអ្នកឱ្យបានឆាប់។",
        ENGLISH: "Sorry for the wait. Your conversation has been passed to the national team "
        "so that you get an answer sooner.",
    },
    "handoff_closed": {
        KHMER: "ការសន្ទនាជាមួយបុគ្គលិកបានបញ្ចប់។ ឥឡូវនេះ ជំនួយការស្វ័យប្រវត្តិនឹងឆ្លើយអ្នកវិញ។ អ្នកអាចសួរខ្ញុំបានគ្រប់ពេល។",
        ENGLISH: "The conversation with our staff has ended. The assistant answers you again "
        "now; you can ask me anything at any time.",
    },
    "rating_question": {
        KHMER: "តើជំនួយដែលអ្នកបានទទួលល្អកម្រិតណា? សូមជ្រើសពី ១ (មិនល្អ) ដល់ ៥ (ល្អណាស់)។",
        ENGLISH: "How helpful was this? Choose from 1 (poor) to 5 (very good).",
    },
    "rating_thanks": {
        KHMER: "អរគុណសម្រាប់ការវាយតម្លៃរបស់អ្នក។",
        ENGLISH: "Thank you for your rating.",
    },
    "media_to_person": {
        KHMER: "ខ្ញុំបានទទួលសារជាសំឡេង ឬរូបភាពរបស់អ្នកហើយ។ ខ្ញុំមិនអាចស្តាប់ ឬមើលវាបានទេ "
        "ដូច្នេះខ្ញុំកំពុងបញ្ជូនវាទៅបុគ្គលិកម្នាក់។",
        ENGLISH: "I received your voice note or picture. I cannot listen to it or look at it, "
        "so I am passing it to a person.",
    },
    "today": {KHMER: "ថ្ងៃនេះ ម៉ោង {time}", ENGLISH: "today at {time}"},
    "tomorrow": {KHMER: "ថ្ងៃស្អែក ម៉ោង {time}", ENGLISH: "tomorrow at {time}"},
    "weekday": {KHMER: "ថ្ងៃ{day} ម៉ោង {time}", ENGLISH: "{day} at {time}"},
}

_WEEKDAY_NAMES = {
    KHMER: ("ច័ន្ទ", "អង្គារ", "ពុធ", "ព្រហស្បតិ៍", "សុក្រ", "សៅរ៍", "អាទិត្យ"),
    ENGLISH: ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_KHMER_DIGITS = str.maketrans("0123456789", "០១២៣៤៥៦៧៨៩")


def gateway_text(name: str, language: str | None, **values: str) -> str:
    """The gateway's own sentence ``name`` in the citizen's language (Khmer first)."""
    texts = _TEXTS[name]
    text = texts.get(language or DEFAULT_LANGUAGE, texts[DEFAULT_LANGUAGE])
    said = text.format(**values) if values else text
    if text.startswith("{org}"):  # "The SP4ALL national team is closed right now..."
        return said[:1].upper() + said[1:]
    return said


def org_for_citizens(name: str, national_pool: bool, language: str | None) -> str:
    """An organisation as the citizen is told about it: its own name, or, for the national
    pool (an operators' word), "the SP4ALL national team" in the citizen's language."""
    if national_pool:
        texts = _TEXTS["national_team"]
        return texts.get(language or DEFAULT_LANGUAGE, texts[DEFAULT_LANGUAGE])
    return name


def author_line(reply: dict[str, object]) -> str | None:
    """ "Sokha · Organisation" for a person's message (the citizen must see a person is
    talking), None for the assistant's."""
    agent = reply.get("agent")
    if not isinstance(agent, dict) or not agent.get("name"):
        return None
    organisation = str(agent.get("organisation") or "")
    return f"{agent['name']} · {organisation}" if organisation else str(agent["name"])


def when_text(at: datetime, now: datetime, language: str | None) -> str:
    """ "today at 13:30" / "ថ្ងៃច័ន្ទ ម៉ោង ០៨:០០": local times as people say them."""
    lang = language if language in _WEEKDAY_NAMES else DEFAULT_LANGUAGE
    clock = at.strftime("%H:%M")
    if lang == KHMER:
        clock = clock.translate(_KHMER_DIGITS)
    days = (at.date() - now.astimezone(at.tzinfo).date()).days
    if days == 0:
        return gateway_text("today", lang, time=clock)
    if days == 1:
        return gateway_text("tomorrow", lang, time=clock)
    return gateway_text("weekday", lang, day=_WEEKDAY_NAMES[lang][at.weekday()], time=clock)


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
