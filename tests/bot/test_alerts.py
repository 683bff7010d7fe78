"""Importing CAP alerts on SQLite and PostgreSQL: hand-off, Update, Cancel, refusals
(nothing stored, nothing handed off), senders' tokens and policies."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from alembic import command
from lxml import etree
from sqlalchemy import func, inspect, select

from bot._cli import main as cli_main
from bot._exceptions import SettingsError
from bot.accounts import Role
from bot.alerts import (
    AlertService,
    AlertSource,
    AlertState,
    CapAlertRow,
    CapInvalid,
    CapRefused,
    ImportedAlert,
    parse_cap,
)
from bot.alerts._feed import poll_once
from bot.alerts._settings import AlertSettings
from bot.alerts._web import ALERTS
from bot.console import CONSOLE
from bot.storage._db import create_engine
from bot.storage._migrate import alembic_config, migrate
from bot.storage._store import Store
from tests.bot.cap_helpers import (
    FLOOD_EN,
    FLOOD_KM,
    FLOOD_TEXT_KM,
    SENDER,
    cap,
    oasis,
    reference,
)
from tests.bot.console_helpers import PASSWORD, logged_in, make_team


@dataclass
class RecordingHook:
    """The dissemination side as the tests see it: what it was asked to send or stop."""

    alerts: list[ImportedAlert] = field(default_factory=list)
    cancels: list[tuple[str, str]] = field(default_factory=list)

    async def on_alert(self, alert: ImportedAlert) -> None:
        self.alerts.append(alert)

    async def on_cancel(self, alert: ImportedAlert, reason: str) -> None:
        self.cancels.append((alert.cap_identifier, reason))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    engine, sessions = create_engine(database_url)
    await migrate(engine)
    yield Store(sessions, engine.dialect.name)
    await engine.dispose()


@pytest.fixture
def hook() -> RecordingHook:
    return RecordingHook()


@pytest.fixture
def service(store: Store, hook: RecordingHook) -> AlertService:
    return AlertService(store, hook)


async def _count(store: Store) -> int:
    async with store.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(CapAlertRow)) or 0)


async def test_an_alert_is_stored_and_handed_off_in_khmer_and_english(
    service: AlertService, hook: RecordingHook
) -> None:
    sent = datetime.now(UTC).replace(microsecond=0)
    result = await service.import_cap(cap(sent=sent), source=AlertSource.CLI)
    assert result.state == AlertState.ACTIVE
    assert result.handed_off
    (alert,) = hook.alerts
    assert alert.cap_identifier == "KH-FLOOD-1"
    assert (alert.headline_km, alert.headline_en) == (FLOOD_KM, FLOOD_EN)
    assert alert.text_km == FLOOD_TEXT_KM
    assert alert.area_codes == ["12"]
    assert alert.expires_at == (sent + timedelta(hours=6)).timestamp()
    assert (alert.severity, alert.urgency) == ("Severe", "Immediate")
    assert alert.supersedes is None
    assert alert.require_approval  # unknown senders need the secretariat's approval


async def test_update_supersedes_and_cancel_stops(
    service: AlertService, hook: RecordingHook, store: Store
) -> None:
    sent = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    await service.import_cap(cap("KH-1", sent=sent), source=AlertSource.REST)
    later = sent + timedelta(minutes=5)
    update = cap(
        "KH-2",
        msg_type="Update",
        sent=later,
        references=reference("KH-1", sent),
        area="<geocode><valueName>NCDD</valueName><value>120101</value></geocode>",
    )
    await service.import_cap(update, source=AlertSource.REST)
    assert hook.alerts[-1].supersedes == "KH-1"
    assert hook.alerts[-1].area_codes == ["120101"]
    cancel = cap(
        "KH-3",
        msg_type="Cancel",
        sent=later + timedelta(minutes=1),
        references=reference("KH-2", later),
        note="ទឹកបានស្រកហើយ / the water went down",
        info=False,
    )
    result = await service.import_cap(cancel, source=AlertSource.REST)
    assert result.state == AlertState.RECORDED
    assert hook.cancels == [("KH-2", "ទឹកបានស្រកហើយ / the water went down")]
    assert [r.identifier for r in await service.feed_alerts()] == ["KH-3"]  # in force: none
    states = {row.identifier: row.state for row in await service.alerts()}
    assert states == {"KH-1": "superseded", "KH-2": "cancelled", "KH-3": "recorded"}
    assert len(hook.alerts) == 2  # the Cancel sent nothing itself


async def test_an_update_of_an_unknown_alert_is_refused_and_nothing_is_sent(
    service: AlertService, hook: RecordingHook, store: Store
) -> None:
    with pytest.raises(CapRefused, match=r"unknown alert: trinet@caltech\.edu,TRI13970876\.1"):
        await service.import_cap(oasis("earthquake_update"), source=AlertSource.CLI)
    sent = datetime.now(UTC) - timedelta(minutes=1)
    with pytest.raises(CapRefused, match="unknown alert"):
        await service.import_cap(
            cap("KH-9", msg_type="Cancel", references=reference("KH-404", sent), info=False),
            source=AlertSource.CLI,
        )
    assert await _count(store) == 0
    assert hook.alerts == []
    assert hook.cancels == []


async def test_expired_and_invalid_alerts_are_never_stored_or_sent(
    service: AlertService, hook: RecordingHook, store: Store
) -> None:
    sent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    with pytest.raises(CapRefused, match="expired"):
        await service.import_cap(
            cap(sent=sent, expires=sent + timedelta(hours=1)), source=AlertSource.FEED
        )
    with pytest.raises(CapInvalid, match="not closed"):
        await service.import_cap(
            cap(area="<polygon>11.5,104.9 11.6,104.9 11.6,105.0 11.5,105.0</polygon>"),
            source=AlertSource.REST,
        )
    with pytest.raises(CapRefused, match="no area of the alert is in Cambodia"):
        await service.import_cap(oasis("amber_alert"), source=AlertSource.CLI)
    assert await _count(store) == 0
    assert hook.alerts == []


async def test_an_alert_expires_after_it_was_stored(
    service: AlertService, hook: RecordingHook
) -> None:
    sent = datetime.now(UTC).replace(microsecond=0)
    await service.import_cap(cap(sent=sent), source=AlertSource.CLI)
    assert await service.expire_due(now=time.time()) == 0
    assert await service.expire_due(now=(sent + timedelta(hours=7)).timestamp()) == 1
    (row,) = await service.alerts()
    assert row.state == AlertState.EXPIRED
    assert await service.feed_alerts(now=(sent + timedelta(hours=7)).timestamp()) == []


async def test_a_repeated_document_is_a_duplicate_and_a_changed_one_a_conflict(
    service: AlertService, hook: RecordingHook
) -> None:
    doc = cap()
    await service.import_cap(doc, source=AlertSource.FEED)
    again = await service.import_cap(doc, source=AlertSource.FEED)
    assert again.duplicate
    assert not again.handed_off
    with pytest.raises(CapRefused) as refused:
        await service.import_cap(cap(headline_km="ផ្សេង"), source=AlertSource.FEED)
    assert refused.value.status == 409
    assert len(hook.alerts) == 1


async def test_tests_and_exercises_are_recorded_not_sent(
    service: AlertService, hook: RecordingHook
) -> None:
    result = await service.import_cap(cap(status="Exercise"), source=AlertSource.CLI)
    assert result.state == AlertState.RECORDED
    assert hook.alerts == []


async def test_sender_tokens_and_the_approval_policy(
    service: AlertService, hook: RecordingHook
) -> None:
    token = await service.new_token(SENDER, "ក្រសួងធនធានទឹក និងឧតុនិយម")
    sender = await service.sender_by_token(token)
    assert sender is not None
    assert sender.cap_sender == SENDER
    assert await service.sender_by_token("wrong") is None
    await service.set_policy(SENDER, require_approval=False, by="secretariat")
    sender = await service.sender_by_token(token)
    assert sender is not None
    await service.import_cap(cap(), source=AlertSource.REST, sender=sender)
    assert hook.alerts[-1].require_approval is False
    other = await service.new_token("other@example.org")
    other_sender = await service.sender_by_token(other)
    assert other_sender is not None
    with pytest.raises(CapRefused) as refused:
        await service.import_cap(cap("KH-X"), source=AlertSource.REST, sender=other_sender)
    assert refused.value.status == 403
    # nobody cancels another sender's alert
    stranger = cap(
        "KH-Y",
        sender="other@example.org",
        msg_type="Cancel",
        references=reference("KH-FLOOD-1", datetime.now(UTC)),
        info=False,
    )
    with pytest.raises(CapRefused, match="only update or cancel its own alerts") as refused:
        await service.import_cap(stranger, source=AlertSource.REST, sender=other_sender)
    assert refused.value.status == 403
    assert hook.cancels == []
    # a new token replaces the old one
    await service.new_token(SENDER)
    assert await service.sender_by_token(token) is None


# ----- REST import, the public feed ---------------------------------------------------------


async def _rest(client: Any, body: str | bytes, token: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/cap+xml"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    resp = await client.post("/api/alerts/v1/cap", data=body, headers=headers)
    return resp.status, await resp.json()


async def test_rest_import_with_clear_errors_and_the_public_cap_feed(gateway: Any) -> None:
    client = await gateway()
    service = client.app[ALERTS]
    token = await service.new_token(SENDER, "MOWRAM")
    status, body = await _rest(client, cap(), None)
    assert status == 401
    assert "bearer token" in body["error"]
    assert (await _rest(client, cap(), "not-a-token"))[0] == 401
    sent = datetime.now(UTC).replace(microsecond=0)
    status, body = await _rest(client, cap(sent=sent), token)
    assert status == 201, body
    assert body["area_codes"] == ["12"]
    assert body["state"] == "active"
    assert (await _rest(client, cap(sent=sent), token))[0] == 200  # the same again
    refusals: list[tuple[str | bytes, int, str]] = [
        (b"\x00\xff not xml", 400, "well-formed"),
        (
            cap("KH-P", area="<polygon>11.5,104.9 11.6,104.9 11.6,105 11.5,105</polygon>"),
            400,
            "not closed",
        ),
        (cap("KH-S", status="Nonsense"), 400, "not valid CAP 1.2"),
        (cap("KH-E", sent=sent, expires=sent - timedelta(hours=1)), 400, "not after sent"),
        (
            cap("KH-U", msg_type="Update", references=reference("KH-404", sent)),
            422,
            "unknown alert",
        ),
        (cap("KH-O", sender="other@example.org"), 403, "not 'other@example.org'"),
        (cap(headline_km="ផ្សេងទៀត", sent=sent), 409, "received already"),
        (b"<alert>" + b"x" * (901 * 1024) + b"</alert>", 413, "at most"),
    ]
    for doc, expected, words in refusals:
        status, body = await _rest(client, doc, token)
        assert (status, words in body["error"]) == (expected, True), (status, body)
    assert [r.identifier for r in await service.alerts()] == ["KH-FLOOD-1"]

    feed = await client.get("/alerts/feed.atom")
    assert feed.status == 200
    assert feed.content_type == "application/atom+xml"
    root = etree.fromstring(await feed.read())
    atom = "{http://www.w3.org/2005/Atom}"
    (entry,) = root.findall(f"{atom}entry")
    assert FLOOD_KM in entry.findtext(f"{atom}title", "")
    link = entry.find(f"{atom}link")
    assert link is not None
    assert link.get("type") == "application/cap+xml"
    path = "/" + link.get("href", "").split("/", 3)[3]
    assert path == f"/alerts/{body_id(await service.alerts())}.xml"
    doc = await client.get(path)
    assert doc.status == 200
    assert doc.content_type == "application/cap+xml"
    assert parse_cap(await doc.read()).identifier == "KH-FLOOD-1"
    assert (await client.get("/alerts/999.xml")).status == 404


def body_id(rows: list[CapAlertRow]) -> int:
    return rows[0].id


# ----- feed polling against a local fake feed -------------------------------------------------


async def test_feed_polling_imports_linked_and_inline_alerts_once(
    service: AlertService, hook: RecordingHook
) -> None:
    sent = datetime.now(UTC).replace(microsecond=0)
    docs = {
        "/cap/1.xml": cap("KH-F1", sent=sent),
        "/cap/bad.xml": cap(
            "KH-F2", area="<polygon>11.5,104.9 11.6,104.9 11.6,105 11.5,105</polygon>"
        ),
    }
    inline = cap("KH-F3", sent=sent).split("\n", 1)[1]
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>EWS</title>'
        '<entry><id>1</id><link type="application/cap+xml" href="/cap/1.xml"/></entry>'
        '<entry><id>2</id><link href="cap/bad.xml"/></entry>'
        f'<entry><id>3</id><content type="application/cap+xml">{inline}</content></entry>'
        "</feed>"
    )
    rss = '<rss version="2.0"><channel><item><link>/cap/1.xml</link></item></channel></rss>'

    async def serve(request: web.Request) -> web.Response:
        if request.path == "/feed.atom":
            return web.Response(text=atom, content_type="application/atom+xml")
        if request.path == "/feed.rss":
            return web.Response(text=rss, content_type="application/rss+xml")
        return web.Response(text=docs[request.path], content_type="application/cap+xml")

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            url = str(server.make_url("/feed.atom"))
            assert await poll_once(service, http, url) == {
                "imported": 2,
                "duplicate": 0,
                "refused": 1,
            }
            assert await poll_once(service, http, url) == {
                "imported": 0,
                "duplicate": 2,
                "refused": 1,
            }
            rss_url = str(server.make_url("/feed.rss"))
            assert (await poll_once(service, http, rss_url))["duplicate"] == 1
    finally:
        await server.close()
    assert sorted(a.cap_identifier for a in hook.alerts) == ["KH-F1", "KH-F3"]


def test_feed_settings_come_from_the_environment() -> None:
    settings = AlertSettings.from_env(
        {
            "CAP_FEED_URLS": "http://a.example/feed.atom, http://b.example/rss",
            "CAP_FEED_POLL_S": "30",
        }
    )
    assert settings.feed_urls == ("http://a.example/feed.atom", "http://b.example/rss")
    assert settings.poll_s == 30.0
    with pytest.raises(SettingsError):
        AlertSettings.from_env({"CAP_FEED_POLL_S": "soon"})


# ----- the console ----------------------------------------------------------------------------


async def test_the_console_lists_alerts_and_the_secretariat_sets_the_policy(gateway: Any) -> None:
    client = await gateway()
    await make_team(client)
    admin = client.app[CONSOLE].admin
    await admin.add_organisation("ncdm", "Secretariat", kind="secretariat")
    await admin.add_agent("vicheka", "Vicheka", "ncdm", Role.SECRETARIAT_REVIEWER, PASSWORD)
    await admin.add_organisation("mosvy", "Ministry", kind="ministry")
    await admin.add_agent("vanna", "Vanna", "mosvy", Role.MINISTRY_EDITOR, PASSWORD)
    service = client.app[ALERTS]
    await service.new_token(SENDER, "<b>MOWRAM</b>")
    result = await service.import_cap(cap(), source=AlertSource.REST)
    vicheka = await logged_in(client, "vicheka")
    vanna = await logged_in(client, "vanna")
    sokha = await logged_in(client, "sokha")
    try:
        status, page = await vicheka.get("/console/alerts")
        assert status == 200
        assert FLOOD_EN in page
        assert "Emergency alerts" in page
        vicheka.http.cookie_jar.update_cookies({"sp4all_console_lang": "km"})
        status, page = await vicheka.get("/console/alerts")
        assert FLOOD_KM in page
        assert "ការព្រមានបន្ទាន់" in page
        status, page = await vicheka.get(f"/console/alerts/{result.id}")
        assert status == 200
        assert FLOOD_TEXT_KM in page
        assert "&lt;alert" in page
        status, page = await vicheka.get("/console/alerts/senders")
        assert "&lt;b&gt;MOWRAM&lt;/b&gt;" in page
        assert "លើកលែងការអនុម័ត" in page
        status, _body, location = await vicheka.form(
            "/console/alerts/senders/policy", {"sender": SENDER, "approval": "waived"}
        )
        assert (status, location) == (303, "/console/alerts/senders")
        (sender,) = await service.senders()
        assert sender.require_approval is False
        assert sender.policy_by == "Vicheka"
        status, page = await vanna.get("/console/alerts/senders")
        assert status == 200
        assert "senders/policy" not in page
        status, _body, _loc = await vanna.form(
            "/console/alerts/senders/policy", {"sender": SENDER, "approval": "required"}
        )
        assert status == 403
        assert (await sokha.get("/console/alerts"))[0] == 403  # not for CSO agents
    finally:
        for user in (vicheka, vanna, sokha):
            await user.close()


# ----- the command line -----------------------------------------------------------------------


def test_the_command_line_imports_alerts_and_manages_senders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("GATEWAY_LOG_JSON", "0")
    assert cli_main(["cap-sender", "token", SENDER, "--name", "MOWRAM"]) == 0
    assert len(capsys.readouterr().out.strip()) >= 40
    assert cli_main(["cap-sender", "policy", SENDER, "waived"]) == 0
    assert cli_main(["cap-sender", "list"]) == 0
    assert f"{SENDER}\twaived\ttoken\tMOWRAM" in capsys.readouterr().out
    good = tmp_path / "flood.xml"
    good.write_text(cap(), encoding="utf-8")
    assert cli_main(["import-cap", str(good)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["state"] == "active"
    assert out["area_codes"] == ["12"]
    bad = tmp_path / "earthquake.xml"
    bad.write_bytes(oasis("earthquake_update"))
    assert cli_main(["import-cap", str(bad)]) == 1
    assert "unknown alert" in capsys.readouterr().err


async def test_the_gateway_polls_the_configured_feeds(
    gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = cap("KH-POLLED")

    async def serve(request: web.Request) -> web.Response:
        if request.path == "/feed.atom":
            atom = (
                '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id>'
                '<link type="application/cap+xml" href="/a.xml"/></entry></feed>'
            )
            return web.Response(text=atom, content_type="application/atom+xml")
        return web.Response(text=doc, content_type="application/cap+xml")

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    monkeypatch.setenv("CAP_FEED_URLS", str(server.make_url("/feed.atom")))
    monkeypatch.setenv("CAP_FEED_POLL_S", "0.1")
    try:
        client = await gateway()
        service = client.app[ALERTS]
        for _ in range(100):
            if await service.alerts():
                break
            await asyncio.sleep(0.05)
        assert [r.identifier for r in await service.alerts()] == ["KH-POLLED"]
        assert (await service.alerts())[0].source == "feed"
    finally:
        await server.close()


async def test_the_migration_goes_down_and_up_again(database_url: str) -> None:
    def run(connection: Any, action: str, revision: str) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        getattr(command, action)(cfg, revision)

    engine, _ = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.run_sync(run, "downgrade", "0006")
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert not tables & {"gw_cap_alerts", "gw_cap_senders", "gw_delivery_receipts"}
            await conn.run_sync(run, "upgrade", "head")
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert {"gw_cap_alerts", "gw_cap_senders", "gw_delivery_receipts"} <= tables
    finally:
        await engine.dispose()


async def test_the_same_alert_posted_twice_at_once_is_stored_once(
    service: AlertService, hook: RecordingHook
) -> None:
    doc = cap("KH-TWICE")
    results = await asyncio.gather(
        *(service.import_cap(doc, source=AlertSource.REST) for _ in range(4))
    )
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    assert [a.cap_identifier for a in hook.alerts] == ["KH-TWICE"]
