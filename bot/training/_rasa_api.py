"""Loading a model into running Rasa instances (``PUT /model``), one instance at a time.

Rasa 3.6 (rasa/server.py, ``load_model``) builds the new agent inside its request handler:
``Agent.load_model`` is synchronous, so the instance's event loop is blocked while the model
loads (tens of seconds on a loaded 2-core machine) and requests to that instance wait; none
fails, the old model answers until the swap. Loading the instances one after the other keeps
the others answering. If one instance fails, those already switched go back to the previous
model, so every instance always runs the same model.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from http import HTTPStatus
from pathlib import Path
from typing import Any

import aiohttp

from .._exceptions import ActivationFailed

__all__ = ["file_sha256", "load_everywhere", "read_active_file", "status", "write_active_file"]

MODEL_PATH = "/model"
STATUS_PATH = "/status"
STATUS_TIMEOUT_S = 10.0
HASH_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of a model file (identifies a model in the registry and the cache)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_active_file(path: Path) -> Path | None:
    """The model named by models/ACTIVE, if the file exists and names an existing model."""
    try:
        named = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not named:
        return None
    model = Path(named)
    if not model.is_absolute():
        model = (path.parent.parent / model).resolve()
    return model if model.is_file() else None


def write_active_file(path: Path, model: Path) -> None:
    """Record the live model for the next start (scripts/supervise.py reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ACTIVE.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"{model.resolve()}\n")
    os.replace(tmp, path)


def _params(token: str) -> dict[str, str]:
    return {"token": token} if token else {}


async def status(http: aiohttp.ClientSession, url: str, token: str = "") -> dict[str, Any]:
    """GET /status of one instance (model_file is the loaded model's file name)."""
    async with http.get(
        url + STATUS_PATH,
        params=_params(token),
        timeout=aiohttp.ClientTimeout(total=STATUS_TIMEOUT_S),
    ) as response:
        if response.status != HTTPStatus.OK:
            raise ActivationFailed(f"{url} answered HTTP {response.status} to {STATUS_PATH}")
        body: dict[str, Any] = await response.json(content_type=None)
        return body


async def _load(
    http: aiohttp.ClientSession, url: str, model: Path, token: str, timeout_s: float
) -> None:
    try:
        async with http.put(
            url + MODEL_PATH,
            json={"model_file": str(model)},  # absolute: Rasa runs elsewhere
            params=_params(token),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            if response.status != HTTPStatus.NO_CONTENT:
                detail = (await response.text())[:300]
                raise ActivationFailed(
                    f"{url} refused {model.name}: HTTP {response.status} {detail}"
                )
        loaded = (await status(http, url, token)).get("model_file")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ActivationFailed(f"{url} could not load {model.name}: {type(exc).__name__}") from exc
    if loaded != model.name:
        raise ActivationFailed(f"{url} reports {loaded!r} after loading {model.name}")


async def load_everywhere(
    http: aiohttp.ClientSession,
    urls: tuple[str, ...],
    model: Path,
    *,
    previous: Path | None,
    token: str = "",
    timeout_s: float,
) -> None:
    """Load ``model`` into every instance in turn; on failure put ``previous`` back."""
    switched: list[str] = []
    for url in urls:
        try:
            await _load(http, url, model, token, timeout_s)
        except ActivationFailed:
            if previous is not None:
                for done in switched:
                    try:
                        await _load(http, done, previous, token, timeout_s)
                    except ActivationFailed:
                        continue  # reported below: the instance may run the new model
            raise
        switched.append(url)
