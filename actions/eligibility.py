"""The eligibility rule engine: a household's form answers -> programmes it may get.

The rules are data (knowledge/eligibility.yml) so a ministry can change who qualifies
without touching code; this module only evaluates them. It is pure: no Rasa, no I/O after
loading, so it is tested directly with the research's example households.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actions.knowledge import (
    KNOWLEDGE_DIR,
    Amount,
    KnowledgeBase,
    LocalText,
    Topic,
    _Reader,
    read_yaml,
)

RULES_FILE = "eligibility.yml"
ANY = "any"
ALL = "all"

Answers = Mapping[str, Any]


@dataclass(frozen=True)
class Condition:
    """Every slot in `slots` has one of its values, one of `any` holds and all of `all` hold."""

    slots: Mapping[str, tuple[str, ...]]
    any: tuple[Condition, ...] = ()
    all: tuple[Condition, ...] = ()

    def holds(self, answers: Answers) -> bool:
        """True when the answers satisfy this condition (an unasked slot satisfies nothing)."""
        return (
            all(answers.get(slot) in values for slot, values in self.slots.items())
            and (not self.any or any(condition.holds(answers) for condition in self.any))
            and all(condition.holds(answers) for condition in self.all)
        )


@dataclass(frozen=True)
class AmountChoice:
    """Which amounts of a topic to show, possibly depending on one answer."""

    fixed: tuple[str, ...] = ()
    answer: str | None = None
    by_value: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    otherwise: tuple[str, ...] = ()

    def ids(self, answers: Answers) -> tuple[str, ...]:
        if self.answer is None:
            return self.fixed
        return self.by_value.get(answers.get(self.answer), self.otherwise)


@dataclass(frozen=True)
class ProgrammeRule:
    """When a household may get a programme, why, and what to do next."""

    id: str
    topic: Topic
    when: Condition
    amounts: AmountChoice
    reason: LocalText
    next_step: LocalText


@dataclass(frozen=True)
class AdviceRule:
    """General advice for households in a situation (e.g. without an equity card)."""

    id: str
    topic: Topic
    when: Condition
    text: LocalText


@dataclass(frozen=True)
class Finding:
    """A programme the household may get, with the amounts that apply to it."""

    rule: str
    topic: Topic
    reason: LocalText
    next_step: LocalText
    amounts: tuple[Amount, ...]


@dataclass(frozen=True)
class Advice:
    """Advice that applies to the household."""

    rule: str
    topic: Topic
    text: LocalText


@dataclass(frozen=True)
class Assessment:
    """Everything the rules say about one household, in the rules' order."""

    findings: tuple[Finding, ...]
    advice: tuple[Advice, ...]

    @property
    def most_relevant_topic(self) -> str | None:
        """The topic to continue the conversation with ("where do I enrol?")."""
        if self.findings:
            return self.findings[0].topic.id
        if self.advice:
            return self.advice[0].topic.id
        return None


@dataclass(frozen=True)
class RuleBook:
    """The loaded rules."""

    version: str
    programmes: tuple[ProgrammeRule, ...]
    advice: tuple[AdviceRule, ...]

    def assess(self, answers: Answers) -> Assessment:
        """Apply every rule to `answers` (slot -> value, None when not asked).

        A rule adds nothing when an earlier finding already covers the same topic with the
        same amounts (two routes to the same programme give one finding).
        """
        findings: list[Finding] = []
        for rule in self.programmes:
            if not rule.when.holds(answers):
                continue
            amounts = tuple(rule.topic.amount(i) for i in rule.amounts.ids(answers))
            if any(f.topic == rule.topic and f.amounts == amounts for f in findings):
                continue
            findings.append(Finding(rule.id, rule.topic, rule.reason, rule.next_step, amounts))
        advice = tuple(
            Advice(rule.id, rule.topic, rule.text)
            for rule in self.advice
            if rule.when.holds(answers)
        )
        return Assessment(findings=tuple(findings), advice=advice)


