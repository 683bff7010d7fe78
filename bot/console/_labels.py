"""The console's own words, in Khmer and English (agents choose; English by default):
labels by key (``label``) and the words for stored values (``word``: statuses, reasons,
topics, roles, organisation kinds, events...), so no page shows an internal name."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = ["LANGUAGE_NAMES", "UI_LANGUAGES", "WordKind", "add_words", "label", "word"]

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
    # --- retraining (admins, /console/training) ---
    "training": {"en": "Training", "km": "បង្ហាត់"},
    "review": {"en": "Review queue", "km": "ជួរពិនិត្យ"},
    "annotations": {"en": "Annotations", "km": "ការដាក់ស្លាក"},
    "intents": {"en": "New intents", "km": "គោលបំណងថ្មី"},
    "jobs": {"en": "Training jobs", "km": "ការបង្ហាត់"},
    "models": {"en": "Models", "km": "ម៉ូដែល"},
    "audit": {"en": "Audit log", "km": "កំណត់ហេតុសវនកម្ម"},
    "empty_review": {
        "en": "Nothing to review: every misunderstood message is labelled.",
        "km": "គ្មានអ្វីត្រូវពិនិត្យទេ៖ សារដែលមិនយល់ទាំងអស់ត្រូវបានដាក់ស្លាករួចហើយ។",
    },
    "message": {"en": "Message", "km": "សារ"},
    "count": {"en": "Conversations", "km": "ការសន្ទនា"},
    "messages_n": {"en": "messages", "km": "សារ"},
    "predicted": {"en": "Predicted", "km": "ទស្សន៍ទាយ"},
    "variants": {"en": "other wordings", "km": "ពាក្យផ្សេងទៀត"},
    "times": {"en": "Times", "km": "ចំនួនដង"},
    "gated_hint": {
        "en": "enough held-out examples: the gate checks this intent",
        "km": "មានឧទាហរណ៍សាកល្បងគ្រប់គ្រាន់៖ ច្រកត្រួតពិនិត្យពិនិត្យគោលបំណងនេះ",
    },
    "confidence": {"en": "Confidence", "km": "ភាពជឿជាក់"},
    "last_seen": {"en": "Last seen", "km": "ឃើញចុងក្រោយ"},
    "filter": {"en": "Filter", "km": "ត្រង"},
    "select": {"en": "Select", "km": "ជ្រើសរើស"},
    "assign": {"en": "Assign intent", "km": "ដាក់គោលបំណង"},
    "choose_intent": {"en": "Intent", "km": "គោលបំណង"},
    "out_of_scope": {"en": "Out of scope", "km": "ក្រៅប្រធានបទ"},
    "spam": {"en": "Spam", "km": "សារឥតបានការ"},
    "selected_rows": {"en": "With the selected messages", "km": "ជាមួយសារដែលបានជ្រើស"},
    "shortcuts": {
        "en": "Keys: j / k move · x select · a choose the intent · o out of scope · s spam"
        " · / filter",
        "km": "គ្រាប់ចុច៖ j / k ផ្លាស់ទី · x ជ្រើសរើស · a ជ្រើសគោលបំណង · o ក្រៅប្រធានបទ"
        " · s សារឥតបានការ · / ត្រង",
    },
    "reason_low_confidence": {"en": "low confidence", "km": "ភាពជឿជាក់ទាប"},
    "reason_fallback": {"en": "not understood", "km": "មិនយល់"},
    "reason_handoff": {"en": "handed to a person", "km": "បញ្ជូនទៅបុគ្គលិក"},
    "reason_low_rating": {"en": "poor rating", "km": "ការវាយតម្លៃទាប"},
    "label": {"en": "Label", "km": "ស្លាក"},
    "intent": {"en": "Intent", "km": "គោលបំណង"},
    "annotator": {"en": "By", "km": "ដោយ"},
    "exported": {"en": "In training data", "km": "នៅក្នុងទិន្នន័យបង្ហាត់"},
    "remove": {"en": "Remove", "km": "លុបចេញ"},
    "no_annotations": {"en": "No annotations yet.", "km": "មិនទាន់មានការដាក់ស្លាកនៅឡើយទេ។"},
    "intent_name": {
        "en": "Name (a-z, 0-9 and _, e.g. ask_birth_certificate)",
        "km": "ឈ្មោះ (a-z, 0-9 និង _ ឧ. ask_birth_certificate)",
    },
    "answer_km": {"en": "Answer in Khmer", "km": "ចម្លើយជាភាសាខ្មែរ"},
    "answer_en": {"en": "Answer in English", "km": "ចម្លើយជាភាសាអង់គ្លេស"},
    "create_intent": {"en": "Create the intent", "km": "បង្កើតគោលបំណង"},
    "intent_saved": {
        "en": "Intent {intent} saved: assign messages to it in the review queue.",
        "km": "បានរក្សាទុកគោលបំណង {intent}៖ ដាក់សារទៅវាក្នុងជួរពិនិត្យ។",
    },
    "start_training": {"en": "Start a training", "km": "ចាប់ផ្តើមបង្ហាត់"},
    "no_jobs": {"en": "No training yet.", "km": "មិនទាន់មានការបង្ហាត់ទេ។"},
    "job": {"en": "Training", "km": "ការបង្ហាត់"},
    "stage": {"en": "Stage", "km": "ដំណាក់កាល"},
    "progress": {"en": "Progress", "km": "វឌ្ឍនភាព"},
    "started_by": {"en": "Started by", "km": "ចាប់ផ្តើមដោយ"},
    "created": {"en": "Created", "km": "បានបង្កើត"},
    "finished": {"en": "Finished", "km": "បានបញ្ចប់"},
    "cancel": {"en": "Cancel the training", "km": "បោះបង់ការបង្ហាត់"},
    "report": {"en": "Report", "km": "របាយការណ៍"},
    "live_model": {"en": "live", "km": "កំពុងប្រើ"},
    "candidate": {"en": "candidate", "km": "បេក្ខជន"},
    "change": {"en": "Change", "km": "ការប្រែប្រួល"},
    "accuracy": {"en": "Accuracy", "km": "ភាពត្រឹមត្រូវ"},
    "overall": {"en": "overall", "km": "សរុប"},
    "held_out": {"en": "Held-out messages", "km": "សារសាកល្បង"},
    "intent_changes": {"en": "F1 per intent (changed)", "km": "F1 តាមគោលបំណង (ប្រែប្រួល)"},
    "no_changes": {"en": "No intent changed.", "km": "គ្មានគោលបំណងប្រែប្រួលទេ។"},
    "confused": {"en": "Most confused", "km": "ច្រឡំច្រើនបំផុត"},
    "contradictions": {
        "en": "Annotations that overturn what the live model was sure of",
        "km": "ស្លាកដែលផ្ទុយនឹងអ្វីដែលម៉ូដែលកំពុងប្រើប្រាកដ",
    },
    "taught": {"en": "taught", "km": "បានបង្រៀន"},
    "gate": {"en": "Gate", "km": "ច្រកត្រួតពិនិត្យ"},
    "gate_passed": {
        "en": "Passed: the candidate may replace the live model.",
        "km": "បានឆ្លង៖ បេក្ខជនអាចជំនួសម៉ូដែលកំពុងប្រើ។",
    },
    "gate_rejected": {
        "en": "Rejected: the live model stays.",
        "km": "បានបដិសេធ៖ ម៉ូដែលកំពុងប្រើនៅដដែល។",
    },
    "activate": {"en": "Activate", "km": "ដាក់ឱ្យប្រើ"},
    "activate_confirm": {
        "en": "Load this model into every Rasa instance?",
        "km": "ដាក់ម៉ូដែលនេះឱ្យប្រើក្នុង Rasa ទាំងអស់?",
    },
    "rollback": {"en": "Roll back one step", "km": "ត្រឡប់ក្រោយមួយជំហាន"},
    "rollback_confirm": {
        "en": "Put back the model that was live before?",
        "km": "ដាក់ម៉ូដែលមុនឱ្យប្រើវិញ?",
    },
    "activated": {"en": "Activated", "km": "បានដាក់ឱ្យប្រើ"},
    "when": {"en": "When", "km": "ពេលវេលា"},
    "who": {"en": "Who", "km": "អ្នកណា"},
    "action": {"en": "Action", "km": "សកម្មភាព"},
    "target": {"en": "What", "km": "អ្វី"},
    "detail": {"en": "Detail", "km": "ព័ត៌មានលម្អិត"},
    "file": {"en": "File", "km": "ឯកសារ"},
    # --- added with the console framework ---
    "menu": {"en": "Console sections", "km": "ផ្នែកនៃផ្ទាំងបុគ្គលិក"},
    "name": {"en": "Name", "km": "ឈ្មោះ"},
    "role": {"en": "Role", "km": "តួនាទី"},
    "kind": {"en": "Kind", "km": "ប្រភេទ"},
    "active": {"en": "active", "km": "សកម្ម"},
    "inactive": {"en": "inactive", "km": "អសកម្ម"},
    "slug": {"en": "Id (a-z 0-9 - _)", "km": "លេខសម្គាល់ (a-z 0-9 - _)"},
    "languages": {"en": "Languages (km,en)", "km": "ភាសា (km,en)"},
    "topics": {"en": "Topics (empty = all)", "km": "ប្រធានបទ (ទទេ = ទាំងអស់)"},
    "topics_h": {"en": "Topics", "km": "ប្រធានបទ"},
    "areas": {
        "en": "Areas: gazetteer codes (empty = whole country)",
        "km": "តំបន់៖ លេខកូដភូមិសាស្ត្រ (ទទេ = ទូទាំងប្រទេស)",
    },
    "areas_h": {"en": "Areas", "km": "តំបន់"},
    "office_hours": {
        "en": "Office hours, Asia/Phnom_Penh (JSON, empty = always)",
        "km": "ម៉ោងធ្វើការ ម៉ោងភ្នំពេញ (JSON, ទទេ = គ្រប់ពេល)",
    },
    "hours_h": {"en": "Office hours", "km": "ម៉ោងធ្វើការ"},
    "sla": {"en": "Service level (minutes)", "km": "កម្រិតសេវា (នាទី)"},
    "sla_h": {"en": "Service level", "km": "កម្រិតសេវា"},
    "minutes": {"en": "{n} min", "km": "{n} នាទី"},
    "all": {"en": "all", "km": "ទាំងអស់"},
    "always": {"en": "always", "km": "គ្រប់ពេល"},
    "whole_country": {"en": "whole country", "km": "ទូទាំងប្រទេស"},
    "channel": {"en": "Channel", "km": "បណ្តាញ"},
    "chat": {"en": "Chat", "km": "ការសន្ទនា"},
    "escalated": {"en": "escalated", "km": "បានបញ្ជូនបន្ត"},
    "times_tz": {"en": "Times are Phnom Penh time.", "km": "ម៉ោងទាំងអស់ជាម៉ោងភ្នំពេញ។"},
    "people": {"en": "People", "km": "បុគ្គលិក"},
    "waiting_h": {"en": "Waiting", "km": "រយៈពេលរង់ចាំ"},
    "log": {"en": "Log", "km": "កំណត់ហេតុ"},
}

_UNKNOWN = {"en": "other ({value})", "km": "ផ្សេងទៀត ({value})"}


class WordKind(StrEnum):
    """The kinds of stored value the console shows in words."""

    STATUS = "status"
    REASON = "reason"
    URGENCY = "urgency"
    TOPIC = "topic"
    ROLE = "role"
    ORG_KIND = "org_kind"
    EVENT = "event"
    AUTHOR = "author"
    CHANNEL = "channel"
    LANGUAGE = "language"
    ANNOTATION = "annotation"
    JOB_STATUS = "job_status"
    JOB_STAGE = "job_stage"
    MODEL_STATUS = "model_status"
    AUDIT = "audit"
    REVIEW_REASON = "review_reason"


def _w(en: str, km: str) -> dict[str, str]:
    return {"en": en, "km": km}


_WORDS: dict[str, dict[str, dict[str, str]]] = {
    WordKind.STATUS: {
        "queued": _w("waiting", "កំពុងរង់ចាំ"),
        "claimed": _w("being answered", "កំពុងឆ្លើយ"),
        "closed": _w("closed", "បានបិទ"),
    },
    WordKind.REASON: {
        "user_request": _w("asked for a person", "សុំនិយាយជាមួយមនុស្ស"),
        "sensitive_topic": _w("sensitive subject", "ប្រធានបទរសើប"),
        "voice_note": _w("sent a voice message", "បានផ្ញើសារជាសំឡេង"),
        "not_understood": _w("not understood by the assistant", "ជំនួយការមិនយល់"),
        "agent_takeover": _w("taken over by staff", "បុគ្គលិកចូលជំនួស"),
        "other": _w("other reason", "មូលហេតុផ្សេងទៀត"),
    },
    WordKind.URGENCY: {
        "emergency": _w("emergency", "បន្ទាន់"),
        "abuse": _w("abuse", "ការរំលោភបំពាន"),
        "payment": _w("payment not received", "មិនបានទទួលប្រាក់"),
    },
    WordKind.ROLE: {
        "agent": _w("CSO agent", "បុគ្គលិកអង្គការសង្គមស៊ីវិល"),
        "supervisor": _w("CSO supervisor", "អ្នកត្រួតពិនិត្យអង្គការសង្គមស៊ីវិល"),
        "admin": _w("administrator", "អ្នកគ្រប់គ្រងប្រព័ន្ធ"),
        "ministry_editor": _w("ministry editor", "អ្នកកែសម្រួលក្រសួង"),
        "secretariat_reviewer": _w("secretariat reviewer", "អ្នកពិនិត្យលេខាធិការដ្ឋាន"),
    },
    WordKind.ORG_KIND: {
        "ministry": _w("ministry", "ក្រសួង"),
        "secretariat": _w("secretariat", "លេខាធិការដ្ឋាន"),
        "cso": _w("civil-society organisation", "អង្គការសង្គមស៊ីវិល"),
        "national_pool": _w("national pool", "ក្រុមជាតិ"),
    },
    WordKind.EVENT: {
        "opened": _w("Handed to a person", "បានបញ្ជូនទៅបុគ្គលិក"),
        "claimed": _w("Claimed", "បានទទួលយក"),
        "reply": _w("Replied", "បានឆ្លើយតប"),
        "note": _w("Private note", "កំណត់ចំណាំឯកជន"),
        "transferred": _w("Transferred", "បានផ្ទេរ"),
        "escalated": _w("Escalated to the national pool", "បានបញ្ជូនបន្តទៅក្រុមជាតិ"),
        "closed": _w("Closed and handed back to the assistant", "បានបិទ ហើយប្រគល់ទៅជំនួយការវិញ"),
        "rated": _w("Rated by the citizen", "ពលរដ្ឋបានវាយតម្លៃ"),
        "citizen": _w("The citizen wrote", "ពលរដ្ឋបានសរសេរ"),
    },
    WordKind.AUTHOR: {
        "citizen": _w("Citizen", "ពលរដ្ឋ"),
        "assistant": _w("Assistant", "ជំនួយការ"),
        "agent": _w("Agent", "បុគ្គលិក"),
        "note": _w("Private note", "កំណត់ចំណាំឯកជន"),
        "event": _w("Event", "ព្រឹត្តិការណ៍"),
    },
    WordKind.CHANNEL: {
        "telegram": _w("Telegram", "តេឡេក្រាម"),
        "messenger": _w("Messenger", "មែសេនជឺ"),
        "webchat": _w("Web chat", "ជជែកលើគេហទំព័រ"),
    },
    WordKind.LANGUAGE: {
        "km": _w("Khmer", "ខ្មែរ"),
        "en": _w("English", "អង់គ្លេស"),
    },
    WordKind.ANNOTATION: {
        "intent": _w("Intent", "គោលបំណង"),
        "out_of_scope": _w("Out of scope", "ក្រៅប្រធានបទ"),
        "spam": _w("Spam", "សារឥតបានការ"),
    },
    WordKind.JOB_STATUS: {
        "queued": _w("queued", "កំពុងរង់ចាំ"),
        "running": _w("running", "កំពុងដំណើរការ"),
        "passed": _w("passed", "បានឆ្លង"),
        "rejected": _w("rejected", "បានបដិសេធ"),
        "failed": _w("failed", "បរាជ័យ"),
        "cancelled": _w("cancelled", "បានបោះបង់"),
    },
    WordKind.JOB_STAGE: {
        "export": _w("exporting the labels", "កំពុងនាំចេញស្លាក"),
        "validate": _w("checking the data", "កំពុងពិនិត្យទិន្នន័យ"),
        "train": _w("training", "កំពុងបង្ហាត់"),
        "evaluate": _w("evaluating", "កំពុងវាយតម្លៃ"),
        "gate": _w("gate", "ច្រកត្រួតពិនិត្យ"),
        "done": _w("done", "រួចរាល់"),
    },
    WordKind.MODEL_STATUS: {
        "candidate": _w("candidate", "បេក្ខជន"),
        "active": _w("live", "កំពុងប្រើ"),
        "retired": _w("retired", "ឈប់ប្រើ"),
        "rejected": _w("rejected", "បានបដិសេធ"),
    },
    WordKind.AUDIT: {
        "annotate": _w("labelled", "បានដាក់ស្លាក"),
        "remove_annotation": _w("removed a label", "បានលុបស្លាក"),
        "define_intent": _w("created an intent", "បានបង្កើតគោលបំណង"),
        "train": _w("started a training", "បានចាប់ផ្តើមបង្ហាត់"),
        "cancel_training": _w("cancelled a training", "បានបោះបង់ការបង្ហាត់"),
        "gate": _w("gate decision", "ការសម្រេចរបស់ច្រកត្រួតពិនិត្យ"),
        "activate": _w("activated a model", "បានដាក់ម៉ូដែលឱ្យប្រើ"),
        "rollback": _w("rolled back", "បានត្រឡប់ម៉ូដែលមុន"),
        "register_model": _w("registered a model", "បានចុះបញ្ជីម៉ូដែល"),
    },
    WordKind.REVIEW_REASON: {
        "low_confidence": _w("low confidence", "ភាពជឿជាក់ទាប"),
        "fallback": _w("not understood", "មិនយល់"),
        "handoff": _w("handed to a person", "បញ្ជូនទៅបុគ្គលិក"),
        "low_rating": _w("poor rating", "ការវាយតម្លៃទាប"),
    },
    WordKind.TOPIC: {},  # filled from knowledge/programmes.yml (add_words)
}


def label(name: str, language: str, **values: str) -> str:
    """The console's word ``name`` in ``language`` (English if unknown)."""
    texts = _LABELS[name]
    text = texts.get(language) or texts[DEFAULT_UI_LANGUAGE]
    return text.format(**values) if values else text


def word(kind: str, value: str | None, language: str) -> str:
    """A stored value (a status, a reason, a role...) in words; an unknown value says
    "other (value)" rather than pass for a word."""
    if value is None or value == "":
        return ""
    found = _WORDS.get(kind, {}).get(str(value))
    if found is None:
        template = _UNKNOWN.get(language) or _UNKNOWN[DEFAULT_UI_LANGUAGE]
        return template.format(value=value)
    return found.get(language) or found[DEFAULT_UI_LANGUAGE]


def add_words(kind: str, words: Mapping[str, Mapping[str, str]]) -> None:
    """Words read at start-up (topic titles from knowledge/programmes.yml)."""
    table = _WORDS.setdefault(kind, {})
    for value, texts in words.items():
        table[value] = {lang: str(text) for lang, text in texts.items() if text}
