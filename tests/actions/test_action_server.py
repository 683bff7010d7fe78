"""The action server serves exactly the domain's actions and refuses a broken knowledge base."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk.executor import ActionExecutor

REPO = Path(__file__).resolve().parents[2]


def test_the_server_registers_every_action_of_the_domain(domain: dict[str, Any]) -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    assert set(executor.actions) == set(domain["actions"])


def test_a_broken_knowledge_base_stops_the_server_at_start_up(tmp_path: Path) -> None:
    knowledge = REPO / "knowledge"
    data = yaml.load(
        (knowledge / "programmes.yml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader
    )
    data["topics"]["elderly_allowance"]["amounts"][0]["value"] = 100_000  # a guessed amount
    (tmp_path / "programmes.yml").write_text(
        yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True)
    )
    for name in ("messages.yml", "eligibility.yml"):
        (tmp_path / name).write_bytes((knowledge / name).read_bytes())
    (tmp_path / "gazetteer").symlink_to(knowledge / "gazetteer")
    result = subprocess.run(  # a fresh interpreter, as `rasa run actions` would import it
        [sys.executable, "-c", "import actions"],
        cwd=REPO,
        env={**os.environ, "SP4ALL_KNOWLEDGE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "KnowledgeError: programmes.yml: topics.elderly_allowance.amounts[0]" in result.stderr
