"""The knowledge base (knowledge/programmes.yml), loaded and checked once at start-up.

Facts live in YAML so a ministry can correct an amount or an office without retraining the
assistant. Because a wrong fact does more harm than no answer, the loader refuses a knowledge
base that breaks the rules (a missing translation, a guessed amount next to `unknown`, a
topic without a source) and says exactly where, instead of letting the assistant start.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from actions.text import ENGLISH, KHMER, LANGUAGES, format_date

KNOWLEDGE_DIR = Path(
    os.environ.get("SP4ALL_KNOWLEDGE_DIR", Path(__file__).resolve().parent.parent / "knowledge")
)
PROGRAMMES_FILE = "programmes.yml"
MAX_TITLE_CHARS = 20  # Messenger's limit for a button title

STATUSES = ("active", "closed")
KINDS = ("programme", "info")
UNITS = ("riel", "percent")
PERIODS = ("per_month", "per_visit", "per_baby", "of_wage")
PLACES = (
    "commune_office",
    "school",
    "health_centre",
    "nssf_office",
    "employer",
    "online",
    "village_campaign",
)
_URL = re.compile(r"https?://[\w.-]+\.[a-z]{2,}(/\S*)?")


class KnowledgeError(ValueError):
    """The knowledge base breaks a rule; the message names the file and the place."""


@dataclass(frozen=True)
class LocalText:
    """One text in Khmer and English."""

    km: str
    en: str

    def get(self, language: str) -> str:
        """The text in `language`, Khmer for anything unexpected (Khmer first)."""
        return self.en if language == ENGLISH else self.km


@dataclass(frozen=True)
class Amount:
    """What a programme pays or charges; `value` is None when the sources give no figure."""

    id: str
    label: LocalText
    value: float | None
    unit: str | None
    period: str | None
    note: LocalText | None

    @property
    def unknown(self) -> bool:
        """True when nobody may state a figure for this amount."""
        return self.value is None


@dataclass(frozen=True)
class Source:
    """Where a fact comes from and when we last checked it."""

    url: str
    title: str
    published: str
    verified: datetime.date


@dataclass(frozen=True)
class Enrolment:
    """Where to go (PLACES), what to do there and what to bring."""

    where: tuple[str, ...]
    how: LocalText
    documents: tuple[LocalText, ...]


@dataclass(frozen=True)
class Contact:
    """The official contact for a programme (websites and apps, never a disputed number)."""

    id: str
    text: LocalText
    website: str | None


@dataclass(frozen=True)
class Topic:
    """One programme or subject the assistant answers about (intent ask_<id>)."""

    id: str
    title: LocalText
    status: str
    kind: str
    summary: LocalText
    runs: LocalText
    eligibility: LocalText | None
    amounts: tuple[Amount, ...]
    note: LocalText | None
    enrol: Enrolment | None
    contact: Contact
    sources: tuple[Source, ...]
    ended: str | None
    replaced_by: str | None

    def amount(self, amount_id: str) -> Amount:
        """The amount with id `amount_id` (KeyError if there is none)."""
        for amount in self.amounts:
            if amount.id == amount_id:
                return amount
        raise KeyError(f"{self.id} has no amount {amount_id!r}")


@dataclass(frozen=True)
class KnowledgeBase:
    """All topics and contacts, with the version and the date the facts were checked."""

    version: str
    verified_on: datetime.date
    topics: Mapping[str, Topic]
    contacts: Mapping[str, Contact]


class _Reader:
    """Reads one YAML file, raising KnowledgeError with the file and the dotted path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> KnowledgeError:
        return KnowledgeError(f"{self.path.name}: {where}: {problem}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "expected a mapping")
        return value

    def sequence(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, "expected a list")
        return value

    def field(self, data: dict[str, Any], key: str, where: str) -> Any:
        if key not in data or data[key] is None:
            raise self.fail(where, f"missing {key!r}")
        return data[key]

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "expected a non-empty text")
        return value.strip()

    def text(self, value: Any, where: str, max_chars: int | None = None) -> LocalText:
        data = self.mapping(value, where)
        texts = {}
        for language in LANGUAGES:
            text = self.string(self.field(data, language, where), f"{where}.{language}")
            if max_chars is not None and len(text) > max_chars:
                raise self.fail(
                    f"{where}.{language}", f"{text!r} is longer than {max_chars} characters"
                )
            texts[language] = text
        return LocalText(km=texts[KHMER], en=texts[ENGLISH])

    def optional_text(self, data: dict[str, Any], key: str, where: str) -> LocalText | None:
        return self.text(data[key], f"{where}.{key}") if data.get(key) is not None else None

    def choice(self, value: Any, choices: tuple[str, ...], where: str) -> str:
        if value not in choices:
            raise self.fail(where, f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    def date(self, value: Any, where: str) -> datetime.date:
        if isinstance(value, datetime.date):
            return value
        try:
            return datetime.date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(where, f"{value!r} is not a date (YYYY-MM-DD)") from None

    def published(self, value: Any, where: str) -> str:
        text = str(value)
        try:
            format_date(text, ENGLISH)
        except ValueError as error:
            raise self.fail(where, str(error)) from None
        return text


def _read_amount(reader: _Reader, value: Any, where: str) -> Amount:
    data = reader.mapping(value, where)
    unknown = data.get("unknown", False) is True
    number = data.get("value")
    if unknown and number is not None:
        raise reader.fail(where, "has both a value and unknown: true; keep one")
    if not unknown and number is None:
        raise reader.fail(where, "needs a value (a number) or unknown: true")
    unit = period = None
    if not unknown:
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number <= 0:
            raise reader.fail(f"{where}.value", f"expected a number above 0, not {number!r}")
        unit = reader.choice(data.get("unit"), UNITS, f"{where}.unit")
        period = reader.choice(data.get("period"), PERIODS, f"{where}.period")
    return Amount(
        id=reader.string(reader.field(data, "id", where), f"{where}.id"),
        label=reader.text(reader.field(data, "label", where), f"{where}.label"),
        value=None if unknown else number,
        unit=unit,
        period=period,
        note=reader.optional_text(data, "note", where),
    )


def _read_enrolment(reader: _Reader, value: Any, where: str) -> Enrolment:
    data = reader.mapping(value, where)
    places = reader.sequence(reader.field(data, "where", where), f"{where}.where")
    if not places:
        raise reader.fail(f"{where}.where", "name at least one place")
    documents = reader.sequence(data.get("documents", []), f"{where}.documents")
    return Enrolment(
        where=tuple(reader.choice(place, PLACES, f"{where}.where") for place in places),
        how=reader.text(reader.field(data, "how", where), f"{where}.how"),
        documents=tuple(
            reader.text(document, f"{where}.documents[{i}]")
            for i, document in enumerate(documents)
        ),
    )


def _read_source(reader: _Reader, value: Any, where: str) -> Source:
    data = reader.mapping(value, where)
    url = reader.string(reader.field(data, "url", where), f"{where}.url")
    if not _URL.fullmatch(url):
        raise reader.fail(f"{where}.url", f"{url!r} is not a web address")
    return Source(
        url=url,
        title=reader.string(reader.field(data, "title", where), f"{where}.title"),
        published=reader.published(reader.field(data, "published", where), f"{where}.published"),
        verified=reader.date(reader.field(data, "verified", where), f"{where}.verified"),
    )


def _read_contact(reader: _Reader, contact_id: str, value: Any) -> Contact:
    where = f"contacts.{contact_id}"
    data = reader.mapping(value, where)
    website = data.get("website")
    text = reader.text(reader.field(data, "text", where), f"{where}.text")
    if website is not None and website not in text.en:
        raise reader.fail(where, f"the text does not mention the website {website!r}")
    return Contact(id=contact_id, text=text, website=website)


def _read_topic(
    reader: _Reader, topic_id: str, value: Any, contacts: Mapping[str, Contact]
) -> Topic:
    where = f"topics.{topic_id}"
    data = reader.mapping(value, where)
    status = reader.choice(data.get("status"), STATUSES, f"{where}.status")
    kind = reader.choice(data.get("kind", "programme"), KINDS, f"{where}.kind")
    ended = data.get("ended")
    replaced_by = data.get("replaced_by")
    if status == "closed" and (ended is None or replaced_by is None):
        raise reader.fail(where, "a closed programme needs `ended` and `replaced_by`")
    if ended is not None:
        ended = reader.published(ended, f"{where}.ended")
    amounts = tuple(
        _read_amount(reader, amount, f"{where}.amounts[{i}]")
        for i, amount in enumerate(reader.sequence(data.get("amounts", []), f"{where}.amounts"))
    )
    seen: set[str] = set()
    for i, amount in enumerate(amounts):
        if amount.id in seen:
            raise reader.fail(f"{where}.amounts[{i}].id", f"duplicate id {amount.id!r}")
        seen.add(amount.id)
    sources = reader.sequence(reader.field(data, "sources", where), f"{where}.sources")
    if not sources:
        raise reader.fail(f"{where}.sources", "at least one source is required")
    contact_id = reader.field(data, "contact", where)
    if contact_id not in contacts:
        raise reader.fail(f"{where}.contact", f"unknown contact {contact_id!r}")
    return Topic(
        id=topic_id,
        title=reader.text(reader.field(data, "title", where), f"{where}.title", MAX_TITLE_CHARS),
        status=status,
        kind=kind,
        summary=reader.text(reader.field(data, "summary", where), f"{where}.summary"),
        runs=reader.text(reader.field(data, "runs", where), f"{where}.runs"),
        eligibility=reader.optional_text(data, "eligibility", where),
        amounts=amounts,
        note=reader.optional_text(data, "note", where),
        enrol=_read_enrolment(reader, data["enrol"], f"{where}.enrol")
        if data.get("enrol") is not None
        else None,
        contact=contacts[contact_id],
        sources=tuple(
            _read_source(reader, source, f"{where}.sources[{i}]")
            for i, source in enumerate(sources)
        ),
        ended=ended,
        replaced_by=replaced_by,
    )


def read_yaml(path: Path) -> Any:
    """Parse a knowledge file, turning I/O and syntax errors into KnowledgeError."""
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=yaml.CSafeLoader)
    except OSError as error:
        raise KnowledgeError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise KnowledgeError(f"{path.name} is not valid YAML: {error}") from None


