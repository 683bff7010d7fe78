"""The feedback form in chat, answered by the gateway before Rasa (Telegram, Messenger,
web chat; Khmer and English).

Started by the ``/feedback`` button (``/feedback{"kind": "complaint", ...}`` pre-fills
answers), or a clear phrase ("ផ្តល់មតិ", "give feedback"; not "complaint": Rasa hands
complaints to a person, and that flow stays Rasa's). Questions: consent, kind, programme,
description (text or a voice note), commune, anonymity; then the code. Whatever the
citizen already said (in the start payload, a commune named in the description, a place
the chat already knows) is not asked again. The last question asked is gw_chats.case_step,
the answers so far gw_case_drafts. A code (``ABC-D2F``, "status ABC-D2F", "ស្ថានភាព ...")
gets the case's status at any time; ``/case_yes CODE`` and ``/case_no CODE`` answer
"was this resolved?".
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, update

from khmer_nlu.graphemes import is_boundary

from .._exceptions import Refused
from ..storage._db import Chat, Inbound, utcnow
from ..storage._models import InboundKind
from ._codes import find_code
from ._commands import NewCase
from ._config import CasesConfig
from ._core import aware
from ._match import Phrases, fold
from ._service import CaseService
from ._tables import CaseDraft, CaseKind, CaseTopic

__all__ = ["Commune", "FeedbackDesk", "load_commune_names"]

log = logging.getLogger("bot.cases.desk")

START = "/feedback"
STEPS = ("consent", "kind", "programme", "description", "place", "anonymous")
KIND_WORDS: dict[str, tuple[str, ...]] = {
    CaseKind.QUESTION: ("question", "សំណួរ", "សួរ"),
    CaseKind.COMPLAINT: ("complaint", "complain", "ពាក្យបណ្តឹង", "បណ្តឹង", "ប្តឹង"),
    CaseKind.SUGGESTION: ("suggestion", "សំណូមពរ", "យោបល់"),
    CaseKind.PRAISE: ("praise", "thanks", "ការកោតសរសើរ", "សរសើរ", "អរគុណ"),
}
YES = Phrases(["yes", "ok", "agree", "i agree", "បាទ", "ចាស", "យល់ព្រម", "ព្រម"])
NO = Phrases(["no", "cancel", "stop", "ទេ", "អត់ទេ", "បោះបង់", "ឈប់"])
ANONYMOUS = Phrases(["anonymous", "stay anonymous", "មិនបញ្ចេញឈ្មោះ", "អនាមិក"])
MIN_PLACE_CHARS = 3
CANCEL_WORDS = frozenset({"cancel", "stop", "បោះបង់", "ឈប់"})
OTHER_WORDS = frozenset({"other", "ផ្សេងទៀត", "ផ្សេង"})


@dataclass(frozen=True)
class Commune:
    """A commune's code and its names, folded for matching."""

    code: str
    km: str
    latin: str


def load_commune_names(path: Path) -> list[Commune]:
    """Commune names of the gazetteer copy (knowledge/gazetteer/communes.yml); [] if absent."""
    if not path.is_file():
        return []
    data: dict[str, Any] = yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader) or {}
    found = []
    for code, item in (data.get("communes") or {}).items():
        name = (item or {}).get("name") or {}
        km = fold(str(name.get("km") or "")).replace(" ", "")
        latin = fold(str(name.get("latin") or ""))
        found.append(Commune(str(code), km, latin))
    # the longest names first: "Tonle Basak" before a commune called "Basak"
    return sorted(found, key=lambda c: -max(len(c.km), len(c.latin)))


