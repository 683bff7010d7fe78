"""Gateway overhead benchmark: the same conversations straight to Rasa and through Telegram.

N concurrent simulated users each send M messages, one after the other (a user waits for
the answer before writing again). Phase 1 posts them straight to Rasa's REST channel;
phase 2 posts them as Telegram updates to the gateway's webhook and waits until the fake
Bot API (in this process) has received every reply. Latency: request start -> last reply.
Every reply of phase 2 is compared with phase 1 (same model, same texts, fresh senders), so
lost, duplicated or reordered replies are counted exactly.

One round of 50 x 4 messages gives only 200 latencies a side, and p50/p99 then move by
+-10% from run to run on a quiet machine; `--rounds` (default 3) repeats both phases, in
alternating order, and pools the latencies.

    .venv-bot/bin/python bench/gateway_bench.py --users 50 --messages 4 --rounds 3
    (starts the action server and Rasa from models/sp4all.tar.gz unless --rasa-url is given)

`--processes 1,3` measures something else: the gateway as 1 and as 3 real processes
(`python -m bot serve --reuse-port` on one port, each group on its own throwaway PostgreSQL
database, Redis for the shared pace) in front of the same Rasa, the groups alternating
round by round as above. It prints p50/p99/throughput side by side, the ratios of the
second group to the first, and a final JSON line (also bench/out/gateway_processes.json):

    .venv-bot/bin/python bench/gateway_bench.py --processes 1,3 --users 50 --messages 4 --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import Settings, create_app  # noqa: E402
from bot.storage._db import create_engine  # noqa: E402
from bot.storage._migrate import migrate  # noqa: E402
from tests.bot.gateway_fakes import (  # noqa: E402
    TG_SECRET,
    TOKEN,
    FakeTelegram,
    listening_pids,
    start,
)

RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
# SP4ALL_MODEL points at another trained model (e.g. while models/ is being retrained).
MODEL = Path(os.environ.get("SP4ALL_MODEL") or ROOT / "models" / "sp4all.tar.gz")
OUT = ROOT / "bench" / "out" / "gateway_bench.json"
OUT_PROCESSES = ROOT / "bench" / "out" / "gateway_processes.json"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
MESSAGES = ["សួស្តី", "Hello", "What is the equity card?", "តើប័ណ្ណសមធម៌ជាអ្វី?", "thank you", "អរគុណ"]
ANSWER_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 240.0
TARGET_P50 = 0.10
TARGET_P99 = 0.20
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Diagnostics only: CPU seconds spent per phase by this process (clients, fake Bot API
    and the in-process gateway) and by Rasa and the action server, when their pids are known.
    On a 2-core machine every CPU second the gateway spends is taken from Rasa."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        readings = {"bench_process": time.process_time()}
        for name, pid in self.pids.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            readings[name] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime+stime
        return readings

    def start(self) -> None:
        self._start = self._now()

    def stop(self, messages: int) -> dict[str, float]:
        """CPU milliseconds per message for each process since ``start``."""
        end = self._now()
        return {
            f"{name}_cpu_ms_per_msg": (end[name] - self._start[name]) * 1000 / max(1, messages)
            for name in end
            if name in self._start
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def visible(replies: list[dict[str, Any]]) -> list[str]:
    """What a Telegram user would see for these Rasa replies (one message per reply)."""
    shown = []
    for reply in replies:
        text = str(reply.get("text") or "")
        if reply.get("image"):
            text = f"{text}\n{reply['image']}".strip()
        if text or reply.get("buttons"):
            shown.append(html.escape(text, quote=False) if text else "\u2060")
    return shown


class RecordingTelegram(FakeTelegram):
    """Fake Bot API that wakes the chat's waiting simulated user on its sendMessage.

    One event per chat, not one condition for all: waking all 50 users on every message
    cost this process about a millisecond per message, CPU taken from Rasa in the gateway
    phase only (the fake platform is not part of the gateway's cost).
    """

    def __init__(self) -> None:
        super().__init__()
        self.by_chat: dict[int, list[tuple[float, str]]] = defaultdict(list)
        self.arrived: dict[int, asyncio.Event] = defaultdict(asyncio.Event)

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        result = await super()._result(method, params)
        if method == "sendMessage":
            chat = int(params["chat_id"])
            self.by_chat[chat].append((time.perf_counter(), params["text"]))
            self.arrived[chat].set()
        return result

    async def wait_for_messages(self, chat: int, count: int) -> bool:
        """Until ``chat`` has ``count`` messages; False after ANSWER_TIMEOUT_S."""
        deadline = time.perf_counter() + ANSWER_TIMEOUT_S
        while len(self.by_chat[chat]) < count:
            event = self.arrived[chat]
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), deadline - time.perf_counter())
            except TimeoutError:
                return False
        return True


def summary(latencies: list[float], wall_s: float) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]
    return {
        "n": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": p99 * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
        "throughput_msg_s": len(ordered) / wall_s,
    }


def session(users: int) -> aiohttp.ClientSession:
    """The simulated users' client (aiohttp: httpx's pool would eat the CPU Rasa needs)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=users + 10),
        timeout=aiohttp.ClientTimeout(total=ANSWER_TIMEOUT_S),
    )


