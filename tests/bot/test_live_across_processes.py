"""Live console events cross gateway processes (PostgreSQL LISTEN/NOTIFY): two gateway
apps on one database stand for two processes behind the same port."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from bot.handoff import HANDOFFS, LIVE, RESYNC, HandoffRequest, LiveEvent
from bot.handoff._live_relay import PostgresRelay
from tests.bot.console_helpers import logged_in, make_team
from tests.bot.gateway_fakes import FakeRasa
from tests.bot.gateway_fixtures import PG_ADMIN_DSN, GatewayFactory

NORTH_PLACE = "010201"
CAPITAL_PLACE = "120101"
WAIT_S = 10.0


def relay_of(client: TestClient[Any, Any]) -> PostgresRelay:
    relay = client.app[LIVE].relay
    assert isinstance(relay, PostgresRelay)
    return relay


async def two_processes(gateway: GatewayFactory, postgres_url: str) -> list[TestClient[Any, Any]]:
    clients = [await gateway(database_url=postgres_url) for _ in range(2)]
    for client in clients:
        await asyncio.wait_for(relay_of(client).listening.wait(), WAIT_S)
    return clients


async def next_event(queue: asyncio.Queue[LiveEvent]) -> LiveEvent:
    return await asyncio.wait_for(queue.get(), WAIT_S)


async def open_handoff(client: TestClient[Any, Any], chat_id: str, place: str) -> int:
    view = await client.app[HANDOFFS].open(
        HandoffRequest(
            channel="webchat",
            chat_id=chat_id,
            reason="user_request",
            language="km",
            place_code=place,
            summary="secret words of the citizen",
        )
    )
    return int(view.id)


async def read_until(stream: Any, handoff_id: int) -> list[dict[str, Any]]:
    """SSE frames' data until one about ``handoff_id``."""
    seen: list[dict[str, Any]] = []
    while True:
        line = (await asyncio.wait_for(stream.content.readline(), WAIT_S)).decode()
        if line.startswith("data: "):
            seen.append(json.loads(line[len("data: ") :]))
            if seen[-1]["handoff_id"] == handoff_id:
                return seen


async def test_an_agent_on_one_process_sees_a_handoff_opened_on_another(
    gateway: GatewayFactory, postgres_url: str, fake_rasa: FakeRasa
) -> None:
    a, b = await two_processes(gateway, postgres_url)
    await make_team(a)  # one database: b sees the same organisations
    sokha = await logged_in(a, "sokha")  # Banteay Meanchey
    root = await logged_in(a, "root")  # admin
    try:
        async with (
            sokha.http.get(sokha.url("/console/events")) as north_stream,
            root.http.get(root.url("/console/events")) as admin_stream,
        ):
            assert (await north_stream.content.readline()).startswith(b"retry:")
            assert (await admin_stream.content.readline()).startswith(b"retry:")
            theirs = await open_handoff(b, "citizen-capital", CAPITAL_PLACE)
            mine = await open_handoff(b, "citizen-north", NORTH_PLACE)
            north_events = await read_until(north_stream, mine)
            assert theirs not in [e["handoff_id"] for e in north_events]  # scoping holds
            assert all(set(e) == {"kind", "handoff_id"} for e in north_events)  # no text
            admin_events = await read_until(admin_stream, mine)
            assert theirs in [e["handoff_id"] for e in admin_events]
    finally:
        await sokha.close()
        await root.close()


async def test_a_process_does_not_deliver_its_own_event_twice(
    gateway: GatewayFactory, postgres_url: str, fake_rasa: FakeRasa
) -> None:
    a, b = await two_processes(gateway, postgres_url)
    hub_a, hub_b = a.app[LIVE], b.app[LIVE]
    async with hub_a.subscribe() as on_a, hub_b.subscribe() as on_b:
        hub_a.publish(LiveEvent("queue", 101, 7, {"text": "never sent"}))
        assert await next_event(on_a) == LiveEvent("queue", 101, 7, {"text": "never sent"})
        assert await next_event(on_b) == LiveEvent("queue", 101, 7)  # data stays home
        # a's own NOTIFY was sent before b's: it has come back by the time b's arrives
        hub_b.publish(LiveEvent("message", 202, 7))
        assert await next_event(on_b) == LiveEvent("message", 202, 7)
        assert await next_event(on_a) == LiveEvent("message", 202, 7)
        assert on_a.empty()
        assert on_b.empty()


async def test_a_stream_shutdown_stays_in_its_process(
    gateway: GatewayFactory, postgres_url: str, fake_rasa: FakeRasa
) -> None:
    a, b = await two_processes(gateway, postgres_url)
    async with b.app[LIVE].subscribe() as on_b:
        a.app[LIVE].publish(LiveEvent("console-shutdown"))  # no handoff: local
        a.app[LIVE].publish(LiveEvent("queue", 303, 1))
        assert await next_event(on_b) == LiveEvent("queue", 303, 1)
        assert on_b.empty()


async def test_the_listener_reconnects_after_losing_its_connection_and_pages_resync(
    gateway: GatewayFactory, postgres_url: str, fake_rasa: FakeRasa
) -> None:
    a, b = await two_processes(gateway, postgres_url)
    relay = relay_of(a)
    async with a.app[LIVE].subscribe() as on_a:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:  # what a database restart does to the connection
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", relay.server_pid)
        finally:
            await admin.close()
        assert await next_event(on_a) == LiveEvent(RESYNC)
        await asyncio.wait_for(relay.listening.wait(), WAIT_S)
        assert relay.connections == 2
        b.app[LIVE].publish(LiveEvent("handoff", 404, 2))
        assert await next_event(on_a) == LiveEvent("handoff", 404, 2)


async def test_sqlite_has_no_relay(gateway: GatewayFactory) -> None:
    client = await gateway()  # SQLite: one process, events stay in it
    assert client.app[LIVE].relay is None
