"""Canned replies (knowledge/canned_replies.yml): CSOs edit the file, the console re-reads
it when it changes, and a reply without both Khmer and English is refused.

A reply never hard-codes a programme's amount: it writes ``{fact:<programme>.<amount id>}``
(the ids of the knowledge base's catalogue, e.g. ``{fact:scholarship.upper_secondary}``),
filled when the agent opens the conversation from the knowledge base's live revision in the
reply's language, so a publish or a roll back shows at the next page load; an amount the
catalogue does not know reads as the assistant's "not sure, please contact ..."."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from aiohttp import web

import kbprofile

from .._exceptions import SettingsError

__all__ = [
    "LIVE_CATALOGUE",
    "CannedReplies",
    "CannedReply",
    "LiveCatalogue",
    "parse_canned",
    "seed_document",
]


class LiveCatalogue(Protocol):
    """The knowledge base's live catalogue (None before its first revision)."""

    async def __call__(self) -> dict[str, Any] | None: ...


# Set by the knowledge feature, which imports the console (never the other way round).
LIVE_CATALOGUE = web.AppKey("live_catalogue", LiveCatalogue)

log = logging.getLogger("bot.console")
REQUIRED_LANGUAGES = ("km", "en")


@dataclass(frozen=True)
class CannedReply:
    """One ready-made answer in both languages."""

    id: str
    km: str
    en: str

    def text(self, language: str, document: dict[str, Any] | None = None, **values: str) -> str:
        """The reply in ``language`` (Khmer unless English), placeholders filled: ``values``
        by name, ``{fact:...}`` from the knowledge base's ``document``."""
        template = self.en if language == "en" else self.km
        for key, value in values.items():
            template = template.replace("{" + key + "}", value)
        return kbprofile.fill_facts(template, document, language)

    def facts(self) -> set[str]:
        """The ``programme.amount`` ids the reply quotes."""
        return {
            f"{m.group(1)}.{m.group(2)}"
            for text in (self.km, self.en)
            for m in kbprofile.FACT_PLACEHOLDER.finditer(text)
        }


def parse_canned(text: str, source: str = "canned replies") -> list[CannedReply]:
    """Validate the file's content: ``replies`` is a list of {id, km, en}, ids unique."""
    data: Any = yaml.load(text, Loader=yaml.CSafeLoader) or {}
    items = data.get("replies") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise SettingsError(f"{source}: expected a 'replies' list")
    replies: list[CannedReply] = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not str(item.get("id") or "").strip():
            raise SettingsError(f"{source}: reply {i} needs an id")
        missing = [lang for lang in REQUIRED_LANGUAGES if not str(item.get(lang) or "").strip()]
        if missing:
            raise SettingsError(f"{source}: reply {item['id']!r} has no {' or '.join(missing)}")
        reply = CannedReply(str(item["id"]), str(item["km"]).strip(), str(item["en"]).strip())
        km_facts = {m.group(0) for m in kbprofile.FACT_PLACEHOLDER.finditer(reply.km)}
        en_facts = {m.group(0) for m in kbprofile.FACT_PLACEHOLDER.finditer(reply.en)}
        if km_facts != en_facts:
            raise SettingsError(f"{source}: reply {reply.id!r} quotes other facts in km and en")
        replies.append(reply)
    ids = [r.id for r in replies]
    if len(set(ids)) != len(ids):
        raise SettingsError(f"{source}: reply ids must be unique")
    return replies


class CannedReplies:
    """The file's replies, re-read when its modification time changes; a broken edit keeps
    the last good version (and is logged) so agents are never left without the list."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime: float | None = None
        self._replies: list[CannedReply] = []
        self.load()

    def load(self) -> None:
        """Read the file now; raises SettingsError if it is malformed."""
        if not self._path.exists():
            log.warning("console.no_canned_replies", extra={"path": str(self._path)})
            self._replies, self._mtime = [], None
            return
        mtime = self._path.stat().st_mtime
        self._replies = parse_canned(self._path.read_text("utf-8"), str(self._path))
        self._mtime = mtime

    def current(self) -> list[CannedReply]:
        """The replies, refreshed if the file changed since the last read."""
        mtime = self._path.stat().st_mtime if self._path.exists() else None
        if mtime != self._mtime:
            try:
                self.load()
            except SettingsError:
                log.exception("console.bad_canned_replies")
                self._mtime = mtime  # logged once per edit, not once per page
        return list(self._replies)


_seed_cache: dict[Path, tuple[float, dict[str, Any]]] = {}


def seed_document(directory: Path) -> dict[str, Any] | None:
    """The seed files as a catalogue, for a gateway without the knowledge feature (re-read
    when programmes.yml changes; None if there is none)."""
    path = directory / "programmes.yml"
    if not path.exists():
        return None
    mtime = path.stat().st_mtime
    cached = _seed_cache.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        document = kbprofile.seed_to_document(directory)
    except kbprofile.ProfileError:
        log.warning("console.bad_seed")
        return None
    _seed_cache[path] = (mtime, document)
    return document