def _command(text: str) -> tuple[str, str]:
    """("/feedback_kind", "complaint") from "/feedback_kind complaint"; ("", "") otherwise."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return "", ""
    head, _, rest = stripped.partition(" ")
    if "{" in head:  # /feedback{"kind": "complaint"}
        head, brace, tail = head.partition("{")
        rest = brace + tail + (" " + rest if rest else "")
    return head, rest.strip()


class FeedbackDesk:
    """What the pipeline consults before Rasa: ``claims`` then ``answer``."""

    def __init__(
        self, *, cases: CaseService, config: CasesConfig, communes: list[Commune]
    ) -> None:
        self._cases = cases
        self._config = config
        self._communes = communes
        self._store = cases._store

    # ----- does the desk answer this message? -----------------------------------------

    async def claims(self, inbound: Inbound, chat: Chat | None) -> bool:
        """True if the desk answers this message instead of Rasa."""
        if chat is None or chat.in_handoff:
            return False
        head, _ = _command(inbound.text)
        mine = head in (START, "/case_yes", "/case_no") or head.startswith(START + "_")
        if chat.case_step and (mine or await self._in_form(inbound, chat)):
            return True
        if inbound.kind == InboundKind.MEDIA:
            return False
        if mine:
            return True
        if inbound.kind == InboundKind.TEXT and self._config.start_phrases.matches(inbound.text):
            return True
        return await self._asks_status(inbound.text)

    async def _in_form(self, inbound: Inbound, chat: Chat) -> bool:
        """Whether a message in an open form answers it. A form left for longer than the
        configured time, or a free text where a button was expected that is no answer
        (the citizen asked something else), ends the form: Rasa answers instead."""
        step = chat.case_step
        fresh = await self._store_fresh(chat)
        if fresh and (inbound.kind != InboundKind.TEXT or step in ("description", "place")):
            return True
        if fresh and self._answers(str(step), inbound.text):
            return True
        await self._end_form(chat)
        chat.case_step = None
        return False

    def _answers(self, step: str, text: str) -> bool:
        if step == "consent":
            return YES.matches(text) or NO.matches(text)
        if step == "kind":
            return self._kind_in(text) is not None
        if step == "programme":
            return self._programme_in(text) is not None or fold(text) in OTHER_WORDS
        if step == "anonymous":
            return ANONYMOUS.matches(text) or YES.matches(text) or NO.matches(text)
        return fold(text) in CANCEL_WORDS

    async def _store_fresh(self, chat: Chat) -> bool:
        async with self._store.reading() as session:
            row = await session.get(CaseDraft, chat.id)
        if row is None:
            return False
        age = utcnow() - aware(row.updated_at)
        return age <= timedelta(minutes=self._config.form_minutes)

    async def _end_form(self, chat: Chat) -> None:
        async with self._store.writing() as session:
            await session.execute(delete(CaseDraft).where(CaseDraft.chat_id == chat.id))
            await session.execute(update(Chat).where(Chat.id == chat.id).values(case_step=None))
            await session.commit()

    async def _asks_status(self, text: str) -> bool:
        found = find_code(text)
        if found is None:
            return False
        if found.dashed or self._config.status_words.matches(text):
            return True
        # a bare six-letter word is a code only if such a case exists
        return found.valid and await self._cases.by_code(found.code) is not None

    # ----- answering ----------------------------------------------------------------

    async def answer(
        self, inbound: Inbound, chat: Chat, language: str | None
    ) -> list[dict[str, Any]]:
        """The replies (text and buttons, in the citizen's language). A refusal of the
        service (bad input that slipped through) ends the form instead of leaving the
        message to be retried for ever."""
        try:
            return await self._answer(inbound, chat, language)
        except Refused as exc:
            log.warning("cases.form_refused", extra={"error": type(exc).__name__})
            return await self._cancel(chat, language or chat.language)

    async def _answer(
        self, inbound: Inbound, chat: Chat, language: str | None
    ) -> list[dict[str, Any]]:
        head, rest = _command(inbound.text)
        if head in ("/case_yes", "/case_no"):
            said = await self._cases.citizen_answer(
                rest, resolved=head == "/case_yes", chat_row_id=chat.id
            )
            if said is None:
                said = self._config.text("unknown_code", language, code=rest.upper())
            return [self._say(said, language)]
        starting = head == START or head.startswith(START + "_")
        if (
            chat.case_step is None
            and not starting
            and not self._config.start_phrases.matches(inbound.text)
        ):
            found = find_code(inbound.text)
            code = found.code if found else inbound.text.strip()
            return [self._say(await self._cases.status_text(code, language), language)]
        if head == START or chat.case_step is None:
            return await self._start(chat, rest, language or chat.language)
        draft = await self._draft(chat)
        lang = str(draft.get("lang") or language or "km")
        if head == "/feedback_cancel" or fold(inbound.text) in CANCEL_WORDS:
            return await self._cancel(chat, lang)
        step = chat.case_step
        if step == "consent":
            if head == "/feedback_agree" or (not head and YES.matches(inbound.text)):
                draft["consent"] = True
            elif NO.matches(inbound.text):
                return await self._cancel(chat, lang)
        elif step == "kind":
            kind = rest if head == "/feedback_kind" else self._kind_in(inbound.text)
            if kind in set(CaseKind):
                draft["kind"] = kind
        elif step == "programme":
            programme = rest if head == "/feedback_programme" else self._programme_in(inbound.text)
            if programme is None and fold(inbound.text) in OTHER_WORDS:
                programme = "other"
            if programme:
                draft["programme"] = programme
        elif step == "description":
            if inbound.kind == InboundKind.MEDIA:
                draft["audio_ref"] = f"{inbound.channel}:{inbound.external_id}"
                draft["description"] = draft.get("description") or ""
            elif inbound.text.strip() and not head:
                draft["description"] = inbound.text.strip()
                place = self._place_in(inbound.text)
                if place and not draft.get("place"):
                    draft["place"] = place
        elif step == "place":
            if head == "/feedback_skip":
                draft["place"] = ""
            else:
                place = inbound.meta.get("place_code") or self._place_in(inbound.text)
                if place:
                    draft["place"] = str(place)
                elif draft.get("place_tried"):
                    draft["place"] = ""  # asked twice: file it without the commune
                else:
                    draft["place_tried"] = True
                    await self._ask(chat, draft, "place", {})
                    return [self._question("place_unknown", lang, [self._skip(lang)])]
        elif step == "anonymous":
            if head == "/feedback_anonymous":
                draft["anonymous"] = rest == "yes"
            elif ANONYMOUS.matches(inbound.text) or YES.matches(inbound.text):
                draft["anonymous"] = True
            elif NO.matches(inbound.text):
                draft["anonymous"] = False
        return await self._next(chat, draft, lang)

    async def start_from_rasa(
        self, chat: Chat, given: Any, lang: str | None
    ) -> list[dict[str, Any]]:
        """Rasa answered with ``{"custom": {"feedback": {...}}}``: start the form with what
        it already knows (kind, programme, topic, description, place)."""
        return await self._start(
            chat, json.dumps(given if isinstance(given, dict) else {}), lang or chat.language
        )

    async def _start(self, chat: Chat, rest: str, lang: str) -> list[dict[str, Any]]:
        draft: dict[str, Any] = {"lang": lang}
        if rest.startswith("{"):
            try:
                given = json.loads(rest)
            except ValueError:
                given = {}
            if isinstance(given, dict):
                draft.update(self._prefilled(given))  # consent is always asked
        return await self._next(chat, draft, lang)

    def _prefilled(self, given: dict[str, Any]) -> dict[str, Any]:
        """What a start payload may say already (kind, programme, topic, description, place)."""
        out: dict[str, Any] = {}
        if given.get("kind") in set(CaseKind):
            out["kind"] = given["kind"]
        programmes = {p.id for p in self._config.programmes}
        if given.get("programme") in programmes:
            out["programme"] = given["programme"]
        if given.get("topic") in set(CaseTopic):
            out["topic"] = given["topic"]
        if isinstance(given.get("description"), str) and given["description"]:
            out["description"] = given["description"]
        place = given.get("place_code") or given.get("place")
        if isinstance(place, str) and place.isdigit():
            out["place"] = place[:6]
        return out

    async def _next(self, chat: Chat, draft: dict[str, Any], lang: str) -> list[dict[str, Any]]:
        """Ask the first question not answered yet; file the case when none is left."""
        if not draft.get("consent"):
            return await self._ask(
                chat,
                draft,
                "consent",
                self._question(
                    "consent",
                    lang,
                    [self._button("agree", "/feedback_agree", lang), self._cancel_button(lang)],
                ),
            )
        if "kind" not in draft:
            buttons = [self._button(f"kind_{k}", f"/feedback_kind {k}", lang) for k in CaseKind]
            return await self._ask(chat, draft, "kind", self._question("ask_kind", lang, buttons))
        if "programme" not in draft:
            buttons = [
                {"title": p.title(lang), "payload": f"/feedback_programme {p.id}"}
                for p in self._config.programmes
            ]
            buttons.append(self._button("programme_other", "/feedback_programme other", lang))
            return await self._ask(
                chat, draft, "programme", self._question("ask_programme", lang, buttons)
            )
        if "description" not in draft:
            return await self._ask(
                chat, draft, "description", self._question("ask_description", lang, [])
            )
        if "place" not in draft and chat.place_code:  # the chat knows it (a location)
            draft["place"] = chat.place_code[:6]
        if "place" not in draft:
            return await self._ask(
                chat, draft, "place", self._question("ask_place", lang, [self._skip(lang)])
            )
        if "anonymous" not in draft:
            buttons = [
                self._button("anonymous_no", "/feedback_anonymous no", lang),
                self._button("anonymous_yes", "/feedback_anonymous yes", lang),
            ]
            return await self._ask(
                chat, draft, "anonymous", self._question("ask_anonymous", lang, buttons)
            )
        return await self._file(chat, draft, lang)

    async def _file(self, chat: Chat, draft: dict[str, Any], lang: str) -> list[dict[str, Any]]:
        programme = draft.get("programme")
        new = NewCase(
            kind=str(draft["kind"]),
            channel=chat.channel,
            language=lang,
            topic=draft.get("topic"),
            programme=None if programme in (None, "other") else str(programme),
            description=str(draft.get("description") or ""),
            place_code=str(draft.get("place") or "") or None,
            anonymous=bool(draft.get("anonymous")),
            audio_ref=draft.get("audio_ref"),
            chat=None if draft.get("anonymous") else (chat.channel, chat.chat_id),
        )
        case = await self._cases.file(new, draft_chat_id=chat.id)
        shown = self._cases.shown(case.code)
        replies = [self._say(self._config.text("filed", lang, code=shown), lang)]
        if case.urgent:
            replies.append(self._say(self._config.text("filed_urgent", lang), lang))
        return replies

    async def _cancel(self, chat: Chat, lang: str) -> list[dict[str, Any]]:
        await self._end_form(chat)
        return [self._say(self._config.text("cancelled", lang), lang)]

    # ----- state ----------------------------------------------------------------------

    async def _draft(self, chat: Chat) -> dict[str, Any]:
        async with self._store.reading() as session:
            row = await session.get(CaseDraft, chat.id)
            return dict(row.data) if row is not None else {}

    async def _ask(
        self, chat: Chat, draft: dict[str, Any], step: str, question: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Remember the answers and the question, then ask it."""
        async with self._store.writing() as session:
            row = await session.get(CaseDraft, chat.id)
            if row is None:
                session.add(CaseDraft(chat_id=chat.id, data=draft, updated_at=utcnow()))
            else:
                row.data = draft
                row.updated_at = utcnow()
            await session.execute(update(Chat).where(Chat.id == chat.id).values(case_step=step))
            await session.commit()
        return [question]

    # ----- understanding answers --------------------------------------------------------

    @staticmethod
    def _kind_in(text: str) -> str | None:
        for kind, words in KIND_WORDS.items():
            if Phrases(words).matches(text):
                return kind
        return None

    def _programme_in(self, text: str) -> str | None:
        for p in self._config.programmes:
            if Phrases([p.title_km, p.title_en, p.id.replace("_", " ")]).matches(text):
                return p.id
        return None

    def _place_in(self, text: str) -> str | None:
        """The code of a commune named in ``text`` (Khmer or Latin script), or None."""
        folded = fold(text)
        squeezed = folded.replace(" ", "")
        padded = f" {folded} "
        for commune in self._communes:
            if len(commune.latin) >= MIN_PLACE_CHARS and f" {commune.latin} " in padded:
                return commune.code
            if len(commune.km) >= MIN_PLACE_CHARS:
                start = squeezed.find(commune.km)
                while start != -1:
                    end = start + len(commune.km)
                    if is_boundary(squeezed, start) and is_boundary(squeezed, end):
                        return commune.code
                    start = squeezed.find(commune.km, start + 1)
        return None

    # ----- replies --------------------------------------------------------------------

    def _button(self, text: str, payload: str, lang: str) -> dict[str, str]:
        return {"title": self._config.text(text, lang), "payload": payload}

    def _cancel_button(self, lang: str) -> dict[str, str]:
        return self._button("cancel", "/feedback_cancel", lang)

    def _skip(self, lang: str) -> dict[str, str]:
        return self._button("skip", "/feedback_skip", lang)

    def _question(self, name: str, lang: str, buttons: list[dict[str, str]]) -> dict[str, Any]:
        reply: dict[str, Any] = {"text": self._config.text(name, lang), "language": lang}
        if buttons:
            reply["buttons"] = buttons
        return reply

    @staticmethod
    def _say(text: str, lang: str | None) -> dict[str, Any]:
        return {"text": text, "language": lang or "km"}
