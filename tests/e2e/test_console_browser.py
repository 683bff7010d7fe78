"""The agent console in a real browser (Debian's Chromium driven by Playwright) against the
REAL trained Rasa: a citizen on the fake Telegram API names where they live and asks for a
person in Khmer; the conversation appears live in the right organisation's queue; an agent
logs in, claims it, replies in Khmer, closes; Rasa answers the citizen again.

Screenshots go to results/console/ (git-ignored test artefacts). Playwright's own browser
download is never used: `.ci/run` installs Debian's chromium when it is missing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from bot.channels._texts import gateway_text
from bot.console import CONSOLE
from bot.handoff import HANDOFFS, Viewer
from tests.bot.console_helpers import ASK_FOR_A_PERSON, PASSWORD, citizen_says
from tests.bot.gateway_fakes import FakeTelegram, wait_until, wait_until_async
from tests.e2e.conftest import DESKTOP, PHONE, console_login

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "results" / "console"
ANSWER_TIMEOUT_S = 90.0
CITIZEN = 8101
KHMER_REPLY = "សួស្តី បង! ខ្ញុំឈ្មោះសុខា។ ខ្ញុំនឹងជួយអ្នកពិនិត្យប័ណ្ណសមធម៌របស់អ្នក។"
KHMER = re.compile("[\u1780-\u17ff]")
ADMIN = Viewer(agent_id=0, organisation_id=0, role="admin")
# "I am in Batheay district, Kampong Cham province" (Rasa's action_locate_office sets the
# place; knowledge/gazetteer has no coordinates, so a shared location cannot name a commune)
WHERE_I_LIVE = "ខ្ញុំនៅស្រុកបាធាយ ខេត្តកំពង់ចាម"


def texts_to(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [str(c.params["text"]) for c in fake.sent() if int(c.params["chat_id"]) == chat_id]


@pytest.fixture(autouse=True)
def artefacts() -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS


async def log_in(browser: Browser, base: str, username: str, viewport: Any = DESKTOP) -> Page:
    return await console_login(browser, base, username, PASSWORD, viewport=viewport)


async def test_agent_answers_a_khmer_citizen_in_the_browser(
    real_rasa: Any, gateway: Any, fake_telegram: FakeTelegram, browser: Browser
) -> None:
    client = await gateway(
        rasa_urls=real_rasa.urls,
        rasa_timeout_s=30.0,
        gazetteer_path=ROOT / "knowledge" / "gazetteer" / "communes.yml",
    )
    base = str(client.make_url("")).rstrip("/")
    admin = client.app[CONSOLE].admin
    north = await admin.add_organisation("kc-cso", "Kampong Cham CSO", areas=["03"])
    capital = await admin.add_organisation("pp-cso", "Phnom Penh CSO", areas=["12"])
    await admin.add_agent("sokha", "Sokha", north.slug, "agent", PASSWORD)
    await admin.add_agent("dara", "Dara", capital.slug, "agent", PASSWORD)

    # both agents are looking at their queues before the citizen asks: it must appear live
    sokha = await log_in(browser, base, "sokha")
    dara = await log_in(browser, base, "dara")
    try:
        await answer_in_the_browser(client, base, fake_telegram, browser, sokha, dara, north)
    except Exception:
        await sokha.screenshot(path=str(ARTEFACTS / "failure-sokha.png"), full_page=True)
        raise


async def answer_in_the_browser(
    client: Any,
    base: str,
    fake_telegram: FakeTelegram,
    browser: Browser,
    sokha: Page,
    dara: Page,
    north: Any,
) -> None:
    await sokha.wait_for_selector("text=Nobody is waiting.")

    await citizen_says(client, 1, CITIZEN, WHERE_I_LIVE)
    await wait_until(lambda: texts_to(fake_telegram, CITIZEN), timeout=ANSWER_TIMEOUT_S)
    await citizen_says(client, 2, CITIZEN, ASK_FOR_A_PERSON)
    service = client.app[HANDOFFS]
    await wait_until_async(lambda: service.queue(ADMIN), bool, timeout=ANSWER_TIMEOUT_S)
    [handoff] = await service.queue(ADMIN)
    assert handoff.organisation_id == north.id  # routed by the place named earlier
    assert handoff.place_name == "Batheay, Kampong Cham"

    link = sokha.locator(f"a[href='/console/c/{handoff.id}']")
    await link.wait_for()  # arrived over server-sent events, no reload
    await sokha.screenshot(path=str(ARTEFACTS / "queue-desktop.png"), full_page=True)
    await dara.reload()
    assert await dara.locator(f"a[href='/console/c/{handoff.id}']").count() == 0

    await link.click()
    await sokha.wait_for_url(f"{base}/console/c/{handoff.id}")
    history = sokha.locator("ol.history")
    await history.get_by_text(ASK_FOR_A_PERSON).wait_for()
    await sokha.get_by_text("Batheay, Kampong Cham").first.wait_for()
    font = await sokha.evaluate(
        "getComputedStyle(document.querySelector('.turn.citizen .text[lang=km]')).fontFamily"
    )
    assert "Khmer" in font

    await sokha.click("#claim")
    await sokha.wait_for_selector("#reply")
    claimed = gateway_text("handoff_claimed", "km", agent="Sokha", org=north.name)
    await wait_until(lambda: claimed in texts_to(fake_telegram, CITIZEN), timeout=10)

    await sokha.fill("#reply", KHMER_REPLY)
    await sokha.click("#send")
    await history.get_by_text(KHMER_REPLY).wait_for()
    # the citizen sees the person's words under their name and organisation, in bold
    said = f"<b>Sokha · {north.name}</b>\n{KHMER_REPLY}"
    await wait_until(lambda: said in texts_to(fake_telegram, CITIZEN), timeout=10)

    # the citizen answers while handed off: it shows up live in the agent's page
    await citizen_says(client, 3, CITIZEN, "អរគុណច្រើន")
    await history.get_by_text("អរគុណច្រើន").wait_for()
    await sokha.screenshot(path=str(ARTEFACTS / "conversation-desktop.png"), full_page=True)

    phone = await log_in(browser, base, "sokha", viewport=PHONE)
    await phone.goto(f"{base}/console/")
    await phone.locator(f"a[href='/console/c/{handoff.id}']").wait_for()
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await phone.screenshot(path=str(ARTEFACTS / "queue-phone.png"), full_page=True)
    await phone.goto(f"{base}/console/c/{handoff.id}")
    await phone.locator("ol.history").get_by_text(KHMER_REPLY).wait_for()
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # no sideways scrolling on a 360 px phone
    assert await phone.locator("#reply").is_visible()
    await phone.screenshot(path=str(ARTEFACTS / "conversation-phone.png"), full_page=True)

    sokha.once("dialog", lambda dialog: dialog.accept())
    await sokha.click("#close")
    await sokha.wait_for_url(f"{base}/console/")
    closed = gateway_text("handoff_closed", "km")
    await wait_until(lambda: closed in texts_to(fake_telegram, CITIZEN), timeout=10)
    await sokha.wait_for_selector("text=Nobody is waiting.")

    # back with the assistant: Rasa itself answers the next message, in Khmer
    before = len(texts_to(fake_telegram, CITIZEN))
    await citizen_says(client, 4, CITIZEN, "ប័ណ្ណសមធម៌ជាអ្វី?")  # "what is the equity card?"
    await wait_until(
        lambda: len(texts_to(fake_telegram, CITIZEN)) > before, timeout=ANSWER_TIMEOUT_S
    )
    answer = " ".join(texts_to(fake_telegram, CITIZEN)[before:])
    assert KHMER.search(answer)
    for name in ("no_reply", "delayed"):
        assert gateway_text(name, "km") not in answer
    [done] = await service.queue(ADMIN, include_closed=True)
    assert done.status == "closed"
