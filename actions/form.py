"""The eligibility form: which questions a household needs, parsing typed answers, the questions.

domain.yml lists all nine questions; `ValidateEligibilityForm.required_slots` narrows them to
what the household's answers make relevant (no school question without school children, no
disability or HIV questions without an equity card, which those programmes require). Each
question is its own action (`action_ask_<slot>`) so it can carry buttons in the citizen's
language from the message catalogue.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.compose import Composer, get_resources
from actions.facts import stated_facts
from actions.i18n import Button, language_of
from actions.parsing import parse_equity_level, parse_school_level, parse_work_status, parse_yes_no

FORM_NAME = "eligibility_form"
REQUESTED_SLOT = "requested_slot"
FORM_SLOTS = (
    "has_equity_card",
    "equity_level",
    "pregnant_or_infant",
    "school_children",
    "school_level",
    "disability",
    "elderly",
    "hiv",
    "work_status",
)
YES = "yes"
UNKNOWN = "unknown"
# Asked of card holders only: these programmes need an equity card.
CARD_HOLDER_QUESTIONS = ("equity_level", "pregnant_or_infant", "school_children")
CARD_HOLDER_LATER_QUESTIONS = ("disability", "elderly", "hiv", "work_status")
# Without a card: pregnancy cash (for workers) and the NSSF schemes still apply.
NO_CARD_QUESTIONS = ("pregnant_or_infant", "work_status")

Parser = Callable[[str], "str | None"]


def questions_for(answers: Mapping[str, Any]) -> list[str]:
    """The form slots this household must answer, given the answers so far."""
    card = answers.get("has_equity_card")
    if card is None:
        return ["has_equity_card"]
    if card != YES:
        return ["has_equity_card", *NO_CARD_QUESTIONS]
    needed = ["has_equity_card", *CARD_HOLDER_QUESTIONS]
    if answers.get("school_children") == YES:
        needed.append("school_level")
    return [*needed, *CARD_HOLDER_LATER_QUESTIONS]


class ValidateEligibilityForm(FormValidationAction):
    """Narrows the questions, reads typed answers to the question asked, rejects odd values."""

    def name(self) -> str:
        return f"validate_{FORM_NAME}"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        return questions_for(tracker.slots)

    # --- typed answers: parsed only for the question just asked ---------------------------

    @staticmethod
    def _extract(tracker: Tracker, slot: str, parse: Parser) -> dict[str, Any]:
        text = tracker.latest_message.get("text") or ""
        # what the message states in passing ("yes, level 2"; "no, but I'm pregnant")
        stated = {
            name: value
            for name, value in stated_facts(text).items()
            if tracker.get_slot(name) is None and name != tracker.get_slot(REQUESTED_SLOT)
        }
        if tracker.get_slot(REQUESTED_SLOT) != slot or tracker.get_slot(slot) is not None:
            return stated  # not this question, or a button / the NLU already answered it
        value = parse(text)
        if value is None and parse_yes_no(text) == UNKNOWN:  # "not sure" answers any question
            value = UNKNOWN
        if value is None:
            value = stated_facts(text).get(slot)
        return {**stated, slot: value} if value is not None else stated

    async def extract_has_equity_card(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._extract(tracker, "has_equity_card", parse_yes_no)

    async def extract_equity_level(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._extract(tracker, "equity_level", parse_equity_level)

    async def extract_pregnant_or_infant(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._extract(tracker, "pregnant_or_infant", parse_yes_no)

    async def extract_school_children(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._extract(tracker, "school_children", parse_yes_no)

    async def extract_school_level(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._extract(tracker, "school_level", parse_school_level)

    async def extract_disability(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._extract(tracker, "disability", parse_yes_no)

    async def extract_elderly(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._extract(tracker, "elderly", parse_yes_no)

    async def extract_hiv(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._extract(tracker, "hiv", parse_yes_no)

    async def extract_work_status(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._extract(tracker, "work_status", parse_work_status)

    # --- validation: only the values domain.yml allows --------------------------------------

    @staticmethod
    def _allowed(slot: str, value: Any, domain: DomainDict) -> dict[str, Any]:
        values = domain.get("slots", {}).get(slot, {}).get("values", [])
        return {slot: value if value in values else None}

    def validate_has_equity_card(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._allowed("has_equity_card", value, domain)

    def validate_equity_level(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._allowed("equity_level", value, domain)

    def validate_pregnant_or_infant(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._allowed("pregnant_or_infant", value, domain)

    def validate_school_children(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._allowed("school_children", value, domain)

    def validate_school_level(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._allowed("school_level", value, domain)

    def validate_disability(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._allowed("disability", value, domain)

    def validate_elderly(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._allowed("elderly", value, domain)

    def validate_hiv(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._allowed("hiv", value, domain)

    def validate_work_status(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._allowed("work_status", value, domain)


# --- the questions ----------------------------------------------------------------------------


class AskQuestion(Action, ABC):
    """Asks one form question with its buttons, in the citizen's language.

    Abstract: rasa-sdk registers every concrete Action subclass, and this base is not one.
    """

    @property
    @abstractmethod
    def slot(self) -> str:
        """The form slot this question fills (a class attribute in each question)."""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    @abstractmethod
    def buttons(self, composer: Composer) -> list[Button]:
        """The answer buttons for this question."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        composer = Composer(get_resources(), language_of(tracker))
        dispatcher.utter_message(
            text=composer.t(f"ask_{self.slot}"), buttons=self.buttons(composer)
        )
        return []


