"""What the console's busiest requests cost the database, on SQLite and PostgreSQL: a fixed
number of statements however long the history or the queue (no per-row loading), pages that
never take the single SQLite writer's turn, claims and closes that stay exclusive when two
people act at once, Rasa resumed after a close's answer, and live events that wake only the
browsers allowed to see them. (Speed itself is measured in bench/console_bench.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event

from bot import Conflict, keys
from bot.console import CONSOLE
from bot.handoff import HANDOFFS, HandoffRequest, LiveEvent, LiveHub, Viewer
from tests.bot.console_helpers import (
    ASK_FOR_A_PERSON,
    BANTEAY_NEANG,
    citizen_says,
    handoff_responder,
    logged_in,
    make_team,
)
from tests.bot.gateway_fakes import FakeRasa, FakeTelegram, wait_until, wait_until_async

BANTEAY_NEANG_CODE = "01020304"  # tests/bot/data/communes.yml: routed to the north CSO


def viewer_of(client: TestClient[Any, Any], username: str, team: Any) -> Viewer:
    person = team.people[username]
    return Viewer(person.id, person.organisation_id, person.role, person.display_name)


# the pipeline's own statements (delivery status, due-work scans), which may run meanwhile
PIPELINE_SQL = re.compile(
    r"UPDATE gw_(outbound|inbound) SET status|gw_(outbound|inbound)\.status = |due_at [<>]"
)
# and the gateway's background tasks by name (bot/_app.py, bot/conversation, bot/handoff,
# dissemination's tick and bulk path, the cases' timer, the dashboard's refresh): on a loaded
# machine they run in the middle of the request being counted
BACKGROUND_TASKS = (
    "pipeline",
    "drain ",
    "escalation",
    "telegram-polling",
    "handoff resume",
    "dissemination",
    "bulk",
    "case-timer",
    "dashboard-refresh",
    "cap-feeds",
)


def _in_background() -> bool:
    task = asyncio.current_task()
    return task is not None and task.get_name().startswith(BACKGROUND_TASKS)


@contextlib.contextmanager
def statements(client: TestClient[Any, Any]) -> Iterator[list[str]]:
    """SQL the gateway runs meanwhile (the pipeline's delivery work left out)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        flat = " ".join(statement.split())
        if not PIPELINE_SQL.search(flat) and not _in_background():
            seen.append(flat)

    engine = client.app[keys.ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def writes(seen: list[str]) -> list[str]:
    return [s for s in seen if s.split()[0] in ("INSERT", "UPDATE", "DELETE")]


async def open_handoffs(client: TestClient[Any, Any], count: int, start: int = 7000) -> list[int]:
    service = client.app[HANDOFFS]
    ids = []
    for i in range(count):
        handoff = await service.open(
            HandoffRequest(
                "telegram",
                str(start + i),
                "user_request",
                place_code=BANTEAY_NEANG_CODE,
                summary="Topic: equity_card.",
            )
        )
        ids.append(handoff.id)
    return ids


async def test_statements_per_console_request_do_not_grow_with_history_or_queue(
    database_url: str, gateway, fake_telegram: FakeTelegram
) -> None:
    client = await gateway(database_url=database_url)
    team = await make_team(client)
    service = client.app[HANDOFFS]
    sokha, srey = viewer_of(client, "sokha", team), viewer_of(client, "srey", team)
    ids = await open_handoffs(client, 30)
    handoff = ids[0]
    await service.claim(sokha, handoff)
    for i in range(12):  # a long history written by two people, with notes
        await service.reply(sokha, handoff, f"reply {i}")
        await service.note(srey if i % 2 else sokha, handoff, f"note {i}")
    await wait_until(lambda: len(fake_telegram.sent()) >= 30 + 1 + 12, timeout=10)

    with statements(client) as seen:
        queue = await service.queue(sokha)
    assert len(queue) == 30
    assert len(seen) == 1, seen  # names joined in: no query per row

    with statements(client) as seen:
        view, history = await service.conversation(sokha, handoff)
    assert view.agent_name == "Sokha"
    assert view.organisation_name == team.north.name
    assert {i.agent_name for i in history if i.author in ("agent", "note")} == {"Sokha", "Srey"}
    # the handoff, citizen, assistant and agent messages, notes and events, every name
    assert len(seen) == 5, seen

    with statements(client) as seen:
        orgs, agents = await client.app[CONSOLE].admin.transfer_targets(sokha.organisation_id)
    assert len(seen) == 2, seen
    assert not writes(seen)
    assert {a.username for a in agents} == {"sokha", "srey"}
    assert any(o.national_pool for o in orgs)

    user = await logged_in(client, "sokha")
    try:
        for path in ("/console/", "/console/api/queue", f"/console/c/{handoff}"):
            with statements(client) as seen:
                status, _ = await user.get(path)
            assert status == 200
            # reading pages never waits for (or takes) the single SQLite writer's turn
            assert not writes(seen), (path, seen)
        with statements(client) as seen:
            status, _ = await user.get(f"/console/c/{handoff}")
        # session, conversation (5), transfer targets (2), the knowledge base's live ETag
        # (the canned replies quote its amounts; the document is parsed once per revision)
        assert len(seen) <= 9, seen
    finally:
        await user.close()


async def test_two_people_claiming_at_once_one_wins(database_url: str, gateway) -> None:
    client = await gateway(database_url=database_url)
    team = await make_team(client)
    service = client.app[HANDOFFS]
    sokha, srey = viewer_of(client, "sokha", team), viewer_of(client, "srey", team)
    ids = await open_handoffs(client, 5)
    for handoff in ids:
        results = await asyncio.gather(
            service.claim(sokha, handoff), service.claim(srey, handoff), return_exceptions=True
        )
        won = [r for r in results if not isinstance(r, BaseException)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1, results
        assert len(lost) == 1, results
        assert isinstance(lost[0], Conflict)
        [view] = [v for v in await service.queue(sokha) if v.id == handoff]
        assert view.agent_id == won[0].agent_id
    # closing twice at once: one close, one Conflict, one "closed" audit event
    handoff = ids[0]
    holder = sokha if (await service.view(sokha, handoff)).agent_id == sokha.agent_id else srey
    results = await asyncio.gather(
        service.close(holder, handoff), service.close(srey, handoff), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "NoneType"]
    history = await service.history(sokha, handoff)
    assert [i.text for i in history if i.text == "closed"] == ["closed"]


async def test_close_answers_before_rasa_resumes_and_the_flag_is_cleared(
    database_url: str, gateway, fake_rasa: FakeRasa
) -> None:
    fake_rasa.responder = handoff_responder
    client = await gateway(database_url=database_url)
    team = await make_team(client)
    service = client.app[HANDOFFS]
    sokha = viewer_of(client, "sokha", team)
    chats = (8100, 8101, 8102)
    for n, chat_id in enumerate(chats):
        await citizen_says(client, 2 * n + 1, chat_id, location=BANTEAY_NEANG)
        await citizen_says(client, 2 * n + 2, chat_id, ASK_FOR_A_PERSON)
    await wait_until_async(lambda: service.queue(sokha), lambda q: len(q) == 3, timeout=10)
    for view in await service.queue(sokha):
        await service.claim(sokha, view.id)
        await service.close(sokha, view.id)
    await service.wait_resumed()
    for chat_id in chats:
        assert (f"telegram:{chat_id}", {"event": "resume"}) in fake_rasa.events
        chat = await client.app[keys.STORE].chat("telegram", str(chat_id))
        assert chat is not None
        assert not chat.in_handoff
        assert not chat.resume_pending  # cleared together, once Rasa had resumed


async def test_live_events_reach_only_the_subscribers_that_accept_them() -> None:
    hub = LiveHub()
    async with (
        hub.subscribe(lambda e: e.organisation_id == 1) as north,
        hub.subscribe() as everything,
    ):
        hub.publish(LiveEvent("queue", 5, 2))
        hub.publish(LiveEvent("message", 6, 1, {"text": "never on the wire"}))
        assert north.qsize() == 1
        assert everything.qsize() == 2
        event = north.get_nowait()
        assert event.handoff_id == 6
        # encoded once for every stream; says which conversation changed, never what
        assert event.sse == b'event: message\ndata: {"kind": "message", "handoff_id": 6}\n\n'
        assert event.sse is event.sse
    assert hub.subscribers == 0


@pytest.mark.parametrize("admin", [False, True])
async def test_conversation_page_of_another_organisation_is_still_hidden(
    gateway, admin: bool
) -> None:
    client = await gateway()
    team = await make_team(client)
    service = client.app[HANDOFFS]
    [handoff] = await open_handoffs(client, 1, start=8200)
    dara = viewer_of(client, "root" if admin else "dara", team)  # dara: the capital's CSO
    if admin:
        view, _ = await service.conversation(dara, handoff)
        assert view.id == handoff
    else:
        with pytest.raises(Exception, match="no conversation"):
            await service.conversation(dara, handoff)
