"""Helpers of the retraining tool's tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.storage._db import AgentRole
from bot.training import Actor

ZWSP = "\u200b"
REPO = Path(__file__).resolve().parents[2]
ADMIN = Actor("dara.admin", AgentRole.ADMIN)
AGENT = Actor("sokha.agent", AgentRole.AGENT)
SUPERVISOR = Actor("vibol.supervisor", AgentRole.SUPERVISOR)
# Rasa 3.6's SQLTrackerStore table (rasa/core/tracker_store.py, SQLEvent), as Rasa creates it.
EVENTS_DDL = (
    "CREATE TABLE events (id {pk}, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255)"
    " NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"
)


def copy_workspace(target: Path) -> Path:
    """The repository's Rasa files (config, domain, data, the learned answers) in ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.yml", "domain.yml"):
        shutil.copy2(REPO / name, target / name)
    shutil.copytree(REPO / "data", target / "data")
    (target / "knowledge").mkdir()
    shutil.copy2(REPO / "knowledge" / "learned_answers.yml", target / "knowledge")
    return target


@dataclass
class TrackerRows:
    """Events to write into a Rasa tracker table: user messages and actions."""

    rows: list[tuple[str, str, float, str | None, str | None, str]] = field(default_factory=list)

    def user(
        self,
        sender: str,
        text: str,
        at: float,
        intent: str,
        confidence: float,
        ranking: list[tuple[str, float]] | None = None,
    ) -> None:
        ranking = ranking or [(intent, confidence)]
        data = {
            "event": "user",
            "timestamp": at,
            "text": text,
            "parse_data": {
                "text": text,
                "intent": {"name": intent, "confidence": confidence},
                "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
                "entities": [],
            },
            "input_channel": sender.split(":")[0],
        }
        self.rows.append((sender, "user", at, intent, None, json.dumps(data, ensure_ascii=False)))

    def action(self, sender: str, name: str, at: float) -> None:
        data = {"event": "action", "timestamp": at, "name": name}
        self.rows.append((sender, "action", at, None, name, json.dumps(data)))


async def write_sqlite_tracker(path: Path, events: TrackerRows) -> None:
    """A tracker store file as Rasa's SQLite tracker store leaves it."""
    import aiosqlite

    async with aiosqlite.connect(path) as db:
        await db.execute(EVENTS_DDL.format(pk="INTEGER PRIMARY KEY AUTOINCREMENT"))
        await db.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name,"
            " data) VALUES (?, ?, ?, ?, ?, ?)",
            events.rows,
        )
        await db.commit()


async def write_pg_tracker(dsn: str, events: TrackerRows) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(EVENTS_DDL.format(pk="SERIAL PRIMARY KEY"))
        await conn.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name,"
            " data) VALUES ($1, $2, $3, $4, $5, $6)",
            events.rows,
        )
    finally:
        await conn.close()


class FakeModelApi:
    """Rasa's ``PUT /model`` and ``GET /status`` as Rasa 3.6 answers them (204; model_file
    is the loaded file's name). ``refuse`` makes it answer 500 like a model that fails."""

    def __init__(self) -> None:
        self.loaded = "sp4all.tar.gz"
        self.loads: list[str] = []
        self.refuse = False
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def put_model(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        path = Path(body["model_file"])
        if self.refuse or not await asyncio.to_thread(path.is_file):
            return web.json_response({"reason": "LoadingError"}, status=500)
        self.loads.append(str(path))
        self.loaded = path.name
        return web.Response(status=204)

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response({"model_file": self.loaded, "model_id": "x"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_put("/model", self.put_model)
        app.router.add_get("/status", self.status)
        return app
