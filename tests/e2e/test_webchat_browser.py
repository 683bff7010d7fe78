"""The web chat in a real browser (Debian's Chromium driven by Playwright) at phone width,
against the REAL trained Rasa: a citizen taps the Khmer greeting, types a Khmer question
(with the zero-width spaces Khmer keyboards insert), taps one of the answer's buttons,
switches to English and asks in English; every answer comes back in the citizen's language,
Khmer renders in a Khmer font, and the page never scrolls sideways.

Screenshots go to results/webchat/ (git-ignored test artefacts).
"""

from __future__ import annotations

import functools
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
    SHOTS.mkdir(parents=True, exist_ok=True)
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


GRADE_5 = [
    ("km-KH", "កូនខ្ញុំរៀនថ្នាក់ទី៥ តើទទួលបានអាហារូបករណ៍ប៉ុន្មាន?", "២០.០០០", "៣០.០០០"),
    ("en-US", "My son is in grade 5, how much scholarship does he get?", "20,000", "30,000"),
]


async def test_a_grade_5_question_gets_the_grade_5_amount_on_one_phone_screen(
    real_rasa: Any, gateway: Any, browser: Browser
) -> None:
    """The real assistant (Rasa, actions, the knowledge base) at 360 px: the answer leads
    with the grade-5 amount, not the whole table, and fits the chat area without scrolling;
    the rest is behind buttons."""
    client = await gateway(rasa_urls=real_rasa.urls, rasa_timeout_s=60.0)
    base = str(client.make_url("")).rstrip("/")
    for locale, question, amount, other_grade in GRADE_5:
        context = await browser.new_context(viewport=PHONE, locale=locale, is_mobile=True)
        page = await context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            await page.goto(f"{base}/chat")

            answer = await answer_to(page, functools.partial(type_and_send, page, question))
            first = next(t for t in answer if amount in t)
            assert other_grade not in first  # the grade asked about, not the table
            fits = await page.evaluate(
                """() => {
                    const bubbles = [...document.querySelectorAll('.msg.bot')];
                    const last = bubbles[bubbles.length - 1];
                    return last.getBoundingClientRect().height
                        <= document.querySelector('#log').clientHeight;
                }"""
            )
            assert fits, "the answer is taller than the chat area"
            buttons = page.locator(".buttons").last.locator("button")
            assert await buttons.count() >= 3  # More, Where to apply, Source...
            assert await no_sideways_scroll(page)
            shot = ARTEFACTS / f"grade-5-{locale[:2]}.png"
            await page.screenshot(path=str(shot), full_page=False)
        except Exception:
            await page.screenshot(path=str(ARTEFACTS / "failure-grade-5.png"), full_page=True)
            raise
        finally:
            await context.close()


# ----- the page itself, against the fake Rasa (issue #13) ----------------------------------

SHOTS = ROOT / "tests" / "artifacts" / "webchat"
LIVE_BUTTONS = ".buttons button:not([disabled])"


class Watch:
    """What a page reported: CSP violations (from the DOM event and the console) and other
    console errors."""

    def __init__(self, page: Page) -> None:
        self.violations: list[str] = []
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("response", self._response)

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.errors.append(f"{response.status} {response.url}")

    def _console(self, msg: Any) -> None:
        if "Content Security Policy" in msg.text:
            self.violations.append(msg.text)
        elif msg.type == "error":
            self.errors.append(msg.text)

    async def check(self, page: Page, *, network_errors: bool = False) -> None:
        dom = await page.evaluate("window.__csp || []")
        assert self.violations + list(dom) == []
        errors = [
            e for e in self.errors if not (network_errors and "Failed to load resource" in e)
        ]
        assert errors == []


async def open_chat(
    browser: Browser, base: str, locale: str = "km-KH"
) -> tuple[Any, Page, Watch]:
    context = await browser.new_context(viewport=PHONE, locale=locale, is_mobile=True)
    await context.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page = await context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    watch = Watch(page)
    await page.goto(f"{base}/chat")
    return context, page, watch


async def texts_of(page: Page) -> list[tuple[str, str]]:
    return [
        (str(cls).split()[1], str(t))
        for cls, t in await page.locator(".msg").evaluate_all(
            "els => els.map(e => [e.className, e.textContent])"
        )
    ]