def _read_condition(reader: _Reader, value: Any, where: str) -> Condition:
    data = reader.mapping(value, where)
    slots: dict[str, tuple[str, ...]] = {}
    nested: dict[str, tuple[Condition, ...]] = {ANY: (), ALL: ()}
    for key, item in data.items():
        if key in nested:
            nested[key] = tuple(
                _read_condition(reader, condition, f"{where}.{key}[{i}]")
                for i, condition in enumerate(reader.sequence(item, f"{where}.{key}"))
            )
            continue
        values = reader.sequence(item, f"{where}.{key}")
        if not values or not all(isinstance(v, str) for v in values):
            raise reader.fail(
                f"{where}.{key}", 'expected a list of answers as texts (quote "yes" and "no")'
            )
        slots[key] = tuple(values)
    if not slots and not nested[ANY] and not nested[ALL]:
        raise reader.fail(where, "an empty condition would match every household")
    return Condition(slots=slots, any=nested[ANY], all=nested[ALL])


def _amount_ids(reader: _Reader, value: Any, topic: Topic, where: str) -> tuple[str, ...]:
    ids = tuple(str(i) for i in reader.sequence(value, where))
    known = {amount.id for amount in topic.amounts}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise reader.fail(where, f"{topic.id} has no amount {', '.join(map(repr, unknown))}")
    return ids


def _read_amount_choice(
    reader: _Reader, data: dict[str, Any], topic: Topic, where: str
) -> AmountChoice:
    if "amounts_by" not in data:
        return AmountChoice(
            fixed=_amount_ids(reader, data.get("amounts", []), topic, f"{where}.amounts")
        )
    by = reader.mapping(data["amounts_by"], f"{where}.amounts_by")
    values = reader.mapping(
        reader.field(by, "values", f"{where}.amounts_by"), f"{where}.amounts_by.values"
    )
    return AmountChoice(
        answer=reader.string(
            reader.field(by, "answer", f"{where}.amounts_by"), f"{where}.amounts_by.answer"
        ),
        by_value={
            str(value): _amount_ids(reader, ids, topic, f"{where}.amounts_by.values.{value}")
            for value, ids in values.items()
        },
        otherwise=_amount_ids(
            reader, by.get("otherwise", []), topic, f"{where}.amounts_by.otherwise"
        ),
    )


def _topic(reader: _Reader, data: dict[str, Any], knowledge: KnowledgeBase, where: str) -> Topic:
    topic_id = reader.field(data, "topic", where)
    if topic_id not in knowledge.topics:
        raise reader.fail(f"{where}.topic", f"unknown topic {topic_id!r}")
    return knowledge.topics[topic_id]


def _read_programme(
    reader: _Reader, value: Any, knowledge: KnowledgeBase, where: str
) -> ProgrammeRule:
    data = reader.mapping(value, where)
    topic = _topic(reader, data, knowledge, where)
    return ProgrammeRule(
        id=reader.string(reader.field(data, "id", where), f"{where}.id"),
        topic=topic,
        when=_read_condition(reader, reader.field(data, "when", where), f"{where}.when"),
        amounts=_read_amount_choice(reader, data, topic, where),
        reason=reader.text(reader.field(data, "reason", where), f"{where}.reason"),
        next_step=reader.text(reader.field(data, "next_step", where), f"{where}.next_step"),
    )


def _read_advice(reader: _Reader, value: Any, knowledge: KnowledgeBase, where: str) -> AdviceRule:
    data = reader.mapping(value, where)
    return AdviceRule(
        id=reader.string(reader.field(data, "id", where), f"{where}.id"),
        topic=_topic(reader, data, knowledge, where),
        when=_read_condition(reader, reader.field(data, "when", where), f"{where}.when"),
        text=reader.text(reader.field(data, "text", where), f"{where}.text"),
    )


def load_rules(knowledge: KnowledgeBase, directory: Path = KNOWLEDGE_DIR) -> RuleBook:
    """Load and check `directory`/eligibility.yml against the knowledge base."""
    path = directory / RULES_FILE
    reader = _Reader(path)
    data = reader.mapping(read_yaml(path), "top level")
    programmes = reader.sequence(reader.field(data, "programmes", "top level"), "programmes")
    advice = reader.sequence(data.get("advice", []), "advice")
    return RuleBook(
        version=reader.string(reader.field(data, "version", "top level"), "version"),
        programmes=tuple(
            _read_programme(reader, rule, knowledge, f"programmes[{i}]")
            for i, rule in enumerate(programmes)
        ),
        advice=tuple(
            _read_advice(reader, rule, knowledge, f"advice[{i}]") for i, rule in enumerate(advice)
        ),
    )
