"""CPU the gateway's database work costs per citizen message, next to the bare driver.

Why: on a 2-core machine every CPU millisecond the gateway spends is taken from Rasa
(bench/gateway_bench.py), and the conversation log is written several times per message.
This replays the pipeline's per-message sequence through ``bot._store.Store``: ingest,
pending replies, next message with its chat (and whether another waits), answer with two
replies and a button key, mark both sent. Then the same SQL through aiosqlite alone (no
SQLAlchemy), in the same run, as the floor. 20 chats write at once, as in production.

    .venv-bot/bin/python bench/store_bench.py [--messages 600] [--rounds 3]

Printed: CPU ms per message (this process, all threads) for each, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.storage._db import InboundStatus, OutboundStatus, create_engine  # noqa: E402
from bot.storage._migrate import migrate  # noqa: E402
from bot.storage._models import InboundKind, InboundMessage, OutboundKind  # noqa: E402
from bot.storage._store import NewOutbound, Store  # noqa: E402

CHATS = 20
WARM_UP = 50
REPLY = "answer " * 40
BUTTON = {"title": "Equity card", "payload": "/ask_equity_card"}
CALLBACKS = {"k:0123456789abcdef01234567": "/ask_equity_card"}

Step = Callable[[int, str], Awaitable[None]]


async def store_steps(url: str) -> tuple[Step, Callable[[], Awaitable[None]]]:
    engine, sessions = create_engine(url)
    await migrate(engine)
    store = Store(sessions, engine.dialect.name)

    async def one(n: int, chat: str) -> None:
        await store.ingest(
            InboundMessage(
                channel="telegram",
                external_id=f"u{n}",
                chat_id=chat,
                kind=InboundKind.TEXT,
                text="តើប័ណ្ណសមធម៌ជាអ្វី?",
                language="km",
            )
        )
        await store.pending_outbound("telegram", chat)
        inbound, _chat, more = await store.next_inbound("telegram", chat)
        if inbound is None:
            raise RuntimeError("the message just stored is not pending")
        rows = await store.complete_inbound(
            inbound,
            InboundStatus.ANSWERED,
            [
                NewOutbound(OutboundKind.REPLY, {"html": REPLY}),
                NewOutbound(OutboundKind.REPLY, {"html": "?", "buttons": [BUTTON]}),
            ],
            CALLBACKS,
        )
        for row in rows:
            await store.mark_outbound(row.id, OutboundStatus.SENT, external_id=str(n))
        if more:  # the pipeline reads again only when another message waited
            raise RuntimeError("one message per chat at a time here")

    return one, engine.dispose


async def driver_steps(path: Path) -> tuple[Step, Callable[[], Awaitable[None]]]:
    """The same statements as SQL text on one aiosqlite connection: the floor."""
    db = await aiosqlite.connect(path)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    lock = asyncio.Lock()

    def now() -> str:
        return datetime.now(UTC).isoformat(" ")

    async def one(n: int, chat: str) -> None:
        async with lock:
            await db.execute(
                "INSERT INTO gw_inbound (channel, external_id, chat_id, kind, text, meta,"
                " status, attempts, due_at, notice_sent, created_at) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, 0, 0.0, 0, ?) ON CONFLICT DO NOTHING",
                (
                    "telegram",
                    f"u{n}",
                    chat,
                    "text",
                    "តើប័ណ្ណសមធម៌ជាអ្វី?",
                    '{"language":"km"}',
                    "pending",
                    now(),
                ),
            )
            await db.execute(
                "INSERT INTO gw_chats (channel, chat_id, language, active, in_handoff,"
                " resume_pending, created_at, updated_at) VALUES (?, ?, 'km', 1, 0, 0, ?, ?)"
                " ON CONFLICT (channel, chat_id) DO UPDATE SET active = 1,"
                " updated_at = excluded.updated_at, language = excluded.language",
                ("telegram", chat, now(), now()),
            )
            await db.commit()
        async with db.execute(
            "SELECT * FROM gw_outbound WHERE channel = ? AND chat_id = ? AND status = 'pending'"
            " ORDER BY id",
            ("telegram", chat),
        ) as cursor:
            await cursor.fetchall()
        async with db.execute(
            "SELECT gw_inbound.*, gw_chats.* FROM gw_inbound LEFT OUTER JOIN gw_chats ON"
            " gw_chats.channel = gw_inbound.channel AND gw_chats.chat_id = gw_inbound.chat_id"
            " WHERE gw_inbound.channel = ? AND gw_inbound.chat_id = ? AND"
            " gw_inbound.status = 'pending' ORDER BY gw_inbound.id LIMIT 2",
            ("telegram", chat),
        ) as cursor:
            row = (await cursor.fetchall() or [None])[0]
        if row is None:
            raise RuntimeError("the message just stored is not pending")
        ids = []
        async with lock:
            for body in ({"html": REPLY}, {"html": "?", "buttons": [BUTTON]}):
                async with db.execute(
                    "INSERT INTO gw_outbound (inbound_id, channel, chat_id, kind, body, status,"
                    " attempts, due_at, created_at) VALUES (?, ?, ?, 'reply', ?, 'pending', 0,"
                    " 0.0, ?) RETURNING id",
                    (row[0], "telegram", chat, json.dumps(body), now()),
                ) as cursor:
                    ids.append((await cursor.fetchone() or (0,))[0])
            await db.execute(
                "UPDATE gw_inbound SET status = 'answered', answered_at = ?, error = NULL"
                " WHERE id = ?",
                (now(), row[0]),
            )
            await db.commit()
        for outbound_id in ids:
            async with lock:
                await db.execute(
                    "UPDATE gw_outbound SET status = 'sent', error = NULL, attempts ="
                    " attempts + 1, external_id = ?, sent_at = ? WHERE id = ?",
                    (str(n), now(), outbound_id),
                )
                await db.commit()

    return one, db.close


async def measure(one: Step, messages: int) -> float:
    """CPU ms per message with CHATS chats writing at once (after a warm-up)."""
    for n in range(WARM_UP):
        await one(n, f"warm{n}")

    async def chat(c: int) -> None:
        for i in range(messages // CHATS):
            await one(10**6 + c * 10**4 + i, f"c{c}")

    t0 = time.process_time()
    await asyncio.gather(*(chat(c) for c in range(CHATS)))
    return (time.process_time() - t0) / (messages // CHATS * CHATS) * 1000


async def run(messages: int, rounds: int) -> dict[str, float]:
    results: dict[str, list[float]] = {"store": [], "driver": []}
    for r in range(rounds):
        for name in ("store", "driver") if r % 2 == 0 else ("driver", "store"):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "gateway.db"
                engine, _ = create_engine(f"sqlite+aiosqlite:///{path}")
                await migrate(engine)  # the real schema for both
                await engine.dispose()
                one, close = await (
                    store_steps(f"sqlite+aiosqlite:///{path}")
                    if name == "store"
                    else driver_steps(path)
                )
                try:
                    results[name].append(await measure(one, messages))
                finally:
                    await close()
    return {name: statistics.median(values) for name, values in results.items()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(run(args.messages, args.rounds))
    print(f"{'':24}{'CPU ms/msg':>12}")
    print(f"{'gateway Store':24}{result['store']:12.2f}")
    print(f"{'aiosqlite, same SQL':24}{result['driver']:12.2f}")
    print(f"Store / bare driver: {result['store'] / result['driver']:.2f}x (median of rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
