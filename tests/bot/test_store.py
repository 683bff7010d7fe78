"""Storage on both databases: Alembic migrations, de-duplication, ordering, no `events` table."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from alembic import command
from sqlalchemy import event, inspect, select, text
from sqlalchemy.exc import IntegrityError

from bot.storage._db import Inbound, InboundStatus, OutboundStatus, create_engine
from bot.storage._migrate import alembic_config, migrate
from bot.storage._models import InboundKind, InboundMessage, OutboundKind
from bot.storage._store import NewOutbound, Store, TurnStart


def message(external_id: str, chat_id: str = "c1", text: str = "hi") -> InboundMessage:
    return InboundMessage(
        channel="telegram",
        external_id=external_id,
        chat_id=chat_id,
        kind=InboundKind.TEXT,
        text=text,
        language="en",
    )


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A store on a freshly migrated database (SQLite and PostgreSQL)."""
    engine, sessions = create_engine(database_url)
    try:
        await migrate(engine)
        yield Store(sessions, engine.dialect.name)
    finally:
        await engine.dispose()


async def test_migrations_create_only_gateway_tables(database_url: str) -> None:
    engine, _ = create_engine(database_url)
    try:
        await migrate(engine)
        await migrate(engine)  # idempotent: a restart re-runs it
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert {"gw_chats", "gw_inbound", "gw_outbound", "gw_callback_payloads"} <= tables
    assert "events" not in tables  # Rasa's tracker store owns that name
    assert all(t.startswith("gw_") or t == "alembic_version" for t in tables)


async def test_handoff_requests_recorded_before_the_outbox_are_not_opened_again(
    database_url: str,
) -> None:
    def upgrade_to(connection: Any, revision: str) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    engine, sessions = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_to, "0003")
            await conn.execute(  # what the gateway recorded then: Rasa's payload only
                text(
                    "INSERT INTO gw_outbound (channel, chat_id, kind, body, status, attempts,"
                    " due_at, created_at) VALUES ('telegram', 'c1', 'handoff',"
                    ' \'{"handoff": {"reason": "user_request"}}\', \'recorded\', 0, 0,'
                    " CURRENT_TIMESTAMP)"
                )
            )
        await migrate(engine)
        store = Store(sessions, engine.dialect.name)
        assert await store.unrouted_handoffs() == []
        async with engine.connect() as conn:
            statuses = (await conn.execute(text("SELECT status FROM gw_outbound"))).scalars()
            assert list(statuses) == ["routed"]
    finally:
        await engine.dispose()


async def test_ingest_deduplicates_and_keeps_order(store: Store) -> None:
    assert await store.ingest(message("1", text="first")) is True
    assert await store.ingest(message("1", text="first")) is False
    assert await store.ingest(message("2", text="second")) is True
    first = await store.first_pending_inbound("telegram", "c1")
    assert first is not None
    assert first.text == "first"
    await store.complete_inbound(
        first,
        InboundStatus.ANSWERED,
        [
            NewOutbound(OutboundKind.REPLY, {"html": "a"}),
            NewOutbound(OutboundKind.REPLY, {"html": "b"}),
        ],
    )
    second = await store.first_pending_inbound("telegram", "c1")
    assert second is not None
    assert second.text == "second"
    pending = await store.pending_outbound("telegram", "c1")
    assert [p.body["html"] for p in pending] == ["a", "b"]
    [claim] = await store.claim_outbound(time.time(), time.time() + 10, 10)
    assert claim.row.id == pending[0].id
    assert await store.mark_sending(claim.row)
    assert await store.record_sent(claim.row, "9") == (True, None)
    assert [p.body["html"] for p in await store.pending_outbound("telegram", "c1")] == ["b"]
    assert await store.due_chats(now=1e12, limit=10) == [("telegram", "c1")]
    chat = await store.chat("telegram", "c1")
    assert chat is not None
    assert chat.active
    assert chat.language == "en"
    assert await store.counts() == {"inbound_pending": 1, "outbound_pending": 1}


