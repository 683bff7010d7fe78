"""SMS and voice through Somleng (the twilio library against a fake of Somleng's
Twilio-compatible API on loopback): sends, refusals, the delivery engine's pacing per
account, and the signed status callbacks."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import insert, select
from twilio.request_validator import RequestValidator

from bot import keys
from bot._exceptions import ChannelError, RateLimited, RecipientBlocked, Undeliverable
from bot._metrics import Metrics
from bot._settings import Settings
from bot.channels._receipts import DeliveryReceipt
from bot.channels._somleng import SOMLENG, SomlengChannel, SomlengSettings, twiml_for
from bot.delivery import DeliveryEngine, LocalPacer, pace_limits
from bot.delivery._bulk import BulkDelivery, LocalBulkLimiter
from bot.dissemination import DisseminationService, Person
from bot.dissemination._runtime import bulk_limits
from bot.dissemination._senders import ChannelBulkSender
from bot.storage._db import Outbound, create_engine
from bot.storage._migrate import migrate
from bot.storage._models import OutboundKind
from bot.storage._store import NewOutbound, Store
from tests.bot.gateway_fakes import wait_until
from tests.bot.somleng_fake import ACCOUNT_SID, AUTH_TOKEN, FakeSomleng, start_somleng

PHONE = "+85512345678"
ALERT_KM = "ព្រមានទឹកជំនន់៖ សូមផ្លាស់ទីទៅកន្លែងខ្ពស់។"
RECORDING = "https://sp4all.example/audio/flood-km.mp3"


@pytest.fixture
async def somleng() -> AsyncIterator[FakeSomleng]:
    fake = await start_somleng()
    yield fake
    assert fake.server is not None
    await fake.server.close()


def somleng_settings(fake: FakeSomleng) -> SomlengSettings:
    return SomlengSettings(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_url=fake.url,
        sms_from="1294",
        voice_from="+85523999999",
        timeout_s=5.0,
    )


@pytest.fixture
async def channels(somleng: FakeSomleng) -> AsyncIterator[dict[str, SomlengChannel]]:
    settings = somleng_settings(somleng)
    made = {
        "sms": SomlengChannel("sms", settings, "https://gw.example/somleng/status/sms"),
        "voice": SomlengChannel("voice", settings, "https://gw.example/somleng/status/voice"),
    }
    yield made
    for channel in made.values():
        await channel.aclose()


async def test_an_sms_in_khmer_goes_to_somleng(
    somleng: FakeSomleng, channels: dict[str, SomlengChannel]
) -> None:
    sid = await channels["sms"].send(PHONE, {"text": ALERT_KM})
    (sent,) = somleng.messages
    assert sid == sent["Sid"]
    assert (sent["To"], sent["From"], sent["Body"]) == (PHONE, "1294", ALERT_KM)
    assert sent["StatusCallback"] == "https://gw.example/somleng/status/sms"


async def test_a_call_plays_the_recording_or_says_the_text(
    somleng: FakeSomleng, channels: dict[str, SomlengChannel]
) -> None:
    await channels["voice"].send(PHONE, {"audio_url": RECORDING, "text": ALERT_KM})
    await channels["voice"].send(PHONE, {"text": ALERT_KM, "language": "km"})
    first, second = somleng.calls
    assert f"<Play>{RECORDING}</Play>" in first["Twiml"]
    assert "<Say" not in first["Twiml"]
    assert f'<Say language="km-KH">{ALERT_KM}</Say>' in second["Twiml"]
    assert first["From"] == "+85523999999"
    assert twiml_for({"text": "Move to high ground", "language": "en"}).count("en-US") == 1


async def test_somleng_refusals_become_the_engines_outcomes(
    somleng: FakeSomleng, channels: dict[str, SomlengChannel]
) -> None:
    sms = channels["sms"]
    somleng.refuse_next(429, 20429, "Too Many Requests")
    with pytest.raises(RateLimited):
        await sms.send(PHONE, {"text": ALERT_KM})
    somleng.refuse_next(400, 21211, "The 'To' number is not a valid phone number")
    with pytest.raises(Undeliverable):
        await sms.send(PHONE, {"text": ALERT_KM})
    somleng.refuse_next(400, 21610, "Attempt to send to unsubscribed recipient")
    with pytest.raises(RecipientBlocked):
        await sms.send(PHONE, {"text": ALERT_KM})
    somleng.refuse_next(500, 20500, "Internal Server Error")
    with pytest.raises(ChannelError) as failed:
        await sms.send(PHONE, {"text": ALERT_KM})
    assert type(failed.value) is ChannelError  # retried with backoff
    with pytest.raises(Undeliverable, match=r"E\.164"):
        await sms.send("012 345 678", {"text": ALERT_KM})
    assert somleng.messages == []


def test_render_splits_long_sms_and_keeps_the_text_for_voice() -> None:
    settings = SomlengSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    long_text = " ".join([ALERT_KM] * 30)

    async def render() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        sms, voice = SomlengChannel("sms", settings), SomlengChannel("voice", settings)
        try:
            return sms.render([{"text": long_text}]), voice.render([{"text": ALERT_KM}])
        finally:
            await sms.aclose()
            await voice.aclose()

    sms_bodies, voice_bodies = asyncio.run(render())
    assert len(sms_bodies) > 1
    assert all(len(b["text"]) <= 670 for b in sms_bodies)
    assert voice_bodies == [{"text": ALERT_KM, "audio_url": ""}]


# ----- through the delivery engine, paced per account ----------------------------------------


async def test_the_engine_sends_alerts_by_sms_and_voice_within_each_accounts_pace(
    database_url: str, somleng: FakeSomleng, channels: dict[str, SomlengChannel]
) -> None:
    engine, sessions = create_engine(database_url)
    await migrate(engine)
    store = Store(sessions, engine.dialect.name)
    settings = Settings(
        delivery_sms_per_s=10.0,
        delivery_voice_per_s=2.0,
        delivery_poll_s=0.05,
        lease_s=5.0,
        log_json=False,
    )
    phones = [f"+8551200{n:04d}" for n in range(6)]
    async with store.writing() as session:
        values = [
            Store.outbound_values(kind, phone, None, NewOutbound(OutboundKind.ALERT, body))
            for phone in phones
            for kind, body in (("sms", {"text": ALERT_KM}), ("voice", {"audio_url": RECORDING}))
        ]
        await session.execute(insert(Outbound), values)
        await session.commit()
    delivery = DeliveryEngine(
        store=store,
        channels=channels,
        pacer=LocalPacer(pace_limits(settings)),
        settings=settings,
        metrics=Metrics(),
    )
    task = asyncio.create_task(delivery.run())
    try:
        await wait_until(lambda: len(somleng.calls) >= len(phones), timeout=15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(m["To"] for m in somleng.messages) == phones
    assert sorted(c["To"] for c in somleng.calls) == phones
    for kind, limit in (("voice", 2), ("sms", 10)):
        times = somleng.times[kind]
        most = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
        assert most <= limit, (kind, most, gaps)
    async with store.reading() as session:
        rows = list(await session.scalars(select(Outbound)))
    assert {r.status for r in rows} == {"sent"}
    assert {r.external_id[:2] for r in rows if r.external_id} == {"SM", "CA"}
    await engine.dispose()


# ----- status callbacks ------------------------------------------------------------------------


async def test_signed_status_callbacks_are_recorded_and_forged_ones_refused(
    gateway: Any, somleng: FakeSomleng, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOMLENG_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("SOMLENG_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("SOMLENG_API_URL", somleng.url)
    client = await gateway()
    assert set(client.app[SOMLENG]) == {"sms", "voice"}
    validator = RequestValidator(AUTH_TOKEN)

    async def callback(kind: str, params: dict[str, str], signature: str | None = None) -> int:
        url = str(client.make_url(f"/somleng/status/{kind}"))
        sig = signature if signature is not None else validator.compute_signature(url, params)
        resp = await client.post(
            f"/somleng/status/{kind}", data=params, headers={"X-Twilio-Signature": sig}
        )
        return int(resp.status)

    delivered = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": PHONE}
    assert await callback("sms", delivered) == 204
    completed = {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "31"}
    assert await callback("voice", completed) == 204
    assert await callback("sms", {**delivered, "MessageStatus": "failed"}, "forged") == 403
    assert await callback("sms", delivered, "") == 403
    assert await callback("fax", delivered) == 404
    async with client.app[keys.STORE].reading() as session:
        rows = list(await session.scalars(select(DeliveryReceipt).order_by(DeliveryReceipt.id)))
    assert [(r.channel, r.external_id, r.status, r.duration_s) for r in rows] == [
        ("sms", "SM1", "delivered", None),
        ("voice", "CA1", "completed", 31.0),
    ]


# ----- broadcasts: the bulk path ------------------------------------------------------------


async def test_a_broadcast_by_sms_and_voice_keeps_within_each_accounts_bulk_pace(
    database_url: str, somleng: FakeSomleng, channels: dict[str, SomlengChannel]
) -> None:
    """Bulk SMS and calls are paced per Somleng account like Telegram's, with a share of
    the account kept for replies (a voice account allows 2 calls started per second)."""
    engine, _ = create_engine(database_url)
    await migrate(engine)
    service = DisseminationService(engine, channels=("sms", "voice"))
    phones = [f"+8551200{n:04d}" for n in range(8)]
    for phone in phones:
        for kind in ("sms", "voice"):
            await service.subscribe(kind, phone, topics=["emergency"], area_code="04")
    author = Person(agent_id=1, role="ministry_editor", org_kind="ministry")
    approver = Person(agent_id=2, role="secretariat_reviewer", org_kind="secretariat")
    bid = await service.create_draft(
        author,
        text_km=ALERT_KM,
        text_en="Flood warning: move to higher ground.",
        topic="emergency",
        area_codes=["04"],
    )
    await service.approve(bid, approver)
    assert await service.plan(bid)
    limits = bulk_limits(Settings(delivery_sms_per_s=5.0, delivery_voice_per_s=2.0))
    assert limits["sms"] == pytest.approx(4.0)
    assert limits["voice"] == pytest.approx(1.6)
    bulk = BulkDelivery(
        engine=engine,
        owner="phone-test",
        senders={name: ChannelBulkSender(channel) for name, channel in channels.items()},
        limiter=LocalBulkLimiter(limits),
        limits=limits,
        metrics=Metrics(),
        poll_s=0.05,
    )
    task = asyncio.create_task(bulk.run())
    try:
        await wait_until(lambda: len(somleng.calls) >= len(phones), timeout=20)
    finally:
        bulk.stop()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(m["To"] for m in somleng.messages) == phones
    assert sorted(c["To"] for c in somleng.calls) == phones
    for kind, most_allowed in (("sms", 4), ("voice", 2)):
        times = somleng.times[kind]
        most = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
        assert most <= most_allowed, (kind, most, [round(t - times[0], 3) for t in times])
    assert somleng.account_reads >= 1  # the connection was opened before the first send
    # eight calls at 1.6 per second take about four seconds, not one burst
    assert somleng.times["voice"][-1] - somleng.times["voice"][0] > 3.5
    await engine.dispose()
