"""The custom actions, run from recorded trackers against the real domain and knowledge."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import (
    ActiveLoop,
    ConversationPaused,
    FollowupAction,
    SlotSet,
    UserUtteranceReverted,
)

from actions.actions import (
    ActionAnswerTopic,
    ActionClarify,
    ActionEligibilityResult,
    ActionHandoff,
    ActionLocateOffice,
    ActionStartEligibility,
    ActionStartOver,
    ActionSwitchLanguage,
    ActionWhereToEnrol,
)
from actions.form import FORM_SLOTS

KHMER = re.compile("[\u1780-\u17ff]")
MAX_ANSWER_CHARS = 1000  # about a phone screen and a half
MAX_BUTTON_CHARS = 20


def is_khmer(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return sum(bool(KHMER.match(c)) for c in letters) / len(letters) > 0.5


def is_english(text: str) -> bool:
    return not KHMER.search(text.split("(")[0])  # English may quote a Khmer office name


def payloads(message: dict[str, Any]) -> list[str]:
    return [button["payload"] for button in message["buttons"]]


def titles(message: dict[str, Any]) -> list[str]:
    return [button["title"] for button in message["buttons"]]


# --- action_answer_topic -----------------------------------------------------------------


# Issue #13 changed the first answer: a short one that fits a phone screen, the rest
# (every amount, documents, where to apply, the sources) behind More / Where / Source.
SHORT_ANSWER_CHARS = 350  # about six short lines before the buttons
SHORT_ANSWER_LINES = 7


def detail(tracker_name: str, topic: str, part: str, **slots: Any) -> Any:
    from tests.actions.conftest import load_tracker

    return load_tracker(
        tracker_name,
        slots=slots or None,
        text=f'/ask_{topic}{{"detail": "{part}"}}',
        intent={"name": f"ask_{topic}", "confidence": 1.0},
        entities=[{"entity": "detail", "value": part}],
    )


async def test_topic_answer_in_khmer_is_short_with_amounts_and_more_where_source(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    events, [message] = await run_action(ActionAnswerTopic(), load_tracker("ask_topic_km"), domain)
    assert events == [SlotSet("topic", "scholarship")]
    text = message["text"]
    assert is_khmer(text)
    assert "២០.០០០ រៀល ក្នុងមួយខែ" in text  # no grade given: both amounts
    assert "៣០.០០០ រៀល ក្នុងមួយខែ" in text
    assert text.splitlines()[1].startswith("• ")  # "how much?": the amounts come first
    assert text.rstrip().endswith("ពិនិត្យចុងក្រោយ៖ ២៥ វិច្ឆិកា ២០២៦។")
    assert len(text) <= SHORT_ANSWER_CHARS
    assert payloads(message) == [
        '/ask_scholarship{"detail": "more"}',
        "/ask_where_to_enrol",
        '/ask_scholarship{"detail": "source"}',
        "/check_eligibility",
        "/request_human",
    ]
    assert titles(message)[:3] == ["ព័ត៌មានបន្ថែម", "ដាក់ពាក្យនៅណា?", "ប្រភព"]
    assert all(is_khmer(title) for title in titles(message))


async def test_topic_answer_in_english_gives_the_grade_10_amount_only(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    events, [message] = await run_action(ActionAnswerTopic(), load_tracker("ask_topic_en"), domain)
    text = message["text"]
    assert is_english(text)
    assert "Upper secondary (grades 10-12): 30,000 riel a month" in text
    assert "20,000" not in text
    assert "Last verified on 25 Nov 2026." in text
    assert titles(message) == [
        "More", "Where to apply", "Source", "Am I eligible?", "Talk to a person"
    ]  # fmt: skip
    # the grade is remembered: the eligibility check will not ask it again
    assert SlotSet("school_level", "upper_secondary") in events
    assert SlotSet("school_children", "yes") in events


@pytest.mark.parametrize(
    ("language", "said", "amount", "other"),
    [
        ("en", "My son is in grade 5, how much scholarship does he get?", "20,000 riel", "30,000"),
        ("km", "កូនខ្ញុំរៀនថ្នាក់ទី៥ តើទទួលបានអាហារូបករណ៍ប៉ុន្មាន?", "២០.០០០ រៀល", "៣០.០០០"),
    ],
)
async def test_grade_5_gets_the_primary_amount_in_a_short_answer(
    load_tracker: Any,
    run_action: Any,
    domain: dict[str, Any],
    language: str,
    said: str,
    amount: str,
    other: str,
) -> None:
    tracker = load_tracker("ask_topic_km", slots={"language": language}, text=said)
    events, [message] = await run_action(ActionAnswerTopic(), tracker, domain)
    text = message["text"]
    lines = text.splitlines()
    assert amount in lines[1]  # the amount asked for leads, right under the title
    assert other not in text  # not the whole table
    assert len(text) <= SHORT_ANSWER_CHARS
    assert len(lines) <= SHORT_ANSWER_LINES
    assert [p.split("{")[0] for p in payloads(message)][:3] == [
        "/ask_scholarship", "/ask_where_to_enrol", "/ask_scholarship"
    ]  # fmt: skip
    assert SlotSet("school_level", "primary") in events


async def test_more_and_source_show_the_rest_of_the_answer(
    run_action: Any, domain: dict[str, Any]
) -> None:
    _, [more] = await run_action(
        ActionAnswerTopic(), detail("ask_topic_en", "scholarship", "more"), domain
    )
    assert "Primary and lower secondary (grades 1-9): 20,000 riel a month" in more["text"]
    assert "Upper secondary (grades 10-12): 30,000 riel a month" in more["text"]
    assert "Bring: Original equity card" in more["text"]
    assert "more" not in " ".join(payloads(more))  # the part shown is not offered again
    _, [source] = await run_action(
        ActionAnswerTopic(), detail("ask_topic_en", "scholarship", "source"), domain
    )
    assert "phnompenhpost.com (about Nov 2024), checked 25 Nov 2026" in source["text"]
    assert "https://m.phnompenhpost.com/national/cash-payments-aim-to-keep-kids-in-school" in (
        source["text"]
    )
    _, [source_km] = await run_action(
        ActionAnswerTopic(), detail("ask_topic_km", "scholarship", "source"), domain
    )
    assert "ពិនិត្យនៅ ២៥ វិច្ឆិកា ២០២៦" in source_km["text"]


@pytest.mark.parametrize("language", ["km", "en"])
async def test_every_topic_answer_fits_a_phone_screen(
    load_tracker: Any, run_action: Any, domain: dict[str, Any], knowledge: Any, language: str
) -> None:
    """Every programme x language: the first answer within the budget, sourced, with its
    More and Source buttons; "More" still within the old one-and-a-half screens."""
    for topic in knowledge.topics:
        for said in ("tell me about it", "how much?"):
            tracker = load_tracker(
                "ask_topic_km",
                slots={"language": language},
                text=said,
                intent={"name": f"ask_{topic}", "confidence": 0.9},
            )
            events, [message] = await run_action(ActionAnswerTopic(), tracker, domain)
            assert events == [SlotSet("topic", topic)]
            text = message["text"]
            assert len(text) <= SHORT_ANSWER_CHARS, (topic, language, len(text))
            assert len(text.splitlines()) <= SHORT_ANSWER_LINES, (topic, language)
            assert text.splitlines()[-1] in (
                "Last verified on 25 Nov 2026.", "ពិនិត្យចុងក្រោយ៖ ២៥ វិច្ឆិកា ២០២៦។"
            ), topic  # fmt: skip
            assert (is_khmer if language == "km" else is_english)(text), topic
            assert f'/ask_{topic}{{"detail": "source"}}' in payloads(message)
            assert f'/ask_{topic}{{"detail": "more"}}' in payloads(message)
            assert all(len(title) <= MAX_BUTTON_CHARS for title in titles(message))
        _, [more] = await run_action(
            ActionAnswerTopic(), detail("ask_topic_km", topic, "more", language=language), domain
        )
        assert len(more["text"]) <= MAX_ANSWER_CHARS, topic


async def test_unknown_amounts_say_not_sure_and_give_the_contact(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker(
        "ask_topic_en",
        text="How much do old people get?",
        intent={"name": "ask_elderly_allowance", "confidence": 0.9},
    )
    _, [message] = await run_action(ActionAnswerTopic(), tracker, domain)
    text = message["text"]
    assert "Monthly amount: I'm not sure" in text
    assert "Please contact the National Social Assistance Fund (nsaf.gov.kh)" in text
    assert not re.search(r"\d[\d,]* riel", text)  # no figure anywhere


async def test_a_closed_programme_says_when_it_ended_and_what_replaced_it(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker(
        "ask_topic_en", intent={"name": "ask_closed_programmes", "confidence": 0.9}
    )
    _, [message] = await run_action(ActionAnswerTopic(), tracker, domain)
    assert "This ended in Mar 2024. It was replaced by the Family Package." in message["text"]


async def test_the_nssf_answer_names_no_hotline(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    _, [message] = await run_action(
        ActionAnswerTopic(), detail("ask_topic_en", "nssf", "more"), domain
    )
    assert "nssf.gov.kh" in message["text"]
    assert "NSSF mobile app" in message["text"]
    assert not re.search(r"\b12[0-9]{2}\b", message["text"])


async def test_without_a_topic_intent_the_last_topic_or_the_menu(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    kept = load_tracker(
        "ask_topic_en",
        slots={"topic": "nssf"},
        text="yes",
        intent={"name": "affirm", "confidence": 0.9},
    )
    events, [message] = await run_action(ActionAnswerTopic(), kept, domain)
    assert events == [SlotSet("topic", "nssf")]
    menu = load_tracker("ask_topic_en", intent={"name": "affirm", "confidence": 0.9})
    events, [message] = await run_action(ActionAnswerTopic(), menu, domain)
    assert events == []
    assert message["text"] == "What would you like to know?"
    assert "/check_eligibility" in payloads(message)


# --- action_where_to_enrol ---------------------------------------------------------------


async def test_where_to_enrol_without_a_place_asks_for_it(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    events, [message] = await run_action(
        ActionWhereToEnrol(), load_tracker("where_to_enrol"), domain
    )
    assert events == []
    text = message["text"]
    assert text.startswith("Pregnancy & baby: where to enrol")
    assert "public health centre" in text
    assert "Bring: Original equity card (if you have one), Cambodian national ID card." in text
    assert text.endswith("Tell me your commune or district and I'll name your office.")


async def test_where_to_enrol_names_the_commune_office(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("where_to_enrol", slots={"place_code": "010201"})
    _, [message] = await run_action(ActionWhereToEnrol(), tracker, domain)
    assert (
        "Your office: the Banteay Neang commune office (សាលាឃុំបន្ទាយនាង), "
        "Mongkol Borey district, Banteay Meanchey province."
    ) in message["text"]
    assert "Tell me your commune" not in message["text"]


async def test_where_to_enrol_in_khmer_names_the_office_in_khmer(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("where_to_enrol", slots={"language": "km", "place_code": "171002"})
    _, [message] = await run_action(ActionWhereToEnrol(), tracker, domain)
    assert "ការិយាល័យរបស់អ្នក៖ សាលាសង្កាត់ស្វាយដង្គំ ក្រុងសៀមរាប ខេត្តសៀមរាប។" in message["text"]
    assert is_khmer(message["text"])


async def test_where_to_enrol_for_the_nssf_names_the_provincial_branch(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker(
        "where_to_enrol", slots={"topic": "nssf_self_employed", "place_code": "0203"}
    )
    _, [message] = await run_action(ActionWhereToEnrol(), tracker, domain)
    assert "NSSF office: go to the NSSF branch for Battambang province" in message["text"]


async def test_where_to_enrol_for_an_ended_programme_points_to_its_replacement(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("where_to_enrol", slots={"topic": "closed_programmes"})
    _, [message] = await run_action(ActionWhereToEnrol(), tracker, domain)
    assert message["text"].startswith('"Ended programmes" has ended')
    assert "Family Package: where to enrol" in message["text"]


async def test_where_to_enrol_without_a_topic_offers_the_programmes(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("where_to_enrol", slots={"topic": None})
    _, [message] = await run_action(ActionWhereToEnrol(), tracker, domain)
    assert message["text"] == "Which programme do you want to enrol in?"
    assert "/ask_scholarship" in payloads(message)
    assert "/ask_who_runs" not in payloads(message)
    assert "/ask_closed_programmes" not in payloads(message)
    assert all(len(title) <= MAX_BUTTON_CHARS for title in titles(message))


async def test_a_programme_picked_after_where_to_enrol_gets_where_to_enrol(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    """ "Where do I register?" -> "which programme?" -> [School scholarship]: the citizen
    wants to know where to enrol for it, not what the scholarship is."""
    tracker = load_tracker("enrol_programme_chosen")
    events, [message] = await run_action(ActionAnswerTopic(), tracker, domain)
    assert events == [SlotSet("topic", "scholarship")]
    assert message["text"].startswith("School scholarship: where to enrol")
    assert "meets the programme officers at the school" in message["text"]
    assert payloads(message) == ["/check_eligibility", "/request_human"]


async def test_a_programme_asked_about_otherwise_gets_its_answer(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("ask_topic_en")
    _, [message] = await run_action(ActionAnswerTopic(), tracker, domain)
    assert ": where to enrol" not in message["text"]


# --- action_locate_office ---------------------------------------------------------------


async def test_locate_office_from_khmer_text_then_where_to_enrol(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    events, messages = await run_action(ActionLocateOffice(), load_tracker("inform_place"), domain)
    assert events == [SlotSet("place_code", "010201")]
    found, guidance = messages
    assert found["text"] == "ការិយាល័យរបស់អ្នក៖ សាលាឃុំបន្ទាយនាង ស្រុកមង្គលបូរី ខេត្តបន្ទាយមានជ័យ។"
    assert guidance["text"].startswith("ប័ណ្ណសមធម៌៖ កន្លែងចុះឈ្មោះ")
    assert "សាលាឃុំបន្ទាយនាង" not in guidance["text"]  # said once, in the first message


async def test_locate_a_misspelt_province_in_english(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker(
        "inform_place", slots={"language": "en", "topic": None}, text="I live in Battambong"
    )
    events, [message] = await run_action(ActionLocateOffice(), tracker, domain)
    assert events == [SlotSet("place_code", "02")]
    assert message["text"].startswith(
        "Go to your commune or sangkat office in Battambang province."
    )
    assert "the Battambang provincial hall (សាលាខេត្តបាត់ដំបង)" in message["text"]
    assert message["text"].endswith("Tell me your commune or district and I'll name your office.")


async def test_a_shared_location_uses_the_commune_the_gateway_found(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker(
        "inform_place",
        slots={"language": "en", "topic": None},
        text="/inform_place",
        metadata={"location": {"latitude": 11.55, "longitude": 104.92}, "place_code": "120101"},
    )
    events, [message] = await run_action(ActionLocateOffice(), tracker, domain)
    assert events == [SlotSet("place_code", "120101")]
    assert "Tonle Basak" in message["text"]


async def test_locate_a_district(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("inform_place", slots={"topic": None}, text="ខណ្ឌចំការមន")
    events, [message] = await run_action(ActionLocateOffice(), tracker, domain)
    assert events == [SlotSet("place_code", "1201")]
    assert "សាលាខណ្ឌចំការមន" in message["text"]
    assert "រាជធានីភ្នំពេញ" in message["text"]


async def test_an_ambiguous_commune_asks_which_province_with_text_buttons(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("inform_place", slots={"language": "en"}, text="Samraong commune")
    events, [message] = await run_action(ActionLocateOffice(), tracker, domain)
    assert events == []
    assert message["text"] == (
        'There is more than one place called "Samraong". Which province is it in?'
    )
    assert "Prey Veng" in titles(message)
    assert "Samraong commune, Prey Veng province" in payloads(message)
    assert not any(payload.startswith("/") for payload in payloads(message))
    assert all(len(title) <= MAX_BUTTON_CHARS for title in titles(message))


async def test_the_answer_to_which_province_is_found(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("inform_place", slots={"topic": None}, text="ឃុំសំរោង ខេត្តព្រៃវែង")
    events, _ = await run_action(ActionLocateOffice(), tracker, domain)
    assert events == [SlotSet("place_code", "141309")]


async def test_ambiguity_within_a_province_asks_which_one(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("inform_place", slots={"language": "en"}, text="Samraong, Takeo")
    events, [message] = await run_action(ActionLocateOffice(), tracker, domain)
    assert events == []
    assert message["text"].startswith('There is more than one place called "Samraong" in Takéo')
    assert titles(message) == ["Samraong district", "Samraong (Tram Kak)"]
    chosen = load_tracker("inform_place", slots={"topic": None}, text=payloads(message)[1])
    events, _ = await run_action(ActionLocateOffice(), chosen, domain)
    assert events == [SlotSet("place_code", "210910")]


async def test_no_place_found_asks_for_the_commune(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("inform_place", text="ខ្ញុំរស់នៅទីនេះ")
    events, [message] = await run_action(ActionLocateOffice(), tracker, domain)
    assert events == []
    assert message["text"].startswith("ខ្ញុំរកមិនឃើញទីកន្លែងនោះទេ។")


# --- eligibility: reset and result --------------------------------------------------------


async def test_check_again_with_new_answers_clears_every_form_answer(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    # Behaviour changed (issue #13): only "Check again" forgets the answers; a plain
    # "Am I eligible?" keeps them (see tests/actions/test_stated_facts.py).
    tracker = load_tracker(
        "start_over",
        text='/check_eligibility{"detail": "new"}',
        intent={"name": "check_eligibility", "confidence": 1.0},
        entities=[{"entity": "detail", "value": "new"}],
    )
    events, [message] = await run_action(ActionStartEligibility(), tracker, domain)
    assert events == [SlotSet(slot, None) for slot in FORM_SLOTS]
    assert set(FORM_SLOTS) == set(domain["forms"]["eligibility_form"]["required_slots"])
    assert message["text"].startswith("I'll ask a few short questions")


async def test_result_for_a_pregnant_market_vendor_without_a_card(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    answers = {
        "has_equity_card": "no",
        "pregnant_or_infant": "yes",
        "work_status": "self_employed",
    }
    events, messages = await run_action(
        ActionEligibilityResult(), load_tracker("form_complete", slots=answers), domain
    )
    assert events == [SlotSet("topic", "nssf_self_employed")]
    text = "\n\n".join(message["text"] for message in messages)
    assert "NSSF self-employed" in text
    assert "Pregnancy & baby" not in text  # needs a card, or work as an NSSF member
    assert "On-Demand IDPoor" in text
    assert messages[-1]["text"].endswith("the final decision is made by each programme.")
    # issue #13: a finished check can be done again with new answers
    assert payloads(messages[-1]) == [
        "/ask_where_to_enrol", '/check_eligibility{"detail": "new"}', "/request_human"
    ]  # fmt: skip


async def test_result_for_a_pregnant_factory_worker(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    answers = {"has_equity_card": "no", "pregnant_or_infant": "yes", "work_status": "employee"}
    events, messages = await run_action(
        ActionEligibilityResult(), load_tracker("form_complete", slots=answers), domain
    )
    assert events == [SlotSet("topic", "pregnancy_cash")]
    text = "\n\n".join(message["text"] for message in messages)
    assert "• At the birth: 400,000 riel for each baby" in text
    assert "• Childbirth allowance for women members: 400,000 riel for each baby" in text
    assert "Next step: From 26 weeks of pregnancy" in text


async def test_result_for_a_card_holder_with_everything_stays_within_two_messages(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    answers = {
        "has_equity_card": "yes",
        "equity_level": "1",
        "pregnant_or_infant": "yes",
        "school_children": "yes",
        "school_level": "upper_secondary",
        "disability": "yes",
        "elderly": "yes",
        "hiv": "yes",
        "work_status": "employee",
    }
    for language in ("km", "en"):
        tracker = load_tracker("form_complete", slots={**answers, "language": language})
        _, messages = await run_action(ActionEligibilityResult(), tracker, domain)
        assert 1 <= len(messages) <= 2
        assert all(len(message["text"]) <= 2000 for message in messages)


async def test_result_for_a_65_year_old_mother_has_no_invented_amount(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    answers = {"has_equity_card": "yes", "equity_level": "2", "elderly": "yes"}
    tracker = load_tracker("form_complete", slots={**answers, "language": "km"})
    _, messages = await run_action(ActionEligibilityResult(), tracker, domain)
    text = "\n\n".join(message["text"] for message in messages)
    assert "ជំនួយមនុស្សចាស់" in text
    assert "ចំនួនប្រាក់ប្រចាំខែ៖ ខ្ញុំមិនដឹងច្បាស់" in text
    assert "nsaf.gov.kh" in text
    assert is_khmer(text)


async def test_result_without_any_programme(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    answers = {"has_equity_card": "no", "pregnant_or_infant": "no", "work_status": "none"}
    events, [message] = await run_action(
        ActionEligibilityResult(), load_tracker("form_complete", slots=answers), domain
    )
    assert events == [SlotSet("topic", "equity_card")]
    assert message["text"].startswith("From your answers, I did not find a programme")


# --- action_clarify ---------------------------------------------------------------------


async def test_clarify_offers_the_likeliest_topics_and_a_person(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    events, [message] = await run_action(ActionClarify(), load_tracker("fallback_once"), domain)
    assert events == []
    assert message["text"] == "I'm not sure I understood. Did you mean:"
    assert payloads(message) == [
        "/ask_scholarship",
        "/ask_equity_card",
        "/check_eligibility",
        "/request_human",
    ]
    assert titles(message) == [
        "School scholarship",
        "Equity card",
        "Am I eligible?",
        "Talk to a person",
    ]


async def test_clarify_shows_the_menu_when_the_ranking_offers_nothing(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker(
        "fallback_once",
        slots={"language": "km"},
        intent_ranking=[{"name": "nlu_fallback", "confidence": 0.4}],
    )
    _, [message] = await run_action(ActionClarify(), tracker, domain)
    assert message["text"] == "ខ្ញុំមិនប្រាកដថាយល់ទេ។ តើអ្នកចង់សួរអំពី៖"
    assert "/check_eligibility" in payloads(message)
    assert "/request_human" in payloads(message)


async def test_clarify_as_the_core_fallback_forgets_the_message(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    """A typed "/something" Rasa has no intent for, or a turn no policy can follow, runs this
    action as the core fallback. Like action_default_fallback it reverts the message; without
    that, Rasa predicted it again and again and the citizen got the same reply ten times."""
    unknown = {"name": "choose_level", "confidence": 1.0}
    tracker = load_tracker(
        "fallback_once",
        slots={"language": "km"},
        text='/choose_level{"level": "1"}',
        intent=unknown,
        intent_ranking=[unknown],
    )
    events, [message] = await run_action(ActionClarify(), tracker, domain)
    assert events == [UserUtteranceReverted()]
    assert message["text"] == "ខ្ញុំមិនប្រាកដថាយល់ទេ។ តើអ្នកចង់សួរអំពី៖"
    assert "/request_human" in payloads(message)


async def test_two_misunderstood_messages_in_a_row_go_to_a_person(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    events, messages = await run_action(ActionClarify(), load_tracker("fallback_twice"), domain)
    assert events == [FollowupAction("action_handoff")]
    assert messages == []


# --- action_handoff ---------------------------------------------------------------------


async def test_handoff_tells_the_citizen_and_the_gateway_then_pauses(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    events, [notice, payload] = await run_action(
        ActionHandoff(), load_tracker("handoff_request"), domain
    )
    assert events == [ConversationPaused()]
    assert is_khmer(notice["text"])
    assert "PIN" in notice["text"]
    handoff = payload["custom"]["handoff"]
    assert handoff["reason"] == "user_request"
    assert handoff["language"] == "km"
    assert handoff["topic"] == "scholarship"
    assert handoff["place_code"] == "010201"
    assert handoff["urgency"] is None  # asking for a person is not, by itself, urgent
    assert handoff["summary"] == (
        'Topic: scholarship. Last messages: "[button /ask_where_to_enrol]" | "ឃុំបន្ទាយនាង" '
        '| "ខ្ញុំចង់និយាយជាមួយមនុស្ស".'
    )


async def test_handoff_in_the_middle_of_the_eligibility_check_ends_it(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    state = load_tracker("handoff_request").current_state()
    state["active_loop"] = {"name": "eligibility_form"}
    state["slots"]["requested_slot"] = "disability"
    events, _ = await run_action(ActionHandoff(), Tracker.from_dict(state), domain)
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None), ConversationPaused()]


@pytest.mark.parametrize(
    ("intent", "reason"),
    [
        ("nlu_fallback", "not_understood"),
        ("report_problem", "sensitive_topic"),
        ("ask_pin_or_money", "other"),
    ],
)
async def test_handoff_reason_follows_the_latest_intent(
    load_tracker: Any, run_action: Any, domain: dict[str, Any], intent: str, reason: str
) -> None:
    tracker = load_tracker(
        "handoff_request", slots={"language": "en"}, intent={"name": intent, "confidence": 0.5}
    )
    _, [notice, payload] = await run_action(ActionHandoff(), tracker, domain)
    assert payload["custom"]["handoff"]["reason"] == reason
    assert payload["custom"]["handoff"]["language"] == "en"
    assert "Nobody will ever ask you for a PIN, a password or money." in notice["text"]


# --- action_switch_language ---------------------------------------------------------------


async def test_a_language_button_sets_that_language(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    events, [message] = await run_action(
        ActionSwitchLanguage(), load_tracker("switch_language_button"), domain
    )
    assert events == [SlotSet("language", "km")]
    assert message["text"] == "យល់ព្រម ខ្ញុំនឹងឆ្លើយជាភាសាខ្មែរ។"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ភាសាអង់គ្លេស", "en"),  # Khmer text asking for English
        ("English please", "en"),
        ("speak khmer", "km"),
        ("change language", "km"),  # was English before this message: toggle
        ("/switch_language", "km"),
    ],
)
async def test_a_language_named_in_the_text_or_a_toggle(
    load_tracker: Any, run_action: Any, domain: dict[str, Any], text: str, language: str
) -> None:
    tracker = load_tracker("switch_language_button", text=text, entities=[])
    events, [message] = await run_action(ActionSwitchLanguage(), tracker, domain)
    assert events == [SlotSet("language", language)]
    assert (is_khmer if language == "km" else is_english)(message["text"])


async def test_the_toggle_starts_from_khmer_when_nothing_was_set(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    tracker = load_tracker("ask_topic_km", text="change language", entities=[])
    events, [message] = await run_action(ActionSwitchLanguage(), tracker, domain)
    assert events == [SlotSet("language", "en")]
    assert message["text"] == "OK, I'll answer in English."


# --- action_start_over -----------------------------------------------------------------


async def test_start_over_forgets_answers_and_topic_but_not_language(
    load_tracker: Any, run_action: Any, domain: dict[str, Any]
) -> None:
    events, [message] = await run_action(ActionStartOver(), load_tracker("start_over"), domain)
    assert events == [SlotSet(slot, None) for slot in (*FORM_SLOTS, "topic")]
    assert all(event["name"] != "language" for event in events)
    assert message["text"].startswith("OK, let's start again.")
    assert payloads(message)[0] == "/check_eligibility"
    assert "/request_human" in payloads(message)


@pytest.mark.parametrize(
    ("said", "urgency"),
    [
        ("មានករណីបន្ទាន់ កូនខ្ញុំឈឺធ្ងន់", "emergency"),
        ("ប្តី​ខ្ញុំ​វាយ​ខ្ញុំ ខ្ញុំ​ត្រូវការ​ជំនួយ", "abuse"),
        ("៣ខែហើយ អត់ទាន់បានលុយកញ្ចប់គ្រួសារ", "payment"),
        ("My husband beats me, I need help", "abuse"),
        ("I have not received the money for 3 months", "payment"),
        ("Urgent! my child is seriously ill", "emergency"),
        ("ខ្ញុំចង់សួរអំពីប័ណ្ណសមធម៌", None),
        ("I want to ask about the hit TV show", None),  # "hit" alone is not abuse
    ],
)
async def test_handoff_urgency_comes_from_the_citizens_words(
    load_tracker: Any, run_action: Any, domain: dict[str, Any], said: str, urgency: str | None
) -> None:
    state = load_tracker("handoff_request").current_state()
    state["latest_message"]["text"] = said
    state["events"] = [
        event if event.get("event") != "user" else {**event, "text": "/greet"}
        for event in state["events"]
    ] + [{"event": "user", "text": said, "parse_data": state["latest_message"]}]
    _, messages = await run_action(ActionHandoff(), Tracker.from_dict(state), domain)
    *notices, payload = messages
    assert payload["custom"]["handoff"]["urgency"] == urgency
    # a missing payment also gets the channel that does not go through the commune
    assert len(notices) == (2 if urgency == "payment" else 1)


def test_every_urgency_level_has_khmer_and_english_keywords(tmp_path: Path) -> None:
    from actions.knowledge import KnowledgeError
    from actions.urgency import load_urgency

    assert [name for name, _, _ in load_urgency().levels] == ["emergency", "abuse", "payment"]
    (tmp_path / "urgency.yml").write_text("levels:\n  emergency:\n    en: [urgent]\n")
    with pytest.raises(KnowledgeError, match="Khmer and English"):
        load_urgency(tmp_path)
