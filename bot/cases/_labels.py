"""The console words of the cases feature, in English and Khmer (kept here, not in the
console's shared labels)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LABELS", "translator"]

LABELS: dict[str, dict[str, str]] = {
    "cases": {"en": "Cases", "km": "ករណី"},
    "queue": {"en": "Open cases", "km": "ករណីកំពុងបើក"},
    "all": {"en": "All cases", "km": "ករណីទាំងអស់"},
    "new_case": {"en": "File a case for a citizen", "km": "ដាក់ករណីជំនួសពលរដ្ឋ"},
    "code": {"en": "Code", "km": "លេខកូដ"},
    "kind": {"en": "Kind", "km": "ប្រភេទ"},
    "topic": {"en": "Topic", "km": "ប្រធានបទ"},
    "programme": {"en": "Programme", "km": "កម្មវិធី"},
    "status": {"en": "Status", "km": "ស្ថានភាព"},
    "place": {"en": "Place", "km": "ទីកន្លែង"},
    "place_code": {"en": "Place code (gazetteer)", "km": "លេខកូដទីកន្លែង"},
    "handled_by": {"en": "Being handled by", "km": "កំពុងដោះស្រាយដោយ"},
    "referred_to": {"en": "Referred to", "km": "បានបញ្ជូនទៅ"},
    "due": {"en": "Due", "km": "ផុតកំណត់"},
    "overdue": {"en": "overdue", "km": "ហួសកំណត់"},
    "urgent": {"en": "urgent", "km": "បន្ទាន់"},
    "anonymous": {"en": "anonymous", "km": "មិនបញ្ចេញឈ្មោះ"},
    "escalated": {"en": "Escalated", "km": "បានបញ្ជូនឡើង"},
    "description": {"en": "The citizen's words", "km": "ពាក្យរបស់ពលរដ្ឋ"},
    "voice_note": {"en": "Voice note", "km": "សារជាសំឡេង"},
    "history": {"en": "History", "km": "ប្រវត្តិ"},
    "when": {"en": "When", "km": "ពេលវេលា"},
    "who": {"en": "Who", "km": "អ្នកណា"},
    "what": {"en": "What", "km": "អ្វី"},
    "reason": {"en": "Reason", "km": "មូលហេតុ"},
    "take": {"en": "Take it", "km": "យកករណីនេះ"},
    "start": {"en": "Start work", "km": "ចាប់ផ្តើមដោះស្រាយ"},
    "refer": {"en": "Refer to a ministry", "km": "បញ្ជូនទៅក្រសួង"},
    "resolve": {"en": "Resolve (answer sent to the citizen)", "km": "ដោះស្រាយ (ចម្លើយផ្ញើទៅពលរដ្ឋ)"},
    "reject": {"en": "Close without resolving", "km": "បិទដោយមិនដោះស្រាយ"},
    "note": {"en": "Internal note", "km": "កំណត់ចំណាំផ្ទៃក្នុង"},
    "reply": {"en": "Message the citizen", "km": "ផ្ញើសារទៅពលរដ្ឋ"},
    "template": {"en": "Template", "km": "គំរូចម្លើយ"},
    "send": {"en": "Save", "km": "រក្សាទុក"},
    "file": {"en": "File the case", "km": "ដាក់ករណី"},
    "none": {"en": "No cases.", "km": "គ្មានករណីទេ។"},
    "system": {"en": "the system", "km": "ប្រព័ន្ធ"},
    "citizen": {"en": "the citizen", "km": "ពលរដ្ឋ"},
    "make_case": {"en": "Turn this chat into a case", "km": "បង្កើតករណីពីការសន្ទនានេះ"},
    "ev_created": {"en": "filed", "km": "បានដាក់"},
    "ev_status": {"en": "status", "km": "ស្ថានភាព"},
    "ev_assigned": {"en": "assigned", "km": "បានប្រគល់"},
    "ev_referred": {"en": "referred", "km": "បានបញ្ជូន"},
    "ev_note": {"en": "note", "km": "កំណត់ចំណាំ"},
    "ev_reply": {"en": "message to the citizen", "km": "សារទៅពលរដ្ឋ"},
    "ev_escalated": {"en": "escalated", "km": "បានបញ្ជូនឡើង"},
    "ev_citizen": {"en": "the citizen answered", "km": "ពលរដ្ឋបានឆ្លើយ"},
    "k_question": {"en": "question", "km": "សំណួរ"},
    "k_complaint": {"en": "complaint", "km": "ពាក្យបណ្តឹង"},
    "k_suggestion": {"en": "suggestion", "km": "សំណូមពរ"},
    "k_praise": {"en": "praise", "km": "ការកោតសរសើរ"},
    "t_money_demand": {"en": "demand for money", "km": "ការទារលុយ"},
    "t_abuse": {"en": "abuse", "km": "ការរំលោភ"},
    "t_missing_payment": {"en": "missing payment", "km": "មិនបានទទួលប្រាក់"},
    "t_eligibility": {"en": "eligibility", "km": "សិទ្ធិទទួល"},
    "t_service": {"en": "service", "km": "សេវា"},
    "t_information": {"en": "information", "km": "ព័ត៌មាន"},
    "t_other": {"en": "other", "km": "ផ្សេងទៀត"},
    "s_new": {"en": "new", "km": "ថ្មី"},
    "s_assigned": {"en": "assigned", "km": "បានប្រគល់"},
    "s_in_progress": {"en": "in progress", "km": "កំពុងដោះស្រាយ"},
    "s_referred": {"en": "referred", "km": "បានបញ្ជូន"},
    "s_resolved": {"en": "resolved", "km": "បានដោះស្រាយ"},
    "s_closed": {"en": "closed", "km": "បានបិទ"},
    "s_reopened": {"en": "reopened", "km": "បានបើកម្តងទៀត"},
    "language": {"en": "Language", "km": "ភាសា"},
}


def translator(language: str) -> Callable[[str], str]:
    """``tr(key)`` for templates; an unknown key shows itself (never an error page)."""

    def tr(key: str) -> str:
        found = LABELS.get(key)
        return (found.get(language) or found["en"]) if found else key

    return tr
