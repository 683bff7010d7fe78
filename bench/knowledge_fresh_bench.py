"""How fast a published knowledge change reaches every action server (issue #14): two gateway
processes on one throwaway PostgreSQL database, two action servers each polling a different
gateway's /api/knowledge/v1/catalogue. A ministry editor drafts a new grade-10 (upper
secondary) scholarship amount with a source, the secretariat's reviewer publishes it (the
KnowledgeService workflow on the same database: the gateways see it as their live revision);
each action server's /webhook is asked the grade-10 amount until its answer states the new
amount. Seconds from the publish's commit to each server's first new answer; `--publishes`
rounds alternating two amounts, then one roll back to the seed revision.

    .venv-bot/bin/python bench/knowledge_fresh_bench.py --publishes 5 --poll-s 1.0

The last line is one JSON object. Every process is stopped and the database dropped at the
end, also on error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import Settings  # noqa: E402
from bot._cli_admin import admin_for  # noqa: E402
from bot.accounts import Viewer  # noqa: E402
from bot.knowledge import Actor, KnowledgeService, SourceInput  # noqa: E402
from bot.storage._db import create_engine  # noqa: E402

RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
PG_ADMIN_DSN = "postgresql://root@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
TRACKER = ROOT / "tests" / "actions" / "fixtures" / "ask_topic_en.json"
ACTION = "action_answer_topic"
SERVICE = "scholarship"
GRADE_10 = "cost_options.upper_secondary.amount"
AMOUNTS = (35000, 36000)
SEED_AMOUNT = 30000
READY_TIMEOUT_S = 180.0
ANSWER_TIMEOUT_S = 60.0
ASK_EVERY_S = 0.05
STOP_TIMEOUT_S = 15.0
PASSWORD = "bench-" + secrets.token_hex(8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def riel(amount: int) -> str:
    return f"{amount:,} riel"


class Bench:
    def __init__(self, poll_s: float, workdir: Path) -> None:
        self.poll_s = poll_s
        self.workdir = workdir
        self.database = f"kbfresh_{secrets.token_hex(4)}"
        self.db_url = f"postgresql+asyncpg://root@127.0.0.1:5432/{self.database}"
        self.gateway_ports = [free_port(), free_port()]
        self.action_ports = [free_port(), free_port()]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.created = False
        self.env = {
            **os.environ,
            "GATEWAY_DATABASE_URL": self.db_url,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_REDIS_URL": REDIS_URL,
            "GATEWAY_REDIS_PREFIX": self.database,
            "RASA_URLS": f"http://127.0.0.1:{free_port()}",  # no Rasa: not asked here
            "GATEWAY_LOG_JSON": "0",
        }

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        with (self.workdir / f"{name}.log").open("wb") as log:
            self.procs.append(
                subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            )

    async def wait_ready(self, urls: list[str]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = list(urls)
        while pending:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                tails = "\n".join(
                    f.name + ": " + f.read_text(errors="replace")[-1500:]
                    for f in sorted(self.workdir.glob("*.log"))
                )
                raise SystemExit(f"a process did not start:\n{tails}")
            pending = [u for u in pending if not await asyncio.to_thread(ready, u)]
            if pending:
                await asyncio.sleep(0.5)

    async def create_database(self) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{self.database}"')
            self.created = True
        finally:
            await conn.close()

    async def make_team(self) -> dict[str, int]:
        """A ministry editor and a secretariat reviewer (migrates the database once)."""
        settings = Settings.from_env({**self.env, "GATEWAY_AUTO_MIGRATE": "1"})
        ids = {}
        async with admin_for(settings) as admin:
            await admin.add_organisation("mosvy", "ក្រសួងសង្គមកិច្ច", kind="ministry")
            await admin.add_organisation("gs-nspc", "អគ្គលេខាធិការដ្ឋាន ក.ជ.គ.ស.", kind="secretariat")
            for username, name, org, role in (
                ("sophal", "សុផល", "mosvy", "ministry_editor"),
                ("chenda", "ចិន្តា", "gs-nspc", "secretariat_reviewer"),
            ):
                info = await admin.add_agent(username, name, org, role, PASSWORD)
                ids[role] = info.id
        return ids

    def start_processes(self) -> None:
        for i, port in enumerate(self.gateway_ports):
            env = {**self.env, "GATEWAY_PORT": str(port), "GATEWAY_AUTO_MIGRATE": "0"}
            self.spawn(f"gateway-{i + 1}", [sys.executable, "-m", "bot", "serve"], env)
        for i, port in enumerate(self.action_ports):
            catalogue = f"http://127.0.0.1:{self.gateway_ports[i]}/api/knowledge/v1/catalogue"
            env = {
                **os.environ,
                "SP4ALL_KNOWLEDGE_URL": catalogue,
                "SP4ALL_KNOWLEDGE_POLL_S": str(self.poll_s),
            }
            cmd = [str(RASA_PYTHON), "-m", "rasa_sdk", "--actions", "actions", "-p", str(port)]
            self.spawn(f"actions-{i + 1}", cmd, env)

    async def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                await asyncio.to_thread(p.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                await asyncio.to_thread(p.wait, STOP_TIMEOUT_S)
        if self.created:
            conn = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            finally:
                await conn.close()


def webhook_body() -> dict[str, Any]:
    tracker = json.loads(TRACKER.read_text(encoding="utf-8"))
    domain = yaml.load((ROOT / "domain.yml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    return {
        "next_action": ACTION,
        "sender_id": tracker["sender_id"],
        "tracker": tracker,
        "domain": domain,
        "version": "3.6.0",
    }


async def answer(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> str:
    async with http.post(url, json=body) as response:
        response.raise_for_status()
        data = await response.json()
    return "\n".join(str(r.get("text") or "") for r in data.get("responses", []))


async def first_answer_with(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], wanted: str, since: float
) -> float:
    """Seconds from `since` until the server's answer contains `wanted`."""
    deadline = since + ANSWER_TIMEOUT_S
    while time.monotonic() < deadline:
        if wanted in await answer(http, url, body):
            return time.monotonic() - since
        await asyncio.sleep(ASK_EVERY_S)
    raise TimeoutError(f"{url} did not answer {wanted!r} within {ANSWER_TIMEOUT_S:.0f} s")