async def direct_phase(
    rasa_url: str, users: int, messages: int, run: str
) -> tuple[list[float], dict[int, list[list[str]]], float]:
    expected: dict[int, list[list[str]]] = {}
    latencies: list[float] = []

    async def user(u: int, client: aiohttp.ClientSession) -> None:
        expected[u] = []
        for i in range(messages):
            body = {
                "sender": f"bench-{run}-direct-{u}",
                "message": MESSAGES[(u + i) % len(MESSAGES)],
                "input_channel": "telegram",
                "metadata": {},
            }
            t0 = time.perf_counter()
            async with client.post(f"{rasa_url}/webhooks/rest/webhook", json=body) as r:
                r.raise_for_status()
                replies = await r.json()
            latencies.append(time.perf_counter() - t0)
            expected[u].append(visible(replies))

    async with session(users) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(user(u, client) for u in range(users)))
        return latencies, expected, time.perf_counter() - t0


async def gateway_phase(
    gateway_url: str,
    fake: RecordingTelegram,
    users: int,
    messages: int,
    expected: dict[int, list[list[str]]],
    base_chat: int,
    round_index: int = 0,
) -> tuple[list[float], float]:
    latencies: list[float] = []
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}

    async def user(u: int, client: aiohttp.ClientSession) -> None:
        chat = base_chat + u
        for i in range(messages):
            want = len(fake.by_chat[chat]) + max(1, len(expected[u][i]))
            update = {
                "update_id": round_index * UPDATES_PER_ROUND + u * 1000 + i,  # all unique
                "message": {
                    "message_id": i + 1,
                    "date": int(time.time()),
                    "chat": {"id": chat, "type": "private"},
                    "text": MESSAGES[(u + i) % len(MESSAGES)],
                },
            }

            t0 = time.perf_counter()
            async with client.post(
                f"{gateway_url}/telegram/webhook", json=update, headers=headers
            ) as r:
                r.raise_for_status()
            if not await fake.wait_for_messages(chat, want):
                return  # counted as lost below
            latencies.append(fake.by_chat[chat][want - 1][0] - t0)

    async with session(users) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(user(u, client) for u in range(users)))
        wall = time.perf_counter() - t0
    await asyncio.sleep(1.0)  # let any duplicate arrive before counting
    return latencies, wall


DIFF_EXAMPLES = 3  # diagnostics: a few differing conversations go into the JSON output
UPDATES_PER_ROUND = 10**7  # update ids of each round are unique, or the gateway drops them


def compare(
    fake: RecordingTelegram, expected: dict[int, list[list[str]]], base_chat: int
) -> dict[str, Any]:
    lost = duplicated = reordered = 0
    examples: list[dict[str, Any]] = []
    for u, turns in expected.items():
        want = [t for turn in turns for t in (turn or ["<no-reply notice>"])]
        got = [t for _, t in fake.by_chat[base_chat + u]]
        if any(not turn for turn in turns):  # an empty Rasa answer gets the gateway's notice
            got = [g if g in want else "<no-reply notice>" for g in got]
        lost += max(0, len(want) - len(got))
        duplicated += max(0, len(got) - len(want))
        if len(got) == len(want) and got != want:
            reordered += 1
        if got != want and len(examples) < DIFF_EXAMPLES:
            examples.append({"user": u, "direct": want, "gateway": got})
    return {
        "lost": lost,
        "duplicated": duplicated,
        "users_with_different_replies": reordered,
        "different_examples": examples,
    }


