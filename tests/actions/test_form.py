"""The eligibility form: the questions a household needs, typed answers, the question actions."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.form import (
    ActionAskDisability,
    ActionAskElderly,
    ActionAskEquityLevel,
    ActionAskHasEquityCard,
    ActionAskHiv,
    ActionAskPregnantOrInfant,
    ActionAskSchoolChildren,
    ActionAskSchoolLevel,
    ActionAskWorkStatus,
    AskQuestion,
    ValidateEligibilityForm,
    questions_for,
)

ASK_ACTIONS: list[AskQuestion] = [
    ActionAskHasEquityCard(),
    ActionAskEquityLevel(),
    ActionAskPregnantOrInfant(),
    ActionAskSchoolChildren(),
    ActionAskSchoolLevel(),
    ActionAskDisability(),
    ActionAskElderly(),
    ActionAskHiv(),
    ActionAskWorkStatus(),
]
MAX_BUTTON_CHARS = 20


@pytest.mark.parametrize(
    ("answers", "questions"),
    [
        ({}, ["has_equity_card"]),
        ({"has_equity_card": "no"}, ["has_equity_card", "pregnant_or_infant", "work_status"]),
        (
            {"has_equity_card": "unknown"},
            ["has_equity_card", "pregnant_or_infant", "work_status"],
        ),
        (
            {"has_equity_card": "yes", "school_children": "no"},
            [
                "has_equity_card",
                "equity_level",
                "pregnant_or_infant",
                "school_children",
                "disability",
                "elderly",
                "hiv",
                "work_status",
            ],
        ),
        (
            {"has_equity_card": "yes", "school_children": "yes"},
            [
                "has_equity_card",
                "equity_level",
                "pregnant_or_infant",
                "school_children",
                "school_level",
                "disability",
                "elderly",
                "hiv",
                "work_status",
            ],
        ),
    ],
)
def test_only_the_questions_a_household_needs(
    answers: dict[str, str], questions: list[str]
) -> None:
    assert questions_for(answers) == questions


def asked(load_tracker: Any, slot: str, text: str, **slots: Any) -> Tracker:
    """The validation action's tracker after the citizen typed `text` to question `slot`."""
    return load_tracker(
        "form_typed_answer",
        slots={"requested_slot": slot, slot: None, **slots},
        text=text,
        intent={"name": "inform", "confidence": 0.6},
    )


