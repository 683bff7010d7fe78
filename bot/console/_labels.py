"""The console's own words, in Khmer and English (agents choose; English by default)."""

from __future__ import annotations

__all__ = ["LANGUAGE_NAMES", "UI_LANGUAGES", "label"]

UI_LANGUAGES = ("en", "km")
DEFAULT_UI_LANGUAGE = "en"
LANGUAGE_NAMES = {"km": "ខ្មែរ Khmer", "en": "English"}

_LABELS: dict[str, dict[str, str]] = {
    "title": {"en": "SP4ALL agent console", "km": "ផ្ទាំងបុគ្គលិក SP4ALL"},
    "login": {"en": "Log in", "km": "ចូល"},
    "logout": {"en": "Log out", "km": "ចាកចេញ"},
    "username": {"en": "Username", "km": "ឈ្មោះអ្នកប្រើ"},
    "password": {"en": "Password", "km": "ពាក្យសម្ងាត់"},
    "bad_login": {
        "en": "Wrong username or password.",
        "km": "ឈ្មោះអ្នកប្រើ ឬពាក្យសម្ងាត់មិនត្រឹមត្រូវ។",
    },
    "throttled": {
        "en": "Too many failed attempts. Try again in {minutes} minutes.",
        "km": "ព្យាយាមខុសច្រើនដងពេក។ សូមព្យាយាមម្តងទៀតក្នុងរយៈពេល {minutes} នាទី។",
    },
    "queue": {"en": "Queue", "km": "ជួររង់ចាំ"},
    "supervisor": {"en": "Supervisor", "km": "អ្នកត្រួតពិនិត្យ"},
    "organisations": {"en": "Organisations", "km": "អង្គការ"},
    "agents": {"en": "Agents", "km": "បុគ្គលិក"},
    "chats": {"en": "Assistant chats", "km": "ការសន្ទនាជាមួយជំនួយការ"},
    "empty_queue": {"en": "Nobody is waiting.", "km": "គ្មាននរណាម្នាក់កំពុងរង់ចាំទេ។"},
    "waiting": {"en": "waiting", "km": "រង់ចាំ"},
    "claim": {"en": "Claim", "km": "ទទួលយក"},
    "reply": {"en": "Reply to the citizen", "km": "ឆ្លើយតបទៅពលរដ្ឋ"},
    "send": {"en": "Send", "km": "ផ្ញើ"},
    "canned": {"en": "Canned replies", "km": "ចម្លើយរួចជាស្រេច"},
    "note": {"en": "Private note (never sent)", "km": "កំណត់ចំណាំឯកជន (មិនផ្ញើទេ)"},
    "save_note": {"en": "Save note", "km": "រក្សាទុកកំណត់ចំណាំ"},
    "transfer": {"en": "Transfer", "km": "ផ្ទេរ"},
    "to_org": {"en": "to an organisation", "km": "ទៅអង្គការ"},
    "to_agent": {"en": "or to a person", "km": "ឬទៅបុគ្គលិក"},
    "close": {"en": "Close and hand back", "km": "បិទ ហើយប្រគល់ទៅជំនួយការវិញ"},
    "close_confirm": {
        "en": "Close this conversation and hand the citizen back to the assistant?",
        "km": "បិទការសន្ទនានេះ ហើយប្រគល់ពលរដ្ឋទៅជំនួយការវិញ?",
    },
    "summary": {"en": "Summary", "km": "សេចក្តីសង្ខេប"},
    "asked": {"en": "Asked", "km": "បានសួរ"},
    "told": {"en": "Was told", "km": "បានប្រាប់"},
    "history": {"en": "Conversation", "km": "ការសន្ទនា"},
    "citizen": {"en": "Citizen", "km": "ពលរដ្ឋ"},
    "assistant": {"en": "Assistant", "km": "ជំនួយការ"},
    "agent": {"en": "Agent", "km": "បុគ្គលិក"},
    "private_note": {"en": "Private note", "km": "កំណត់ចំណាំឯកជន"},
    "event": {"en": "Event", "km": "ព្រឹត្តិការណ៍"},
    "language": {"en": "Language", "km": "ភាសា"},
    "place": {"en": "Place", "km": "ទីកន្លែង"},
    "unknown": {"en": "unknown", "km": "មិនដឹង"},
    "reason": {"en": "Reason", "km": "មូលហេតុ"},
    "priority": {"en": "Priority", "km": "អាទិភាព"},
    "status": {"en": "Status", "km": "ស្ថានភាព"},
    "organisation": {"en": "Organisation", "km": "អង្គការ"},
    "answered_by": {"en": "Answered by", "km": "ឆ្លើយដោយ"},
    "updated": {
        "en": "This conversation changed. Reload to see its state.",
        "km": "ការសន្ទនានេះបានផ្លាស់ប្តូរ។ សូមផ្ទុកទំព័រឡើងវិញ។",
    },
    "back": {"en": "Back", "km": "ត្រឡប់ក្រោយ"},
    "error": {"en": "Not done", "km": "មិនបានធ្វើទេ"},
    "queued_n": {"en": "Queued", "km": "កំពុងរង់ចាំ"},
    "claimed_n": {"en": "Being answered", "km": "កំពុងឆ្លើយ"},
    "oldest_wait": {"en": "Longest wait", "km": "រង់ចាំយូរបំផុត"},
    "mean_wait": {"en": "Mean wait", "km": "រង់ចាំជាមធ្យម"},
    "mean_claim": {"en": "Mean time to claim", "km": "ពេលវេលាជាមធ្យមមុនទទួលយក"},
    "load": {"en": "Open per agent", "km": "ការសន្ទនាក្នុងម្នាក់"},
    "satisfaction": {"en": "Satisfaction (1-5)", "km": "ការពេញចិត្ត (១-៥)"},
    "save": {"en": "Save", "km": "រក្សាទុក"},
    "add": {"en": "Add", "km": "បន្ថែម"},
    "new_password": {"en": "New password", "km": "ពាក្យសម្ងាត់ថ្មី"},
    "password_once": {
        "en": "Password for {user} (shown once, give it in person): {password}",
        "km": "ពាក្យសម្ងាត់សម្រាប់ {user} (បង្ហាញតែម្តង): {password}",
    },
    "take_over": {"en": "Take over", "km": "ចូលជំនួស"},
}


def label(name: str, language: str, **values: str) -> str:
    """The console's word ``name`` in ``language`` (English if unknown)."""
    texts = _LABELS[name]
    text = texts.get(language) or texts[DEFAULT_UI_LANGUAGE]
    return text.format(**values) if values else text
