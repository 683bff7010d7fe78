"""A broadcast's report with what the platforms said: a Khmer alert to SMS, voice, Telegram
and Messenger subscribers (fakes of Somleng, the Bot API and the Graph API on loopback),
then Somleng's signed status callbacks and Messenger's signed delivery events. Delivered
and not delivered are counted once per message by its most final status; Telegram stays
``sent`` (it has no receipts). The console's JSON, detail page and CSV show the numbers and
never a phone number or chat id."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator

from bot import keys
from bot.channels._receipts import DeliveryReceipt
from bot.channels._somleng import SOMLENG
from bot.console import CONSOLE
from bot.dissemination import DISSEMINATION, BroadcastKind, Topic
from bot.dissemination._service import Person
from bot.dissemination._tables import BROADCASTS, BULK_OUTBOUND
from tests.bot.console_helpers import PASSWORD, logged_in
from tests.bot.gateway_fakes import FB_SECRET
from tests.bot.somleng_fake import ACCOUNT_SID, AUTH_TOKEN, FakeSomleng, start_somleng
from tests.bot.test_console_queries import statements, writes

GAZETTEER = Path(__file__).resolve().parents[2] / "knowledge" / "gazetteer" / "communes.yml"
ALERT_KM = "ព្រមានទឹកជំនន់៖ សូមផ្លាស់ទីទៅកន្លែងខ្ពស់។"
ALERT_EN = "Flood warning: move to higher ground."
AUTHOR = Person(agent_id=901, role="ministry_editor", org_kind="ministry")
REVIEWER = Person(agent_id=902, role="secretariat_reviewer", org_kind="secretariat")
# phone -> area (12 Phnom Penh, 01 Banteay Meanchey, None: no place given)
SMS = {
    "+85512000001": "120101",  # queued, sent, delivered
    "+85512000002": "120102",  # delivered, then a late "sent"
    "+85512000003": "010201",  # undelivered
    "+85512000004": None,  # sent, no final receipt yet
}
VOICE = {
    "+85512000005": "120101",  # ringing, in-progress, completed (answered)
    "+85512000006": "010201",  # ringing, no-answer
}
TELEGRAM = {"700000001": "120101", "700000002": None}
MESSENGER = {"2900000000000001": "120101"}
CHAT_IDS = [*SMS, *VOICE, *TELEGRAM, *MESSENGER]


@pytest.fixture
async def somleng() -> AsyncIterator[FakeSomleng]:
    fake = await start_somleng()
    yield fake
    assert fake.server is not None
    await fake.server.close()


def signed_page(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    digest = hmac.new(FB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def test_report_counts_delivered_from_receipts_once_per_message(
    gateway: Any,
    somleng: FakeSomleng,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    monkeypatch.setenv("SOMLENG_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("SOMLENG_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("SOMLENG_API_URL", somleng.url)
    client = await gateway(database_url=database_url, gazetteer_path=GAZETTEER)
    assert set(client.app[SOMLENG]) == {"sms", "voice"}
    service = client.app[DISSEMINATION]
    for channel, chats in (
        ("sms", SMS),
        ("voice", VOICE),
        ("telegram", TELEGRAM),
        ("messenger", MESSENGER),
    ):
        for chat_id, area in chats.items():
            await service.subscribe(channel, chat_id, topics=[Topic.EMERGENCY], area_code=area)
    broadcast_id = await service.create_draft(
        AUTHOR,
        title_km="ទឹកជំនន់",
        title_en="Flood",
        text_km=ALERT_KM,
        text_en=ALERT_EN,
        topic=Topic.EMERGENCY,
        kind=BroadcastKind.ALERT,
    )
    await service.approve(broadcast_id, REVIEWER)
    for _ in range(300):
        report = await service.report(broadcast_id)
        if report.sent == len(CHAT_IDS):
            break
        await asyncio.sleep(0.05)
    assert (report.targeted, report.sent, report.failed) == (len(CHAT_IDS), len(CHAT_IDS), 0)
    assert (report.delivered, report.undelivered) == (0, 0)  # no receipt yet

    # ----- Somleng's signed status callbacks, several per message, one out of order ---------
    sids = {m["To"]: m["Sid"] for m in [*somleng.messages, *somleng.calls]}
    assert set(sids) == set(SMS) | set(VOICE)
    validator = RequestValidator(AUTH_TOKEN)

    async def callback(kind: str, phone: str, status: str, **extra: str) -> None:
        sid_key, status_key = (
            ("MessageSid", "MessageStatus")
            if kind == "sms"
            else (
                "CallSid",
                "CallStatus",
            )
        )
        params = {sid_key: sids[phone], status_key: status, "To": phone, **extra}
        url = str(client.make_url(f"/somleng/status/{kind}"))
        resp = await client.post(
            f"/somleng/status/{kind}",
            data=params,
            headers={"X-Twilio-Signature": validator.compute_signature(url, params)},
        )
        assert resp.status == 204

    one, two, three, four = SMS
    for status in ("queued", "sent", "delivered"):
        await callback("sms", one, status)
    await callback("sms", two, "delivered")
    await callback("sms", two, "sent")  # arrived late: still delivered
    for status in ("queued", "sent", "undelivered"):
        await callback("sms", three, status, ErrorCode="30003")
    for status in ("queued", "sent"):
        await callback("sms", four, status)
    answered, unanswered = VOICE
    for status in ("ringing", "in-progress", "completed"):
        await callback("voice", answered, status, CallDuration="24")
    for status in ("ringing", "no-answer"):
        await callback("voice", unanswered, status)

    # ----- Messenger's delivery event (twice, as Meta retries) with a message beside it -----
    async with client.app[keys.ENGINE].connect() as conn:
        mid = await conn.scalar(
            select(BULK_OUTBOUND.c.external_id).where(
                BULK_OUTBOUND.c.broadcast_id == broadcast_id,
                BULK_OUTBOUND.c.channel == "messenger",
            )
        )
    assert mid
    psid = next(iter(MESSENGER))
    delivery = {
        "sender": {"id": psid},
        "recipient": {"id": "PAGE"},
        # with a conversation reply's mid and ids of the wrong type or length: no receipt
        "delivery": {"mids": [mid, "m_a_reply", 42, "m" * 300], "watermark": 1700000000000},
    }
    read = {"sender": {"id": psid}, "recipient": {"id": "PAGE"}, "read": {"watermark": 1}}
    text = {
        "sender": {"id": psid},
        "recipient": {"id": "PAGE"},
        "timestamp": 1,
        "message": {"mid": "m_citizen_1", "text": "អរគុណ"},
    }
    for events in ([delivery, read, text], [delivery]):
        raw, headers = signed_page(
            {"object": "page", "entry": [{"id": "PAGE", "time": 1, "messaging": events}]}
        )
        resp = await client.post("/messenger/webhook", data=raw, headers=headers)
        assert resp.status == 200
        accepted = (await resp.json())["accepted"]
        assert accepted == (1 if text in events else 0)  # the citizen's message still goes in
    forged = await client.post(
        "/messenger/webhook",
        data=raw,
        headers={**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64},
    )
    assert forged.status == 403
    async with client.app[keys.ENGINE].connect() as conn:
        recorded = (
            await conn.execute(
                select(DeliveryReceipt.external_id, DeliveryReceipt.status).where(
                    DeliveryReceipt.channel == "messenger"
                )
            )
        ).all()
    assert [tuple(r) for r in recorded] == [(mid, "delivered")] * 2  # the broadcast's only

    # ----- the report --------------------------------------------------------------------------
    report = await service.report(broadcast_id)
    assert (report.targeted, report.sent, report.delivered, report.undelivered) == (9, 9, 4, 2)
    assert report.undelivered_reasons == {"sms:undelivered": 1, "voice:no-answer": 1}
    assert report.by_channel == {
        "sms": {"targeted": 4, "sent": 4, "delivered": 2, "undelivered": 1},
        "voice": {"targeted": 2, "sent": 2, "delivered": 1, "undelivered": 1},
        "telegram": {"targeted": 2, "sent": 2},  # no "delivered": Telegram does not say
        "messenger": {"targeted": 1, "sent": 1, "delivered": 1, "undelivered": 0},
    }
    assert report.by_province == {
        "12": {"targeted": 5, "sent": 5, "delivered": 4, "undelivered": 0},
        "01": {"targeted": 2, "sent": 2, "delivered": 0, "undelivered": 2},
        "-": {"targeted": 2, "sent": 2, "delivered": 0, "undelivered": 0},
    }

    # ----- the console: JSON, the detail page in both languages, the CSV ----------------------
    admin = client.app[CONSOLE].admin
    org = await admin.add_organisation("nspc", "NSPC secretariat", areas=[], kind="secretariat")
    await admin.add_agent("reviewer", "Reviewer", org.slug, "secretariat_reviewer", PASSWORD)
    reviewer = await logged_in(client, "reviewer")
    try:
        with statements(client) as seen:
            data = await reviewer.api(f"/console/api/broadcasts/{broadcast_id}/report")
        # the session, the broadcast, its skipped recipients, its messages with their
        # receipts: GROUP BYs, however many messages and receipts
        assert len(seen) <= 4, seen
        assert not writes(seen)
        assert (data["sent"], data["delivered"], data["undelivered"]) == (9, 4, 2)
        assert data["by_channel"]["telegram"] == {"targeted": 2, "sent": 2}
        assert data["receipt_channels"] == ["sms", "voice", "messenger"]
        assert data["awaiting_receipts"] == 1  # the fourth SMS: sent, no final receipt yet
        assert data["live"] is True  # sending, or done and a receipt still awaited

        with statements(client) as seen:
            code, page = await reviewer.get(f"/console/broadcasts/{broadcast_id}")
        assert code == 200
        # the same, the broadcast once more and its recordings; no preview that reads
        # every subscriber
        assert len(seen) <= 6, seen
        assert not writes(seen)
        assert 'data-page="broadcast"' in page
        assert f'data-src="/console/api/broadcasts/{broadcast_id}/report"' in page
        assert '<meta http-equiv="refresh"' not in page  # numbers come from the JSON instead
        assert 'data-field="by_channel.telegram.delivered" data-none="—">—<' in page
        assert 'data-field="by_channel.sms.delivered" data-none="—">2<' in page
        assert 'data-field="by_province.01.undelivered" data-none="—">2<' in page
        assert '<dd data-field="delivered">4</dd>' in page
        assert "Phnom Penh" in page
        assert "Banteay Meanchey" in page
        assert "call: no answer" in page
        reviewer.http.cookie_jar.update_cookies({"sp4all_console_lang": "km"})
        code, page_km = await reviewer.get(f"/console/broadcasts/{broadcast_id}")
        assert code == 200
        assert "ភ្នំពេញ" in page_km
        assert "បានទៅដល់" in page_km
        assert "ការហៅ៖ គ្មានអ្នកលើក" in page_km

        async with reviewer.http.get(
            reviewer.url(f"/console/broadcasts/{broadcast_id}/report.csv")
        ) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/csv"
            assert "attachment" in resp.headers["Content-Disposition"]
            body = await resp.text()
        rows = {(r["scope"], r["code"]): r for r in csv.DictReader(io.StringIO(body))}
        assert rows[("total", "")]["delivered"] == "4"
        assert rows[("channel", "telegram")]["sent"] == "2"
        assert rows[("channel", "telegram")]["delivered"] == ""  # unknown, not zero
        assert rows[("province", "12")]["name_km"] == "ភ្នំពេញ"
        assert rows[("province", "12")]["delivered"] == "4"
        assert rows[("not_delivered_because", "voice:no-answer")]["undelivered"] == "1"
        for shown in (body, page, page_km, json.dumps(data)):
            for chat_id in [*CHAT_IDS, mid, *sids.values()]:
                assert chat_id not in shown

        # ----- done: the open page follows the receipt still awaited, for an hour at most -----
        for _ in range(200):
            if (await service.report(broadcast_id)).status == "done":
                break
            await asyncio.sleep(0.05)
        report_url = f"/console/api/broadcasts/{broadcast_id}/report"
        data = await reviewer.api(report_url)
        assert (data["status"], data["awaiting_receipts"], data["live"]) == ("done", 1, True)
        code, page = await reviewer.get(f"/console/broadcasts/{broadcast_id}")
        assert 'data-active="1"' in page
        assert 'data-poll="15000"' in page  # more slowly than while it is sent
        # the page is in Khmer now (the cookie above)
        assert 'កំពុងរង់ចាំដំណឹងថាបានទៅដល់ <span data-field="awaiting_receipts">1<' in page
        async with client.app[keys.ENGINE].begin() as conn:
            await conn.execute(
                update(BROADCASTS)
                .where(BROADCASTS.c.id == broadcast_id)
                .values(updated_at=BROADCASTS.c.updated_at - 3601)
            )
        assert (await reviewer.api(report_url))["live"] is False  # done over an hour ago
        async with client.app[keys.ENGINE].begin() as conn:
            await conn.execute(
                update(BROADCASTS)
                .where(BROADCASTS.c.id == broadcast_id)
                .values(updated_at=BROADCASTS.c.updated_at + 3601)
            )
        assert (await reviewer.api(report_url))["live"] is True
        await callback("sms", four, "delivered")
        data = await reviewer.api(report_url)
        assert (data["awaiting_receipts"], data["delivered"], data["live"]) == (0, 5, False)
        code, page = await reviewer.get(f"/console/broadcasts/{broadcast_id}")
        assert 'data-active="0"' in page
        assert 'data-field="awaiting_receipts"' not in page  # nothing awaited, nothing said
    finally:
        await reviewer.close()
