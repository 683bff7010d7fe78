"""Child processes of a training job: output tail (progress bars kept as one line), timeout
and cancellation stop the whole process group."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from bot._exceptions import TrainingFailed
from bot.training._runner import rasa_env, run_process

ENV = dict(os.environ)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_output_tail_and_progress_lines(tmp_path: Path) -> None:
    script = (
        "printf 'Starting to train component X\\n';"
        "printf 'Epochs:  10%%|#  | 4/40\\rEpochs:  50%%|##  | 20/40';"
        "printf '\\rEpochs: 100%%|###| 40/40\\n';"
        "printf 'DeprecationWarning: noise\\n';"
        "printf 'Finished training component X\\n'; exit 3"
    )
    seen: list[str] = []

    async def on_line(line: str) -> None:
        seen.append(line)

    result = await run_process(
        ["sh", "-c", script], cwd=tmp_path, env=ENV, timeout_s=30, on_line=on_line
    )
    assert result.returncode == 3
    assert result.tail == [
        "Starting to train component X",
        "Epochs: 100%|###| 40/40",
        "Finished training component X",
    ]
    assert "DeprecationWarning: noise" not in seen
    assert len(seen) == 5


async def test_a_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    started = time.monotonic()
    with pytest.raises(TrainingFailed, match="did not finish within 1 s"):
        await run_process(["sh", "-c", script], cwd=tmp_path, env=ENV, timeout_s=1)
    assert time.monotonic() - started < 15
    child = int(pidfile.read_text())
    for _ in range(50):
        if not alive(child):
            break
        await asyncio.sleep(0.1)
    assert not alive(child)  # the grandchild went too


async def test_cancelling_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    task = asyncio.create_task(
        run_process(["sh", "-c", script], cwd=tmp_path, env=ENV, timeout_s=60)
    )
    for _ in range(50):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    child = int(pidfile.read_text())
    for _ in range(50):
        if not alive(child):
            break
        await asyncio.sleep(0.1)
    assert not alive(child)


def test_rasa_gets_our_components_on_its_path(tmp_path: Path) -> None:
    env = rasa_env(tmp_path)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path)
    assert env["RASA_TELEMETRY_ENABLED"] == "false"
    assert env["PYTHONHASHSEED"] == "0"
