"""The knowledge base pages' words in Khmer and English (kept in this package)."""

from __future__ import annotations

__all__ = ["LABELS", "klabel"]

LABELS: dict[str, dict[str, str]] = {
    "knowledge": {"en": "Knowledge base", "km": "មូលដ្ឋានចំណេះដឹង"},
    "programmes": {"en": "Programmes", "km": "កម្មវិធី"},
    "programme": {"en": "Programme", "km": "កម្មវិធី"},
    "owner": {"en": "Owner", "km": "ម្ចាស់"},
    "freshness": {"en": "Facts to re-verify", "km": "ព័ត៌មានត្រូវផ្ទៀងផ្ទាត់ឡើងវិញ"},
    "live_revision": {"en": "Live revision", "km": "កំណែកំពុងប្រើ"},
    "edit": {"en": "Draft a change", "km": "ព្រាងការកែប្រែ"},
    "suggest": {"en": "Suggest a change", "km": "ស្នើការកែប្រែ"},
    "open_changes": {"en": "Changes in progress", "km": "ការកែប្រែកំពុងដំណើរការ"},
    "no_changes": {"en": "No change in progress.", "km": "មិនមានការកែប្រែកំពុងដំណើរការទេ។"},
    "change": {"en": "Change", "km": "ការកែប្រែ"},
    "status": {"en": "Status", "km": "ស្ថានភាព"},
    "author": {"en": "Author", "km": "អ្នកសរសេរ"},
    "suggestion": {"en": "suggestion from a CSO", "km": "សំណើពីអង្គការសង្គមស៊ីវិល"},
    "draft": {"en": "draft", "km": "សេចក្តីព្រាង"},
    "in_review": {"en": "in review", "km": "កំពុងពិនិត្យ"},
    "published": {"en": "published", "km": "បានផ្សព្វផ្សាយ"},
    "withdrawn": {"en": "withdrawn", "km": "បានដកចេញ"},
    "fact": {"en": "Fact", "km": "ព័ត៌មាន"},
    "before": {"en": "Live now", "km": "បច្ចុប្បន្ន"},
    "after": {"en": "This change", "km": "ការកែប្រែនេះ"},
    "diff": {"en": "What changes", "km": "អ្វីដែលផ្លាស់ប្តូរ"},
    "no_diff": {"en": "Nothing changed yet.", "km": "មិនទាន់មានអ្វីផ្លាស់ប្តូរទេ។"},
    "source": {"en": "Source", "km": "ប្រភព"},
    "source_help": {
        "en": "The source of the facts you change in this save: required to publish.",
        "km": "ប្រភពនៃព័ត៌មានដែលអ្នកកែប្រែក្នុងការរក្សាទុកនេះ៖ ចាំបាច់ដើម្បីផ្សព្វផ្សាយ។",
    },
    "source_url": {"en": "Web address", "km": "អាសយដ្ឋានគេហទំព័រ"},
    "source_title": {"en": "Document title", "km": "ចំណងជើងឯកសារ"},
    "source_issuer": {"en": "Issued by", "km": "ចេញដោយ"},
    "source_date": {"en": "Published (YYYY-MM-DD)", "km": "ថ្ងៃចេញផ្សាយ (YYYY-MM-DD)"},
    "source_verified": {"en": "Verified on (YYYY-MM-DD)", "km": "ផ្ទៀងផ្ទាត់នៅថ្ងៃ (YYYY-MM-DD)"},
    "verified": {"en": "verified", "km": "ផ្ទៀងផ្ទាត់"},
    "no_source": {"en": "no source yet", "km": "មិនទាន់មានប្រភព"},
    "amount": {"en": "Amount (a number or unknown)", "km": "ចំនួនទឹកប្រាក់ (លេខ ឬ មិនដឹង)"},
    "save": {"en": "Save the draft", "km": "រក្សាទុកសេចក្តីព្រាង"},
    "submit": {"en": "Send for review", "km": "បញ្ជូនទៅពិនិត្យ"},
    "publish": {"en": "Publish", "km": "ផ្សព្វផ្សាយ"},
    "reject": {"en": "Send back to the author", "km": "ប្រគល់ទៅអ្នកសរសេរវិញ"},
    "comment": {"en": "Comment", "km": "មតិយោបល់"},
    "comments": {"en": "Comments", "km": "មតិយោបល់"},
    "note": {"en": "Note", "km": "កំណត់ចំណាំ"},
    "locked": {
        "en": "Someone else is editing this programme now.",
        "km": "មានអ្នកផ្សេងកំពុងកែកម្មវិធីនេះ។",
    },
    "history": {"en": "Published revisions", "km": "កំណែដែលបានផ្សព្វផ្សាយ"},
    "revision": {"en": "Revision", "km": "កំណែ"},
    "published_by": {"en": "Published by", "km": "ផ្សព្វផ្សាយដោយ"},
    "published_at": {"en": "When", "km": "ពេលវេលា"},
    "import": {"en": "import", "km": "នាំចូល"},
    "rollback": {"en": "Roll back to this revision", "km": "ត្រឡប់ទៅកំណែនេះវិញ"},
    "rollback_confirm": {
        "en": "Publish this revision again for every channel?",
        "km": "ផ្សព្វផ្សាយកំណែនេះម្តងទៀតសម្រាប់គ្រប់បណ្តាញ?",
    },
    "report": {"en": "Quality report", "km": "របាយការណ៍គុណភាព"},
    "stale": {
        "en": "Facts verified more than {days} days ago",
        "km": "ព័ត៌មានដែលបានផ្ទៀងផ្ទាត់លើសពី {days} ថ្ងៃមុន",
    },
    "no_stale": {"en": "Every fact is fresh.", "km": "ព័ត៌មានទាំងអស់នៅថ្មី។"},
    "unofficial": {
        "en": "Sources that are not official (not a government site)",
        "km": "ប្រភពមិនមែនផ្លូវការ (មិនមែនគេហទំព័ររដ្ឋាភិបាល)",
    },
    "no_unofficial": {"en": "Every source is official.", "km": "ប្រភពទាំងអស់ជាផ្លូវការ។"},
    "facts": {"en": "Facts citing it", "km": "ព័ត៌មានដែលយោង"},
    "age_days": {"en": "Age (days)", "km": "អាយុ (ថ្ងៃ)"},
    "download": {"en": "Download the live catalogue (JSON)", "km": "ទាញយកកាតាឡុកបច្ចុប្បន្ន (JSON)"},
    "preview": {"en": "Preview the answers", "km": "មើលចម្លើយជាមុន"},
    "preview_help": {
        "en": "How the assistant would answer, from this draft and from the live revision.",
        "km": "របៀបដែលជំនួយការនឹងឆ្លើយ ពីសេចក្តីព្រាងនេះ និងពីកំណែបច្ចុប្បន្ន។",
    },
    "q_what": {"en": "What is it?", "km": "តើវាជាអ្វី?"},
    "q_how_much": {"en": "How much?", "km": "ប៉ុន្មាន?"},
    "q_more": {"en": "More", "km": "បន្ថែម"},
    "q_where": {"en": "Where to apply?", "km": "ចុះឈ្មោះនៅឯណា?"},
    "q_source": {"en": "Source", "km": "ប្រភព"},
    "source_published": {"en": "Published", "km": "ចេញផ្សាយ"},
    "note_seed": {"en": "The first catalogue, from the seed files", "km": "កាតាឡុកដំបូង ពីឯកសារដើម"},
    "note_change": {"en": "Change #{number}", "km": "ការកែប្រែ #{number}"},
    "note_rollback": {
        "en": "Rolled back to revision {number}",
        "km": "ត្រឡប់ទៅកំណែទី {number} វិញ",
    },
    "kind_comment": {"en": "comment", "km": "មតិយោបល់"},
    "kind_submit": {"en": "sent for review", "km": "បានបញ្ជូនទៅពិនិត្យ"},
    "kind_reject": {"en": "sent back to the author", "km": "បានប្រគល់ទៅអ្នកសរសេរវិញ"},
    "kind_publish": {"en": "published", "km": "បានផ្សព្វផ្សាយ"},
    "version": {"en": "version {number}", "km": "កំណែព្រាងទី {number}"},
    "based_on": {"en": "based on revision {number}", "km": "ផ្អែកលើកំណែទី {number}"},
    "became": {"en": "published as revision {number}", "km": "បានផ្សព្វផ្សាយជាកំណែទី {number}"},
    "unit": {"en": "Unit", "km": "ឯកតា"},
    "period": {"en": "How often", "km": "រយៈពេល"},
    "in_khmer": {"en": "Khmer", "km": "ខ្មែរ"},
    "in_english": {"en": "English", "km": "អង់គ្លេស"},
    "unknown_hint": {
        "en": "Write unknown where the sources give no figure.",
        "km": "សរសេរ មិនដឹង នៅកន្លែងដែលប្រភពមិនផ្តល់តួលេខ។",
    },
}


def klabel(name: str, *, lang: str, **values: object) -> str:
    """The word ``name`` in ``lang`` (English when Khmer is missing)."""
    texts = LABELS[name]
    text = texts.get(lang) or texts["en"]
    return text.format(**values) if values else text
