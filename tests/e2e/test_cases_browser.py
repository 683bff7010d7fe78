"""Cases in a real browser (Debian's Chromium, fake Rasa: short): a Khmer complaint filed in
the web chat page appears in the CSO's case queue; the agent refers it to a ministry with a
reason; the ministry focal point resolves it with a template; the citizen's page shows the
answer in Khmer and the "was this resolved?" buttons. Screenshots in results/cases/."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from bot.accounts import Viewer
from bot.cases import CASES, format_code
from bot.console import CONSOLE
from tests.bot.console_helpers import PASSWORD
from tests.e2e.conftest import PHONE, console_login
from tests.e2e.test_webchat_browser import LIVE_BUTTONS

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "results" / "cases"
COMPLAINT_KM = "មេភូមិទារលុយខ្ញុំ ២០០០០ រៀល នៅឃុំទន្លេបាសាក់"


@pytest.fixture(autouse=True)
def artefacts() -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS


async def test_a_case_from_the_web_chat_to_the_ministry_in_the_browser(
    gateway: Any, browser: Browser
) -> None:
    client = await gateway()
    base = str(client.make_url("")).rstrip("/")
    admin = client.app[CONSOLE].admin
    await admin.add_organisation("pp-cso", "Phnom Penh CSO", areas=["12"])
    await admin.add_organisation("mosvy", "MoSVY", kind="ministry")
    await admin.add_agent("dara", "Dara", "pp-cso", "agent", PASSWORD)
    await admin.add_agent("focal", "Focal", "mosvy", "ministry_editor", PASSWORD)

    context = await browser.new_context(viewport=PHONE, locale="km-KH")
    citizen = await context.new_page()
    citizen.set_default_timeout(10_000)
    await citizen.goto(f"{base}/chat")
    await citizen.fill("#text", "ខ្ញុំចង់ផ្តល់មតិ")
    await citizen.press("#text", "Enter")
    for title in ("យល់ព្រម", "ពាក្យបណ្តឹង", "ប័ណ្ណសមធម៌"):
        await citizen.locator(LIVE_BUTTONS, has_text=title).click()
    await citizen.get_by_text(re.compile("សំឡេង")).last.wait_for()
    await citizen.fill("#text", COMPLAINT_KM)
    await citizen.press("#text", "Enter")
    await citizen.locator(LIVE_BUTTONS, has_text="ផ្ញើដំណឹងមកខ្ញុំ").click()
    await citizen.get_by_text(re.compile("លេខកូដរបស់អ្នកគឺ")).last.wait_for()
    await citizen.screenshot(path=str(ARTEFACTS / "citizen-code.png"), full_page=True)
    (case,) = await client.app[CASES].queue(Viewer(0, 0, "admin"))
    code = case.code

    dara = await console_login(browser, base, "dara", PASSWORD, landing="/console/cases")
    await dara.get_by_text(code).click()
    await dara.select_option("select[name=organisation_id]", label="MoSVY")
    await dara.fill("form[action$='/refer'] input[name=text]", "ត្រូវការការសម្រេចពីក្រសួង")
    await dara.click("form[action$='/refer'] button[type=submit]")
    await dara.get_by_text("ត្រូវការការសម្រេចពីក្រសួង").wait_for()
    await dara.screenshot(path=str(ARTEFACTS / "agent-referred.png"), full_page=True)

    focal = await console_login(browser, base, "focal", PASSWORD, landing="/console/cases")
    await focal.get_by_text(code).click()
    await focal.select_option("form[action$='/resolve'] select[name=template]", "received")
    await focal.click("form[action$='/resolve'] button[type=submit]")
    await focal.screenshot(path=str(ARTEFACTS / "ministry-resolved.png"), full_page=True)

    await citizen.get_by_text(re.compile("តើបញ្ហារបស់អ្នកត្រូវបានដោះស្រាយហើយឬនៅ")).wait_for()
    await citizen.locator(LIVE_BUTTONS, has_text="បាទ/ចាស ដោះស្រាយហើយ").click()
    await citizen.get_by_text(re.compile("ត្រូវបានបិទ")).last.wait_for()
    await citizen.screenshot(path=str(ARTEFACTS / "citizen-closed.png"), full_page=True)
    assert format_code(code.replace("-", "")) == code
    assert html.escape(code) == code