def start_rasa(log_dir: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    actions_port, rasa_port = free_port(), free_port()
    endpoints = log_dir / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{actions_port}/webhook"\n')
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false"}
    procs = [
        subprocess.Popen(
            [str(RASA), "run", "actions", "--actions", "actions", "--port", str(actions_port)],
            cwd=ROOT,
            env=env,
            stdout=(log_dir / "actions.log").open("wb"),
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                str(RASA),
                "run",
                "--enable-api",
                "--model",
                str(MODEL),
                "--endpoints",
                str(endpoints),
                "--port",
                str(rasa_port),
            ],
            cwd=ROOT,
            env=env,
            stdout=(log_dir / "rasa.log").open("wb"),
            stderr=subprocess.STDOUT,
        ),
    ]
    deadline = time.monotonic() + READY_TIMEOUT_S
    checks = [f"http://127.0.0.1:{actions_port}/health", f"http://127.0.0.1:{rasa_port}/status"]
    while True:
        try:
            if all(httpx.get(c, timeout=2).status_code == 200 for c in checks):
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            for p in procs:
                p.kill()
            raise SystemExit(f"Rasa did not start; see {log_dir}")
        time.sleep(1)
    return f"http://127.0.0.1:{rasa_port}", procs


async def run(
    args: argparse.Namespace, rasa_url: str, workdir: Path, pids: dict[str, int]
) -> dict[str, Any]:
    meter = CpuMeter(pids)
    run_id = secrets.token_hex(3)
    fake = RecordingTelegram()
    fake_server = await start(fake)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'gateway.db'}",
        rasa_urls=(rasa_url,),
        telegram_token=TOKEN,
        telegram_secret=TG_SECRET,
        telegram_api_url=fake.base_url,
        rasa_timeout_s=ANSWER_TIMEOUT_S,
        gazetteer_path=workdir / "none.yml",
        log_json=False,
        **({"rasa_max_in_flight": args.max_in_flight} if args.max_in_flight else {}),
        **(
            {"delivery_telegram_per_s": args.telegram_per_s}
            if args.telegram_per_s is not None
            else {}
        ),
    )
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    d_lat: list[float] = []
    g_lat: list[float] = []
    d_wall = g_wall = 0.0
    d_cpus: list[dict[str, float]] = []
    g_cpus: list[dict[str, float]] = []
    checks: list[dict[str, Any]] = []
    expected: dict[int, list[list[str]]] = {}

    async def measure_direct(r: int) -> None:
        nonlocal d_wall, expected
        meter.start()
        run = f"{run_id}{r}"
        lat, replies, wall = await direct_phase(rasa_url, args.users, args.messages, run)
        d_cpus.append(meter.stop(len(lat)))
        d_lat.extend(lat)
        d_wall += wall
        expected = expected or replies  # same model, texts and fresh senders: same replies

    async def measure_gateway(r: int) -> None:
        nonlocal g_wall
        # fresh chat ids every round: Rasa's cost grows with a conversation's history
        base_chat = secrets.randbelow(10**9) * 1000
        meter.start()
        lat, wall = await gateway_phase(
            f"http://127.0.0.1:{port}", fake, args.users, args.messages, expected, base_chat, r
        )
        g_cpus.append(meter.stop(len(lat)))
        g_lat.extend(lat)
        g_wall += wall
        checks.append(compare(fake, expected, base_chat))

    try:
        await direct_phase(rasa_url, 5, 2, run_id + "warm")  # warm-up, not measured
        for r in range(args.rounds):
            # the order alternates, so a machine that slows down or speeds up during the
            # run weighs on both sides alike
            if r % 2 == 0:
                await measure_direct(r)
                await measure_gateway(r)
            else:
                await measure_gateway(r)
                await measure_direct(r)
    finally:
        await runner.cleanup()
        await fake_server.close()

    def mean_cpu(readings: list[dict[str, float]]) -> dict[str, float]:
        keys = set().union(*readings)
        return {k: statistics.fmean(c.get(k, 0.0) for c in readings) for k in keys}

    direct = {**summary(d_lat, d_wall), **mean_cpu(d_cpus)}
    through = {**summary(g_lat, g_wall), **mean_cpu(g_cpus)}
    result = {
        "users": args.users,
        "messages_per_user": args.messages,
        "rounds": args.rounds,
        "direct_rasa": direct,
        "through_gateway": through,
        "overhead_p50": through["p50_ms"] / direct["p50_ms"] - 1,
        "overhead_p99": through["p99_ms"] / direct["p99_ms"] - 1,
        "lost": sum(c["lost"] for c in checks),
        "duplicated": sum(c["duplicated"] for c in checks),
        "users_with_different_replies": sum(c["users_with_different_replies"] for c in checks),
        "different_examples": [e for c in checks for e in c["different_examples"]][:DIFF_EXAMPLES],
    }
    result["targets_met"] = (
        result["overhead_p50"] <= TARGET_P50
        and result["overhead_p99"] <= TARGET_P99
        and result["lost"] == 0
        and result["duplicated"] == 0
    )
    return result


