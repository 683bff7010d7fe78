"""``python -m bot training``: the same workflow from a terminal, as an admin only."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot._cli import main
from bot.training import TrainingSettings
from tests.training.helpers import TrackerRows, write_sqlite_tracker

KM = "សំបុត្រកំណើតកូន សូមសុំនៅសាលាឃុំ/សង្កាត់ ដោយឥតគិតថ្លៃ។"
EN = "Ask for a birth certificate at the commune/sangkat office; it is free."
BOSS = "ថៅកែកាត់លុយខែខ្ញុំបង់បេឡា តែអត់ដែលឃើញកាតសោះ"


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    sessions: object,
    training_settings: TrainingSettings,
) -> TrainingSettings:
    s = training_settings
    for name, value in {
        "GATEWAY_DATABASE_URL": database_url,
        "TRAINING_WORKSPACE": str(s.workspace),
        "TRAINING_REGISTRY_DIR": str(s.registry_dir),
        "TRAINING_ACTIVE_FILE": str(s.active_file),
        "SP4ALL_MODEL": str(s.bootstrap_model),
        "TRAINING_TRACKER_DB_URL": s.tracker_db_url,
        "GATEWAY_LOG_JSON": "0",
    }.items():
        monkeypatch.setenv(name, value)
    return s


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["training", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_review_annotate_and_audit_from_the_terminal(
    cli_env: TrainingSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import time

    events = TrackerRows()
    events.user("telegram:1", BOSS, time.time() - 5, "report_problem", 0.5)
    events.action("telegram:1", "action_handoff", time.time() - 4)
    asyncio.run(write_sqlite_tracker(Path(cli_env.tracker_db_url.split(":///", 1)[1]), events))
    code, out = run(capsys, "--as", "dara.admin", "review")
    assert code == 0
    assert "1 conv   1 msg  handoff,low_confidence" in out
    assert BOSS in out

    code, out = run(capsys, "--as", "dara.admin", "annotate", "--intent", "ask_nssf", BOSS)
    assert (code, out.strip()) == (0, f"annotated: {BOSS} -> ask_nssf")
    code, out = run(capsys, "--as", "dara.admin", "review")
    assert code == 0
    assert BOSS not in out

    code, out = run(
        capsys, "--as", "dara.admin", "intent", "ask_birth_certificate", "--km", KM, "--en", ""
    )
    assert code == 1
    assert "needs its answer in both Khmer and English" in out
    code, out = run(
        capsys, "--as", "dara.admin", "intent", "ask_birth_certificate", "--km", KM, "--en", EN
    )
    assert code == 0
    code, out = run(
        capsys,
        "--as",
        "dara.admin",
        "annotate",
        "--intent",
        "ask_birth_certificate",
        "សុំសំបុត្រកំណើតកូននៅណា",
        "birth certificate where",
    )
    assert code == 0
    assert out.count("-> ask_birth_certificate") == 2

    code, out = run(capsys, "--as", "dara.admin", "annotations")
    assert code == 0
    assert len(out.strip().splitlines()) == 3
    code, out = run(capsys, "--as", "dara.admin", "audit")
    assert code == 0
    actions = [line.split()[3] for line in out.strip().splitlines()]
    assert actions == ["annotate", "annotate", "define_intent", "annotate"]


def test_models_and_rollback_without_history(
    cli_env: TrainingSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "--as", "dara.admin", "models")
    assert code == 0
    assert "active" in out
    assert str(cli_env.bootstrap_model) in out
    code, out = run(capsys, "--as", "dara.admin", "rollback")
    assert code == 1
    assert "no earlier model" in out


@pytest.mark.parametrize(
    ("user", "message"),
    [("sokha.agent", "sokha.agent is not an admin"), ("nobody", "no active console user")],
)
def test_only_admins(
    cli_env: TrainingSettings, capsys: pytest.CaptureFixture[str], user: str, message: str
) -> None:
    for command in (["review"], ["annotate", "--spam", "x"], ["train"], ["rollback"]):
        code, out = run(capsys, "--as", user, *command)
        assert code == 1
        assert message in out
