"""Issue #13, the dialogue: what the citizen already said is not asked again, "how much" gets
an amount first, and a request for a person or a complaint is never answered with an office
address because the message also names a place."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet

from actions.actions import (
    ActionAnswerTopic,
    ActionHandoff,
    ActionLocateOffice,
    ActionMoneyWarning,
    ActionStartEligibility,
)
from actions.facts import stated_facts
from actions.form import FORM_SLOTS, ValidateEligibilityForm, questions_for
from actions.requests import asks_for_person, asks_how_much, demands_money

PREGNANT_WITH_CARD_KM = "ខ្ញុំមានផ្ទៃពោះ ហើយយើងមានប័ណ្ណសមធម៌ តើទទួលបានលុយប៉ុន្មាន?"
PREGNANT_WITH_CARD_EN = "I am pregnant and we have an equity card, how much do I get?"


# --- what a message states -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "facts"),
    [
        (PREGNANT_WITH_CARD_KM, {"pregnant_or_infant": "yes", "has_equity_card": "yes"}),
        (PREGNANT_WITH_CARD_EN, {"pregnant_or_infant": "yes", "has_equity_card": "yes"}),
        ("យើងមិនមានប័ណ្ណសមធម៌ទេ", {"has_equity_card": "no"}),
        ("we don't have an equity card", {"has_equity_card": "no"}),
        ("យើងមានប័ណ្ណក្រ២", {"has_equity_card": "yes", "equity_level": "2"}),
        ("we have a level 1 card", {"has_equity_card": "yes", "equity_level": "1"}),
        ("កូនខ្ញុំរៀនថ្នាក់ទី៥", {"school_children": "yes", "school_level": "primary"}),
        ("my daughter is in grade 8", {"school_children": "yes", "school_level": "lower_secondary"}),  # noqa: E501
        ("ម្តាយខ្ញុំអាយុ៧០ឆ្នាំ", {"elderly": "yes"}),
        ("my father is 65 years old", {"elderly": "yes"}),
        ("កូនខ្ញុំពិការ", {"disability": "yes"}),
        ("I sell fish at the market", {"work_status": "self_employed"}),
        ("ខ្ញុំធ្វើការនៅរោងចក្រកាត់ដេរ", {"work_status": "employee"}),
        # a topic word is not a statement about the household
        ("how much do pregnant women get?", {}),
        ("តើប្រាក់ឧបត្ថម្ភជនពិការបានប៉ុន្មាន?", {}),
        ("what does the government give?", {}),
        ("I registered 3 months ago and I am still waiting", {}),
        ("អាយុក្រោម២ឆ្នាំ", {}),
        ('/inform{"school_level": "primary"}', {}),
    ],
)
def test_stated_facts(said: str, facts: dict[str, str]) -> None:
    assert stated_facts(said) == facts


@pytest.mark.parametrize(
    ("said", "person", "how_much", "demand"),
    [
        ("I need to talk to someone, I live in Svay Rieng", True, False, False),
        ("ខ្ញុំចង់និយាយជាមួយមនុស្ស ខ្ញុំរស់នៅខេត្តស្វាយរៀង", True, False, False),
        ("The village chief asked us for 20000 riel for the list", False, False, True),
        ("មេភូមិទារលុយ ២០០០០ រៀល ដើម្បីដាក់ឈ្មោះយើងក្នុងបញ្ជី IDPoor", False, False, True),
        ("a man called and asked for my wing pin, is it ok?", False, False, False),
        ("ខ្ញុំមានផ្ទៃពោះ តើខ្ញុំទទួលបានប៉ុន្មាន?", False, True, False),
        ("what is a human right", False, False, False),
        ("/request_human", False, False, False),
    ],
)
def test_what_a_message_asks_for(said: str, person: bool, how_much: bool, demand: bool) -> None:
    assert asks_for_person(said) is person
    assert asks_how_much(said) is how_much
    assert demands_money(said) is demand


# --- the eligibility check starts from what is known ------------------------------------------


def eligibility_request(load_tracker: Any, text: str, language: str, **slots: Any) -> Tracker:
    return load_tracker(
        "form_complete",
        slots={"language": language, **slots},
        text=text,
        intent={"name": "check_eligibility", "confidence": 0.85},
        entities=[],
    )


@pytest.mark.parametrize(
    ("language", "said", "amount"),
    [("km", "ខ្ញុំមានផ្ទៃពោះ ហើយយើងមានប័ណ្ណសមធម៌ តើខ្ញុំទទួលបានប៉ុន្មាន?", "៤០០.០០០ រៀល"),
     ("en", PREGNANT_WITH_CARD_EN, "400,000 riel")],
)  # fmt: skip
async def test_how_much_gets_the_amount_first_and_known_answers_are_not_asked(
    load_tracker: Any,
    run_action: Any,
    domain: dict[str, Any],
    language: str,
    said: str,
    amount: str,
) -> None:
    tracker = eligibility_request(load_tracker, said, language)
    events, [answer, intro] = await run_action(ActionStartEligibility(), tracker, domain)
    assert amount in answer["text"]  # the pregnancy amounts before any question
    assert answer["text"].splitlines()[1].startswith("• ")
    assert len(answer["text"]) <= 350
    assert SlotSet("pregnant_or_infant", "yes") in events
    assert SlotSet("has_equity_card", "yes") in events
    assert SlotSet("topic", "pregnancy_cash") in events
    answers = {e["name"]: e["value"] for e in events if e["name"] in FORM_SLOTS}
    missing = [slot for slot in questions_for(answers) if answers[slot] is None]
    assert "has_equity_card" not in missing
    assert "pregnant_or_infant" not in missing
    assert missing[0] == "equity_level"
    assert intro["text"] in (
        "To check what you can get, I'll only ask what I don't know yet.",
        "ដើម្បីពិនិត្យថាអ្នកអាចទទួលអ្វីខ្លះ ខ្ញុំនឹងសួរតែអ្វីដែលខ្ញុំមិនទាន់ដឹងប៉ុណ្ណោះ។",
    )


async def test_am_i_eligible_after_a_finished_check_reuses_its_answers(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    finished = {"has_equity_card": "no", "pregnant_or_infant": "no", "work_status": "employee"}
    tracker = eligibility_request(load_tracker, "/check_eligibility", "en", **finished)
    events, [message] = await run_action(ActionStartEligibility(), tracker, domain)
    assert message["text"].startswith("I'll use the answers you already gave me.")
    assert all(SlotSet(slot, value) in events for slot, value in finished.items())


async def test_a_form_answer_also_takes_what_else_the_message_states(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker(
        "form_typed_answer",
        slots={"requested_slot": "has_equity_card", "has_equity_card": None,
               "work_status": None, "pregnant_or_infant": None},
        text="បាទ មានប័ណ្ណក្រ២ ហើយខ្ញុំមានផ្ទៃពោះ",
        intent={"name": "affirm", "confidence": 0.6},
    )  # fmt: skip
    events, _ = await run_action(ValidateEligibilityForm(), tracker, domain)
    assert SlotSet("has_equity_card", "yes") in events
    assert SlotSet("equity_level", "2") in events
    assert SlotSet("pregnant_or_infant", "yes") in events
    assert SlotSet("requested_slot", "school_children") in events  # not level, not pregnancy


async def test_a_topic_answer_remembers_what_the_message_states(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker(
        "ask_topic_km",
        text=PREGNANT_WITH_CARD_KM,
        intent={"name": "ask_pregnancy_cash", "confidence": 0.8},
    )
    events, [message] = await run_action(ActionAnswerTopic(), tracker, domain)
    assert "៨០.០០០ រៀល" in message["text"]
    assert "៤០០.០០០ រៀល" in message["text"]
    assert events == [
        SlotSet("topic", "pregnancy_cash"),
        SlotSet("pregnant_or_infant", "yes"),
        SlotSet("has_equity_card", "yes"),
    ]


# --- a place named is not what was asked ------------------------------------------------------


@pytest.mark.parametrize(
    "said",
    [
        "I need to talk to someone, I live in Svay Rieng",
        "ខ្ញុំចង់និយាយជាមួយមនុស្ស ខ្ញុំរស់នៅខេត្តស្វាយរៀង",
        "I have not received the money for 3 months, I live in Batheay district",
        "ខ្ញុំមិនទាន់ទទួលបានលុយ៣ខែហើយ ខ្ញុំនៅស្រុកបាធាយ",
        "The village chief asked us for 20000 riel, we live in Svay Rieng",
    ],
)
async def test_a_place_in_a_request_for_a_person_or_a_complaint_hands_off(
    load_tracker: Any, run_action: Any, domain: dict[str, Any], said: str
) -> None:
    tracker = load_tracker("inform_place", text=said)
    events, messages = await run_action(ActionLocateOffice(), tracker, domain)
    assert messages == []  # no office address
    assert events[-1] == FollowupAction("action_handoff")


async def test_a_person_asked_for_with_a_programme_hands_off(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("ask_topic_en", text="I want to talk to someone about the scholarship")
    events, messages = await run_action(ActionAnswerTopic(), tracker, domain)
    assert messages == []
    assert events[-1] == FollowupAction("action_handoff")


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "The village chief asked us for 20000 riel to put our name on the IDPoor list"),
        ("km", "មេភូមិទារលុយ ២០០០០ រៀល ដើម្បីដាក់ឈ្មោះយើងក្នុងបញ្ជី IDPoor"),
    ],
)
async def test_a_money_demand_gets_the_independent_channel_and_a_handoff(
    load_tracker: Any, run_action: Any, domain: dict[str, Any], language: str, said: str
) -> None:
    state = load_tracker("handoff_request", slots={"language": language}).current_state()
    state["latest_message"].update(text=said, intent={"name": "ask_pin_or_money"})
    state["events"].append({"event": "user", "text": said, "parse_data": state["latest_message"]})
    tracker = Tracker.from_dict(state)
    events, [warning] = await run_action(ActionMoneyWarning(), tracker, domain)
    assert events == [SlotSet("money_demand", True)]  # the rules hand off
    assert "commune office" not in warning["text"]
    assert "សាលាឃុំ" not in warning["text"]
    _, [channel, notice, payload] = await run_action(ActionHandoff(), tracker, domain)
    assert "idpoor.gov.kh" in channel["text"]
    assert "nsaf.gov.kh" in channel["text"]
    assert ("checked 25 Nov 2026" if language == "en" else "ពិនិត្យនៅ ២៥ វិច្ឆិកា ២០២៦") in (
        channel["text"]
    )
    assert payload["custom"]["handoff"]["urgency"] == "payment"
    assert notice["text"]


async def test_a_question_about_a_pin_is_warned_without_a_handoff(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker(
        "handoff_request",
        slots={"language": "en"},
        text="a man called and asked for my wing pin, is it ok?",
        intent={"name": "ask_pin_or_money", "confidence": 0.9},
    )
    events, [message] = await run_action(ActionMoneyWarning(), tracker, domain)
    assert events == [SlotSet("money_demand", False)]
    assert "Never share these with anyone" in message["text"]
    assert "commune" not in message["text"]
    assert [b["payload"] for b in message["buttons"]] == ["/request_human"]
