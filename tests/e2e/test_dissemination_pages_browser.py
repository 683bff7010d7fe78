"""The dissemination pages as people use them, in a real browser at 360 px and desktop width,
in Khmer and English (issue #15): an editor attaches a Khmer recording to a draft and hears
it in the page; a CSO agent registers a phone subscriber with consent and sees the number
masked; the public announcements page plays the approved recording. Nothing wider than a
phone, no Content-Security-Policy errors, no phone number in any page.

Screenshots go to results/dissemination/ (git-ignored test artefacts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Browser, expect

from bot.console import CONSOLE
from bot.dissemination import DISSEMINATION, Topic
from bot.dissemination._service import Person
from tests.bot.console_helpers import PASSWORD
from tests.e2e.conftest import DESKTOP, PHONE, console_login, no_sideways_scroll

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "results" / "dissemination"
GAZETTEER = ROOT / "knowledge" / "gazetteer" / "communes.yml"
REVIEWER = Person(agent_id=0, role="secretariat_reviewer", org_kind="secretariat")
TITLE_KM = "ការបើកប្រាក់ឧបត្ថម្ភ"
TEXT_KM = "ការបើកប្រាក់ឧបត្ថម្ភសម្រាប់សិស្ស នឹងធ្វើនៅថ្ងៃទី១៥ ខែមករា"
TEXT_EN = "Student stipends will be paid on 15 January"
NUMBER = "012 345 678"
WAIT_MS = 30_000


def mp3(frames: int = 40) -> bytes:
    """MPEG-1 Layer III frames, 128 kbit/s at 44.1 kHz (417 bytes each), silent."""
    return (bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(413)) * frames


async def test_recordings_phone_subscribers_and_the_public_page(
    gateway: Any, browser: Browser, tmp_path: Path
) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    client = await gateway(gazetteer_path=GAZETTEER, public_url="")
    base = str(client.make_url("")).rstrip("/")
    admin = client.app[CONSOLE].admin
    ministry = await admin.add_organisation("mosvy", "MoSVY", areas=[], kind="ministry")
    editor = await admin.add_agent("dara", "Dara", ministry.slug, "ministry_editor", PASSWORD)
    cso = await admin.add_organisation("cso-north", "CSO North", areas=[], kind="cso")
    await admin.add_agent("sokha", "Sokha", cso.slug, "agent", PASSWORD)
    service = client.app[DISSEMINATION]
    author = Person(agent_id=editor.id, role="ministry_editor", org_kind="ministry")
    broadcast_id = await service.create_draft(
        author,
        title_km=TITLE_KM,
        title_en="Stipends",
        text_km=TEXT_KM,
        text_en=TEXT_EN,
        topic=Topic.PAYMENTS,
        area_codes=["04"],
    )
    recording = tmp_path / "stipends-km.mp3"
    recording.write_bytes(mp3())
    problems: list[str] = []

    # 1. the editor attaches the Khmer recording on a phone, in Khmer
    page = await console_login(
        browser,
        base,
        "dara",
        PASSWORD,
        viewport=PHONE,
        landing="/console/broadcasts",
        language="km",
    )
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        await page.goto(f"{base}/console/broadcasts/{broadcast_id}")
        khmer = page.locator("section.recording").first
        await khmer.locator("input[type=file]").set_input_files(str(recording))
        await khmer.locator("button[type=submit]").first.click()
        await expect(page.locator("section.recording audio").first).to_be_attached(timeout=WAIT_MS)
        text = await page.locator("main").inner_text()
        assert "ការថតសំឡេងជាភាសាខ្មែរ" in text
        await page.screenshot(path=str(ARTEFACTS / "recording-km-360.png"), full_page=True)
        await no_sideways_scroll(page)
    finally:
        await page.context.close()
    assert (await service.audio(broadcast_id, "km")) is not None

    # 2. a CSO agent registers a phone subscriber with consent, in English and in Khmer
    for language, viewport, name in (("en", PHONE, "360"), ("km", DESKTOP, "1280")):
        page = await console_login(
            browser,
            base,
            "sokha",
            PASSWORD,
            viewport=viewport,
            landing="/console/broadcasts/subscribers",
            language=language,
        )
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        try:
            if language == "en":
                # the province and its town share the name: the refusal names both codes
                await page.fill("input[name=number]", NUMBER)
                await page.fill("input[name=place]", "Kampong Chhnang")
                await page.check("input[name=consent]")
                await page.locator("form button[type=submit]").last.click()
                refusal = await page.locator("main").inner_text()
                assert "several places have this name" in refusal
                assert "04)" in refusal or "04;" in refusal
                await page.screenshot(
                    path=str(ARTEFACTS / "phone-subscribers-choose-en-360.png"), full_page=True
                )
                await page.goto(f"{base}/console/broadcasts/subscribers")
                await page.fill("input[name=number]", NUMBER)
                await page.fill("input[name=place]", "04")
                await page.check("input[name=consent]")
                await page.locator("form button[type=submit]").last.click()
                await expect(page.locator("td.number").first).to_contain_text(
                    "678", timeout=WAIT_MS
                )
            text = await page.locator("main").inner_text()
            assert "345" not in text  # only the last three digits are shown
            assert "678" in text
            await page.screenshot(
                path=str(ARTEFACTS / f"phone-subscribers-{language}-{name}.png"), full_page=True
            )
            await no_sideways_scroll(page)
        finally:
            await page.context.close()
    phones = await service.phone_subscribers()
    assert [(p.channel, p.chat_id, p.area_code) for p in phones] == [("sms", "+85512345678", "04")]

    # 3. approved: the public page plays the recording, on a phone and on a desktop
    await service.approve(broadcast_id, REVIEWER)
    for language, viewport, name in (("km", PHONE, "360"), ("en", DESKTOP, "1280")):
        context = await browser.new_context(viewport=viewport)
        page = await context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        try:
            await page.goto(f"{base}/announcements?lang={language}")
            audio = page.locator("audio").first
            await expect(audio).to_be_attached()
            source = await audio.get_attribute("src") or await page.locator(
                "audio source"
            ).first.get_attribute("src")
            assert source is not None
            assert f"/announcements/{broadcast_id}/audio/km" in source
            response = await page.request.get(source if "://" in source else base + source)
            assert response.status == 200
            assert await response.body() == mp3()
            await page.screenshot(
                path=str(ARTEFACTS / f"announcements-{language}-{name}.png"), full_page=True
            )
            await no_sideways_scroll(page)
        finally:
            await context.close()
    assert not [p for p in problems if "Content Security Policy" in p], problems
