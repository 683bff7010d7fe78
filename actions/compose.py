"""Turning knowledge-base facts into short messages a citizen can read on a phone.

The actions decide *what* to say; this module decides *how*: which facts go into an answer,
in which order, in the citizen's language, with amounts formatted for that language and the
source of every answer. It also owns the shared resources (knowledge base, catalogue, rules,
gazetteer), loaded once when the action server starts.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actions.eligibility import Assessment, Finding, RuleBook, load_rules
from actions.i18n import MAX_BUTTON_CHARS, Button, Catalogue, load_catalogue
from actions.knowledge import Amount, Enrolment, KnowledgeBase, Topic, load_knowledge
from actions.places import COMMUNE, DISTRICT, Gazetteer, Place, load_gazetteer
from actions.text import KHMER, domain_of, format_date, format_number
from khmer_nlu import graphemes

PARAGRAPH = "\n\n"
LINE = "\n"
LIST_SEPARATOR = ", "
MAX_MESSAGE_CHARS = 2000  # Messenger's limit for one text message
ELLIPSIS = "…"
# Places where the citizen's own commune (or its district/province) decides the office.
LOCAL_PLACES = ("commune_office", "village_campaign")
NSSF_PLACE = "nssf_office"
# Where a citizen can complain without going through the village or commune (which may be
# the one demanding money): the Ministry of Planning's IDPoor complaint form, cited in the
# lost-card topic, and the National Social Assistance Fund, which pays the cash. The
# knowledge base has no hotline or anti-corruption channel (no telephone numbers, see
# programmes.yml).
COMPLAINT_TOPIC = "lost_card"
COMPLAINT_CONTACTS = ("idpoor", "nsaf")
# The main menu: (button key or topic id, payload); topics take their title from the KB.
MAIN_MENU = (
    ("what_can_i_get", "/check_eligibility"),
    ("equity_card", "/ask_equity_card"),
    ("pregnancy_cash", "/ask_pregnancy_cash"),
    ("scholarship", "/ask_scholarship"),
    ("family_package", "/ask_family_package"),
    ("nssf", "/ask_nssf"),
    ("request_human", "/request_human"),
)
# Topics offered when the citizen asks where to enrol without saying for what.
NOT_ENROLMENT_TOPICS = ("lost_card",)
# The first answer about a programme fits one phone screen (a chat area of ~600 CSS px):
# at most this many characters before its buttons; the rest is behind them.
SHORT_ANSWER_CHARS = 350
SHORT_ANSWER_AMOUNTS = 3
# The parts of a topic behind its buttons: payload /ask_<topic>{"detail": "<part>"}.
DETAIL_ENTITY = "detail"
DETAIL_MORE = "more"
DETAIL_SOURCE = "source"
# The end of the first sentence: ". " in English, "។" in Khmer.
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z(])|(?<=។)")


@dataclass(frozen=True)
class Resources:
    """Everything the actions read, loaded and checked together."""

    knowledge: KnowledgeBase
    catalogue: Catalogue
    rules: RuleBook
    gazetteer: Gazetteer


_current: list[Resources] = []  # the live resources (one item), replaced whole
_loading = threading.Lock()


def get_resources() -> Resources:
    """The live resources: the knowledge files, loaded once (KnowledgeError: the server
    won't start), or the revision actions/live.py swapped in since."""
    if not _current:
        with _loading:
            if not _current:
                knowledge = load_knowledge()
                _current.append(
                    Resources(
                        knowledge=knowledge,
                        catalogue=load_catalogue(),
                        rules=load_rules(knowledge),
                        gazetteer=load_gazetteer(),
                    )
                )
    return _current[0]


def use_knowledge(knowledge: KnowledgeBase) -> Resources:
    """Answer from `knowledge` from now on (the eligibility rules are checked against it
    first: KnowledgeError and nothing changes if they do not fit). One assignment: an
    answer being composed keeps the resources it started with."""
    base = get_resources()
    fresh = Resources(
        knowledge=knowledge,
        catalogue=base.catalogue,
        rules=load_rules(knowledge),
        gazetteer=base.gazetteer,
    )
    _current[0] = fresh
    return fresh


def shorten(title: str, limit: int = MAX_BUTTON_CHARS) -> str:
    """A button title cut to `limit` characters, between Khmer letters' clusters."""
    return graphemes.shorten(title, limit, ELLIPSIS)


class Composer:
    """Builds the texts and buttons of the actions in one language."""

    def __init__(self, resources: Resources, language: str) -> None:
        self.kb = resources.knowledge
        self.catalogue = resources.catalogue
        self.gazetteer = resources.gazetteer
        self.rules = resources.rules
        self.language = language

    def t(self, key: str, **values: object) -> str:
        return self.catalogue.text(key, self.language, **values)

    def button(self, key: str, payload: str) -> Button:
        return self.catalogue.button(key, self.language, payload)

    def topic_button(self, topic: Topic) -> Button:
        return {"title": topic.title.get(self.language), "payload": f"/ask_{topic.id}"}

    # --- amounts and sources -----------------------------------------------------------

    def amount_line(self, amount: Amount, *, with_note: bool = True) -> str:
        label = amount.label.get(self.language)
        if amount.value is None:  # unknown: never a guessed figure
            line = self.t("amount_unknown_line", label=label)
        else:
            value = format_number(amount.value, self.language)
            line = self.t(
                "amount_line",
                label=label,
                amount=self.t(f"amount_{amount.unit}", value=value),
                period=self.t(f"period_{amount.period}"),
            )
        if with_note and amount.note is not None:
            line += f" ({amount.note.get(self.language)})"
        return line

    def amounts_block(self, amounts: Sequence[Amount], topic: Topic) -> list[str]:
        """Amount lines, then "not sure, contact …" once if any amount is unknown."""
        lines = [self.amount_line(amount) for amount in amounts]
        if any(amount.unknown for amount in amounts):
            lines.append(self.t("not_sure_contact", contact=topic.contact.text.get(self.language)))
        return lines

    def source_line(self, topic: Topic) -> str:
        source = topic.sources[0]
        return self.t(
            "source_line",
            domain=domain_of(source.url),
            published=format_date(source.published, self.language),
            verified=format_date(source.verified.isoformat(), self.language),
        )

    def verified_line(self, topic: Topic) -> str:
        """ "Last verified on 25 Nov 2026": the latest check of the topic's sources."""
        verified = max(source.verified for source in topic.sources)
        return self.t("verified_line", verified=format_date(verified.isoformat(), self.language))

    # --- a topic -------------------------------------------------------------------------

    def case_amounts(self, topic: Topic, answers: Mapping[str, Any]) -> tuple[Amount, ...]:
        """The topic's amounts for the citizen's case, when their answers pick some (grade 5:
        the primary-school rate, from the eligibility rules' `amounts_by`), else all."""
        for rule in self.rules.programmes:
            choice = rule.amounts
            if rule.topic.id != topic.id or choice.answer is None:
                continue
            ids = choice.by_value.get(answers.get(choice.answer))
            if ids:
                return tuple(topic.amount(amount_id) for amount_id in ids)
        return topic.amounts

    def short_answer(
        self,
        topic: Topic,
        answers: Mapping[str, Any] | None = None,
        *,
        amounts_first: bool = False,
    ) -> str:
        """The first answer about a topic, for one phone screen: what it is (or, asked "how
        much", the amounts first), the amounts for the citizen's case, when it was checked.
        Who qualifies, documents, where to go and the sources are behind the buttons."""
        lang = self.language
        summary = first_sentence(topic.summary.get(lang))
        if topic.status == "closed" and topic.replaced_by and topic.ended:
            summary = self.t(
                "topic_closed",
                ended=format_date(topic.ended, lang),
                replacement=self.kb.topics[topic.replaced_by].title.get(lang),
            )
        amounts = self.case_amounts(topic, answers or {})
        title, verified = topic.title.get(lang), self.verified_line(topic)

        def compose(shown: int, summary: str) -> str:
            block = [self.amount_line(amount, with_note=False) for amount in amounts[:shown]]
            if any(amount.unknown for amount in amounts[:shown]):
                block.append(self.t("not_sure_contact", contact=topic.contact.text.get(lang)))
            elif len(amounts) > shown:
                block.append(self.t("more_amounts"))
            middle = [*block, summary] if amounts_first else [summary, *block]
            return LINE.join([title, *middle, verified])

        # As many amounts as fit (the case's first), then the summary cut to what is left.
        for shown in range(min(len(amounts), SHORT_ANSWER_AMOUNTS), 0, -1):
            text = compose(shown, summary)
            if len(text) <= SHORT_ANSWER_CHARS:
                return text
        shown = min(len(amounts), 1)
        room = SHORT_ANSWER_CHARS - len(compose(shown, ""))
        return compose(shown, shorten(summary, max(room, 0)))

    def topic_details(self, topic: Topic) -> str:
        """ "More": who qualifies, every amount, notes, how to enrol and what to bring, the
        contact (the source is its own button)."""
        lang = self.language
        blocks = [LINE.join([topic.title.get(lang), topic.summary.get(lang)])]
        if topic.eligibility is not None:
            blocks.append(self.t("topic_eligibility", text=topic.eligibility.get(lang)))
        if topic.amounts:
            blocks.append(
                LINE.join([self.t("topic_amounts"), *self.amounts_block(topic.amounts, topic)])
            )
        if topic.note is not None:
            blocks.append(topic.note.get(lang))
        if topic.enrol is not None:
            enrol = self.t("topic_enrol", text=topic.enrol.how.get(lang))
            if topic.enrol.documents:
                enrol += " " + self.documents(topic.enrol)
            blocks.append(enrol)
        if topic.kind == "info":
            blocks.append(topic.runs.get(lang))
        if not any(amount.unknown for amount in topic.amounts):
            blocks.append(self.t("contact_line", contact=topic.contact.text.get(lang)))
        return PARAGRAPH.join(blocks)

    def topic_sources(self, topic: Topic) -> str:
        """ "Source": every source of the topic with its date and the date we checked it."""
        lang = self.language
        lines = [self.t("sources_heading", title=topic.title.get(lang))]
        for source in topic.sources:
            lines.append(
                self.t(
                    "source_item",
                    domain=domain_of(source.url),
                    published=format_date(source.published, lang),
                    verified=format_date(source.verified.isoformat(), lang),
                    url=source.url,
                )
            )
        return LINE.join(lines)

    def short_answer_buttons(self, topic: Topic) -> list[Button]:
        """More, Where to apply (if one can), Source, Am I eligible?, Talk to a person."""
        buttons = [self.button("more", _detail_payload(topic, DETAIL_MORE))]
        if topic.enrol is not None or topic.replaced_by is not None:
            buttons.append(self.button("where_to_apply", "/ask_where_to_enrol"))
        buttons.append(self.button("source", _detail_payload(topic, DETAIL_SOURCE)))
        buttons.append(self.button("check_eligibility", "/check_eligibility"))
        buttons.append(self.button("request_human", "/request_human"))
        return buttons

    def detail_buttons(self, topic: Topic, shown: str) -> list[Button]:
        """After "More" or "Source": the other part, where to apply, a person."""
        buttons = []
        if shown != DETAIL_MORE:
            buttons.append(self.button("more", _detail_payload(topic, DETAIL_MORE)))
        if topic.enrol is not None or topic.replaced_by is not None:
            buttons.append(self.button("where_to_apply", "/ask_where_to_enrol"))
        if shown != DETAIL_SOURCE:
            buttons.append(self.button("source", _detail_payload(topic, DETAIL_SOURCE)))
        buttons.append(self.button("check_eligibility", "/check_eligibility"))
        buttons.append(self.button("request_human", "/request_human"))
        return buttons

    def topic_answer(self, topic: Topic) -> str:
        """What it is, who it is for, amounts, how to enrol, the contact, the source."""
        lang = self.language
        blocks = [LINE.join([topic.title.get(lang), topic.summary.get(lang)])]
        if topic.status == "closed" and topic.replaced_by and topic.ended:
            replacement = self.kb.topics[topic.replaced_by]
            blocks.append(
                self.t(
                    "topic_closed",
                    ended=format_date(topic.ended, lang),
                    replacement=replacement.title.get(lang),
                )
            )
        if topic.eligibility is not None:
            blocks.append(self.t("topic_eligibility", text=topic.eligibility.get(lang)))
        if topic.amounts:
            blocks.append(
                LINE.join([self.t("topic_amounts"), *self.amounts_block(topic.amounts, topic)])
            )
        if topic.note is not None:
            blocks.append(topic.note.get(lang))
        if topic.enrol is not None:
            enrol = self.t("topic_enrol", text=topic.enrol.how.get(lang))
            if topic.enrol.documents:
                enrol += " " + self.documents(topic.enrol)
            blocks.append(enrol)
        if topic.kind == "info":  # "who runs what" is the answer itself
            blocks.append(topic.runs.get(lang))
        if not any(amount.unknown for amount in topic.amounts):
            blocks.append(self.t("contact_line", contact=topic.contact.text.get(lang)))
        blocks.append(self.source_line(topic))
        return PARAGRAPH.join(blocks)

    def documents(self, enrolment: Enrolment) -> str:
        names = [document.get(self.language) for document in enrolment.documents]
        return self.t("topic_documents", documents=LIST_SEPARATOR.join(names))

    def follow_up_buttons(self, topic: Topic) -> list[Button]:
        """Where to enrol (if one can), am I eligible, talk to a person."""
        buttons = []
        if topic.enrol is not None or topic.replaced_by is not None:
            buttons.append(self.button("where_to_enrol", "/ask_where_to_enrol"))
        buttons.append(self.button("check_eligibility", "/check_eligibility"))
        buttons.append(self.button("request_human", "/request_human"))
        return buttons

    def enrolment_choices(self) -> list[Button]:
        """One button per programme one can enrol in, for "where to enrol?" without a topic."""
        return [
            self.topic_button(topic)
            for topic in self.kb.topics.values()
            if topic.enrol is not None and topic.id not in NOT_ENROLMENT_TOPICS
        ]

    def menu_buttons(self) -> list[Button]:
        buttons = []
        for key, payload in MAIN_MENU:
            if key in self.kb.topics:
                buttons.append(self.topic_button(self.kb.topics[key]))
            else:
                buttons.append(self.button(key, payload))
        return buttons

    def independent_channel(self) -> str:
        """How to report a missing payment or a demand for money without the local office,
        with the source of the complaint channel."""
        idpoor, nsaf = (self.kb.contacts[key].website for key in COMPLAINT_CONTACTS)
        topic = self.kb.topics[COMPLAINT_TOPIC]
        return LINE.join(
            [
                self.t("independent_channel", idpoor=idpoor, nsaf=nsaf),
                self.source_line(topic),
            ]
        )

    # --- where to enrol ------------------------------------------------------------------

    def enrol_guidance(
        self, topic: Topic, place: Place | None, *, include_office: bool = True
    ) -> str:
        """Where to go and what to bring; names the office when the place is known."""
        lang = self.language
        if topic.enrol is None and topic.replaced_by is not None:
            replacement = self.kb.topics[topic.replaced_by]
            intro = self.t(
                "enrol_closed",
                title=topic.title.get(lang),
                replacement=replacement.title.get(lang),
            )
            return (
                intro
                + PARAGRAPH
                + self.enrol_guidance(replacement, place, include_office=include_office)
            )
        if topic.enrol is None:
            return self.t(
                "enrol_not_applicable",
                title=topic.title.get(lang),
                contact=topic.contact.text.get(lang),
            )
        blocks = [
            LINE.join(
                [self.t("enrol_heading", title=topic.title.get(lang)), topic.enrol.how.get(lang)]
            )
        ]
        if topic.enrol.documents:
            blocks.append(self.documents(topic.enrol))
        local = any(where in LOCAL_PLACES for where in topic.enrol.where)
        if include_office and place is not None and local:
            blocks.append(self.office_text(place))
        if place is not None and NSSF_PLACE in topic.enrol.where:
            province = self.gazetteer.province_of(place)
            blocks.append(self.t("office_nssf", province=self.place_label(province)))
        if place is None and (local or NSSF_PLACE in topic.enrol.where):
            blocks.append(self.t("ask_for_place"))
        return PARAGRAPH.join(blocks)

    # --- places --------------------------------------------------------------------------

    def place_name(self, place: Place) -> str:
        return place.name_km if self.language == KHMER else place.name_latin

    def place_label(self, place: Place) -> str:
        """ "ឃុំបន្ទាយនាង" / "Banteay Neang commune"."""
        return self.t(f"unit_{place.kind}", name=self.place_name(place))

    def hall(self, place: Place) -> tuple[str, str]:
        """The hall of a district or province, in the language and in Khmer."""
        key = f"hall_{place.kind}"
        return (
            self.t(key, name=self.place_name(place)),
            self.catalogue.text(key, KHMER, name=place.name_km),
        )

    def office_text(self, place: Place) -> str:
        """The commune office, or for a district or province how to find it."""
        province = self.gazetteer.province_of(place)
        district = self.gazetteer.district_of(place)
        if place.level == COMMUNE and district is not None:
            key = f"unit_{place.kind}"
            return self.t(
                "office_commune",
                commune=self.place_label(place),
                office_km=self.catalogue.text(
                    "office_name", KHMER, unit=self.catalogue.text(key, KHMER, name=place.name_km)
                ),
                district=self.place_label(district),
                province=self.place_label(province),
            )
        hall, hall_km = self.hall(place)
        if place.level == DISTRICT:
            text = self.t(
                "office_district",
                district=self.place_label(place),
                province=self.place_label(province),
                hall=hall,
                hall_km=hall_km,
            )
            return text + " " + self.t("ask_for_commune")
        text = self.t(
            "office_province", province=self.place_label(place), hall=hall, hall_km=hall_km
        )
        return text + " " + self.t("ask_for_place")

    # --- eligibility ---------------------------------------------------------------------

    def finding_block(self, finding: Finding) -> str:
        lang = self.language
        lines = [finding.topic.title.get(lang), finding.reason.get(lang)]
        if finding.amounts:
            lines.extend(self.amounts_block(finding.amounts, finding.topic))
            if finding.topic.note is not None:
                lines.append(finding.topic.note.get(lang))
        lines.append(self.t("result_next_step", text=finding.next_step.get(lang)))
        return LINE.join(lines)

    def assessment_messages(self, assessment: Assessment) -> list[str]:
        """The findings (as few messages as fit), then advice and the disclaimer."""
        closing = [advice.text.get(self.language) for advice in assessment.advice]
        closing.append(self.t("result_disclaimer"))
        if not assessment.findings:
            return [PARAGRAPH.join([self.t("result_none"), *closing])]
        blocks = [self.t("result_intro")] + [self.finding_block(f) for f in assessment.findings]
        return _pack([*blocks, PARAGRAPH.join(closing)])


def first_sentence(text: str) -> str:
    """The first sentence of a summary (all of it if it has one)."""
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0].strip()


def _detail_payload(topic: Topic, part: str) -> str:
    return f'/ask_{topic.id}{{"{DETAIL_ENTITY}": "{part}"}}'


def _pack(blocks: Iterable[str]) -> list[str]:
    """Join blocks into as few messages as fit MAX_MESSAGE_CHARS, never splitting a block."""
    messages: list[str] = []
    for block in blocks:
        if messages and len(messages[-1]) + len(PARAGRAPH) + len(block) <= MAX_MESSAGE_CHARS:
            messages[-1] += PARAGRAPH + block
        else:
            messages.append(block)
    return messages
