"""A broadcast to N subscribers through the delivery engine's bulk path, against a fake
Telegram Bot API (a separate process that, like Telegram, takes no idempotency key: a
message sent twice arrives twice), on the local PostgreSQL and Redis.

    .venv-bot/bin/python bench/broadcast_bench.py --subscribers 100000 [--limit 30]
        [--workers 3] [--paced-seconds 20]

1. N subscribers are written; a broadcast to all of them is approved and planned
   (``plan_s``: approval to every recipient and outbound row written).
2. Unthrottled: one worker process sends it with no limit; it is killed with SIGKILL
   about 40 % through and a new worker started; ``unthrottled_per_s`` is what the first
   worker delivered per second before the kill. Every recipient must reach the fake once.
3. Paced: ``--workers`` worker processes share one Redis window of ``--limit``/s; a second
   broadcast of about limit x paced-seconds recipients; one worker is killed mid-run and
   restarted. ``sustained_per_s`` over the run, ``max_window_per_s`` the most arrivals at
   the fake in any one-second window.
4. Recordings: one paced worker sends an announcement with a recording (each recipient a
   text, then a voice note a second later, both within the limit): ``recording_one_worker_
   msgs_per_s`` is both kinds together per second, ``recording_max_window_per_s`` the
   most in any one-second window; ``recording_lost`` and ``recording_duplicates`` count
   texts and recordings.

``lost`` counts recipients the fake never received; ``duplicates`` recipients it received
more than once; ``unconfirmed`` the announcements in flight at a kill (not sent again, by
the send journal: see bot/delivery/_bulk.py), and ``unconfirmed_received`` how many of
those the fake had in fact received. Run it on a quiet machine: the arrival windows are
taken at the fake, and a starved fake process shifts them by tens of milliseconds.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot._metrics import Metrics  # noqa: E402
from bot.delivery._bulk import (  # noqa: E402
    SEND_CONNECTIONS,
    SUBSCRIBERS,
    BulkDelivery,
    LocalBulkLimiter,
    RedisBulkLimiter,
    RedisSendJournal,
)
from bot.dissemination import DisseminationService, Person, Topic  # noqa: E402
from bot.dissemination._senders import TelegramBulkSender  # noqa: E402
from bot.storage._db import create_engine  # noqa: E402
from bot.storage._migrate import migrate  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
TOKEN = "123456:BENCH"  # noqa: S105  (the fake's)
LEASE_S = 3.0
WARM_UP_S = 4.0  # a worker process's start-up (imports, connections)
AUTHOR = Person(agent_id=1, role="ministry_editor", org_kind="ministry")
APPROVER = Person(agent_id=2, role="secretariat_reviewer", org_kind="secretariat")
KM = "ការបើកប្រាក់ឧបត្ថម្ភសម្រាប់សិស្សថ្នាក់ទី៥ នឹងធ្វើនៅថ្ងៃទី១៥ ខែមករា"
EN = "Grade-5 scholarship payments will be made on 15 January"
PUBLIC_URL = "https://sp4all.bench.invalid"  # where the platform would fetch recordings
# an Ogg page whose first packet is OpusHead: the announcement's recording, a voice note
OGG_OPUS = b"OggS" + bytes(22) + b"\x01\x13" + b"OpusHead" + bytes(11) + b"OggS" + bytes(64)


# ----- the fake Bot API (its own process) ------------------------------------------------


class _FakeBotApi(asyncio.Protocol):
    """A minimal HTTP/1.1 (keep-alive) Bot API: sendMessage and /stats. Telegram's servers
    cost the gateway nothing; a full web framework here would take a large share of the
    2 cores from the worker being measured."""

    arrivals: list[tuple[float, int]] = []  # noqa: RUF012  (one fake per process)
    recordings: list[tuple[float, int]] = []  # noqa: RUF012  (sendVoice, after a text)
    state: dict[str, int] = {"mid": 0}  # noqa: RUF012

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            lines = head.split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            method, target, _ = lines[0].split(" ", 2)
            self.transport.write(self.answer(method, target, headers, body))

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bytes:
        if method == "GET" and target.endswith("/getMe"):
            payload = b'{"ok":true,"result":{"id":42,"is_bot":true,"first_name":"SP4ALL"}}'
        elif method == "GET" and target.startswith("/stats"):
            received: dict[int, int] = {}
            for _, chat in self.arrivals:
                received[chat] = received.get(chat, 0) + 1
            heard: dict[int, int] = {}
            for _, chat in self.recordings:
                heard[chat] = heard.get(chat, 0) + 1
            payload = json.dumps(
                {
                    "arrivals": [t for t, _ in self.arrivals],
                    "received": {str(c): n for c, n in received.items()},
                    "recording_arrivals": [t for t, _ in self.recordings],
                    "recordings_received": {str(c): n for c, n in heard.items()},
                }
            ).encode()
        elif method == "GET" and target.startswith("/reset"):
            self.arrivals.clear()
            self.recordings.clear()
            payload = b"{}"
        else:  # every request is a message (no idempotency key); a recording counts too
            chat_id = int(json.loads(body)["chat_id"])
            self.state["mid"] += 1
            kept = self.recordings if target.endswith("/sendVoice") else self.arrivals
            kept.append((time.time(), chat_id))
            payload = (
                b'{"ok":true,"result":{"message_id":%d,"date":0,"chat":{"id":%d,'
                b'"type":"private"}}}' % (self.state["mid"], chat_id)
            )
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: keep-alive\r\n\r\n%s" % (len(payload), payload)
        )


def run_fake(port: int) -> None:
    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_FakeBotApi, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


# ----- a worker process --------------------------------------------------------------------


async def worker(db: str, api: str, limit: float, prefix: str, batch: int, loops: int) -> None:
    engine, _ = create_engine(db)
    limits = {"telegram": limit}
    limiter: Any = (
        RedisBulkLimiter.from_url(REDIS_URL, limits, prefix=prefix)
        if limit > 0
        else LocalBulkLimiter(limits)
    )
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=SEND_CONNECTIONS)  # as in production
    async with aiohttp.ClientSession(connector=connector) as session:
        bulk = BulkDelivery(
            engine=engine,
            owner=f"bench:{os.getpid()}:{secrets.token_hex(3)}",
            senders={"telegram": TelegramBulkSender(session, api, TOKEN)},
            limiter=limiter,
            journal=RedisSendJournal.from_url(REDIS_URL, prefix=prefix),
            limits=limits,
            metrics=Metrics(),
            lease_s=LEASE_S,
            batch=batch,
            loops=loops,
            poll_s=0.2,
        )
        profile_s = float(os.environ.get("BENCH_PROFILE_S", "0"))
        if not profile_s:
            await bulk.run()
            return
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bulk.run(), profile_s)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        print("sent", bulk.sent, file=sys.stderr)


# ----- the orchestration -------------------------------------------------------------------


def spawn_fake(port: int) -> Any:
    return subprocess.Popen([sys.executable, __file__, "fake", "--port", str(port)])


def spawn(args: argparse.Namespace, db: str, api: str, limit: float, prefix: str) -> Any:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "worker",
            "--db",
            db,
            "--api",
            api,
            "--limit",
            str(limit),
            "--prefix",
            prefix,
            "--batch",
            str(args.batch),
            "--loops",
            str(args.loops),
        ],
    )


async def count(conn: Any, sql: str, *params: Any) -> int:
    return int(await conn.fetchval(sql, *params) or 0)


async def fake_stats(session: aiohttp.ClientSession, base: str, what: str) -> dict[str, Any]:
    async with session.get(f"{base}/{what}") as r:
        data: dict[str, Any] = await r.json()
        return data


def max_window(times: list[float]) -> tuple[int, float]:
    """The most arrivals in any one-second window, and where that window starts."""
    times = sorted(times)
    best, at = 0, 0.0
    for i, t in enumerate(times):
        j = bisect.bisect_left(times, t + 1.0)
        if j - i > best:
            best, at = j - i, t
    return best, at


async def add_subscribers(engine: Any, n: int, health_every: int) -> None:
    now = time.time()
    rows = []
    for i in range(n):
        topics = [Topic.PAYMENTS.value]
        if i % health_every == 0:
            topics.append(Topic.HEALTH.value)
        rows.append(
            {
                "channel": "telegram",
                "chat_id": str(100_000_000 + i),
                "topics": topics,
                "area_code": f"{(i % 25) + 1:02d}0101",
                "language": "km" if i % 3 else "en",
                "active": True,
                "created_at": now,
                "updated_at": now,
                "last_inbound_at": now,
            }
        )
    async with engine.begin() as conn:
        for start in range(0, n, 10_000):
            await conn.execute(SUBSCRIBERS.insert(), rows[start : start + 10_000])


async def wait_sent(conn: Any, broadcast: int, target: int, timeout: float) -> None:
    """Until ``target`` rows are sent (one polling connection: a new one every poll would
    start a PostgreSQL backend each time, CPU taken from the workers measured)."""
    deadline = time.monotonic() + timeout
    sql = "SELECT count(*) FROM gw_outbound WHERE broadcast_id=$1 AND status='sent'"
    while time.monotonic() < deadline:
        if await count(conn, sql, broadcast) >= target:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"broadcast {broadcast}: not {target} sent in {timeout} s")


async def wait_settled(conn: Any, broadcast: int, timeout: float) -> None:
    """Until no row of the broadcast waits or is being sent."""
    deadline = time.monotonic() + timeout
    sql = (
        "SELECT count(*) FROM gw_outbound WHERE broadcast_id=$1 "
        "AND status IN ('queued', 'sending')"
    )
    while time.monotonic() < deadline:
        if await count(conn, sql, broadcast) == 0:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"broadcast {broadcast}: not settled in {timeout} s")


async def outcome(conn: Any, broadcast: int, received: dict[str, int]) -> dict[str, int]:
    """What the fake received against what was planned and recorded."""
    rows = await conn.fetch(
        "SELECT chat_id, status FROM gw_outbound WHERE broadcast_id=$1", broadcast
    )
    unconfirmed = [r["chat_id"] for r in rows if r["status"] == "unconfirmed"]
    twice = [c for c, n in received.items() if n > 1]
    if twice:
        found = await conn.fetch(
            "SELECT chat_id, status, attempts, error FROM gw_outbound WHERE broadcast_id=$1 "
            "AND chat_id = ANY($2::text[])",
            broadcast,
            twice,
        )
        print("received more than once:", [dict(r) for r in found], file=sys.stderr)
    return {
        "targeted": len(rows),
        "lost": sum(1 for r in rows if r["chat_id"] not in received),
        "duplicates": sum(1 for n in received.values() if n > 1),
        "unconfirmed": len(unconfirmed),
        "unconfirmed_received": sum(1 for c in unconfirmed if c in received),
    }


def worker_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kill(proc: Any) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    name = f"broadcast_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    db = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    port = args.port
    fake = spawn_fake(port)
    base = f"http://127.0.0.1:{port}"
    api = f"{base}/bot"
    procs: list[Any] = []
    engine, _ = create_engine(db)
    poll = None
    try:
        await migrate(engine)
        poll = await asyncpg.connect(dsn)
        paced_n = max(1, int(args.limit * args.paced_seconds))
        await add_subscribers(engine, args.subscribers, max(1, args.subscribers // paced_n))
        service = DisseminationService(engine, chunk=args.chunk, public_url=PUBLIC_URL)
        prefix = f"bench:{name}:"
        # 1. planning
        bid = await service.create_draft(AUTHOR, text_km=KM, text_en=EN, topic=Topic.PAYMENTS)
        started = time.perf_counter()
        await service.approve(bid, APPROVER)
        assert await service.plan(bid)  # noqa: S101
        plan_s = time.perf_counter() - started
        targeted = await count(poll, "SELECT count(*) FROM gw_outbound WHERE broadcast_id=$1", bid)
        # 2. unthrottled, one worker, killed at 40 % and replaced
        async with aiohttp.ClientSession() as session:
            for _ in range(50):
                with contextlib.suppress(aiohttp.ClientError):
                    await fake_stats(session, base, "reset")
                    break
                await asyncio.sleep(0.1)
            first = spawn(args, db, api, 0, prefix)
            procs.append(first)
            await wait_sent(poll, bid, int(targeted * 0.4), args.timeout)
            cpu_s = worker_cpu_s(first.pid)
            kill(first)
            killed_at = time.time()
            procs.append(spawn(args, db, api, 0, prefix))
            await wait_settled(poll, bid, args.timeout)
            stats = await fake_stats(session, base, "stats")
            before = sorted(t for t in stats["arrivals"] if t <= killed_at)
            # from the first second's end (connections and caches warm) to the kill
            steady = [t for t in before if t >= before[0] + 1.0]
            unthrottled = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else 0
            per_cpu_s = len(before) / cpu_s if cpu_s else 0.0
            first_run = await outcome(poll, bid, stats["received"])
            for proc in procs:
                kill(proc)
            procs.clear()
            await fake_stats(session, base, "reset")
            # 3. paced: several workers share one Redis window
            # the workers start first (as long-running workers are), so their start-up
            # is not in the measured run; the restarted one's is
            workers = [spawn(args, db, api, args.limit, prefix) for _ in range(args.workers)]
            procs.extend(workers)
            await asyncio.sleep(WARM_UP_S)
            paced = await service.create_draft(AUTHOR, text_km=KM, text_en=EN, topic=Topic.HEALTH)
            await service.approve(paced, APPROVER)
            assert await service.plan(paced)  # noqa: S101
            paced_targeted = await count(
                poll, "SELECT count(*) FROM gw_outbound WHERE broadcast_id=$1", paced
            )
            await wait_sent(poll, paced, paced_targeted // 2, args.timeout)
            kill(workers[0])
            paced_killed_at = time.time()
            procs.remove(workers[0])
            procs.append(spawn(args, db, api, args.limit, prefix))
            await wait_settled(poll, paced, args.timeout)
            stats_b = await fake_stats(session, base, "stats")
            times = sorted(stats_b["arrivals"])
            bins = [0] * (int(times[-1] - times[0]) + 1)
            for t in times:
                bins[int(t - times[0])] += 1
            print("paced arrivals per second:", bins, file=sys.stderr)
            limit_n = int(args.limit)
            spans = [times[i + limit_n] - times[i] for i in range(len(times) - limit_n)]
            print("shortest span of limit+1 arrivals:", round(min(spans), 4), file=sys.stderr)
            busiest, busiest_at = max_window(times)
            sustained = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0
            paced_run = await outcome(poll, paced, stats_b["received"])
            for proc in procs:
                kill(proc)
            procs.clear()
            await fake_stats(session, base, "reset")
            # 4. recordings: one paced worker, each recipient a text and then a voice note
            procs.append(spawn(args, db, api, args.limit, prefix))
            await asyncio.sleep(WARM_UP_S)
            voiced = await service.create_draft(
                AUTHOR, text_km=KM, text_en=EN, topic=Topic.HEALTH, languages=["en"]
            )
            await service.attach_audio(voiced, "en", OGG_OPUS, "audio/ogg")
            await service.approve(voiced, APPROVER)
            assert await service.plan(voiced)  # noqa: S101
            voiced_targeted = await count(
                poll, "SELECT count(*) FROM gw_outbound WHERE broadcast_id=$1", voiced
            )
            await wait_settled(poll, voiced, args.timeout)
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:  # the last recordings follow their texts
                stats_c = await fake_stats(session, base, "stats")
                if len(stats_c["recording_arrivals"]) >= voiced_targeted:
                    break
                await asyncio.sleep(0.5)
            both = sorted(stats_c["arrivals"] + stats_c["recording_arrivals"])
            voiced_per_s = (len(both) - 1) / (both[-1] - both[0]) if len(both) > 1 else 0
            voiced_window, _ = max_window(both)
            voiced_run = await outcome(poll, voiced, stats_c["received"])
            voiced_run["recordings_missing"] = sum(
                1 for c in stats_c["received"] if c not in stats_c["recordings_received"]
            )
            voiced_run["recordings_twice"] = sum(
                1 for n in stats_c["recordings_received"].values() if n > 1
            )
        runs = {"unthrottled": first_run, "paced": paced_run, "recordings": voiced_run}
        print("runs:", runs, file=sys.stderr)
        return {
            "subscribers": args.subscribers,
            "plan_s": round(plan_s, 2),
            "plan_rows_per_s": round(targeted / plan_s),
            "limit_per_s": args.limit,
            "sustained_per_s": round(sustained, 2),
            "sustained_share": round(sustained / args.limit, 4),
            "max_window_per_s": busiest,
            "busiest_window_s_after_kill": round(busiest_at - paced_killed_at, 2),
            "paced_recipients": paced_targeted,
            "unthrottled_per_s": round(unthrottled, 1),
            "unthrottled_per_worker_cpu_s": round(per_cpu_s, 1),
            "workers": args.workers,
            "killed": 2,
            "lost": first_run["lost"] + paced_run["lost"],
            "duplicates": first_run["duplicates"] + paced_run["duplicates"],
            "unconfirmed": first_run["unconfirmed"] + paced_run["unconfirmed"],
            "unconfirmed_received": first_run["unconfirmed_received"]
            + paced_run["unconfirmed_received"],
            "recording_recipients": voiced_targeted,
            "recording_one_worker_msgs_per_s": round(voiced_per_s, 2),
            "recording_one_worker_share": round(voiced_per_s / args.limit, 4),
            "recording_max_window_per_s": voiced_window,
            "recording_lost": voiced_run["lost"] + voiced_run["recordings_missing"],
            "recording_duplicates": voiced_run["duplicates"] + voiced_run["recordings_twice"],
        }
    finally:
        for proc in procs:
            with contextlib.suppress(Exception):
                kill(proc)
        fake.terminate()
        fake.wait()
        if poll is not None:
            await poll.close()
        await engine.dispose()
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    fake = sub.add_parser("fake")
    fake.add_argument("--port", type=int, required=True)
    work = sub.add_parser("worker")
    work.add_argument("--db", required=True)
    work.add_argument("--api", required=True)
    work.add_argument("--limit", type=float, default=0)
    work.add_argument("--prefix", default="")
    work.add_argument("--batch", type=int, default=100)
    work.add_argument("--loops", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--loops", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--port", type=int, default=18931)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    if args.command == "fake":
        run_fake(args.port)
    elif args.command == "worker":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(worker(args.db, args.api, args.limit, args.prefix, args.batch, args.loops))
    else:
        print(json.dumps(asyncio.run(main(args))))


if __name__ == "__main__":
    cli()
