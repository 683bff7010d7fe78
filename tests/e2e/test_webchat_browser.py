"""The web chat in a real browser (Debian's Chromium driven by Playwright) at phone width,
against the REAL trained Rasa: a citizen taps the Khmer greeting, types a Khmer question
(with the zero-width spaces Khmer keyboards insert), taps one of the answer's buttons,
switches to English and asks in English; every answer comes back in the citizen's language,
Khmer renders in a Khmer font, and the page never scrolls sideways.

Screenshots go to results/webchat/ (git-ignored test artefacts).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from bot.channels._texts import gateway_text
from tests.e2e.conftest import PHONE, UI_TIMEOUT_MS

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "results" / "webchat"
ANSWER_TIMEOUT_MS = 90_000
KHMER = re.compile("[\u1780-\u17ff]")
ZWSP = "\u200b"
# "What is the equity card?", typed with zero-width spaces between words
EQUITY_CARD_KM = f"តើ{ZWSP}ប័ណ្ណ{ZWSP}សមធម៌{ZWSP}ជា{ZWSP}អ្វី?"
EQUITY_CARD_EN = "what is the equity card"
NOTICES = {gateway_text(name, lang) for name in ("no_reply", "delayed") for lang in ("km", "en")}


@pytest.fixture(autouse=True)
def artefacts() -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS


async def bot_texts(page: Page) -> list[str]:
    return [str(t) for t in await page.locator(".msg.bot").all_inner_texts()]


async def answer_to(page: Page, action: Any) -> list[str]:
    """Do ``action`` and return the bot messages that arrive after it (waits for the first)."""
    seen = await page.locator(".msg.bot").count()
    await action()
    await page.locator(".msg.bot").nth(seen).wait_for(timeout=ANSWER_TIMEOUT_MS)
    await page.wait_for_timeout(1500)  # the rest of a multi-message answer
    return (await bot_texts(page))[seen:]


async def no_sideways_scroll(page: Page) -> bool:
    return bool(
        await page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


async def test_a_citizen_chats_in_khmer_and_english_on_a_phone(
    real_rasa: Any, gateway: Any, browser: Browser
) -> None:
    client = await gateway(rasa_urls=real_rasa.urls, rasa_timeout_s=60.0)
    base = str(client.make_url("")).rstrip("/")
    context = await browser.new_context(viewport=PHONE, locale="km-KH", is_mobile=True)
    page = await context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        await page.goto(f"{base}/chat")
        assert await page.locator("html").get_attribute("lang") == "km"
        # the page's first words: never send a PIN, password or one-time code
        assert "PIN" in await page.locator(".note").first.inner_text()

        greeting = await answer_to(page, page.get_by_role("button", name="សួស្តី").click)
        assert KHMER.search(" ".join(greeting)), greeting
        assert not NOTICES & set(greeting)

        async def ask_in_khmer() -> None:
            await page.fill("#text", EQUITY_CARD_KM)
            await page.press("#text", "Enter")

        answer = await answer_to(page, ask_in_khmer)
        joined = " ".join(answer)
        assert "ប័ណ្ណសមធម៌" in joined, answer
        assert not NOTICES & set(answer)
        font = await page.evaluate(
            "getComputedStyle(document.querySelector('.msg.bot[lang=km]')).fontFamily"
        )
        assert "Khmer" in font, font
        assert await no_sideways_scroll(page)
        await page.screenshot(path=str(ARTEFACTS / "khmer-phone.png"), full_page=True)

        # a button of the last answer is a real Rasa payload: tapping it gets an answer
        boxes = page.locator(".buttons")
        buttons = boxes.nth(await boxes.count() - 1).locator("button")
        assert await buttons.count() >= 1
        tapped = await answer_to(page, buttons.first.click)
        assert KHMER.search(" ".join(tapped)), tapped
        assert await buttons.first.is_disabled()  # a tapped set of buttons cannot be re-sent

        await answer_to(page, page.locator("#lang").click)  # the assistant confirms the switch
        assert await page.locator("#send").inner_text() == "Send"

        async def ask_in_english() -> None:
            await page.fill("#text", EQUITY_CARD_EN)
            await page.press("#text", "Enter")

        english = await answer_to(page, ask_in_english)
        assert not KHMER.search(" ".join(english)), english
        assert re.search("equity card", " ".join(english), re.I), english
        assert await no_sideways_scroll(page)
        await page.screenshot(path=str(ARTEFACTS / "english-phone.png"), full_page=True)
    except Exception:
        await page.screenshot(path=str(ARTEFACTS / "failure.png"), full_page=True)
        raise
    finally:
        await context.close()
