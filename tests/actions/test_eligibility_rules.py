"""The eligibility rule engine, with the research's suggested cases (section 5)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions.eligibility import Assessment, Condition, RuleBook, load_rules
from actions.form import FORM_SLOTS
from actions.knowledge import KNOWLEDGE_DIR, KnowledgeBase, KnowledgeError


@pytest.fixture(scope="module")
def rules(knowledge: KnowledgeBase) -> RuleBook:
    return load_rules(knowledge)


def answers(**given: str) -> dict[str, str | None]:
    """Form answers: what is not given was not asked (None)."""
    return {slot: given.get(slot) for slot in FORM_SLOTS}


def topics(assessment: Assessment) -> list[str]:
    return [finding.topic.id for finding in assessment.findings]


def riel(assessment: Assessment, topic: str) -> list[float | None]:
    finding = next(f for f in assessment.findings if f.topic.id == topic)
    return [amount.value for amount in finding.amounts]


def test_pregnant_factory_worker_without_card_gets_pregnancy_cash_and_nssf_allowance(
    rules: RuleBook,
) -> None:
    result = rules.assess(
        answers(has_equity_card="no", pregnant_or_infant="yes", work_status="employee")
    )
    assert topics(result)[:2] == ["pregnancy_cash", "nssf"]
    assert riel(result, "pregnancy_cash") == [80_000, 400_000, 80_000]
    childbirth = result.findings[1]
    assert [amount.id for amount in childbirth.amounts] == ["childbirth_allowance"]
    assert childbirth.amounts[0].value == 400_000
    assert "NSSF" in result.findings[0].reason.en  # why: she is a worker, not a card holder
    assert [advice.rule for advice in result.advice] == ["no_card"]


def test_grade_10_scholarship_is_upper_secondary(rules: RuleBook) -> None:
    result = rules.assess(
        answers(has_equity_card="yes", school_children="yes", school_level="upper_secondary")
    )
    assert riel(result, "scholarship") == [30_000]


def test_grade_4_scholarship_is_primary(rules: RuleBook) -> None:
    result = rules.assess(
        answers(has_equity_card="yes", school_children="yes", school_level="primary")
    )
    assert riel(result, "scholarship") == [20_000]


def test_school_level_not_known_lists_both_rates(rules: RuleBook) -> None:
    result = rules.assess(
        answers(has_equity_card="yes", school_children="yes", school_level="unknown")
    )
    assert riel(result, "scholarship") == [20_000, 30_000]


def test_65_year_old_mother_gets_no_invented_amount(rules: RuleBook) -> None:
    result = rules.assess(answers(has_equity_card="yes", elderly="yes"))
    finding = next(f for f in result.findings if f.topic.id == "elderly_allowance")
    assert finding.amounts
    assert all(amount.unknown for amount in finding.amounts)
    assert "birth certificate" in finding.next_step.en


def test_card_holder_always_gets_free_health_care(rules: RuleBook) -> None:
    result = rules.assess(
        answers(
            has_equity_card="yes",
            equity_level="2",
            pregnant_or_infant="no",
            school_children="no",
            disability="no",
            elderly="no",
            hiv="no",
            work_status="none",
        )
    )
    assert topics(result) == ["health_equity_fund"]
    assert result.advice == ()
    assert result.most_relevant_topic == "health_equity_fund"


def test_no_card_and_no_work_means_advice_on_getting_a_card(rules: RuleBook) -> None:
    result = rules.assess(
        answers(has_equity_card="no", pregnant_or_infant="no", work_status="none")
    )
    assert result.findings == ()
    assert [advice.topic.id for advice in result.advice] == ["equity_card"]
    assert "On-Demand IDPoor" in result.advice[0].text.en
    assert result.most_relevant_topic == "equity_card"


def test_not_sure_about_the_card_also_gets_the_advice(rules: RuleBook) -> None:
    result = rules.assess(answers(has_equity_card="unknown", work_status="unknown"))
    assert [advice.rule for advice in result.advice] == ["no_card"]


def test_market_vendor_can_join_the_voluntary_nssf_scheme(rules: RuleBook) -> None:
    result = rules.assess(answers(has_equity_card="no", work_status="self_employed"))
    assert "nssf_self_employed" in topics(result)


def test_pregnant_civil_servant(rules: RuleBook) -> None:
    result = rules.assess(
        answers(has_equity_card="no", pregnant_or_infant="yes", work_status="civil_servant")
    )
    assert topics(result) == ["pregnancy_cash", "civil_servant_benefits"]


def test_hiv_support_only_when_the_citizen_chose_to_say_so(rules: RuleBook) -> None:
    said_yes = rules.assess(answers(has_equity_card="yes", hiv="yes"))
    rather_not_say = rules.assess(answers(has_equity_card="yes", hiv="unknown"))
    assert riel(said_yes, "hiv_support") == [28_000]
    assert "hiv_support" not in topics(rather_not_say)


def test_pregnant_card_holder_with_everything(rules: RuleBook) -> None:
    result = rules.assess(
        answers(
            has_equity_card="yes",
            equity_level="1",
            pregnant_or_infant="yes",
            school_children="yes",
            school_level="lower_secondary",
            disability="yes",
            elderly="yes",
            hiv="no",
            work_status="employee",
        )
    )
    assert topics(result) == [
        "pregnancy_cash",
        "nssf",
        "scholarship",
        "disability_allowance",
        "elderly_allowance",
        "health_equity_fund",
        "nssf",
    ]
    assert result.most_relevant_topic == "pregnancy_cash"


# --- the rules file itself ----------------------------------------------------------------


def conditions(condition: Condition) -> Iterator[tuple[str, tuple[str, ...]]]:
    yield from condition.slots.items()
    for nested in (*condition.any, *condition.all):
        yield from conditions(nested)


def test_every_condition_names_a_real_slot_value(rules: RuleBook, domain: dict[str, Any]) -> None:
    checked = 0
    for rule in (*rules.programmes, *rules.advice):
        for slot, values in conditions(rule.when):
            assert slot in FORM_SLOTS, rule.id
            assert set(values) <= set(domain["slots"][slot]["values"]), (rule.id, slot)
            checked += 1
    assert checked > 10


def edit_and_load(
    knowledge: KnowledgeBase, tmp_path: Path, edit: Callable[[dict[str, Any]], None]
) -> RuleBook:
    data = yaml.load(
        (KNOWLEDGE_DIR / "eligibility.yml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader
    )
    edit(data)
    (tmp_path / "eligibility.yml").write_text(
        yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True)
    )
    return load_rules(knowledge, tmp_path)


def unquoted_yes(data: dict[str, Any]) -> None:
    data["programmes"][0]["when"]["pregnant_or_infant"] = [True]


def unknown_topic(data: dict[str, Any]) -> None:
    data["programmes"][0]["topic"] = "free_money"


def unknown_amount(data: dict[str, Any]) -> None:
    data["programmes"][0]["amounts"] = ["bonus"]


def missing_reason(data: dict[str, Any]) -> None:
    del data["programmes"][0]["reason"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (unquoted_yes, r"programmes\[0\]\.when\.pregnant_or_infant: .*quote"),
        (unknown_topic, r"programmes\[0\]\.topic: unknown topic 'free_money'"),
        (unknown_amount, r"programmes\[0\]\.amounts: .*'bonus'"),
        (missing_reason, r"programmes\[0\]: missing 'reason'"),
    ],
)
def test_broken_rules_are_refused(
    knowledge: KnowledgeBase,
    tmp_path: Path,
    edit: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    with pytest.raises(KnowledgeError, match=message):
        edit_and_load(knowledge, tmp_path, edit)
