"""The knowledge base end to end in a real browser (issue #14): a ministry editor changes
the grade-10 scholarship amount with a source, the secretariat reviews the diff and
publishes, and the REAL assistant's next web-chat answer states the new amount and the new
verified date (no retraining, no restart: the action server polls the gateway's catalogue);
rolling back restores the old answer.

Screenshots go to results/knowledge/ (git-ignored test artefacts).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from bot._app import create_app
from bot.console import CONSOLE
from tests.bot.console_helpers import PASSWORD
from tests.e2e.conftest import (
    DESKTOP,
    PHONE,
    UI_TIMEOUT_MS,
    RasaStack,
    console_login,
    rasa_stack,
)

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "results" / "knowledge"
ANSWER_TIMEOUT_MS = 90_000
POLL_S = "0.5"
QUESTION = "My son is in grade 11, how much scholarship does he get?"
GRADE_10 = "cost_options.upper_secondary.amount"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def ask(page: Page, question: str) -> str:
    """Type ``question`` in the web chat; the first bot message after it."""
    seen = await page.locator(".msg.bot").count()
    await page.fill("#text", question)
    await page.press("#text", "Enter")
    answer = page.locator(".msg.bot").nth(seen)
    await answer.wait_for(timeout=ANSWER_TIMEOUT_MS)
    return str(await answer.inner_text())


@pytest.fixture
def live_stack(tmp_path: Path) -> Iterator[tuple[RasaStack, int]]:
    """An action server that polls the catalogue of a gateway to come on ``port``, and one
    Rasa instance (a sync fixture: the stack's clean-up runs its own event loop)."""
    port = _free_port()
    catalogue = f"http://127.0.0.1:{port}/api/knowledge/v1/catalogue"
    live_env = {"SP4ALL_KNOWLEDGE_URL": catalogue, "SP4ALL_KNOWLEDGE_POLL_S": POLL_S}
    started = time.monotonic()
    with rasa_stack(tmp_path, instances=1, extra_env=live_env) as stack:
        print(f"rasa stack started in {time.monotonic() - started:.1f} s")
        yield stack, port


async def test_an_editor_changes_an_amount_the_secretariat_publishes_the_chat_answers_it(
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Any],
    browser: Browser,
    live_stack: tuple[RasaStack, int],
) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    stack, port = live_stack
    app = create_app(make_settings(rasa_urls=stack.urls, rasa_timeout_s=60.0))
    client = await aiohttp_client(app, server_kwargs={"port": port})
    base = str(client.make_url("")).rstrip("/")
    admin = client.app[CONSOLE].admin
    await admin.add_organisation("mosvy", "ក្រសួងសង្គមកិច្ច", kind="ministry")
    await admin.add_organisation("gs-nspc", "អគ្គលេខាធិការដ្ឋាន", kind="secretariat")
    await admin.add_agent("sophal", "សុផល", "mosvy", "ministry_editor", PASSWORD)
    await admin.add_agent("chenda", "ចិន្តា", "gs-nspc", "secretariat_reviewer", PASSWORD)

    chat_context = await browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True)
    chat = await chat_context.new_page()
    chat.set_default_timeout(UI_TIMEOUT_MS)
    editor = await console_login(
        browser, base, "sophal", PASSWORD, viewport=DESKTOP, landing="/console/knowledge"
    )
    reviewer = await console_login(
        browser, base, "chenda", PASSWORD, viewport=DESKTOP, landing="/console/knowledge"
    )
    try:
        await chat.goto(f"{base}/chat")
        before = await ask(chat, QUESTION)
        assert "30,000 riel" in before, before
        assert "Last verified on 25 Nov 2026" in before, before

        # the ministry editor drafts the change, with its source
        await editor.locator("#programme-scholarship button[type=submit]").click()
        await editor.wait_for_url("**/console/knowledge/changes/*")
        change_url = editor.url
        await editor.fill(f"input[name='fact:{GRADE_10}:value']", "35000")
        await editor.fill("input[name=source_url]", "https://moeys.gov.kh/km/scholarship-2026")
        await editor.fill("input[name=source_title]", "សេចក្តីជូនដំណឹងអំពីអាហារូបករណ៍ ២០២៦")
        await editor.fill("input[name=source_issuer]", "ក្រសួងអប់រំ យុវជន និងកីឡា")
        await editor.fill("input[name=source_date]", "2026-12-01")
        await editor.fill("input[name=source_verified]", "2026-12-05")
        await editor.click("#save")
        await editor.wait_for_url(change_url)
        await editor.screenshot(path=str(ARTEFACTS / "editor-draft.png"), full_page=True)
        await editor.click("#submit")
        await editor.wait_for_url(change_url)

        # the secretariat reviews the diff and publishes
        await reviewer.goto(change_url)
        diff = await reviewer.locator("table.diff").inner_text()
        assert "30,000 riel a month" in diff
        assert "35,000 riel a month" in diff
        await reviewer.screenshot(path=str(ARTEFACTS / "reviewer-diff.png"), full_page=True)
        published_at = time.monotonic()
        await reviewer.click("#publish")
        await reviewer.wait_for_url(change_url)
        assert "published as revision 2" in await reviewer.locator("#change-status").inner_text()

        after = await ask(chat, QUESTION)
        for _ in range(20):  # the action server polls every POLL_S: at most a few tries
            if "35,000" in after:
                break
            await chat.wait_for_timeout(500)
            after = await ask(chat, QUESTION)
        latency = time.monotonic() - published_at
        assert "35,000 riel" in after, after
        assert "Last verified on 5 Dec 2026" in after, after
        await chat.screenshot(path=str(ARTEFACTS / "chat-new-amount.png"), full_page=True)
        print(f"publish -> chat answer with the new amount: {latency:.1f} s")

        # roll back: the old answer again
        reviewer.once("dialog", lambda dialog: dialog.accept())
        await reviewer.goto(f"{base}/console/knowledge/history")
        await reviewer.locator("#revision-1 button[type=submit]").click()
        await reviewer.wait_for_url("**/console/knowledge/history")
        assert await reviewer.locator("#revision-3").count() == 1
        restored = await ask(chat, QUESTION)
        for _ in range(20):
            if "30,000" in restored:
                break
            await chat.wait_for_timeout(500)
            restored = await ask(chat, QUESTION)
        assert "30,000 riel" in restored, restored
        assert "Last verified on 25 Nov 2026" in restored, restored
        await chat.screenshot(path=str(ARTEFACTS / "chat-rolled-back.png"), full_page=True)
    except Exception:
        for name, page in (("chat", chat), ("editor", editor), ("reviewer", reviewer)):
            await page.screenshot(path=str(ARTEFACTS / f"failure-{name}.png"), full_page=True)
        raise
    finally:
        await chat_context.close()
        await editor.context.close()
        await reviewer.context.close()