class GatewayGroup:
    """``count`` gateway processes on one port and one fresh PostgreSQL database."""

    def __init__(self, count: int, rasa_url: str, telegram_url: str, workdir: Path) -> None:
        self.count = count
        self.port = free_port()
        self.database = f"gwbench_{count}p_{secrets.token_hex(4)}"
        self.env = {
            **os.environ,
            "GATEWAY_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.database}",
            "GATEWAY_PORT": str(self.port),
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_REDIS_URL": REDIS_URL,
            "GATEWAY_REDIS_PREFIX": self.database,
            "RASA_URLS": rasa_url,
            "RASA_TIMEOUT": str(ANSWER_TIMEOUT_S),
            "TELEGRAM_TOKEN": TOKEN,
            "TELEGRAM_SECRET": TG_SECRET,
            "TELEGRAM_API_URL": telegram_url,
            "GATEWAY_GAZETTEER": str(workdir / "none.yml"),
            "GATEWAY_LOG_JSON": "0",
        }
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()
        engine, _ = create_engine(self.env["GATEWAY_DATABASE_URL"])
        try:  # once, before the processes: they do not race to migrate
            await migrate(engine)
        finally:
            await engine.dispose()
        self.procs = [self._spawn(i) for i in range(self.count)]
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not {p.pid for p in self.procs} <= listening_pids(self.port):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                logs = sorted(self.workdir.glob(f"gateway-{self.count}p-*.log"))
                tail = "\n".join(f.read_text(errors="replace")[-2000:] for f in logs)
                raise SystemExit(f"gateways did not start:\n{tail}")
            await asyncio.sleep(0.3)

    def _spawn(self, i: int) -> subprocess.Popen[bytes]:
        with (self.workdir / f"gateway-{self.count}p-{i}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--reuse-port"],
                cwd=ROOT,
                env={**self.env, "GATEWAY_AUTO_MIGRATE": "0"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=30)
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await conn.close()


async def run_processes(
    args: argparse.Namespace, rasa_url: str, workdir: Path, counts: list[int]
) -> dict[str, Any]:
    """The same conversations through groups of gateway processes, alternating rounds."""
    run_id = secrets.token_hex(3)
    fake = RecordingTelegram()
    fake_server = await start(fake)
    groups = [GatewayGroup(n, rasa_url, fake.base_url, workdir) for n in counts]
    latencies: dict[int, list[float]] = {n: [] for n in counts}
    walls: dict[int, float] = dict.fromkeys(counts, 0.0)
    checks: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    try:
        for group in groups:
            await group.start()
        await direct_phase(rasa_url, 5, 2, run_id + "warm")  # warm-up, not measured
        _, expected, _ = await direct_phase(rasa_url, args.users, args.messages, run_id)
        for r in range(args.rounds):
            # alternate which group goes first, so a drift of the machine weighs on both
            for group in groups if r % 2 == 0 else list(reversed(groups)):
                base_chat = secrets.randbelow(10**9) * 1000
                index = r * len(groups) + groups.index(group)
                lat, wall = await gateway_phase(
                    group.url, fake, args.users, args.messages, expected, base_chat, index
                )
                latencies[group.count].extend(lat)
                walls[group.count] += wall
                checks[group.count].append(compare(fake, expected, base_chat))
    finally:
        for group in groups:
            with contextlib.suppress(Exception):
                await group.stop()
        await fake_server.close()
    first, *_ = counts
    results: dict[str, Any] = {
        "mode": "processes",
        "users": args.users,
        "messages_per_user": args.messages,
        "rounds": args.rounds,
    }
    for n in counts:
        results[f"{n}_processes"] = {
            **summary(latencies[n], walls[n]),
            "lost": sum(c["lost"] for c in checks[n]),
            "duplicated": sum(c["duplicated"] for c in checks[n]),
        }
    base = results[f"{first}_processes"]
    for n in counts[1:]:
        other = results[f"{n}_processes"]
        results[f"ratio_{n}_to_{first}"] = {
            "p50": other["p50_ms"] / base["p50_ms"],
            "p99": other["p99_ms"] / base["p99_ms"],
            "throughput": other["throughput_msg_s"] / base["throughput_msg_s"],
        }
    return results


