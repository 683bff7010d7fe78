"""SQL statements and CPU the gateway's database work costs per citizen message.

Why: on a 2-core machine every CPU millisecond the gateway spends is taken from Rasa
(bench/gateway_bench.py), and the conversation log is written several times per message.
This replays the real per-message sequence, with the gateway's own code and no Rasa:

- the pipeline's calls: ``ingest``, ``next_inbound``, ``begin_turn`` (at Rasa),
  ``complete_inbound`` with two replies (the second with a button and its callback key)
  that gives the chat's lease up;
- then the real ``DeliveryEngine`` sends both replies (claim, ``mark_sending``,
  ``record_sent`` with the chat's next row, the earlier message's buttons retired) to an
  in-process channel that answers at once, paced by a ``LocalPacer`` at 1,000/s.

20 chats write at once, each waiting for its two replies before the next message, on
SQLite (a file) and on PostgreSQL (a throwaway database on 127.0.0.1:5432). The engine's
background work in that time (lease renewals, polls) is counted too: it is part of the cost.

    .venv-bot/bin/python bench/store_bench.py [--messages 400] [--rounds 3] [--only sqlite]

Printed per database: statements per message (every SQL statement the gateway's engine
sent, an executemany counted once per parameter set) and CPU ms per message (this
process, all threads), medians of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine.interfaces import ExecuteStyle

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import Settings  # noqa: E402
from bot._metrics import Metrics  # noqa: E402
from bot.delivery import DeliveryEngine, LocalPacer, PaceLimit  # noqa: E402
from bot.storage._db import InboundStatus, create_engine  # noqa: E402
from bot.storage._migrate import migrate  # noqa: E402
from bot.storage._models import InboundKind, InboundMessage, OutboundKind  # noqa: E402
from bot.storage._store import NewOutbound, Store, TurnStart  # noqa: E402

CHATS = 20
WARM_UP = 40
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REPLY = "ប័ណ្ណសមធម៌ជួយគ្រួសារក្រីក្រ " * 12
BUTTON = {"title": "ប័ណ្ណសមធម៌", "payload": "/ask_equity_card"}
CALLBACKS = {"k:0123456789abcdef01234567": "/ask_equity_card"}
ANSWER_TIMEOUT_S = 30.0


@dataclass
class InstantTelegram:
    """A platform that has every message at once and retires buttons for free."""

    name: str = "telegram"
    needs_callback_keys: bool = True
    retires_buttons: bool = True
    ids: itertools.count[int] = field(default_factory=itertools.count)
    received: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    retired: int = 0

    def render(self, replies: list[Any]) -> list[dict[str, Any]]:
        return [dict(r) for r in replies]

    async def send(self, chat_id: str, body: dict[str, Any]) -> str | None:
        self.received[chat_id] += 1
        self.arrived.set()
        return str(next(self.ids))

    def recorded(self, chat_id: str) -> None:
        """Nothing to wake."""

    async def typing(self, chat_id: str) -> None:
        """Not used."""

    async def retire_buttons(self, chat_id: str, message_id: str) -> None:
        self.retired += 1

    async def wait_for(self, chat_id: str, count: int) -> None:
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while self.received[chat_id] < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{chat_id}: {self.received[chat_id]} of {count} replies")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 0.5)


@asynccontextmanager
async def database(dialect: str) -> AsyncIterator[str]:
    if dialect == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'gateway.db'}"
        return
    name = f"store_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def measure(url: str, messages: int) -> tuple[float, float]:
    """(statements per message, CPU ms per message) with CHATS chats at once."""
    engine, sessions = create_engine(url)
    await migrate(engine)
    statements = 0

    def count(_conn: Any, _cursor: Any, _sql: str, params: Any, ctx: Any, _many: bool) -> None:
        nonlocal statements
        # a DBAPI executemany runs the statement once per parameter set; SQLAlchemy's
        # "insertmanyvalues" (one INSERT with several VALUES rows) is one statement
        many = ctx is not None and ctx.execute_style is ExecuteStyle.EXECUTEMANY
        statements += len(params) if many else 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    store = Store(sessions, engine.dialect.name)
    channel = InstantTelegram()
    delivery = DeliveryEngine(
        store=store,
        channels={channel.name: channel},
        pacer=LocalPacer({channel.name: PaceLimit(1000.0)}),
        settings=Settings(log_json=False),
        metrics=Metrics(),
    )
    running = asyncio.create_task(delivery.run())
    sequence = itertools.count()

    async def one(chat: str) -> None:
        await store.ingest(
            InboundMessage(
                channel="telegram",
                external_id=f"u{next(sequence)}",
                chat_id=chat,
                kind=InboundKind.TEXT,
                text="តើប័ណ្ណសមធម៌ជាអ្វី?",
                language="km",
            )
        )
        inbound, _chat, more = await store.next_inbound("telegram", chat)
        if inbound is None or more:
            raise RuntimeError("one message per chat at a time here")
        started = await store.begin_turn(inbound, time.time() + 10.0, at_rasa=True)
        if started != TurnStart.OURS:
            raise RuntimeError(f"the turn did not start: {started}")
        await store.complete_inbound(
            inbound,
            InboundStatus.ANSWERED,
            [
                NewOutbound(OutboundKind.REPLY, {"html": REPLY}),
                NewOutbound(OutboundKind.REPLY, {"html": "?", "buttons": [[BUTTON]]}),
            ],
            CALLBACKS,
            release=True,
        )
        delivery.wake()
        await channel.wait_for(chat, channel.received[chat] + 2)

    async def chat(c: int, count: int) -> None:
        for _ in range(count):
            await one(f"c{c}")

    try:
        await asyncio.gather(*(chat(c, WARM_UP // CHATS) for c in range(CHATS)))
        per_chat = messages // CHATS
        statements = 0
        t0 = time.process_time()
        await asyncio.gather(*(chat(c, per_chat) for c in range(CHATS)))
        cpu = time.process_time() - t0
        done = statements
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await engine.dispose()
    if channel.retired == 0:
        raise RuntimeError("no buttons were retired: the sequence is not the real one")
    total = per_chat * CHATS
    return done / total, cpu / total * 1000


async def run(messages: int, rounds: int, dialects: list[str]) -> dict[str, tuple[float, float]]:
    results: dict[str, list[tuple[float, float]]] = {d: [] for d in dialects}
    for r in range(rounds):
        for dialect in dialects if r % 2 == 0 else list(reversed(dialects)):
            async with database(dialect) as url:
                results[dialect].append(await measure(url, messages))
    return {
        d: (statistics.median(s for s, _ in v), statistics.median(c for _, c in v))
        for d, v in results.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    dialects = [args.only] if args.only else ["sqlite", "postgresql"]
    result = asyncio.run(run(args.messages, args.rounds, dialects))
    print(f"{'':12}{'statements/msg':>16}{'CPU ms/msg':>12}")
    for dialect, (statements, cpu) in result.items():
        print(f"{dialect:12}{statements:16.1f}{cpu:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
