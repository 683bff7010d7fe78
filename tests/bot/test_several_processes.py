"""Several gateway processes on real PostgreSQL and Redis (issue #12, "How it is checked").

Three real ``python -m bot serve --reuse-port`` processes share one port and one database,
as in production behind Telegram's and Meta's single webhook URL: the kernel spreads the
webhook connections (one connection per request here, so every process gets its share).
Fake Telegram and Messenger clients post 40 chats x 8 messages at a steady rate; one process
is killed with SIGKILL mid-run and started again. From what the fakes received:

- every message is answered exactly once, and in order within each chat;
- Rasa is fed each message exactly once;
- the shared Telegram pace is never above its limit in any one-second window.

The fakes (Bot API, Graph API, an echoing Rasa) run in this test's event loop; the echo
carries the message's text, so every reply maps back to the message it answers.

Redis: GATEWAY_REDIS_PREFIX is a value of this run only, so runs at the same time (or a
development gateway on the same Redis) never share the pace of the fake bot.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from bot import Settings
from bot.storage._db import create_engine
from bot.storage._migrate import migrate
from tests.bot.gateway_fakes import (
    FB_SECRET,
    FB_VERIFY,
    TG_SECRET,
    TOKEN,
    Call,
    FakeGraph,
    FakeRasa,
    FakeTelegram,
    listening_pids,
    start,
)

ROOT = Path(__file__).resolve().parents[2]
GAZETTEER = Path(__file__).parent / "data" / "communes.yml"
REDIS_URL = "redis://127.0.0.1:6379/0"
PROCESSES = 3
CHATS = 40  # half on Telegram, half on Messenger
MESSAGES = 8
SEND_INTERVAL_S = 1.2  # per chat: 40 chats -> ~33 messages/s in all, for ~10 s
TELEGRAM_PER_S = 10  # below the ~17 Telegram messages/s sent: the pace is what limits
KILL_AFTER_S = 4.0
RESTART_AFTER_S = 1.0
READY_TIMEOUT_S = 40.0
ANSWER_TIMEOUT_S = 45.0  # after the last message; covers the lease of a killed process
SETTLE_S = 2.0  # a duplicate arriving late is still counted
JITTER_S = 0.05  # arrival times at the fake carry loopback scheduling noise
TG_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateways:
    """The gateway processes: started, killed and restarted like the supervisor does."""

    def __init__(self, env: dict[str, str], port: int, logs: Path) -> None:
        self.env = env
        self.port = port
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = open(self.logs / f"gateway-{self.started}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--reuse-port"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the child has its own descriptor
        self.processes.append(proc)
        return proc

    async def wait_listening(self, procs: list[subprocess.Popen[bytes]]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not {p.pid for p in procs} <= listening_pids(self.port):
            for proc in procs:
                assert proc.poll() is None, f"gateway exited: {self.tail()}"
            assert time.monotonic() < deadline, f"gateways not listening: {self.tail()}"
            await asyncio.sleep(0.2)

    def tail(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-1500:] for p in sorted(self.logs.glob("*.log"))
        )

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def tg_update(update_id: int, chat_id: int, text: str) -> bytes:
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_700_000_000,
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "Citizen"},
                "text": text,
            },
        }
    ).encode()


def fb_event(psid: str, mid: str, text: str) -> tuple[bytes, str]:
    body = {
        "object": "page",
        "entry": [
            {
                "id": "PAGE",
                "time": 1,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": "PAGE"},
                        "timestamp": 1,
                        "message": {"mid": mid, "text": text},
                    }
                ],
            }
        ],
    }
    raw = json.dumps(body).encode()
    return raw, "sha256=" + hmac.new(FB_SECRET.encode(), raw, hashlib.sha256).hexdigest()


async def post_until_stored(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> None:
    """As Telegram and Meta do: a failed delivery (a killed process) is sent again."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            async with http.post(url, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        assert time.monotonic() < deadline, f"webhook never accepted {url}"
        await asyncio.sleep(0.1)


async def chat_client(
    http: aiohttp.ClientSession, base: str, n: int, offset_s: float, run: str
) -> None:
    """One citizen writing MESSAGES messages, one every SEND_INTERVAL_S."""
    await asyncio.sleep(offset_s)
    for i in range(MESSAGES):
        text = f"{run} chat {n} message {i}"
        headers = {"Content-Type": "application/json"}
        if n % 2 == 0:
            body = tg_update(n * 100 + i + 1, 10_000 + n, text)
            headers[TG_HEADER] = TG_SECRET
            await post_until_stored(http, base + "/telegram/webhook", body, headers)
        else:
            body, signature = fb_event(f"psid-{n}", f"mid-{run}-{n}-{i}", text)
            headers["X-Hub-Signature-256"] = signature
            await post_until_stored(http, base + "/messenger/webhook", body, headers)
        await asyncio.sleep(SEND_INTERVAL_S)


def sent_texts(telegram: FakeTelegram, graph: FakeGraph) -> dict[str, list[str]]:
    """Replies per chat, in the order the platforms received them."""
    replies: dict[str, list[str]] = defaultdict(list)
    for call in telegram.sent("sendMessage"):
        replies[f"telegram:{call.params['chat_id']}"].append(str(call.params.get("text")))
    for params in graph.messages():
        replies[f"messenger:{params['recipient']['id']}"].append(params["message"]["text"])
    return replies


