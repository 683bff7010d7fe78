"""A broadcast's report in a real browser at 360 px (issue #15): while the broadcast is sent,
the page takes its numbers from the report's JSON every few seconds (console.js under the
console's Content-Security-Policy, no reload), a Somleng delivery receipt shows up as
delivered in place, Telegram shows "—"; once done the page shows the final report and
follows, every 15 s, the receipt still awaited until it comes. In English and Khmer,
nothing wider than a phone. Fakes of Somleng and the Bot API; no Rasa.

Screenshots go to results/broadcasts/ (git-ignored test artefacts).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import update
from twilio.request_validator import RequestValidator

from bot.console import CONSOLE
from bot.delivery._bulk import BULK_OUTBOUND, BulkStatus
from bot.dissemination import DISSEMINATION, BroadcastKind, Topic
from bot.dissemination._service import Person
from bot.keys import ENGINE
from tests.bot.console_helpers import PASSWORD
from tests.bot.somleng_fake import ACCOUNT_SID, AUTH_TOKEN, FakeSomleng, start_somleng
from tests.e2e.conftest import DESKTOP, PHONE, console_login, no_sideways_scroll

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "results" / "broadcasts"
GAZETTEER = ROOT / "knowledge" / "gazetteer" / "communes.yml"
AUTHOR = Person(agent_id=901, role="ministry_editor", org_kind="ministry")
REVIEWER = Person(agent_id=902, role="secretariat_reviewer", org_kind="secretariat")
WAIT_MS = 30_000


@pytest.fixture
async def somleng() -> AsyncIterator[FakeSomleng]:
    fake = await start_somleng()
    yield fake
    assert fake.server is not None
    await fake.server.close()


async def _receipt(client: Any, sid: str) -> None:
    """Somleng's signed status callback: the SMS was delivered."""
    params = {"MessageSid": sid, "MessageStatus": "delivered"}
    url = str(client.make_url("/somleng/status/sms"))
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    resp = await client.post(
        "/somleng/status/sms", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert resp.status == 204


async def test_the_report_follows_the_broadcast_live_on_a_phone(
    gateway: Any, browser: Browser, somleng: FakeSomleng, monkeypatch: pytest.MonkeyPatch
) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("SOMLENG_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("SOMLENG_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("SOMLENG_API_URL", somleng.url)
    # a refused SMS waits an hour for its retry: the broadcast stays "sending" until the
    # test lets that hour pass, however slow the machine (a 12 s wait was flaky under load)
    client = await gateway(gazetteer_path=GAZETTEER, retry_base_s=3600.0, retry_max_s=3600.0)
    base = str(client.make_url("")).rstrip("/")
    admin = client.app[CONSOLE].admin
    org = await admin.add_organisation("nspc", "NSPC secretariat", areas=[], kind="secretariat")
    await admin.add_agent("reviewer", "Reviewer", org.slug, "secretariat_reviewer", PASSWORD)
    service = client.app[DISSEMINATION]
    for channel, chat_id, area in (
        ("sms", "+85512000001", "120101"),
        ("sms", "+85512000002", "010201"),
        ("telegram", "700000001", "120101"),
    ):
        await service.subscribe(channel, chat_id, topics=[Topic.EMERGENCY], area_code=area)

    page = await console_login(
        browser, base, "reviewer", PASSWORD, viewport=PHONE, landing="/console/broadcasts"
    )
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        somleng.refuse_next(500, 20500, "Internal Server Error")
        broadcast_id = await service.create_draft(
            AUTHOR,
            title_km="ទឹកជំនន់",
            title_en="Flood",
            text_km="ព្រមានទឹកជំនន់៖ សូមផ្លាស់ទីទៅកន្លែងខ្ពស់។",
            text_en="Flood warning: move to higher ground.",
            topic=Topic.EMERGENCY,
            kind=BroadcastKind.ALERT,
        )
        await service.approve(broadcast_id, REVIEWER)
        await page.goto(f"{base}/console/broadcasts/{broadcast_id}")
        sent = page.locator('#report-live dd[data-field="sent"]')
        await expect(sent).to_have_text("2", timeout=WAIT_MS)  # one SMS, Telegram
        await expect(page.locator("#report-live")).to_have_attribute("data-active", "1")
        await page.evaluate("window.stillTheSamePage = true")
        (message,) = somleng.messages
        await _receipt(client, message["Sid"])
        delivered = page.locator('td[data-field="by_channel.sms.delivered"]')
        await expect(delivered).to_have_text("1", timeout=WAIT_MS)
        assert await page.evaluate("window.stillTheSamePage === true")  # updated in place
        await expect(page.locator('td[data-field="by_channel.telegram.delivered"]')).to_have_text(
            "—"
        )
        await page.screenshot(path=str(ARTEFACTS / "report-live-en-360.png"), full_page=True)
        await no_sideways_scroll(page)

        # the hour passes, the retried SMS goes out, the broadcast is done: the page reloads
        # once with the final counts, then follows the receipt still awaited more slowly
        async with client.app[ENGINE].begin() as conn:
            waiting = await conn.execute(
                update(BULK_OUTBOUND)
                .where(BULK_OUTBOUND.c.broadcast_id == broadcast_id)
                .where(BULK_OUTBOUND.c.status == BulkStatus.QUEUED)
                .values(due_at=time.time())
            )
        assert waiting.rowcount == 1  # the refused SMS, and only it
        live = page.locator("#report-live")
        await expect(live).to_have_attribute("data-poll", "15000", timeout=WAIT_MS)
        await expect(live).to_have_attribute("data-active", "1")
        await expect(sent).to_have_text("3")
        assert await page.evaluate("window.stillTheSamePage === undefined")  # reloaded once done
        await expect(page.locator('[data-field="awaiting_receipts"]')).to_have_text("1")
        # its receipt comes: nothing is awaited any more, the page shows it and stops
        retried = next(m for m in somleng.messages if m["Sid"] != message["Sid"])
        await _receipt(client, retried["Sid"])
        await expect(live).to_have_attribute("data-active", "0", timeout=WAIT_MS)
        await expect(delivered).to_have_text("2")
        assert not [p for p in problems if "Content Security Policy" in p], problems
    finally:
        await page.context.close()

    for language in ("km", "en"):
        for name, viewport in (("360", PHONE), ("1280", DESKTOP)):
            page = await console_login(
                browser,
                base,
                "reviewer",
                PASSWORD,
                viewport=viewport,
                landing="/console/broadcasts",
                language=language,
            )
            try:
                await page.goto(f"{base}/console/broadcasts/{broadcast_id}")
                text = await page.locator("main").inner_text()
                assert ("ភ្នំពេញ" if language == "km" else "Phnom Penh") in text
                assert "+8551200000" not in text
                await page.screenshot(
                    path=str(ARTEFACTS / f"report-done-{language}-{name}.png"), full_page=True
                )
                await no_sideways_scroll(page)
            finally:
                await page.context.close()
