"""Rasa's command-line tools as subprocesses: a timeout, cancellation, and a live log tail.

Rasa runs in its own environment (.venv-rasa, Python 3.10), so the tool never imports it:
``rasa data validate``, ``rasa train`` and scripts/evaluate_nlu.py run as child processes in
a session of their own, so a timeout or a cancel stops the whole process group (TensorFlow
starts threads and helpers that would otherwise outlive the parent).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._exceptions import TrainingFailed

__all__ = ["ProcessResult", "rasa_env", "run_process"]

READ_CHUNK = 4096
TAIL_LINES = 40
STOP_GRACE_S = 10.0
# Noise every Rasa command prints (Python deprecations of its dependencies).
# (Indented lines are the source lines Python prints under a warning.)
_NOISE = re.compile(r"Deprecat|declare_namespace|pkg_resources|^\s*$|^\s{2,}\S|setParseAction")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_WARNING_PREFIX = re.compile(r"^\S+\.py:\d+: ")  # "/…/rasa/shared/utils/io.py:100: "
_PROGRESS = re.compile(r"^([^:|]{1,60}):\s+\d+%\|")  # tqdm: "Epochs:  45%|####  | 18/40"

LineHandler = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ProcessResult:
    """How a child process ended, and the last lines it printed."""

    returncode: int
    tail: list[str]
    seconds: float


def rasa_env(code_root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for Rasa's tools: our components importable, quiet, reproducible."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env.update(
        {
            "PYTHONPATH": f"{code_root}{os.pathsep}{path}" if path else str(code_root),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "RASA_TELEMETRY_ENABLED": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONHASHSEED": "0",  # as the Makefile: the same data trains the same model
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
        }
    )
    env.update(extra or {})
    return env


class _Tail:
    """The last lines of output, a progress bar kept as one line that updates."""

    def __init__(self, size: int) -> None:
        self.lines: deque[str] = deque(maxlen=size)

    def add(self, raw: str) -> str | None:
        """The cleaned line if it is worth showing (then kept), None for noise."""
        line = _WARNING_PREFIX.sub("", _ANSI.sub("", raw)).rstrip()
        if _NOISE.search(line):
            return None
        bar = _PROGRESS.match(line)
        if bar and self.lines:
            last = _PROGRESS.match(self.lines[-1])
            if last and last.group(1) == bar.group(1):
                self.lines[-1] = line
                return line
        self.lines.append(line)
        return line


def _stop(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)


async def _reap(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the group, SIGKILL after a grace period; always waits for the child."""
    _stop(process)
    try:
        await asyncio.wait_for(process.wait(), STOP_GRACE_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


async def run_process(
    cmd: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    on_line: LineHandler | None = None,
    tail_lines: int = TAIL_LINES,
) -> ProcessResult:
    """Run ``cmd`` to its end; TrainingFailed on timeout; cancelling the task kills it."""
    started = time.monotonic()
    tail = _Tail(tail_lines)
    try:
        process = await asyncio.create_subprocess_exec(
            *cmd,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise TrainingFailed(f"cannot start {cmd[0]}: {exc}") from exc
    stdout = process.stdout
    if stdout is None:  # never: PIPE was asked for
        raise TrainingFailed(f"no output stream from {cmd[0]}")

    async def emit(raw: str) -> None:
        line = tail.add(raw)
        if line is not None and on_line is not None:
            await on_line(line)

    async def pump() -> None:
        pending = ""
        while chunk := await stdout.read(READ_CHUNK):
            pending += chunk.decode("utf-8", errors="replace")
            *lines, pending = re.split(r"[\r\n]", pending)
            for line in lines:
                await emit(line)
        if pending:
            await emit(pending)
        await process.wait()

    try:
        await asyncio.wait_for(pump(), timeout_s)
    except TimeoutError:
        await _reap(process)
        raise TrainingFailed(
            f"{Path(cmd[0]).name} {' '.join(cmd[1:3])} did not finish within {timeout_s:.0f} s"
        ) from None
    except BaseException:  # cancelled: stop the child before giving up
        await asyncio.shield(_reap(process))
        raise
    return ProcessResult(
        returncode=process.returncode if process.returncode is not None else -1,
        tail=list(tail.lines),
        seconds=time.monotonic() - started,
    )