def _yes_no_buttons(composer: Composer, unknown_key: str = "dont_know") -> list[Button]:
    return [
        composer.button("yes", "/affirm"),
        composer.button("no", "/deny"),
        composer.button(unknown_key, "/dont_know"),
    ]


def _inform(slot: str, value: str) -> str:
    return f'/inform{{"{slot}": "{value}"}}'


class AskYesNoQuestion(AskQuestion, ABC):
    """A yes / no / don't know question (still abstract: it names no slot)."""

    def buttons(self, composer: Composer) -> list[Button]:
        return _yes_no_buttons(composer)


class ActionAskHasEquityCard(AskYesNoQuestion):
    slot = "has_equity_card"


class ActionAskPregnantOrInfant(AskYesNoQuestion):
    slot = "pregnant_or_infant"


class ActionAskSchoolChildren(AskYesNoQuestion):
    slot = "school_children"


class ActionAskDisability(AskYesNoQuestion):
    slot = "disability"


class ActionAskElderly(AskYesNoQuestion):
    slot = "elderly"


class ActionAskHiv(AskQuestion):
    """Optional and respectful: "prefer not to say" counts as unknown."""

    slot = "hiv"

    def buttons(self, composer: Composer) -> list[Button]:
        return _yes_no_buttons(composer, unknown_key="prefer_not_to_say")


class ActionAskEquityLevel(AskQuestion):
    slot = "equity_level"

    def buttons(self, composer: Composer) -> list[Button]:
        return [
            composer.button("level_1", _inform(self.slot, "1")),
            composer.button("level_2", _inform(self.slot, "2")),
            composer.button("dont_know", "/dont_know"),
        ]


class ActionAskSchoolLevel(AskQuestion):
    slot = "school_level"

    def buttons(self, composer: Composer) -> list[Button]:
        return [
            composer.button(f"grade_{level}", _inform(self.slot, level))
            for level in ("primary", "lower_secondary", "upper_secondary")
        ] + [composer.button("dont_know", "/dont_know")]


class ActionAskWorkStatus(AskQuestion):
    slot = "work_status"

    def buttons(self, composer: Composer) -> list[Button]:
        return [
            composer.button(f"work_{status}", _inform(self.slot, status))
            for status in ("employee", "self_employed", "civil_servant", "none")
        ] + [composer.button("dont_know", "/dont_know")]
