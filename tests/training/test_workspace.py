"""Annotations become git-friendly Rasa files: deterministic, sorted, only the tool's files
and domain.yml's marked block change, and a new intent needs answers in both languages."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from bot._exceptions import InvalidAnnotation
from bot.storage._db import AnnotationLabel
from bot.training import Workspace
from bot.training._workspace import Answer
from tests.training.helpers import REPO

INTENT = AnnotationLabel.INTENT
ANNOTATIONS = [
    (INTENT, "ask_nssf", "ថៅកែកាត់លុយខែខ្ញុំបង់បេឡា តែអត់ដែលឃើញកាតសោះ"),
    (INTENT, "ask_disability_allowance", "ជើងខ្ញុំកំបុតមួយ មានជំនួយអត់"),
    (INTENT, "ask_nssf", "my boss takes nssf money from my salary but i have no card"),
    (INTENT, "ask_birth_certificate", "សុំសំបុត្រកំណើតកូននៅណា"),
    (INTENT, "ask_birth_certificate", "where do i get a birth certificate for my baby"),
    (AnnotationLabel.OUT_OF_SCOPE, None, "តម្លៃមាសថ្ងៃនេះប៉ុន្មាន"),
    (AnnotationLabel.SPAM, None, "buy followers cheap http://spam.example"),
]
BIRTH = Answer(
    km="សំបុត្រកំណើតកូន សូមសុំនៅសាលាឃុំ/សង្កាត់ ដោយឥតគិតថ្លៃ។",
    en="Ask for a birth certificate at the commune/sangkat office; it is free.",
)


def files(root: Path) -> dict[str, bytes]:
    names = ["data/nlu/learned.yml", "data/rules/learned.yml", "domain.yml"]
    return {name: (root / name).read_bytes() for name in names}


def test_export_is_deterministic_and_sorted(workspace: Path) -> None:
    Workspace(workspace).save_answer("ask_birth_certificate", BIRTH)
    shuffled = ANNOTATIONS[:]
    random.Random(7).shuffle(shuffled)
    first = Workspace(workspace).export(ANNOTATIONS)
    files_first = files(workspace)
    Workspace(workspace).export(shuffled)
    assert files(workspace) == files_first  # same annotations, any order: same bytes
    assert first.examples == 6
    assert first.new_intents == ["ask_birth_certificate"]
    nlu = yaml.safe_load(files_first["data/nlu/learned.yml"])
    intents = [block["intent"] for block in nlu["nlu"]]
    assert intents == sorted(intents)
    assert intents == [
        "ask_birth_certificate",
        "ask_disability_allowance",
        "ask_nssf",
        "out_of_scope",
    ]
    for block in nlu["nlu"]:
        lines = [line[2:] for line in block["examples"].splitlines()]
        assert lines == sorted(lines)
    assert b"spam.example" not in files_first["data/nlu/learned.yml"]


def test_only_the_marked_block_of_the_domain_changes(workspace: Path) -> None:
    original = (workspace / "domain.yml").read_text(encoding="utf-8")
    ws = Workspace(workspace)
    ws.save_answer("ask_birth_certificate", BIRTH)
    ws.export(ANNOTATIONS)
    changed = (workspace / "domain.yml").read_text(encoding="utf-8")
    added = [line for line in changed.splitlines() if line not in original.splitlines()]
    assert added == ["  - ask_birth_certificate"]
    assert ws.learned_intents() == ["ask_birth_certificate"]
    rules = yaml.safe_load((workspace / "data/rules/learned.yml").read_text(encoding="utf-8"))
    assert rules["rules"] == [
        {
            "rule": "answer the learned intent ask_birth_certificate",
            "steps": [{"intent": "ask_birth_certificate"}, {"action": "action_answer_learned"}],
        }
    ]
    ws.export([])  # nothing learned any more: the repository's files come back, byte for byte
    assert (workspace / "domain.yml").read_text(encoding="utf-8") == original
    for name in ("data/nlu/learned.yml", "data/rules/learned.yml"):
        assert (workspace / name).read_bytes() == (REPO / name).read_bytes()


@pytest.mark.parametrize(
    ("km", "en"),
    [
        ("", BIRTH.en),
        (BIRTH.km, ""),
        ("   ", "  "),
        ("Go to the commune office", BIRTH.en),  # "Khmer" that is not in Khmer script
    ],
)
def test_a_new_intent_without_both_answers_is_refused(workspace: Path, km: str, en: str) -> None:
    with pytest.raises(InvalidAnnotation):
        Workspace.check_answer("ask_birth_certificate", km, en)


def test_exporting_a_new_intent_without_answers_is_refused(workspace: Path) -> None:
    before = files(workspace)
    with pytest.raises(InvalidAnnotation, match="both Khmer and English"):
        Workspace(workspace).export(ANNOTATIONS)
    assert files(workspace) == before  # nothing half-written


def test_an_example_the_data_gives_another_intent_is_refused(workspace: Path) -> None:
    with pytest.raises(InvalidAnnotation, match="already a training example of intent 'greet'"):
        Workspace(workspace).export([(INTENT, "ask_nssf", "សួស្តី")])


def test_rasa_entity_syntax_in_a_message_is_neutralised(workspace: Path) -> None:
    Workspace(workspace).export([(INTENT, "ask_nssf", "[my card](lost) nssf")])
    text = (workspace / "data/nlu/learned.yml").read_text(encoding="utf-8")
    assert "    - [my card] (lost) nssf\n" in text


def test_the_repository_files_are_the_tools_output(workspace: Path) -> None:
    """The committed learned.yml files are exactly what an export of nothing writes."""
    Workspace(workspace).export([])
    for name in ("data/nlu/learned.yml", "data/rules/learned.yml"):
        assert (workspace / name).read_bytes() == (REPO / name).read_bytes()
