"""The knowledge console's pages in a real browser, at 360 px and 1280 px, in Khmer and in
English (issues #12, #14): facts labelled in words, amounts as people write them, the diff in
both languages, and nothing wider than the screen. No Rasa needed (the fake one answers).

Screenshots go to results/knowledge/pages-*.png (git-ignored test artefacts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page

from tests.bot.console_helpers import PASSWORD
from tests.bot.test_knowledge import changed_grade_10, fresh_actor, make_team
from tests.e2e.conftest import DESKTOP, PHONE, console_login, no_sideways_scroll

ARTEFACTS = Path(__file__).resolve().parents[2] / "results" / "knowledge"


async def test_the_knowledge_pages_read_in_words_on_a_phone_and_a_desktop(
    gateway: Any, browser: Browser, monkeypatch: Any
) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("SP4ALL_KNOWLEDGE_MAX_AGE_DAYS", "5")
    client = await gateway()
    base = str(client.make_url("")).rstrip("/")
    team = await make_team(client)
    change_id = await changed_grade_10(team)
    await team.service.submit(await fresh_actor(team, "sophal"), change_id, "សូមពិនិត្យ")
    rith = await fresh_actor(team, "rith")
    draft_id = await team.service.start(rith, "pregnancy_cash")

    for language in ("en", "km"):
        for name, viewport in (("360", PHONE), ("1280", DESKTOP)):
            reviewer = await console_login(
                browser,
                base,
                "chenda",
                PASSWORD,
                viewport=viewport,
                landing="/console/knowledge",
                language=language,
            )
            editor = await console_login(
                browser,
                base,
                "rith",
                PASSWORD,
                viewport=viewport,
                landing="/console/knowledge",
                language=language,
            )
            try:
                shots: list[tuple[Page, str, str]] = [
                    (reviewer, f"/console/knowledge/changes/{change_id}", "reviewer-diff"),
                    (editor, f"/console/knowledge/changes/{draft_id}", "editor-draft"),
                    (reviewer, "/console/knowledge", "programmes"),
                    (reviewer, "/console/knowledge/report", "report"),
                    (reviewer, "/console/knowledge/history", "history"),
                    (reviewer, f"/console/knowledge/changes/{change_id}/preview", "preview"),
                ]
                for page, path, shot in shots:
                    await page.goto(base + path)
                    text = await page.locator("main").inner_text()
                    assert "cost_options." not in text, (path, language)
                    assert "per_month" not in text, (path, language)
                    await page.screenshot(
                        path=str(ARTEFACTS / f"pages-{shot}-{language}-{name}.png"),
                        full_page=True,
                    )
                    await no_sideways_scroll(page)
            finally:
                await reviewer.context.close()
                await editor.context.close()
