"""The preview of a draft: the assistant's own composer (actions/, Rasa's environment)
answers the standard questions about the programme from the draft and from the live
revision, in a short-lived process (``python -m actions.preview``)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from .._exceptions import Conflict

__all__ = ["PREVIEW_PYTHON_ENV", "QUESTIONS", "preview_answers"]

ROOT = Path(__file__).resolve().parents[2]
PREVIEW_PYTHON_ENV = "SP4ALL_PREVIEW_PYTHON"
DEFAULT_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
TIMEOUT_S = 60.0
QUESTIONS = ("what", "how_much", "more", "where", "source")
# Only what the composer needs: never the gateway's secrets, never a live poller.
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")


async def preview_answers(
    documents: dict[str, dict[str, Any]], service_id: str
) -> dict[str, dict[str, dict[str, str]]]:
    """{document name: {language: {question: answer}}}; Conflict if it cannot be made."""
    python = Path(os.environ.get(PREVIEW_PYTHON_ENV) or DEFAULT_PYTHON)
    request = json.dumps({"service": service_id, "documents": documents}, ensure_ascii=False)
    env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
    try:
        process = await asyncio.create_subprocess_exec(
            str(python),
            "-m",
            "actions.preview",
            cwd=ROOT,
            env={**env, "RASA_TELEMETRY_ENABLED": "false"},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        raise Conflict("the preview needs the assistant's environment (.venv-rasa)") from exc
    try:
        out, _ = await asyncio.wait_for(process.communicate(request.encode()), TIMEOUT_S)
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise Conflict("the preview took too long") from exc
    try:
        result = json.loads(out)
    except ValueError as exc:
        raise Conflict("the preview failed") from exc
    if "error" in result:
        raise Conflict(f"the assistant cannot use this draft: {result['error']}")
    return dict(result)