async def publish(
    service: KnowledgeService, editor: Actor, reviewer: Actor, amount: int, today: str
) -> float:
    """Draft, submit and publish a new grade-10 amount; the monotonic time of the commit."""
    source = SourceInput(
        url="https://moeys.gov.kh/km/scholarship-2026",
        title="សេចក្តីជូនដំណឹងអំពីអាហារូបករណ៍ឆ្នាំ២០២៦",
        issuer="ក្រសួងអប់រំ យុវជន និងកីឡា",
        date=today,
        verified=today,
    )
    change = await service.start(editor, SERVICE)
    edit = {GRADE_10: {"value": str(amount), "unit": "riel", "period": "per_month"}}
    await service.save(editor, change, 1, edit, source)
    await service.submit(editor, change, "bench")
    await service.publish(reviewer, change, f"bench {amount}")
    return time.monotonic()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kbfresh-") as tmp:
        bench = Bench(args.poll_s, Path(tmp))
        engine = None
        try:
            await bench.create_database()
            ids = await bench.make_team()
            bench.start_processes()
            await bench.wait_ready(
                [f"http://127.0.0.1:{p}/healthz" for p in bench.gateway_ports]
                + [f"http://127.0.0.1:{p}/health" for p in bench.action_ports]
            )
            engine, sessions = create_engine(bench.db_url)
            service = KnowledgeService(sessions)
            seed = await service.live_etag()
            if seed is None:
                raise SystemExit("the gateways did not seed the knowledge base")
            editor = await service.actor(Viewer(ids["ministry_editor"], 0, "ministry_editor"))
            reviewer = await service.actor(
                Viewer(ids["secretariat_reviewer"], 0, "secretariat_reviewer")
            )
            today = dt.datetime.now(dt.timezone.utc).date().isoformat()
            urls = [f"http://127.0.0.1:{p}/webhook" for p in bench.action_ports]
            names = [f"actions-{i + 1}" for i in range(len(urls))]
            body = webhook_body()
            per_server: dict[str, list[float]] = {n: [] for n in names}
            timeout = aiohttp.ClientTimeout(total=10)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                for url in urls:  # both start from the seed
                    await first_answer_with(http, url, body, riel(SEED_AMOUNT), time.monotonic())
                for i in range(args.publishes):
                    amount = AMOUNTS[i % len(AMOUNTS)]
                    committed = await publish(service, editor, reviewer, amount, today)
                    took = await asyncio.gather(
                        *(first_answer_with(http, u, body, riel(amount), committed) for u in urls)
                    )
                    for name, seconds in zip(names, took, strict=True):
                        per_server[name].append(round(seconds, 3))
                    print(f"publish {i + 1}: {amount} riel -> {took}", file=sys.stderr)
                await service.rollback(reviewer, seed[0])
                rolled = time.monotonic()
                back = await asyncio.gather(
                    *(first_answer_with(http, u, body, riel(SEED_AMOUNT), rolled) for u in urls)
                )
            every = [s for times in per_server.values() for s in times]
            return {
                "gateways": len(bench.gateway_ports),
                "action_servers": len(urls),
                "backend": "postgresql",
                "poll_s": args.poll_s,
                "publishes": args.publishes,
                "median_s": round(statistics.median(every), 3) if every else None,
                "max_s": round(max(every), 3) if every else None,
                "per_server": {
                    n: {"seconds": t, "max_s": max(t) if t else None}
                    for n, t in per_server.items()
                },
                "rollback_s": round(max(back), 3),
            }
        finally:
            if engine is not None:
                await engine.dispose()
            with contextlib.suppress(Exception):
                await bench.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--publishes", type=int, default=5)
    parser.add_argument("--poll-s", type=float, default=1.0, help="SP4ALL_KNOWLEDGE_POLL_S")
    args = parser.parse_args()
    if args.publishes < 1:
        parser.error("--publishes must be at least 1")
    result = asyncio.run(run(args))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
