"""Turning knowledge-base facts into short messages a citizen can read on a phone.

The actions decide *what* to say; this module decides *how*: which facts go into an answer,
in which order, in the citizen's language, with amounts formatted for that language and the
source of every answer. It also owns the shared resources (knowledge base, catalogue, rules,
gazetteer), loaded once when the action server starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

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


@dataclass(frozen=True)
class Resources:
    """Everything the actions read, loaded and checked together."""

    knowledge: KnowledgeBase
    catalogue: Catalogue
    rules: RuleBook
    gazetteer: Gazetteer


@cache
def get_resources() -> Resources:
    """Load the knowledge files once; raises KnowledgeError (server won't start) if broken."""
    knowledge = load_knowledge()
    return Resources(
        knowledge=knowledge,
        catalogue=load_catalogue(),
        rules=load_rules(knowledge),
        gazetteer=load_gazetteer(),
    )


def shorten(title: str, limit: int = MAX_BUTTON_CHARS) -> str:
    """A button title cut to `limit` characters, between Khmer letters' clusters."""
    return graphemes.shorten(title, limit, ELLIPSIS)


class Composer:
    """Builds the texts and buttons of the actions in one language."""

    def __init__(self, resources: Resources, language: str) -> None:
        self.kb = resources.knowledge
        self.catalogue = resources.catalogue
        self.gazetteer = resources.gazetteer
        self.language = language

    def t(self, key: str, **values: object) -> str:
        return self.catalogue.text(key, self.language, **values)

    def button(self, key: str, payload: str) -> Button:
        return self.catalogue.button(key, self.language, payload)

    def topic_button(self, topic: Topic) -> Button:
        return {"title": topic.title.get(self.language), "payload": f"/ask_{topic.id}"}

    # --- amounts and sources -----------------------------------------------------------

    def amount_line(self, amount: Amount) -> str:
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
        if amount.note is not None:
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

    # --- a topic -------------------------------------------------------------------------

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


def _pack(blocks: Iterable[str]) -> list[str]:
    """Join blocks into as few messages as fit MAX_MESSAGE_CHARS, never splitting a block."""
    messages: list[str] = []
    for block in blocks:
        if messages and len(messages[-1]) + len(PARAGRAPH) + len(block) <= MAX_MESSAGE_CHARS:
            messages[-1] += PARAGRAPH + block
        else:
            messages.append(block)
    return messages