async def test_a_blocked_chat_gives_up_its_queue_and_goes_inactive_at_once(store: Store) -> None:
    for external_id, chat_id in (("1", "c1"), ("2", "c2")):
        await store.ingest(message(external_id, chat_id))
        inbound = await store.first_pending_inbound("telegram", chat_id)
        assert inbound is not None
        replies = [NewOutbound(OutboundKind.REPLY, {"html": h}) for h in ("a", "b")]
        await store.complete_inbound(inbound, InboundStatus.ANSWERED, replies)
    first, _second = await store.pending_outbound("telegram", "c1")
    [claim] = await store.claim_outbound(time.time(), time.time() + 10, 1)  # the oldest
    assert claim.row.id == first.id
    assert await store.mark_sending(claim.row)
    assert await store.record_blocked(claim.row, "Forbidden: bot was blocked")
    assert await store.pending_outbound("telegram", "c1") == []
    assert [p.body["html"] for p in await store.pending_outbound("telegram", "c2")] == [
        "a",
        "b",
    ]  # another chat's queue is untouched
    blocked, other = await store.chat("telegram", "c1"), await store.chat("telegram", "c2")
    assert blocked is not None
    assert other is not None
    assert (blocked.active, other.active) == (False, True)


async def test_a_claim_brings_the_earlier_buttons_and_whether_a_reply_waits(
    store: Store,
) -> None:
    """What a send needs comes with its claim (no query of its own), and the chat's next
    reply is claimed with the previous one's result, ``sending`` at once if asked."""
    await store.ingest(message("1", text="តើប័ណ្ណសមធម៌ជាអ្វី?"))
    inbound = await store.first_pending_inbound("telegram", "c1")
    assert inbound is not None
    bodies: list[dict[str, Any]] = [
        {"html": "ប័ណ្ណសមធម៌ជួយគ្រួសារក្រីក្រ។"},
        {"html": "តើអ្នកចង់ដឹងអ្វីទៀត?", "buttons": [[{"text": "ចុះឈ្មោះ"}]]},
        {"html": "សូមអរគុណ។"},
    ]
    callbacks = {"k:register": "/ask_register", "k:equity": "/ask_equity_card"}
    queued = await store.complete_inbound(
        inbound,
        InboundStatus.ANSWERED,
        [NewOutbound(OutboundKind.REPLY, b) for b in bodies],
        callbacks,
    )
    stored = await store.pending_outbound("telegram", "c1")
    assert [(r.id, r.body) for r in queued] == [(r.id, r.body) for r in stored]  # in order
    assert [r.body for r in stored] == bodies
    for key, payload in callbacks.items():  # several keys in one transaction
        assert await store.callback_payload(key) == payload
    [first] = await store.claim_outbound(time.time(), time.time() + 10, 10)
    assert (first.row.id, first.earlier_buttons, first.has_next) == (stored[0].id, None, True)
    assert await store.mark_sending(first.row)
    ours, second = await store.record_sent(
        first.row, "m1", chain_until=time.time() + 10, chain_sending=True
    )
    assert ours
    assert second is not None
    assert (second.row.id, second.row.status) == (stored[1].id, OutboundStatus.SENDING)
    assert (second.earlier_buttons, second.has_next) == (None, True)  # "m1" had none
    ours, third = await store.record_sent(second.row, "m2", chain_until=time.time() + 10)
    assert ours
    assert third is not None
    assert (third.row.id, third.row.status) == (stored[2].id, OutboundStatus.CLAIMED)
    assert (third.earlier_buttons, third.has_next) == ("m2", False)  # m2's buttons retire
    assert await store.mark_sending(third.row)
    assert await store.record_sent(third.row, "m3", chain_until=time.time() + 10) == (
        True,
        None,
    )
    assert await store.pending_outbound("telegram", "c1") == []


async def test_callback_payloads_round_trip(store: Store) -> None:
    await store.ingest(message("1"))
    inbound = await store.first_pending_inbound("telegram", "c1")
    assert inbound is not None
    payload = '/switch_language{"language": "en"}'
    await store.complete_inbound(inbound, InboundStatus.ANSWERED, [], {"k:abc": payload})
    assert await store.callback_payload("k:abc") == payload
    assert await store.callback_payload("k:missing") is None


async def test_next_inbound_returns_the_oldest_pending_message_with_its_chat(store: Store) -> None:
    assert await store.next_inbound("telegram", "c1") == (None, None, False)
    await store.ingest(message("1", text="first"))
    await store.ingest(message("2", text="second"))
    inbound, chat, more = await store.next_inbound("telegram", "c1")
    assert inbound is not None
    assert inbound.text == "first"
    assert more  # "second" waits behind it
    assert chat is not None
    assert (chat.chat_id, chat.language) == ("c1", "en")
    await store.complete_inbound(inbound, InboundStatus.ANSWERED, [])
    inbound, _, more = await store.next_inbound("telegram", "c1")
    assert inbound is not None
    assert inbound.text == "second"
    assert not more
    await store.complete_inbound(inbound, InboundStatus.ANSWERED, [])
    assert await store.next_inbound("telegram", "c1") == (None, None, False)


