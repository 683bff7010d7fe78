"""The Rasa files the tool owns in a workspace, written deterministically from annotations.

* ``data/nlu/learned.yml``: every example taught, grouped by intent, sorted;
* ``data/rules/learned.yml``: one rule per new intent, answered by ``action_answer_learned``;
* ``domain.yml``: new intents, listed between two marker lines of the ``intents:`` list
  (the rest of the file is never touched);
* ``knowledge/learned_answers.yml``: each new intent's answer in Khmer and English, read at
  run time by the action (so a ministry can correct a text without retraining).

The same annotations always give byte-identical files, so ``git diff`` shows exactly what
was taught.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .._exceptions import InvalidAnnotation, TrainingFailed
from ..storage._db import AnnotationLabel

__all__ = [
    "LEARNED_ACTION",
    "Answer",
    "Example",
    "Workspace",
    "check_intent_name",
    "clean_example",
]

LEARNED_ACTION = "action_answer_learned"
NLU_FILE = Path("data/nlu/learned.yml")
RULES_FILE = Path("data/rules/learned.yml")
DOMAIN_FILE = Path("domain.yml")
ANSWERS_FILE = Path("knowledge/learned_answers.yml")
BEGIN_MARKER = "# BEGIN learned intents"
END_MARKER = "# END learned intents"
RASA_VERSION = '"3.1"'
OUT_OF_SCOPE_INTENT = "out_of_scope"
# Rasa's own intents: never defined, trained or answered by the tool.
RASA_DEFAULT_INTENTS = frozenset(
    {"restart", "back", "out_of_scope", "session_start", "nlu_fallback"}
)
INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
KHMER_LETTER = re.compile("[\u1780-\u17ff]")
MAX_ANSWER_CHARS = 1500
MAX_EXAMPLE_CHARS = 500
# Rasa reads [text](entity), [text]{...} and [text][...] in examples as entity annotations.
_ENTITY_SYNTAX = re.compile(r"\](?=[({\[])")
_ANNOTATED = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"\s+")

NLU_HEADER = """\
# Written by `python -m bot training` from the annotations of the review queue: sorted, so
# that a diff shows exactly what was taught. Do not edit by hand; annotate instead.
"""
RULES_HEADER = """\
# Written by `python -m bot training`: intents created in the review queue are answered by
# action_answer_learned from knowledge/learned_answers.yml. Do not edit by hand.
"""
ANSWERS_HEADER = """\
# Answers to intents created in the review queue (`python -m bot training`), read at run
# time by action_answer_learned: a text can be corrected here without retraining. Every
# intent needs both Khmer (km) and English (en). The tool rewrites this file sorted, so
# comments other than this header are not kept.
"""


@dataclass(frozen=True, order=True)
class Example:
    """One training example: intent first, so examples sort by intent, then by text."""

    intent: str
    text: str


@dataclass(frozen=True)
class Answer:
    """A new intent's answer."""

    km: str
    en: str


def check_intent_name(name: str) -> str:
    """The name if it can be a new intent's name; InvalidAnnotation otherwise."""
    if not INTENT_NAME.match(name):
        raise InvalidAnnotation(
            f"intent name {name!r}: 3-64 characters of a-z, 0-9 and _, starting with a letter"
        )
    if name in RASA_DEFAULT_INTENTS:
        raise InvalidAnnotation(f"{name!r} is one of Rasa's own intents")
    return name


def clean_example(text: str) -> str:
    """One line, no control characters, no accidental Rasa entity syntax."""
    single = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    if not single:
        raise InvalidAnnotation("the example text is empty")
    if len(single) > MAX_EXAMPLE_CHARS:
        raise InvalidAnnotation(f"the example is longer than {MAX_EXAMPLE_CHARS} characters")
    return _ENTITY_SYNTAX.sub("] ", single)


def _plain(example: str) -> str:
    """An example as Rasa sees its text: entity annotations reduced to their words."""
    return _ANNOTATED.sub(r"\1", example).strip()