def worst_window(calls: list[Call], window_s: float) -> int:
    """The most calls that arrived within any ``window_s`` seconds."""
    times = sorted(c.at for c in calls)
    worst, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] > window_s:
            first += 1
        worst = max(worst, last - first + 1)
    return worst


async def rows_saying(database_url: str, texts: list[str]) -> list[dict[str, object]]:
    """The outbound rows whose body says one of ``texts``: what went wrong, for the report."""
    engine, _ = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                text(
                    "SELECT id, inbound_id, chat_id, status, attempts, error, lease_owner,"
                    " body FROM gw_outbound ORDER BY id"
                )
            )
            found = [dict(r._mapping) for r in result]
    finally:
        await engine.dispose()
    return [
        {k: v for k, v in row.items() if k != "body"}
        for row in found
        if any(t in json.dumps(row["body"], ensure_ascii=False) for t in texts)
    ]


async def migrated(database_url: str) -> None:
    """Once, before the processes start (as the supervisor does): they do not race."""
    engine, _ = create_engine(database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


@pytest.mark.timeout(180)
async def test_three_processes_one_killed_answer_every_message_once_in_order_at_the_pace(
    postgres_url: str, tmp_path: Path
) -> None:
    telegram, graph, rasa = FakeTelegram(), FakeGraph(), FakeRasa()
    servers = [await start(f) for f in (telegram, graph, rasa)]
    await migrated(postgres_url)
    port = free_port()
    run = secrets.token_hex(4)
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": postgres_url,
        "GATEWAY_AUTO_MIGRATE": "0",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_REDIS_URL": REDIS_URL,
        "GATEWAY_REDIS_PREFIX": f"sp4all-test-{run}",  # the shared pace's keys, this run only
        "DELIVERY_TELEGRAM_PER_S": str(TELEGRAM_PER_S),
        "RASA_URLS": rasa.url,
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_SECRET": TG_SECRET,
        "TELEGRAM_API_URL": telegram.base_url,
        "MESSENGER_PAGE_TOKEN": "page-token",
        "MESSENGER_APP_SECRET": FB_SECRET,
        "MESSENGER_VERIFY_TOKEN": FB_VERIFY,
        "GRAPH_API_URL": graph.base_url,
        "GATEWAY_GAZETTEER": str(GAZETTEER),
        "GATEWAY_RETRY_BASE": "0.05",
        "GATEWAY_RETRY_MAX": "0.5",
        "GATEWAY_LOG_JSON": "0",
    }
    assert Settings.from_env(env).database_url == postgres_url
    gateways = Gateways(env, port, tmp_path)
    base = f"http://127.0.0.1:{port}"
    # a connection per request: the kernel then spreads them over the processes
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        timeout=aiohttp.ClientTimeout(total=10),
    )
    try:
        await gateways.wait_listening([gateways.start() for _ in range(PROCESSES)])
        clients = asyncio.gather(
            *(chat_client(http, base, n, n * SEND_INTERVAL_S / CHATS, run) for n in range(CHATS))
        )
        await asyncio.sleep(KILL_AFTER_S)
        victim = gateways.processes[1]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        await asyncio.sleep(RESTART_AFTER_S)
        await gateways.wait_listening([gateways.start()])
        await clients

        expected = {
            (f"telegram:{10_000 + n}" if n % 2 == 0 else f"messenger:psid-{n}"): [
                f"echo: {run} chat {n} message {i}" for i in range(MESSAGES)
            ]
            for n in range(CHATS)
        }
        total = CHATS * MESSAGES
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while sum(len(r) for r in sent_texts(telegram, graph).values()) < total:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(SETTLE_S)
    finally:
        await http.close()
        gateways.stop()
        for server in servers:
            await server.close()

    # every property is checked, and every one broken is reported together
    problems: list[str] = []
    replies = sent_texts(telegram, graph)
    answered = Counter(text for texts in replies.values() for text in texts)
    missing = [t for texts in expected.values() for t in texts if answered[t] == 0]
    if missing:
        problems.append(f"{len(missing)} of {total} never answered, e.g. {missing[:3]}")
    twice = {t: k for t, k in answered.items() if k > 1}
    if twice:
        problems.append(f"{len(twice)} answered more than once, e.g. {list(twice.items())[:3]}")
        problems.append(f"their rows: {await rows_saying(postgres_url, list(twice)[:3])}")
    disordered = [
        chat for chat, texts in expected.items() if list(dict.fromkeys(replies[chat])) != texts
    ]
    if disordered:
        problems.append(f"{len(disordered)} chats answered out of order, e.g. {disordered[:3]}")
    fed = Counter(
        (c.params["sender"], c.params["message"]) for c in rasa.calls if c.method == "webhook"
    )
    if len(fed) != total:
        problems.append(f"Rasa was fed {len(fed)} distinct messages, not {total}")
    refed = {k: v for k, v in fed.items() if v > 1}
    if refed:
        problems.append(f"Rasa fed {len(refed)} messages twice, e.g. {list(refed.items())[:3]}")
    worst = worst_window(telegram.sent("sendMessage"), 1.0 - JITTER_S)
    if worst > TELEGRAM_PER_S:
        problems.append(f"{worst} Telegram sends within one second (limit {TELEGRAM_PER_S})")
    assert not problems, "\n".join(problems)
    assert dict(replies) == expected  # the same, said once: each exactly once, in order