def print_processes(result: dict[str, Any], counts: list[int]) -> None:
    print(f"{'':16}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'msg/s':>10}{'n':>6}{'lost':>6}")
    for n in counts:
        s = result[f"{n}_processes"]
        print(
            f"{f'{n} process(es)':16}{s['p50_ms']:10.1f}{s['p99_ms']:10.1f}{s['mean_ms']:10.1f}"
            f"{s['throughput_msg_s']:10.1f}{s['n']:6d}{s['lost'] + s['duplicated']:6d}"
        )
    for key, ratio in result.items():
        if key.startswith("ratio_"):
            print(
                f"{key}: p50 x{ratio['p50']:.2f}, p99 x{ratio['p99']:.2f}, "
                f"throughput x{ratio['throughput']:.2f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=4)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="direct and gateway phases, alternating; latencies are pooled across rounds",
    )
    parser.add_argument("--rasa-url", default=None, help="use a running Rasa instead")
    parser.add_argument(
        "--max-in-flight", type=int, default=None, help="RASA_MAX_IN_FLIGHT (default: settings')"
    )
    parser.add_argument(
        "--rasa-pid", type=int, default=None, help="with --rasa-url: report its CPU per message"
    )
    parser.add_argument(
        "--actions-pid", type=int, default=None, help="with --rasa-url: the action server's"
    )
    parser.add_argument(
        "--processes",
        default=None,
        help="e.g. 1,3: compare gateway process counts (PostgreSQL, Redis) instead",
    )
    parser.add_argument(
        "--telegram-per-s",
        type=float,
        default=None,
        help="DELIVERY_TELEGRAM_PER_S (default: settings' 30, Telegram's limit; 0 = unpaced):"
        " at ~1.5 replies a message the pace, not the gateway, can bound a run",
    )
    args = parser.parse_args()
    if args.telegram_per_s is not None:  # the --processes groups read it from the environment
        os.environ["DELIVERY_TELEGRAM_PER_S"] = str(args.telegram_per_s)
    if args.processes:
        return main_processes(args, [int(n) for n in args.processes.split(",")])
    with tempfile.TemporaryDirectory(prefix="gwbench-") as tmp:
        workdir = Path(tmp)
        procs: list[subprocess.Popen[bytes]] = []
        rasa_url = args.rasa_url
        pids = {"rasa": args.rasa_pid, "actions": args.actions_pid}
        if rasa_url is None:
            rasa_url, procs = start_rasa(workdir)
            pids = {"actions": procs[0].pid, "rasa": procs[1].pid}
        try:
            result = asyncio.run(
                run(args, rasa_url, workdir, {k: v for k, v in pids.items() if v is not None})
            )
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
    d, g = result["direct_rasa"], result["through_gateway"]
    print(f"{'':16}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'msg/s':>10}{'n':>6}")
    for name, s in (("Rasa REST", d), ("via gateway", g)):
        print(
            f"{name:16}{s['p50_ms']:10.1f}{s['p99_ms']:10.1f}{s['mean_ms']:10.1f}"
            f"{s['throughput_msg_s']:10.1f}{s['n']:6d}"
        )
    print(
        f"overhead p50 {result['overhead_p50']:+.1%} (target <= +10%), "
        f"p99 {result['overhead_p99']:+.1%} (target <= +20%); lost {result['lost']}, "
        f"duplicated {result['duplicated']}, users with different replies "
        f"{result['users_with_different_replies']}"
    )
    cpu = sorted({k for s in (d, g) for k in s if k.endswith("_cpu_ms_per_msg")})
    if cpu:
        print(f"{'CPU ms per message':34}{'direct':>12}{'gateway':>10}")
    for key in cpu:  # diagnostics: where the CPU went (2 cores are shared by all of it)
        print(f"  {key:34}{d.get(key, 0.0):10.1f}{g.get(key, 0.0):10.1f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    return 0 if result["targets_met"] else 1


def main_processes(args: argparse.Namespace, counts: list[int]) -> int:
    """``--processes``: the same Rasa behind groups of gateway processes."""
    with tempfile.TemporaryDirectory(prefix="gwbench-") as tmp:
        workdir = Path(tmp)
        procs: list[subprocess.Popen[bytes]] = []
        rasa_url = args.rasa_url
        if rasa_url is None:
            rasa_url, procs = start_rasa(workdir)
        try:
            result = asyncio.run(run_processes(args, rasa_url, workdir, counts))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
    print_processes(result, counts)
    OUT_PROCESSES.parent.mkdir(parents=True, exist_ok=True)
    OUT_PROCESSES.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    faults = sum(
        result[f"{n}_processes"]["lost"] + result[f"{n}_processes"]["duplicated"] for n in counts
    )
    return 0 if faults == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
