"""/console/broadcasts: a ministry editor drafts in Khmer and English with a fact of the
knowledge base, cannot approve it, a secretariat reviewer does; preview, recipient count,
report; the public /announcements page and Atom feed."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.console import CONSOLE
from bot.dissemination import DISSEMINATION, BroadcastStatus, Topic
from tests.bot.console_helpers import PASSWORD, logged_in


async def test_draft_approve_preview_report_and_public_feed(gateway: Any) -> None:
    client = await gateway()
    admin = client.app[CONSOLE].admin
    ministry = await admin.add_organisation("mosvy", "MoSVY", areas=[], kind="ministry")
    secretariat = await admin.add_organisation(
        "nspc", "NSPC secretariat", areas=[], kind="secretariat"
    )
    await admin.add_agent("editor", "Editor", ministry.slug, "ministry_editor", PASSWORD)
    await admin.add_agent(
        "reviewer", "Reviewer", secretariat.slug, "secretariat_reviewer", PASSWORD
    )
    service = client.app[DISSEMINATION]
    await service.subscribe(
        "webchat", "session-sub-0001", topics=[Topic.PAYMENTS], area_code="120101"
    )
    editor = await logged_in(client, "editor")
    reviewer = await logged_in(client, "reviewer")
    try:
        status, page = await editor.get("/console/broadcasts")
        assert status == 200
        assert "scholarship" in page.lower() or "អាហារូបករណ៍" in page  # facts to insert
        status, _, location = await editor.form(
            "/console/broadcasts",
            {
                "title_km": "ប្រាក់អាហារូបករណ៍",
                "title_en": "Scholarships",
                "text_km": "ការបើកប្រាក់នៅខែមករា។",
                "text_en": "Payments in January.",
                "topic": "payments",
                "area_codes": "12",
                "fact": "scholarship.primary_lower_secondary",
            },
        )
        assert status == 303
        broadcast_id = int(location.rsplit("/", 1)[1])
        broadcast = await service.get(broadcast_id)
        assert "២០.០០០ រៀល" in broadcast.text_km
        assert "20,000 riel" in broadcast.text_en
        status, page = await editor.get(location)
        assert status == 200
        assert "webchat: 1" in page  # recipients now
        assert "messenger · km" in page
        assert "limit 2000" in page
        assert "sms · km" in page  # SMS: 10 Khmer parts
        assert "limit 670" in page
        # the author may not approve it
        status, _, _ = await editor.form(f"{location}/approve", {})
        assert status == 403
        status, _, _ = await reviewer.form(f"{location}/approve", {})
        assert status == 303
        assert (await service.get(broadcast_id)).status != BroadcastStatus.DRAFT
        for _ in range(100):
            report = await reviewer.api(f"/console/api/broadcasts/{broadcast_id}/report")
            if report["sent"] == 1:
                break
            await asyncio.sleep(0.05)
        assert report["targeted"] == 1
        assert report["sent"] == 1
        # public page and feed
        page_resp = await client.get("/announcements")
        assert page_resp.status == 200
        assert "ប្រាក់អាហារូបករណ៍" in await page_resp.text()
        feed = await client.get("/announcements.atom")
        assert feed.content_type == "application/atom+xml"
        body = await feed.text()
        assert "<entry>" in body
        assert "Scholarships" in body
    finally:
        await editor.close()
        await reviewer.close()