def _atomic_write(path: Path, content: str) -> None:
    """Write via a temporary file and rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _literal_block(lines: Iterable[str], indent: str) -> str:
    return "".join(f"{indent}- {line}\n" for line in lines)


class Workspace:
    """A directory with config.yml, domain.yml, data/ and knowledge/ (see module doc)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # --- reading -------------------------------------------------------------------------

    def _domain_text(self) -> str:
        path = self.root / DOMAIN_FILE
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TrainingFailed(f"cannot read {path}: {exc}") from exc

    def _learned_block(self, lines: list[str]) -> tuple[int, int]:
        """Indexes of the BEGIN and END marker lines inside the intents list."""
        begin = [i for i, line in enumerate(lines) if line.strip().startswith(BEGIN_MARKER)]
        end = [i for i, line in enumerate(lines) if line.strip().startswith(END_MARKER)]
        if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
            raise TrainingFailed(
                f"{DOMAIN_FILE} needs exactly one '{BEGIN_MARKER}' line followed by one"
                f" '{END_MARKER}' line in its intents list"
            )
        return begin[0], end[0]

    def learned_intents(self) -> list[str]:
        """New intents currently listed in domain.yml's marked block."""
        lines = self._domain_text().splitlines()
        begin, end = self._learned_block(lines)
        return [line.strip().removeprefix("- ").strip() for line in lines[begin + 1 : end]]

    def base_intents(self) -> set[str]:
        """Intents of domain.yml outside the tool's block (the hand-written ones)."""
        data = yaml.safe_load(self._domain_text()) or {}
        names = set()
        for entry in data.get("intents") or []:
            names.add(next(iter(entry)) if isinstance(entry, dict) else str(entry))
        return names - set(self.learned_intents())

    def base_examples(self) -> dict[str, str]:
        """Text -> intent of every hand-written NLU example (not learned.yml)."""
        found: dict[str, str] = {}
        learned = (self.root / NLU_FILE).resolve()
        for path in sorted((self.root / "data").rglob("*.yml")):
            if path.resolve() == learned:
                continue
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise TrainingFailed(f"cannot read {path}: {exc}") from exc
            if not isinstance(data, dict):
                continue
            for block in data.get("nlu") or []:
                if not isinstance(block, dict) or "intent" not in block:
                    continue
                for line in str(block.get("examples") or "").splitlines():
                    line = line.strip()
                    if line.startswith("- "):
                        found.setdefault(_plain(line[2:]), str(block["intent"]))
        return found

    def answers(self) -> dict[str, Answer]:
        """New intents' answers from knowledge/learned_answers.yml."""
        path = self.root / ANSWERS_FILE
        if not path.exists():
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise TrainingFailed(f"cannot read {path}: {exc}") from exc
        found = {}
        for name, entry in (data.get("answers") or {}).items():
            if isinstance(entry, Mapping):
                found[str(name)] = Answer(
                    km=str(entry.get("km") or "").strip(), en=str(entry.get("en") or "").strip()
                )
        return found

    def known_intents(self) -> set[str]:
        """Intents an annotation may use: hand-written ones and new ones with answers."""
        return self.base_intents() | set(self.answers())

    # --- checks --------------------------------------------------------------------------

    @staticmethod
    def check_answer(name: str, km: str, en: str) -> Answer:
        """Both languages, Khmer in Khmer script, neither empty nor too long."""
        km, en = km.strip(), en.strip()
        if not km or not en:
            raise InvalidAnnotation(
                f"intent {name!r} needs its answer in both Khmer and English before it can be"
                " trained"
            )
        if not KHMER_LETTER.search(km):
            raise InvalidAnnotation(f"the Khmer answer of {name!r} is not in Khmer script")
        if KHMER_LETTER.search(en):
            raise InvalidAnnotation(f"the English answer of {name!r} contains Khmer script")
        if max(len(km), len(en)) > MAX_ANSWER_CHARS:
            raise InvalidAnnotation(f"an answer is longer than {MAX_ANSWER_CHARS} characters")
        return Answer(km=km, en=en)

    def check_example(self, text: str, intent: str, base: Mapping[str, str] | None = None) -> None:
        """Refuse an example that the hand-written data already gives another intent."""
        existing = (self.base_examples() if base is None else base).get(_plain(text))
        if existing is not None and existing != intent:
            raise InvalidAnnotation(
                f"{text!r} is already a training example of intent {existing!r}"
            )

    # --- writing -------------------------------------------------------------------------

    def save_answer(self, name: str, answer: Answer) -> None:
        """Add or replace one new intent's answer (the file is rewritten sorted)."""
        answers = self.answers()
        answers[name] = answer
        body = {"answers": {k: {"km": v.km, "en": v.en} for k, v in sorted(answers.items())}}
        dumped = yaml.safe_dump(body, allow_unicode=True, sort_keys=True, width=10_000)
        _atomic_write(self.root / ANSWERS_FILE, ANSWERS_HEADER + dumped)

    def export(self, annotations: Iterable[tuple[str, str | None, str]]) -> ExportResult:
        """Write the tool's files from (label, intent, example text) of every annotation."""
        base_intents = self.base_intents()
        base_examples = self.base_examples()
        answers = self.answers()
        examples: set[Example] = set()
        for label, intent, text in annotations:
            if label == AnnotationLabel.SPAM:
                continue
            target = OUT_OF_SCOPE_INTENT if label == AnnotationLabel.OUT_OF_SCOPE else intent
            if not target:
                raise InvalidAnnotation(f"annotation of {text!r} has no intent")
            example = clean_example(text)
            self.check_example(example, target, base_examples)
            if base_examples.get(_plain(example)) == target:
                continue  # already taught by hand
            examples.add(Example(target, example))
        new_intents = sorted({e.intent for e in examples} - base_intents - {OUT_OF_SCOPE_INTENT})
        for name in new_intents:
            answer = answers.get(name)
            self.check_answer(name, answer.km if answer else "", answer.en if answer else "")
        self._write_nlu(sorted(examples))
        self._write_rules(new_intents)
        self._write_domain(new_intents)
        return ExportResult(examples=len(examples), new_intents=new_intents)

    def _write_nlu(self, examples: list[Example]) -> None:
        parts = [NLU_HEADER, f"version: {RASA_VERSION}\n"]
        if not examples:
            parts.append("nlu: []\n")
        else:
            parts.append("nlu:\n")
            by_intent: dict[str, list[str]] = {}
            for example in examples:
                by_intent.setdefault(example.intent, []).append(example.text)
            for intent, texts in by_intent.items():
                parts.append(f"- intent: {intent}\n  examples: |\n")
                parts.append(_literal_block(texts, "    "))
        _atomic_write(self.root / NLU_FILE, "".join(parts))

    def _write_rules(self, intents: list[str]) -> None:
        parts = [RULES_HEADER, f"version: {RASA_VERSION}\n"]
        if not intents:
            parts.append("rules: []\n")
        else:
            parts.append("rules:\n")
            for intent in intents:
                parts.append(
                    f"- rule: answer the learned intent {intent}\n"
                    f"  steps:\n  - intent: {intent}\n  - action: {LEARNED_ACTION}\n"
                )
        _atomic_write(self.root / RULES_FILE, "".join(parts))

    def _write_domain(self, intents: list[str]) -> None:
        text = self._domain_text()
        lines = text.splitlines(keepends=True)
        begin, end = self._learned_block([line.rstrip("\n") for line in lines])
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        block = [f"{indent}- {intent}\n" for intent in intents]
        updated = "".join(lines[: begin + 1] + block + lines[end:])
        if updated != text:
            _atomic_write(self.root / DOMAIN_FILE, updated)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    examples: int
    new_intents: list[str]

    def as_dict(self) -> dict[str, Any]:
        """For the job's report."""
        return {"examples": self.examples, "new_intents": self.new_intents}