async def type_and_send(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def test_a_reload_keeps_the_conversation_and_only_the_last_buttons_live(
    gateway: Any, fake_rasa: Any, browser: Browser
) -> None:
    client = await gateway()
    base = str(client.make_url("")).rstrip("/")
    context, page, watch = await open_chat(browser, base)
    try:
        await page.get_by_role("button", name="Hello").click()
        await page.get_by_text("echo: Hello").wait_for()
        await type_and_send(page, "/menu")
        await page.get_by_text("Menu", exact=True).wait_for()
        assert await page.locator(LIVE_BUTTONS).all_inner_texts() == ["English", "ប័ណ្ណសមធម៌"]
        await type_and_send(page, "/menu")  # a newer turn: the first menu is retired
        await page.locator(".msg.bot", has_text="Menu").nth(1).wait_for()
        assert await page.locator(LIVE_BUTTONS).count() == 2
        assert await page.locator(".buttons").nth(1).locator("button:disabled").count() == 2
        before = await texts_of(page)
        assert before == [
            ("me", "Hello"),
            ("bot", "echo: Hello"),
            ("me", "/menu"),
            ("bot", "Menu"),
            ("me", "/menu"),
            ("bot", "Menu"),
        ]
        await page.screenshot(path=str(SHOTS / "before-reload.png"), full_page=True)

        await page.reload()
        await page.locator(".msg.bot", has_text="Menu").nth(1).wait_for()
        assert await texts_of(page) == before
        assert await page.locator(LIVE_BUTTONS).all_inner_texts() == ["English", "ប័ណ្ណសមធម៌"]
        assert await page.locator(".buttons").count() == 2  # no greeting buttons again
        await page.screenshot(path=str(SHOTS / "after-reload.png"), full_page=True)

        # the live buttons work after the reload; the tapped title is the citizen's bubble
        await page.locator(LIVE_BUTTONS, has_text="ប័ណ្ណសមធម៌").click()
        await page.get_by_text("echo: /ask_equity_card").wait_for()
        assert (await texts_of(page))[-2] == ("me", "ប័ណ្ណសមធម៌")
        assert await page.locator(LIVE_BUTTONS).count() == 0
        await page.reload()
        await page.get_by_text("echo: /ask_equity_card").wait_for()
        assert (await texts_of(page))[-2] == ("me", "ប័ណ្ណសមធម៌")
        assert await no_sideways_scroll(page)
        await watch.check(page)
    except Exception:
        await page.screenshot(path=str(SHOTS / "failure-reload.png"), full_page=True)
        raise
    finally:
        await context.close()


async def test_the_interface_speaks_the_conversations_language(
    gateway: Any, fake_rasa: Any, browser: Browser
) -> None:
    client = await gateway()
    base = str(client.make_url("")).rstrip("/")
    context, page, watch = await open_chat(browser, base)  # a Khmer phone
    try:
        assert await page.locator("#send").inner_text() == "ផ្ញើ"
        await type_and_send(page, "what is the equity card")
        await page.get_by_text("echo: what is the equity card").wait_for()
        await page.wait_for_function("document.documentElement.lang === 'en'")
        assert await page.locator("#send").inner_text() == "Send"
        assert await page.locator("#title").inner_text() == "SP4ALL Assistant"
        assert await page.get_attribute("#text", "placeholder") == "Type your question…"
        assert await page.locator("#lang").inner_text() == "ភាសាខ្មែរ"
        await page.screenshot(path=str(SHOTS / "english-interface.png"), full_page=True)
        await page.reload()
        await page.get_by_text("echo: what is the equity card").wait_for()
        assert await page.locator("#send").inner_text() == "Send"
        # and back: a Khmer reply turns it Khmer
        await type_and_send(page, "សួស្តី")
        await page.get_by_text("echo: សួស្តី").wait_for()
        await page.wait_for_function("document.documentElement.lang === 'km'")
        assert await page.locator("#send").inner_text() == "ផ្ញើ"
        await watch.check(page)
    finally:
        await context.close()
    # before any reply, the browser's language
    context, page, watch = await open_chat(browser, base, locale="en-US")
    try:
        assert await page.locator("#send").inner_text() == "Send"
        assert "PIN" in await page.locator(".note").first.inner_text()
        await watch.check(page)
    finally:
        await context.close()


async def test_a_failed_send_is_marked_and_retried_without_retyping(
    gateway: Any, fake_rasa: Any, browser: Browser
) -> None:
    client = await gateway()
    base = str(client.make_url("")).rstrip("/")
    context, page, watch = await open_chat(browser, base, locale="en-US")

    async def offline(route: Any) -> None:
        if route.request.method == "POST":
            await route.abort("internetdisconnected")
        else:
            await route.continue_()

    try:
        await page.route("**/webchat/messages*", offline)
        await type_and_send(page, "my payment did not arrive")
        failure = page.locator(".failure")
        await failure.wait_for(timeout=3000)  # at once, not after retries
        assert "Not sent" in await failure.inner_text()
        assert await page.locator(".msg.me.failed").inner_text() == "my payment did not arrive"
        assert await page.locator(".typing").count() == 0
        assert fake_rasa.calls == []
        await page.screenshot(path=str(SHOTS / "failed-send.png"), full_page=True)

        await page.unroute("**/webchat/messages*", offline)
        await failure.get_by_role("button", name="Retry").click()
        await page.get_by_text("echo: my payment did not arrive").wait_for()
        assert await page.locator(".failure").count() == 0
        assert await page.locator(".msg.me.failed").count() == 0
        assert [c.params["message"] for c in fake_rasa.calls] == ["my payment did not arrive"]
        await watch.check(page, network_errors=True)
    finally:
        await context.close()


async def test_a_long_message_is_explained_not_cut(
    gateway: Any, fake_rasa: Any, browser: Browser
) -> None:
    client = await gateway()
    base = str(client.make_url("")).rstrip("/")
    context, page, watch = await open_chat(browser, base)
    try:
        await page.fill("#text", "ក" * 1900)
        assert await page.locator("#count").inner_text() == "១៩០០/២០០០"
        assert await page.locator("#hint").is_hidden()
        await page.fill("#text", "ក" * 2001)
        assert await page.input_value("#text") == "ក" * 2001  # nothing cut
        await page.press("#text", "Enter")
        hint = await page.locator("#hint").inner_text()
        assert "វែងពេក" in hint
        assert "២០០០" in hint
        assert await page.locator(".msg.me").count() == 0  # not sent
        await page.screenshot(path=str(SHOTS / "too-long.png"), full_page=False)
        await page.fill("#text", "ក" * 2000)
        await page.press("#text", "Enter")
        await page.locator(".msg.bot").first.wait_for()
        assert [c.params["message"] for c in fake_rasa.calls] == ["ក" * 2000]
        await watch.check(page)
    finally:
        await context.close()


async def test_waiting_is_shown_where_the_eye_is_and_a_person_is_named(
    gateway: Any, fake_rasa: Any, browser: Browser
) -> None:
    from bot.handoff import HANDOFFS
    from tests.bot.handoff_helpers import add_agent, pool
    from tests.bot.test_handoff_flow import ASK_PERSON_KM, rasa_with_handoff

    rasa_with_handoff(fake_rasa, place=None)
    client = await gateway()
    base = str(client.make_url("")).rstrip("/")
    context, page, watch = await open_chat(browser, base)
    try:
        for i in range(12):  # more than a phone screen
            await type_and_send(page, f"សំណួរ {i}")
            await page.get_by_text(f"echo: សំណួរ {i}", exact=True).wait_for()
        fake_rasa.delay_s = 1.5  # under the gateway's Rasa timeout (2 s in tests)
        await type_and_send(page, ASK_PERSON_KM)
        typing = page.locator(".typing")
        await typing.wait_for()
        assert await typing.inner_text() == "ជំនួយការកំពុងសរសេរ…"
        await page.wait_for_function(
            "(() => { const r = document.querySelector('.typing').getBoundingClientRect();"
            " const l = document.getElementById('log').getBoundingClientRect();"
            " return r.bottom <= l.bottom + 1 && r.top >= l.top; })()"
        )
        await page.screenshot(path=str(SHOTS / "typing.png"))
        await page.get_by_text("ខ្ញុំកំពុងបញ្ជូនអ្នកទៅបុគ្គលិកម្នាក់។").wait_for()
        fake_rasa.delay_s = 0.0
        service = client.app[HANDOFFS]
        national = await pool(client)
        sokha = await add_agent(client, national, "sokha")
        for _ in range(100):
            if await service.queue(sokha):
                break
            await page.wait_for_timeout(50)
        [view] = await service.queue(sokha)
        await service.claim(sokha, view.id)
        await service.reply(sokha, view.id, "សួស្តី ខ្ញុំឈ្មោះសុខា។")
        agent = page.locator(".msg.agent")
        await agent.wait_for()
        assert await agent.inner_text() == "សួស្តី ខ្ញុំឈ្មោះសុខា។"
        # the national pool, in words for citizens (this conversation is in Khmer)
        assert await page.locator(".who").inner_text() == "Sokha · ក្រុមការងារ SP4ALL ថ្នាក់ជាតិ"
        assert national.name == "SP4ALL national pool"  # what operators call it
        colours = await page.evaluate(
            "[...document.querySelectorAll('.msg.agent, .msg.bot')]"
            ".map(e => getComputedStyle(e).backgroundColor)"
        )
        assert len(set(colours)) == 2  # a person's bubble is not the assistant's
        await page.screenshot(path=str(SHOTS / "agent.png"))
        await watch.check(page)
    finally:
        await context.close()
