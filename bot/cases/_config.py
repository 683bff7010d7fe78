"""knowledge/cases.yml: service levels, escalation, reopening, and the chat's words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from ._match import Phrases
from ._tables import CaseStatus, CaseTopic

__all__ = ["CasesConfig", "Programme", "load_config"]

LANGS = ("km", "en")


@dataclass(frozen=True)
class Programme:
    """A programme offered as a button: its id and its title in both languages."""

    id: str
    title_km: str
    title_en: str

    def title(self, language: str) -> str:
        return self.title_km if language == "km" else self.title_en


@dataclass(frozen=True)
class CasesConfig:
    """Everything cases.yml configures (times in hours)."""

    sla_hours: dict[str, float]
    urgent_sla_hours: dict[str, float]
    escalation: tuple[str, ...]
    escalated_sla_hours: float
    reopen_days: int
    followup_hours: float
    urgent_topics: frozenset[str]
    programmes: tuple[Programme, ...]
    texts: dict[str, dict[str, str]]
    statuses: dict[str, dict[str, str]]
    templates: dict[str, dict[str, str]]
    form_minutes: float = 60.0
    topic_words: tuple[tuple[str, Phrases], ...] = ()
    start_phrases: Phrases = field(default_factory=lambda: Phrases([]))
    status_words: Phrases = field(default_factory=lambda: Phrases([]))

    def text(self, name: str, language: str | None, **values: str) -> str:
        """A sentence of the chat in the citizen's language (Khmer first)."""
        texts = self.texts[name]
        said = texts.get(language or "km") or texts["km"]
        return said.format(**values) if values else said

    def status_name(self, status: str, language: str | None) -> str:
        names = self.statuses.get(status, {})
        return names.get(language or "km") or names.get("km") or status

    def service_level(self, status: str, urgent: bool) -> timedelta | None:
        """How long a case may stay in ``status`` (None: no clock runs, e.g. resolved)."""
        hours = (self.urgent_sla_hours if urgent else self.sla_hours).get(status)
        return timedelta(hours=hours) if hours is not None else None

    def topic_of(self, text: str) -> str | None:
        """The first topic whose words occur in ``text`` on word boundaries."""
        for topic, matcher in self.topic_words:
            if matcher.matches(text):
                return topic
        return None


def _both(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or any(not raw.get(lang) for lang in LANGS):
        raise ValueError(f"cases.yml: {where} needs both km and en")
    return {lang: str(raw[lang]) for lang in LANGS}


def _phrases(raw: Any) -> Phrases:
    raw = raw or {}
    return Phrases([str(p) for lang in LANGS for p in raw.get(lang) or ()])


def load_config(path: Path, programmes_path: Path | None = None) -> CasesConfig:
    """Read and check cases.yml (and the programmes' titles); ValueError if it is broken."""
    data: dict[str, Any] = yaml.safe_load(path.read_text("utf-8")) or {}
    statuses = set(CaseStatus)
    sla = {str(k): float(v) for k, v in (data.get("service_level_hours") or {}).items()}
    urgent_sla = {
        str(k): float(v) for k, v in (data.get("urgent_service_level_hours") or {}).items()
    }
    for name in [*sla, *urgent_sla]:
        if name not in statuses:
            raise ValueError(f"cases.yml: unknown status {name!r} in a service level")
    topics = set(CaseTopic)
    urgent = frozenset(str(t) for t in data.get("urgent_topics") or ())
    if not urgent <= topics:
        raise ValueError(f"cases.yml: unknown urgent topics {sorted(urgent - topics)}")
    titles: dict[str, Any] = {}
    if programmes_path is not None and programmes_path.exists():
        titles = (yaml.safe_load(programmes_path.read_text("utf-8")) or {}).get("topics") or {}
    programmes = []
    for pid in data.get("programmes") or ():
        title = (titles.get(pid) or {}).get("title") or {"km": pid, "en": pid}
        programmes.append(Programme(str(pid), str(title["km"]), str(title["en"])))
    topic_words = []
    for topic, words in (data.get("topic_words") or {}).items():
        if topic not in topics:
            raise ValueError(f"cases.yml: unknown topic {topic!r} in topic_words")
        topic_words.append((str(topic), _phrases(words)))
    texts = {str(k): _both(v, f"texts.{k}") for k, v in (data.get("texts") or {}).items()}
    return CasesConfig(
        sla_hours=sla,
        urgent_sla_hours=urgent_sla,
        escalation=tuple(str(e) for e in data.get("escalation") or ()),
        escalated_sla_hours=float(data.get("escalated_service_level_hours", 24)),
        reopen_days=int(data.get("reopen_days", 30)),
        followup_hours=float(data.get("followup_hours", 72)),
        urgent_topics=urgent,
        programmes=tuple(programmes),
        texts=texts,
        statuses={
            str(k): _both(v, f"statuses.{k}") for k, v in (data.get("statuses") or {}).items()
        },
        templates={
            str(k): _both(v, f"templates.{k}") for k, v in (data.get("templates") or {}).items()
        },
        form_minutes=float(data.get("form_minutes", 60)),
        topic_words=tuple(topic_words),
        start_phrases=_phrases(data.get("start_phrases")),
        status_words=_phrases(data.get("status_words")),
    )