async def test_known_callback_keys_are_not_inserted_again(database_url: str) -> None:
    engine, sessions = create_engine(database_url)
    inserts: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "gw_callback_payloads" in statement and statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await migrate(engine)
        store = Store(sessions, engine.dialect.name)
        for i, keys in enumerate(({"k:a": "/a"}, {"k:a": "/a"}, {"k:a": "/a", "k:b": "/b"})):
            await store.ingest(message(str(i)))
            inbound, _, _ = await store.next_inbound("telegram", "c1")
            assert inbound is not None
            await store.complete_inbound(inbound, InboundStatus.ANSWERED, [], keys)
        assert len(inserts) == 2  # k:a once, then only the new k:b
        assert await store.callback_payload("k:a") == "/a"
        assert await store.callback_payload("k:b") == "/b"
        # another process (or a restart) knows nothing yet: it inserts, the conflict is ignored
        fresh = Store(sessions, engine.dialect.name)
        await fresh.ingest(message("9"))
        inbound, _, _ = await fresh.next_inbound("telegram", "c1")
        assert inbound is not None
        await fresh.complete_inbound(inbound, InboundStatus.ANSWERED, [], {"k:a": "/a"})
        assert len(inserts) == 3
        assert await fresh.callback_payload("k:a") == "/a"
    finally:
        await engine.dispose()


async def test_sqlite_reads_make_one_trip_and_failed_writes_still_roll_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read is one trip to aiosqlite's thread (no ROLLBACK of a transaction SQLite never
    opened); a write that fails mid-transaction is still rolled back."""
    trips: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    engine, sessions = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    try:
        await migrate(engine)
        store = Store(sessions, engine.dialect.name)
        await store.ingest(message("1"))
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        inbound, _, _ = await store.next_inbound("telegram", "c1")
        assert inbound is not None
        assert trips == ["_run_statement"]

        trips.clear()
        with pytest.raises(IntegrityError):  # a row without a status: NOT NULL fails
            await store.complete_inbound(
                inbound,
                InboundStatus.ANSWERED,
                [NewOutbound(OutboundKind.REPLY, {"html": "x"}, status=None)],  # type: ignore[arg-type]
            )
        assert "rollback" in trips
        assert await store.pending_outbound("telegram", "c1") == []
        # the message's answered mark, written before the failing INSERT, is undone too
        again, _, _ = await store.next_inbound("telegram", "c1")
        assert again is not None
        assert again.status == InboundStatus.PENDING
    finally:
        await engine.dispose()


async def test_a_turn_is_finished_once_whoever_comes_back_second(store: Store) -> None:
    """Two processes that both answered one message (a lease lost to a stalled process):
    the second answer queues nothing, and cannot postpone an answered message either."""
    await store.ingest(message("1", text="q"))
    inbound = await store.first_pending_inbound("telegram", "c1")
    assert inbound is not None
    first = await store.complete_inbound(
        inbound, InboundStatus.ANSWERED, [NewOutbound(OutboundKind.REPLY, {"text": "a"})]
    )
    second = await store.complete_inbound(
        inbound, InboundStatus.ANSWERED, [NewOutbound(OutboundKind.REPLY, {"text": "a"})]
    )
    late = await store.postpone_inbound(
        inbound, 5.0, "timeout", NewOutbound(OutboundKind.NOTICE, {"text": "delayed"})
    )
    assert len(first) == 1
    assert second == []
    assert late == []
    assert len(await store.pending_outbound("telegram", "c1")) == 1
    async with store.reading() as session:
        status = await session.scalar(select(Inbound.status).where(Inbound.id == inbound.id))
    assert status == InboundStatus.ANSWERED


async def test_a_message_answered_since_it_was_read_is_not_started_again(store: Store) -> None:
    """Another process answered it and released the chat: a process that read the
    message before must neither take the turn nor send it to Rasa."""
    await store.ingest(message("1", text="q"))
    stale = await store.first_pending_inbound("telegram", "c1")
    assert stale is not None
    assert await store.begin_turn(stale, time.time() + 5, at_rasa=True) == TurnStart.OURS
    await store.complete_inbound(
        stale, InboundStatus.ANSWERED, [NewOutbound(OutboundKind.REPLY, {"text": "a"})],
        release=True,
    )
    again = await store.begin_turn(stale, time.time() + 5, at_rasa=True)
    assert again == TurnStart.FINISHED
    async with store.reading() as session:
        row = await session.get(Inbound, stale.id)
    assert row is not None
    assert (row.status, row.attempts) == (InboundStatus.ANSWERED, 1)
