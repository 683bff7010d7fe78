"""The assistant's custom actions (names fixed by domain.yml), one class per action.

Each action reads the conversation's language and composes its messages from the knowledge
base and the message catalogue (actions/compose.py), so facts and wording can change
without retraining. Nothing here asks for, or repeats, personal secrets.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    ActiveLoop,
    ConversationPaused,
    EventType,
    FollowupAction,
    SlotSet,
    UserUtteranceReverted,
)
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.compose import (
    DETAIL_ENTITY,
    DETAIL_MORE,
    DETAIL_SOURCE,
    Composer,
    get_resources,
    shorten,
)
from actions.facts import stated_facts
from actions.form import FORM_SLOTS, questions_for
from actions.i18n import LANGUAGE_SLOT, Button, language_of
from actions.knowledge import Topic
from actions.places import PROVINCE, Place, PlaceMatch
from actions.requests import asks_for_person, asks_how_much, demands_money
from actions.text import ENGLISH, KHMER, fold
from actions.urgency import get_urgency
from khmer_nlu.match import PhraseMatcher

TOPIC_SLOT = "topic"
REQUESTED_SLOT = "requested_slot"
PLACE_SLOT = "place_code"
TOPIC_INTENT_PREFIX = "ask_"
FALLBACK_INTENT = "nlu_fallback"
# Intents never offered as "did you mean": they only make sense as answers.
NOT_OFFERED = frozenset(
    {FALLBACK_INTENT, "out_of_scope", "affirm", "deny", "dont_know", "inform", "inform_place"}
)
# Button titles for intents that are not knowledge-base topics (catalogue `buttons` keys).
INTENT_BUTTONS = {
    "check_eligibility": "check_eligibility",
    "ask_where_to_enrol": "where_to_enrol",
    "request_human": "request_human",
    "switch_language": "switch_language",
    "ask_menu": "menu",
    "start_over": "start_over",
    "report_problem": "report_problem",
    "bot_challenge": "bot_challenge",
    "ask_pin_or_money": "pin_or_money",
}
MAX_SUGGESTIONS = 3
MONEY_DEMAND_SLOT = "money_demand"
PAYMENT_URGENCY = "payment"
# Urgent reasons to hand off that a place named in the same message must not turn into an
# office address ("the money never came, I live in Batheay").
HANDOFF_URGENCIES = ("emergency", "abuse", PAYMENT_URGENCY)
# Which programme a stated fact points to, when "how much?" reaches the eligibility check.
FACT_TOPICS = (
    ("pregnant_or_infant", "pregnancy_cash"),
    ("school_level", "scholarship"),
    ("disability", "disability_allowance"),
    ("elderly", "elderly_allowance"),
)
HANDOFF_REASONS = {
    "request_human": "user_request",
    FALLBACK_INTENT: "not_understood",
    "report_problem": "sensitive_topic",
}
OTHER_REASON = "other"
SUMMARY_MESSAGES = 3  # how many of the citizen's last messages the agent sees first
SUMMARY_MESSAGE_CHARS = 200
# Words naming a language in a request such as "English please" or "ភាសាខ្មែរ".
# On word boundaries (khmer_nlu.match): ខ្មែរ inside another word is not a language request.
LANGUAGE_WORDS = {
    ENGLISH: PhraseMatcher(("english", "អង់គ្លេស"), fold=fold),
    KHMER: PhraseMatcher(("khmer", "ខ្មែរ", "cambodian"), fold=fold),
}
LANGUAGE_DETECTOR = "LanguageDetector"
MAX_PLACE_CHOICES = 10


def _intent(tracker: Tracker) -> str | None:
    intent = tracker.latest_message.get("intent") or {}
    return intent.get("name")


def _user_events(tracker: Tracker) -> list[dict[str, Any]]:
    return [event for event in tracker.events if event.get("event") == "user"]


def _previous_action(tracker: Tracker) -> str | None:
    """The assistant's last action before the citizen's latest message (listening and
    Rasa's slot extraction aside)."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "action":
            name = event.get("name")
            if name not in ("action_listen", "action_extract_slots"):
                return str(name)
    return None


def _composer(tracker: Tracker) -> Composer:
    return Composer(get_resources(), language_of(tracker))


def _place(tracker: Tracker) -> Place | None:
    code = tracker.get_slot(PLACE_SLOT)
    return get_resources().gazetteer.places.get(code) if isinstance(code, str) else None


def _text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def _entity(tracker: Tracker, name: str) -> str | None:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == name and entity.get("value") is not None:
            return str(entity["value"])
    return None


def _answers(tracker: Tracker) -> dict[str, Any]:
    """The form's answers so far, with what the latest message states on top."""
    answers = {slot: tracker.get_slot(slot) for slot in FORM_SLOTS}
    answers.update(stated_facts(_text(tracker)))
    return answers


def _remember(tracker: Tracker) -> list[EventType]:
    """Slot events for what the latest message states that the slots do not hold yet."""
    return [
        SlotSet(slot, value)
        for slot, value in stated_facts(_text(tracker)).items()
        if tracker.get_slot(slot) != value
    ]


def _needs_a_person(tracker: Tracker) -> bool:
    """A person asked for, or a complaint only a person can take up (missing payment, a
    demand for money, abuse, an emergency), whatever place or programme it also names."""
    text = _text(tracker)
    if not text or text.startswith("/"):
        return False
    return (
        asks_for_person(text)
        or demands_money(text)
        or get_urgency().classify(text) in HANDOFF_URGENCIES
    )


class ActionAnswerTopic(Action):
    """Answers "what is / how much / who gets" a programme from the knowledge base."""

    def name(self) -> str:
        return "action_answer_topic"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        composer = _composer(tracker)
        topics = composer.kb.topics
        intent = _intent(tracker) or ""
        topic_id = intent.removeprefix(TOPIC_INTENT_PREFIX)
        if topic_id not in topics:  # reached without a topic intent: keep the last topic
            topic_id = tracker.get_slot(TOPIC_SLOT) or ""
        if topic_id not in topics:
            dispatcher.utter_message(text=composer.t("menu"), buttons=composer.menu_buttons())
            return []
        if asks_for_person(_text(tracker)):  # "talk to someone about the scholarship"
            return [SlotSet(TOPIC_SLOT, topic_id), FollowupAction(ActionHandoff.NAME)]
        topic = topics[topic_id]
        detail = _entity(tracker, DETAIL_ENTITY)
        if _previous_action(tracker) == ActionWhereToEnrol.NAME and _can_enrol(topic):
            # the answer to "which programme do you want to enrol in?"
            _utter_enrolment(dispatcher, composer, topic, _place(tracker))
        elif detail == DETAIL_MORE:
            dispatcher.utter_message(
                text=composer.topic_details(topic), buttons=composer.detail_buttons(topic, detail)
            )
        elif detail == DETAIL_SOURCE:
            dispatcher.utter_message(
                text=composer.topic_sources(topic), buttons=composer.detail_buttons(topic, detail)
            )
        else:
            text = composer.short_answer(
                topic, _answers(tracker), amounts_first=asks_how_much(_text(tracker))
            )
            dispatcher.utter_message(text=text, buttons=composer.short_answer_buttons(topic))
        return [SlotSet(TOPIC_SLOT, topic_id), *_remember(tracker)]


class ActionWhereToEnrol(Action):
    """Where to go and what to bring for the programme talked about (slot `topic`)."""

    NAME = "action_where_to_enrol"

    def name(self) -> str:
        return self.NAME

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        composer = _composer(tracker)
        topic = composer.kb.topics.get(tracker.get_slot(TOPIC_SLOT) or "")
        if topic is None or not _can_enrol(topic):
            if topic is not None:
                dispatcher.utter_message(text=composer.enrol_guidance(topic, None))
            dispatcher.utter_message(
                text=composer.t("enrol_which_programme"), buttons=composer.enrolment_choices()
            )
            return []
        _utter_enrolment(dispatcher, composer, topic, _place(tracker))
        return []


def _can_enrol(topic: Topic) -> bool:
    """Whether the knowledge base says how to enrol (or what replaced an ended programme)."""
    return topic.enrol is not None or topic.replaced_by is not None


def _utter_enrolment(
    dispatcher: CollectingDispatcher, composer: Composer, topic: Topic, place: Place | None
) -> None:
    dispatcher.utter_message(
        text=composer.enrol_guidance(topic, place),
        buttons=[
            composer.button("check_eligibility", "/check_eligibility"),
            composer.button("request_human", "/request_human"),
        ],
    )


class ActionLocateOffice(Action):
    """Finds the citizen's commune, district or province in their message and names the office."""

    def name(self) -> str:
        return "action_locate_office"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        composer = _composer(tracker)
        located = self._from_metadata(tracker, composer)
        text = tracker.latest_message.get("text") or ""
        if located is None and _needs_a_person(tracker):
            # "I need to talk to someone, I live in Svay Rieng": the place is not the question
            place = composer.gazetteer.find(text).place
            events: list[EventType] = [FollowupAction(ActionHandoff.NAME)]
            return ([SlotSet(PLACE_SLOT, place.code)] if place else []) + events
        match = PlaceMatch(located) if located else composer.gazetteer.find(text)
        if match.place is None and match.candidates:
            self._ask_which(dispatcher, composer, match)
            return []
        if match.place is None:
            dispatcher.utter_message(text=composer.t("place_not_found"))
            return []
        place = match.place
        dispatcher.utter_message(text=composer.office_text(place))  # names the place in full
        topic = composer.kb.topics.get(tracker.get_slot(TOPIC_SLOT) or "")
        if topic is not None and (topic.enrol is not None or topic.replaced_by is not None):
            dispatcher.utter_message(
                text=composer.enrol_guidance(topic, place, include_office=False),
                buttons=[composer.button("request_human", "/request_human")],
            )
        return [SlotSet(PLACE_SLOT, place.code)]

    @staticmethod
    def _from_metadata(tracker: Tracker, composer: Composer) -> Place | None:
        """The commune the gateway found for a shared location, if it sent one."""
        metadata = tracker.latest_message.get("metadata") or {}
        code = metadata.get("place_code") if isinstance(metadata, dict) else None
        return composer.gazetteer.places.get(code) if isinstance(code, str) else None

    @staticmethod
    def _ask_which(
        dispatcher: CollectingDispatcher, composer: Composer, match: PlaceMatch
    ) -> None:
        """Ask for the province (or, within one province, the district) with text buttons.

        Each payload is plain text naming the place and the choice, so the NLU routes it to
        inform_place and the next search finds exactly one place.
        """
        gazetteer = composer.gazetteer
        name = match.name_km if composer.language == KHMER else match.name_latin
        provinces = sorted(
            {gazetteer.province_of(place) for place in match.candidates}, key=lambda p: p.code
        )
        if len(provinces) > 1:
            text = composer.t("place_ambiguous", name=name)
            buttons = _province_choices(composer, _asked_label(composer, match, name), provinces)
        else:
            province = composer.place_label(provinces[0])
            text = composer.t("place_ambiguous_in_province", name=name, province=province)
            buttons = _choices_in_province(composer, match.candidates, province)
        dispatcher.utter_message(text=text, buttons=buttons)


def _asked_label(composer: Composer, match: PlaceMatch, name: str) -> str:
    """The name asked about, with its unit word when the candidates share one."""
    kinds = {place.kind for place in match.candidates}
    levels = {place.level for place in match.candidates}
    if len(kinds) == 1:
        return composer.t(f"unit_{kinds.pop()}", name=name)
    if len(levels) == 1 and levels != {PROVINCE}:
        return composer.t(f"unit_level_{levels.pop()}", name=name)
    return name


def _province_choices(composer: Composer, asked: str, provinces: list[Place]) -> list[Button]:
    return [
        {
            "title": shorten(composer.place_name(province)),
            "payload": composer.t(
                "ambiguous_payload", unit=asked, province=composer.place_label(province)
            ),
        }
        for province in provinces[:MAX_PLACE_CHOICES]
    ]


def _choices_in_province(
    composer: Composer, candidates: tuple[Place, ...], province: str
) -> list[Button]:
    """One button per candidate: a district by its name, a commune with its district's."""
    separator = " " if composer.language == KHMER else ", "
    buttons: list[Button] = []
    for place in candidates[:MAX_PLACE_CHOICES]:
        district = composer.gazetteer.district_of(place)
        if district is None or district == place:
            title = unit = composer.place_label(place)
        else:
            title = f"{composer.place_name(place)} ({composer.place_name(district)})"
            unit = separator.join((composer.place_label(place), composer.place_label(district)))
        buttons.append(
            {
                "title": shorten(title),
                "payload": composer.t("ambiguous_payload", unit=unit, province=province),
            }
        )
    return buttons


class ActionStartEligibility(Action):
    """Starts the eligibility check with what the citizen already said.

    Keeps the answers of an earlier check and of earlier messages, adds what this message
    states ("I am pregnant and we have an equity card"), answers a "how much?" first with the
    amount, and says whether questions remain. "Check again" (payload
    /check_eligibility{"detail": "new"}) forgets the earlier answers.
    """

    NAME = "action_start_eligibility"
    NEW_ANSWERS = "new"

    def name(self) -> str:
        return self.NAME

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        composer = _composer(tracker)
        text = _text(tracker)
        if _entity(tracker, DETAIL_ENTITY) == self.NEW_ANSWERS:
            answers: dict[str, Any] = dict.fromkeys(FORM_SLOTS)
        else:
            answers = {slot: tracker.get_slot(slot) for slot in FORM_SLOTS}
        answers.update(stated_facts(text))
        topic = self._asked_about(composer, tracker, answers) if asks_how_much(text) else None
        if topic is not None:
            answer = composer.short_answer(topic, answers, amounts_first=True)
            dispatcher.utter_message(text=answer)
        missing = [slot for slot in questions_for(answers) if answers.get(slot) is None]
        if not missing:
            dispatcher.utter_message(text=composer.t("eligibility_known"))
        elif any(answers.get(slot) is not None for slot in FORM_SLOTS):
            dispatcher.utter_message(text=composer.t("eligibility_intro_known"))
        else:
            dispatcher.utter_message(text=composer.t("eligibility_intro"))
        events: list[EventType] = [SlotSet(slot, answers.get(slot)) for slot in FORM_SLOTS]
        if topic is not None:
            events.append(SlotSet(TOPIC_SLOT, topic.id))
        return events

    @staticmethod
    def _asked_about(
        composer: Composer, tracker: Tracker, answers: dict[str, Any]
    ) -> Topic | None:
        """The programme a "how much?" is about: the one a stated fact points to, else the
        one talked about."""
        stated = stated_facts(_text(tracker))
        for slot, topic_id in FACT_TOPICS:
            if stated.get(slot) not in (None, "no", "unknown"):
                return composer.kb.topics.get(topic_id)
        topic = composer.kb.topics.get(tracker.get_slot(TOPIC_SLOT) or "")
        return topic if topic is not None and topic.amounts else None


CHECK_AGAIN_PAYLOAD = (
    f'/check_eligibility{{"{DETAIL_ENTITY}": "{ActionStartEligibility.NEW_ANSWERS}"}}'
)


class ActionEligibilityResult(Action):
    """What the household may get, why, how much and what to do next, from the rules."""

    def name(self) -> str:
        return "action_eligibility_result"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        resources = get_resources()
        composer = Composer(resources, language_of(tracker))
        answers = {slot: tracker.get_slot(slot) for slot in FORM_SLOTS}
        assessment = resources.rules.assess(answers)
        messages = composer.assessment_messages(assessment)
        for message in messages[:-1]:
            dispatcher.utter_message(text=message)
        dispatcher.utter_message(
            text=messages[-1],
            buttons=[
                composer.button("where_to_enrol", "/ask_where_to_enrol"),
                composer.button("check_again", CHECK_AGAIN_PAYLOAD),
                composer.button("request_human", "/request_human"),
            ],
        )
        topic = assessment.most_relevant_topic
        return [SlotSet(TOPIC_SLOT, topic)] if topic else []


class ActionClarify(Action):
    """Low NLU confidence: offer the likeliest meanings, or a person after two misses."""

    def name(self) -> str:
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        users = _user_events(tracker)
        intents = [
            (event.get("parse_data") or {}).get("intent", {}).get("name") for event in users
        ]
        if len(intents) >= 2 and intents[-1] == intents[-2] == FALLBACK_INTENT:
            return [FollowupAction("action_handoff")]
        composer = _composer(tracker)
        buttons = self._suggestions(composer, tracker.latest_message.get("intent_ranking") or [])
        if buttons:
            buttons.append(composer.button("request_human", "/request_human"))
        else:
            buttons = composer.menu_buttons()
        dispatcher.utter_message(text=composer.t("clarify"), buttons=buttons)
        if (tracker.latest_message.get("intent") or {}).get("name") != FALLBACK_INTENT:
            # Run as the core fallback (no policy could follow this turn, e.g. a typed
            # "/word" that is no intent): forget the message, as action_default_fallback
            # does, or Rasa predicts this action again for it, up to ten times.
            return [UserUtteranceReverted()]
        return []

    @staticmethod
    def _suggestions(composer: Composer, ranking: list[dict[str, Any]]) -> list[Button]:
        buttons: list[Button] = []
        for entry in ranking:
            intent = entry.get("name") or ""
            if intent in NOT_OFFERED or intent == "request_human":
                continue
            topic = composer.kb.topics.get(intent.removeprefix(TOPIC_INTENT_PREFIX))
            if intent.startswith(TOPIC_INTENT_PREFIX) and topic is not None:
                buttons.append(composer.topic_button(topic))
            elif intent in INTENT_BUTTONS:
                buttons.append(composer.button(INTENT_BUTTONS[intent], f"/{intent}"))
            if len(buttons) == MAX_SUGGESTIONS:
                break
        return buttons


class ActionMoneyWarning(Action):
    """Nobody may ask for a PIN, a code or money. A citizen who reports that someone demands
    money (a village chief for the IDPoor list) is not sent back to the local office, which
    may be the one asking: slot `money_demand` makes the rules hand off (action_handoff gives
    the independent channel)."""

    def name(self) -> str:
        return "action_money_warning"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        composer = _composer(tracker)
        demand = demands_money(_text(tracker))
        if demand:
            dispatcher.utter_message(text=composer.t("money_demand_warning"))
        else:
            dispatcher.utter_message(
                text=composer.t("never_ask_secrets"),
                buttons=[composer.button("request_human", "/request_human")],
            )
        return [SlotSet(MONEY_DEMAND_SLOT, demand)]


class ActionHandoff(Action):
    """Hands the conversation to a person: tells the citizen, tells the gateway, pauses."""

    NAME = "action_handoff"

    def name(self) -> str:
        return self.NAME

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        composer = Composer(get_resources(), language)
        urgency = self._urgency(tracker)
        if urgency == PAYMENT_URGENCY:
            dispatcher.utter_message(text=composer.independent_channel())
        dispatcher.utter_message(text=composer.t("handoff"))
        dispatcher.utter_message(
            json_message={
                "handoff": {
                    "reason": HANDOFF_REASONS.get(_intent(tracker) or "", OTHER_REASON),
                    "language": language,
                    "summary": self._summary(tracker),
                    "topic": tracker.get_slot(TOPIC_SLOT),
                    "place_code": tracker.get_slot(PLACE_SLOT),
                    "urgency": urgency,
                }
            }
        )
        if tracker.active_loop.get("name"):
            # a person takes over: the eligibility questions must not resume after them
            return [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None), ConversationPaused()]
        return [ConversationPaused()]

    @staticmethod
    def _urgency(tracker: Tracker) -> str | None:
        """emergency / abuse / payment from the citizen's recent words (typed, not buttons)."""
        typed = [
            str(event.get("text") or "")
            for event in _user_events(tracker)[-SUMMARY_MESSAGES:]
            if not str(event.get("text") or "").startswith("/")
        ]
        if not typed:
            return None
        said = " ".join(typed)
        urgency = get_urgency().classify(said)
        if urgency is None and any(demands_money(text) for text in typed):
            urgency = PAYMENT_URGENCY  # "the village chief asked us for 20,000 riel"
        return urgency

    @staticmethod
    def _summary(tracker: Tracker) -> str:
        """The citizen's last few messages (buttons as their intent) and the topic."""
        said = []
        for event in _user_events(tracker)[-SUMMARY_MESSAGES:]:
            text = (event.get("text") or "").strip()
            if text.startswith("/"):
                text = f"[button {text.split('{')[0]}]"
            text = shorten(text, SUMMARY_MESSAGE_CHARS)
            said.append(f'"{text}"')
        topic = tracker.get_slot(TOPIC_SLOT) or "none"
        return f"Topic: {topic}. Last messages: {' | '.join(said) or 'none'}."