def load_knowledge(directory: Path = KNOWLEDGE_DIR) -> KnowledgeBase:
    """Load and check `directory`/programmes.yml; raise KnowledgeError if it is broken."""
    path = directory / PROGRAMMES_FILE
    return parse_knowledge(read_yaml(path), path)


def parse_knowledge(raw: Any, path: Path = Path(PROGRAMMES_FILE)) -> KnowledgeBase:
    """Check programmes.yml's data (from the file or from the live catalogue, converted by
    kbprofile.document_to_seed); raise KnowledgeError naming `path` if it is broken."""
    reader = _Reader(path)
    data = reader.mapping(raw, "top level")
    contacts = {
        contact_id: _read_contact(reader, contact_id, value)
        for contact_id, value in reader.mapping(
            reader.field(data, "contacts", "top level"), "contacts"
        ).items()
    }
    topics = {
        topic_id: _read_topic(reader, topic_id, value, contacts)
        for topic_id, value in reader.mapping(
            reader.field(data, "topics", "top level"), "topics"
        ).items()
    }
    for topic in topics.values():
        if topic.replaced_by is not None and topic.replaced_by not in topics:
            raise reader.fail(
                f"topics.{topic.id}.replaced_by", f"unknown topic {topic.replaced_by!r}"
            )
    return KnowledgeBase(
        version=reader.string(reader.field(data, "version", "top level"), "version"),
        verified_on=reader.date(reader.field(data, "verified_on", "top level"), "verified_on"),
        topics=topics,
        contacts=contacts,
    )
