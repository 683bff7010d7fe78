"""The dashboard's words in Khmer and English, and the names of the coded values it shows
(programmes from knowledge/programmes.yml, provinces from the map's data)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..cases import CaseKind, CaseTopic

__all__ = ["ATTRIBUTION", "LANGUAGES", "Names", "words"]

# data/SOURCE.md: shown under every map, as the licence asks
ATTRIBUTION = (
    'Province boundaries: OCHA Humanitarian Data Exchange, "Cambodia – Subnational '
    'Administrative Boundaries" (COD-AB, khm_admbnda_adm1_gov_20181004, valid on 2018-10-04). '
    "Data: Ministry of Land Management, Urban Planning and Construction (Department of "
    "Geography), updated 2014, provided by WFP VAM Cambodia. Licence: CC BY-IGO 3.0. "
    "Simplified by us. The boundaries and names shown do not imply official endorsement or "
    "acceptance by the United Nations. Names and codes: NCDD gazetteer via pumi (MIT)."
)

LANGUAGES = ("km", "en")

_WORDS: dict[str, tuple[str, str]] = {  # key: (km, en)
    "dashboard": ("ផ្ទាំងតួលេខ", "Dashboard"),
    "title": ("សំឡេងពលរដ្ឋជាតួលេខ", "Citizens' voice in figures"),
    "public_title": ("តួលេខមតិ និងបណ្តឹងរបស់ពលរដ្ឋ", "Citizens' feedback and grievances in figures"),
    "intro": (
        "ចំនួនករណី (សំណួរ បណ្តឹង សំណូមពរ និងការកោតសរសើរ) ដែលពលរដ្ឋបានផ្ញើមក SP4ALL។",
        "Cases (questions, complaints, suggestions and praise) citizens sent to SP4ALL.",
    ),
    "privacy": (
        "ដើម្បីការពារឯកជនភាព ចំនួនពី ១ ដល់ ៤ និងចំនួនដែលអាចបង្ហាញវាត្រូវបានលាក់ (—)។ "
        "គ្មានឈ្មោះ លេខទូរស័ព្ទ ឬពាក្យរបស់ពលរដ្ឋទេ។",
        "To protect privacy, counts of 1 to 4, and the counts that would reveal them, are "
        "hidden (—). No names, phone numbers or citizens' words are shown.",
    ),
    "period": ("រយៈពេល", "Period"),
    "from": ("ពីខែ", "From"),
    "to": ("ដល់ខែ", "To"),
    "year": ("ឆ្នាំ", "Year"),
    "programme": ("កម្មវិធី", "Programme"),
    "province": ("ខេត្ត", "Province"),
    "all": ("ទាំងអស់", "All"),
    "show": ("បង្ហាញ", "Show"),
    "total": ("សរុប", "Total"),
    "cases": ("ករណី", "cases"),
    "by_month": ("ករណីតាមខែ", "Cases by month"),
    "by_programme": ("ករណីតាមកម្មវិធី", "Cases by programme"),
    "by_issue": ("ករណីតាមប្រភេទបញ្ហា", "Cases by issue type"),
    "by_province": ("ករណីតាមខេត្ត", "Cases by province"),
    "map": ("ផែនទីករណីតាមខេត្ត", "Map of cases by province"),
    "over_time": ("តាមខែ", "Over time"),
    "resolution": ("ពេលវេលាដោះស្រាយ", "Resolution times"),
    "median": ("មធ្យមភាគ (មេដ្យាន)", "Median"),
    "p90": ("៩០% ក្នុងរយៈពេល", "90% within"),
    "within_target": ("ដោះស្រាយទាន់ពេល", "Resolved in time"),
    "target": ("គោលដៅ៖ ដោះស្រាយក្នុងរយៈពេល {days} ថ្ងៃ", "Target: resolved within {days} days"),
    "days": ("{n} ថ្ងៃ", "{n} days"),
    "over_days": ("លើស {n} ថ្ងៃ", "over {n} days"),
    "hidden": ("លាក់", "hidden"),
    "no_data": ("មិនទាន់មានករណីក្នុងរយៈពេលនេះទេ។", "No cases in this period yet."),
    "downloads": ("ទាញយក", "Download"),
    "refresh": ("ធ្វើបច្ចុប្បន្នភាពឥឡូវ", "Refresh now"),
    "refreshed": ("ធ្វើបច្ចុប្បន្នភាពចុងក្រោយ", "Last refreshed"),
    "public_link": ("ទំព័រសាធារណៈ", "Public page"),
    "no_cases": ("គ្មាន", "none"),
    "unknown": ("មិនស្គាល់", "Unknown"),
    "other": ("ផ្សេងៗ", "Other"),
    "legend": ("ចំនួនករណី", "Number of cases"),
    "language": ("English", "ភាសាខ្មែរ"),
    "source": ("ប្រភពព្រំដែនខេត្ត", "Province boundaries"),
}

_KINDS: dict[str, tuple[str, str]] = {
    CaseKind.QUESTION: ("សំណួរ", "Question"),
    CaseKind.COMPLAINT: ("បណ្តឹង", "Complaint"),
    CaseKind.SUGGESTION: ("សំណូមពរ", "Suggestion"),
    CaseKind.PRAISE: ("ការកោតសរសើរ", "Praise"),
}
_TOPICS: dict[str, tuple[str, str]] = {
    CaseTopic.MONEY_DEMAND: ("ការទារប្រាក់", "Demand for money"),
    CaseTopic.ABUSE: ("ការរំលោភបំពាន", "Abuse"),
    CaseTopic.MISSING_PAYMENT: ("មិនបានទទួលប្រាក់", "Missing payment"),
    CaseTopic.ELIGIBILITY: ("សិទ្ធិទទួលបាន", "Eligibility"),
    CaseTopic.SERVICE: ("សេវា", "Service"),
    CaseTopic.INFORMATION: ("ព័ត៌មាន", "Information"),
    CaseTopic.OTHER: ("ផ្សេងៗ", "Other"),
}
UNKNOWN = ""  # the key of cases without a programme or province
OTHER = "other"


def words(language: str) -> dict[str, str]:
    """Every label of the dashboard in one language."""
    k = 0 if language == "km" else 1
    return {key: pair[k] for key, pair in _WORDS.items()}


@dataclass(frozen=True)
class Names:
    """The coded values the dashboard may publish, with their names in both languages;
    anything else in a coded column is counted as ``other`` (never published as stored)."""

    programmes: dict[str, tuple[str, str]]
    provinces: dict[str, tuple[str, str]]
    issues: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, knowledge_dir: Path) -> Names:
        programmes: dict[str, tuple[str, str]] = {}
        path = knowledge_dir / "programmes.yml"
        if path.exists():
            data: dict[str, Any] = yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)
            for key, entry in ((data or {}).get("topics") or {}).items():
                title = entry.get("title") if isinstance(entry, dict) else None
                if isinstance(title, dict):
                    programmes[str(key)] = (str(title.get("km", key)), str(title.get("en", key)))
        issues = {
            f"{kind}:{topic}": (f"{kn[0]} · {tn[0]}", f"{kn[1]} · {tn[1]}")
            for kind, kn in _KINDS.items()
            for topic, tn in _TOPICS.items()
        }
        return cls(programmes, province_names(), issues)

    def name(self, axis: str, key: str, language: str) -> str:
        """A row's name in the page's language."""
        k = 0 if language == "km" else 1
        if key == UNKNOWN:
            return _WORDS["unknown"][k]
        if key == OTHER:
            return _WORDS["other"][k]
        table = {"programme": self.programmes, "province": self.provinces}.get(axis, self.issues)
        return table[key][k] if key in table else key

    def known(self, axis: str, key: str) -> str:
        """The key to publish: itself if it is a known code, else ``other``."""
        if key == UNKNOWN:
            return key
        table = {"programme": self.programmes, "province": self.provinces}.get(axis, self.issues)
        return key if key in table else OTHER


@cache
def map_data() -> dict[str, Any]:
    """The simplified province layer shipped in bot/dashboard/data (see SOURCE.md)."""
    raw = resources.files("bot.dashboard").joinpath("data", "provinces.geojson").read_text("utf-8")
    data: dict[str, Any] = json.loads(raw)
    return data


def province_names() -> dict[str, tuple[str, str]]:
    """Province codes 01–25 with their Khmer and English names."""
    return {
        f["properties"]["code"]: (f["properties"]["name_km"], f["properties"]["name_en"])
        for f in map_data()["features"]
    }