async def test_a_typed_answer_to_the_last_question_ends_the_form(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    events, messages = await run_action(
        ValidateEligibilityForm(), load_tracker("form_typed_answer"), domain
    )
    assert events == [SlotSet("work_status", "self_employed"), SlotSet("requested_slot", None)]
    assert messages == []


async def test_a_typed_khmer_yes_leads_to_the_card_holders_questions(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = asked(load_tracker, "has_equity_card", "បាទ មាន", pregnant_or_infant=None)
    events, _ = await run_action(ValidateEligibilityForm(), tracker, domain)
    assert events == [SlotSet("has_equity_card", "yes"), SlotSet("requested_slot", "equity_level")]


async def test_typed_grade_and_level(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    card_holder = {"has_equity_card": "yes", "school_children": "yes"}
    events, _ = await run_action(
        ValidateEligibilityForm(),
        asked(load_tracker, "school_level", "ថ្នាក់ទី១០", **card_holder),
        domain,
    )
    assert events[0] == SlotSet("school_level", "upper_secondary")
    events, _ = await run_action(
        ValidateEligibilityForm(),
        asked(load_tracker, "equity_level", "ក្រ២", **card_holder),
        domain,
    )
    assert events[0] == SlotSet("equity_level", "2")


async def test_i_dont_know_typed_to_any_question_is_unknown(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = asked(
        load_tracker, "school_level", "I'm not sure", has_equity_card="yes", school_children="yes"
    )
    events, _ = await run_action(ValidateEligibilityForm(), tracker, domain)
    assert events[0] == SlotSet("school_level", "unknown")


async def test_an_answer_a_button_already_gave_is_not_parsed_again(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = asked(load_tracker, "has_equity_card", "/deny", pregnant_or_infant=None)
    tracker.slots["has_equity_card"] = "no"  # set by the domain's from_intent mapping
    tracker.events.append(SlotSet("has_equity_card", "no"))  # the form's slot candidate
    events, _ = await run_action(ValidateEligibilityForm(), tracker, domain)
    assert events == [
        SlotSet("has_equity_card", "no"),
        SlotSet("requested_slot", "pregnant_or_infant"),
    ]


async def test_text_for_another_question_fills_nothing(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = asked(load_tracker, "work_status", "where is the office?")
    events, _ = await run_action(ValidateEligibilityForm(), tracker, domain)
    assert events == [SlotSet("requested_slot", "work_status")]  # Rasa then lets others answer


async def test_a_value_the_domain_does_not_allow_is_rejected(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = asked(
        load_tracker,
        "equity_level",
        '/inform{"equity_level": "3"}',
        has_equity_card="yes",
    )
    tracker.slots["equity_level"] = "3"
    tracker.events.append(SlotSet("equity_level", "3"))
    events, _ = await run_action(ValidateEligibilityForm(), tracker, domain)
    assert events == [SlotSet("equity_level", None), SlotSet("requested_slot", "equity_level")]


@pytest.mark.parametrize("action", ASK_ACTIONS, ids=lambda action: action.name())
@pytest.mark.parametrize("language", ["km", "en"])
async def test_every_question_in_the_citizens_language_with_buttons(
    load_tracker: Any, run_action: Any, domain: dict[str, Any], action: AskQuestion, language: str
) -> None:
    assert action.name() in domain["actions"]
    tracker = load_tracker("form_typed_answer", slots={"language": language})
    events, [message] = await run_action(action, tracker, domain)
    assert events == []
    assert "?" in message["text"]  # every question asks one
    assert len(message["buttons"]) >= 3
    for button in message["buttons"]:
        assert 0 < len(button["title"]) <= MAX_BUTTON_CHARS
        assert button["payload"].startswith("/")
    khmer = any("\u1780" <= char <= "\u17ff" for char in message["text"])
    assert khmer == (language == "km")


async def test_yes_no_questions_use_the_answer_intents(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    _, [message] = await run_action(
        ActionAskPregnantOrInfant(), load_tracker("form_typed_answer"), domain
    )
    assert [b["payload"] for b in message["buttons"]] == ["/affirm", "/deny", "/dont_know"]
    assert [b["title"] for b in message["buttons"]] == ["Yes", "No", "I don't know"]


async def test_the_hiv_question_is_optional_and_offers_prefer_not_to_say(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    _, [message] = await run_action(ActionAskHiv(), load_tracker("form_typed_answer"), domain)
    assert message["text"].startswith("This question is optional.")
    assert {"title": "Prefer not to say", "payload": "/dont_know"} in message["buttons"]


@pytest.mark.parametrize(
    ("action", "slot"),
    [
        (ActionAskEquityLevel(), "equity_level"),
        (ActionAskSchoolLevel(), "school_level"),
        (ActionAskWorkStatus(), "work_status"),
    ],
)
async def test_choice_buttons_inform_a_value_the_slot_accepts(
    load_tracker: Any, run_action: Any, domain: dict[str, Any], action: AskQuestion, slot: str
) -> None:
    _, [message] = await run_action(action, load_tracker("form_typed_answer"), domain)
    prefix = f'/inform{{"{slot}": "'
    values = [
        b["payload"].removeprefix(prefix).removesuffix('"}')
        for b in message["buttons"]
        if b["payload"].startswith(prefix)
    ]
    assert len(values) >= 2
    assert set(values) <= set(domain["slots"][slot]["values"])
    assert message["buttons"][-1]["payload"] == "/dont_know"