class ActionSwitchLanguage(Action):
    """Switches the answer language: to the one asked for, else to the other one."""

    def name(self) -> str:
        return "action_switch_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        before = self._language_before_this_message(tracker)
        language = (
            self._from_button(tracker)
            or self._named_in_text(tracker, before)
            or (KHMER if before == ENGLISH else ENGLISH)
        )
        composer = Composer(get_resources(), language)
        dispatcher.utter_message(text=composer.t("language_switched"))
        return [SlotSet(LANGUAGE_SLOT, language)]

    @staticmethod
    def _from_button(tracker: Tracker) -> str | None:
        for entity in tracker.latest_message.get("entities") or []:
            if entity.get("entity") != LANGUAGE_SLOT:
                continue
            if LANGUAGE_DETECTOR in str(entity.get("extractor") or ""):
                continue
            if entity.get("value") in (KHMER, ENGLISH):
                return str(entity["value"])
        return None

    @staticmethod
    def _named_in_text(tracker: Tracker, before: str) -> str | None:
        text = tracker.latest_message.get("text") or ""
        named = [lang for lang, words in LANGUAGE_WORDS.items() if words.matches(text)]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:  # "from Khmer to English": the one not in use
            return next(lang for lang in named if lang != before)
        return None

    @staticmethod
    def _language_before_this_message(tracker: Tracker) -> str:
        events = tracker.events
        last_user = max(
            (i for i, event in enumerate(events) if event.get("event") == "user"), default=None
        )
        language = KHMER  # the slot's initial value: Khmer first
        for event in events[:last_user]:
            if event.get("event") == "slot" and event.get("name") == LANGUAGE_SLOT:
                language = ENGLISH if event.get("value") == ENGLISH else KHMER
        return language


class ActionStartOver(Action):
    """Forgets the answers and the topic (not the language) and shows the menu."""

    def name(self) -> str:
        return "action_start_over"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        composer = _composer(tracker)
        dispatcher.utter_message(
            text=composer.t("start_over") + "\n" + composer.t("menu"),
            buttons=composer.menu_buttons(),
        )
        return [SlotSet(slot, None) for slot in (*FORM_SLOTS, TOPIC_SLOT)]
