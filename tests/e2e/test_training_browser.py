"""The retraining pages in a real browser (Debian's Chromium driven by Playwright): an admin
opens the review queue seeded from a Rasa tracker store, sees a Khmer question grouped with
its count, ticks two rows with the keyboard (j, x), assigns them an intent, finds them under
the annotations, creates a new intent with Khmer and English answers, and follows a training
job's progress live until its report appears. No real training: the job row is written as
the service writes it, and the Rasa model API is a fake on loopback.

Screenshots go to results/training/ (git-ignored test artefacts), at desktop and phone width.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page, expect

from bot import Settings, create_app
from bot.console import CONSOLE
from bot.storage._db import ModelEntry, ModelStatus, TrainingJob, TrainingJobStatus, utcnow
from bot.training import TRAINING as TRAINING_SERVICE
from bot.training import GatePolicy, TrainingSettings, build_report
from tests.bot.console_helpers import PASSWORD
from tests.bot.gateway_fixtures import FIXTURES
from tests.e2e.conftest import DESKTOP, PHONE, console_login
from tests.training.helpers import (
    ZWSP,
    FakeModelApi,
    TrackerRows,
    copy_workspace,
    write_sqlite_tracker,
)

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "results" / "training"
NOW = time.time()
PENSION = "ខ្ញុំចង់ដឹងពីប្រាក់សោធននិវត្តន៍"  # "I want to know about the retirement pension"
WITHDRAW = "ពេលណាខ្ញុំអាចដកប្រាក់សោធនបាន"  # "when can I withdraw my pension"
GOLD = "តម្លៃមាសថ្ងៃនេះប៉ុន្មាន"  # "what is the price of gold today"
PENSION_INTENT = "ask_nssf_pension"
NEW_INTENT = "ask_birth_certificate"
KM = "សំបុត្រកំណើតកូន សូមសុំនៅសាលាឃុំ/សង្កាត់ ដោយឥតគិតថ្លៃ។"
EN = "Ask for a birth certificate at the commune/sangkat office; it is free."
ADMIN = "root"
TRAINING = "/console/training"


def conversations() -> TrackerRows:
    """The pension question from three citizens, the withdrawal one from two, gold once."""
    events = TrackerRows()
    events.user("telegram:1", PENSION, NOW - 600, "ask_nssf", 0.41)
    events.user("telegram:2", PENSION + "?", NOW - 500, "ask_nssf", 0.38)
    events.user("webchat:a", PENSION.replace("ដឹង", f"ដឹង{ZWSP}"), NOW - 400, "nlu_fallback", 0.3)
    events.action("webchat:a", "action_handoff", NOW - 399)
    events.user("telegram:3", WITHDRAW, NOW - 300, "ask_nssf", 0.45)
    events.user("telegram:4", WITHDRAW, NOW - 200, "nlu_fallback", 0.3)
    events.user("telegram:5", GOLD, NOW - 100, "nlu_fallback", 0.2)
    return events


def report() -> dict[str, Any]:
    """A passed gate: the Khmer pension questions are now understood."""

    def items(right: int, total: int, language: str, intent: str, other: str) -> list[Any]:
        return [
            {"text": f"{language}{n}", "intent": intent, "language": language,
             "predicted": intent if n < right else other, "confidence": 0.9}
            for n in range(total)
        ]  # fmt: skip

    before = items(7, 10, "km", PENSION_INTENT, "ask_nssf")
    before += items(9, 10, "en", "ask_scholarship", "ask_equity_card")
    after = items(10, 10, "km", PENSION_INTENT, "ask_nssf")
    after += items(9, 10, "en", "ask_scholarship", "ask_equity_card")
    return build_report(before, after, GatePolicy())


@pytest.fixture(autouse=True)
def artefacts() -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS


@pytest.fixture
async def model_api() -> AsyncIterator[FakeModelApi]:
    fake = FakeModelApi()
    fake.server = TestServer(fake.app(), host="127.0.0.1")
    await fake.server.start_server()
    yield fake
    await fake.server.close()


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    sqlite_url: str,
    model_api: FakeModelApi,
    tmp_path: Path,
) -> TestClient[Any, Any]:
    """The gateway with the tool on a copy of the Rasa files and a seeded tracker store."""
    await write_sqlite_tracker(tmp_path / "trackers.db", conversations())
    models = tmp_path / "models"
    models.mkdir()
    (models / "sp4all.tar.gz").write_bytes(b"the live model (only hashed here)")
    training = TrainingSettings(
        workspace=copy_workspace(tmp_path / "workspace"),
        registry_dir=models / "registry",
        active_file=models / "ACTIVE",
        bootstrap_model=models / "sp4all.tar.gz",
        tracker_db_url=f"sqlite+aiosqlite:///{tmp_path / 'trackers.db'}",
        rasa_urls=(model_api.url,),
    )
    settings = Settings(
        database_url=sqlite_url,
        rasa_urls=("http://127.0.0.1:9",),  # the citizens' Rasa: not used here
        gazetteer_path=FIXTURES / "communes.yml",
        log_json=False,
    )
    test_client = await aiohttp_client(create_app(settings, training=training))
    admin = test_client.app[CONSOLE].admin
    await admin.add_agent(ADMIN, "Root", "national-pool", "admin", PASSWORD)
    return test_client


async def log_in(browser: Browser, base: str, viewport: Any, language: str = "en") -> Page:
    return await console_login(
        browser, base, ADMIN, PASSWORD, viewport=viewport, landing=TRAINING, language=language
    )


async def no_sideways_scrolling(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width


async def test_an_admin_labels_the_review_queue_in_the_browser(
    client: TestClient[Any, Any], browser: Browser
) -> None:
    base = str(client.make_url("")).rstrip("/")
    page = await log_in(browser, base, DESKTOP)
    try:
        await review_and_teach(client, base, page)
    except Exception:
        await page.screenshot(path=str(ARTEFACTS / "failure.png"), full_page=True)
        raise


async def review_and_teach(client: TestClient[Any, Any], base: str, page: Page) -> None:
    rows = page.locator("#review > li")
    await expect(rows).to_have_count(3)
    first = rows.nth(0)
    await expect(first.locator(".text")).to_have_text(PENSION)  # zero-width spaces grouped
    await expect(first.locator(".count b")).to_have_text("3")
    await expect(rows.nth(1).locator(".count b")).to_have_text("2")
    font = await page.evaluate(
        "getComputedStyle(document.querySelector('#review .text[lang=km]')).fontFamily"
    )
    assert "Khmer" in font
    await expect(page.locator("#shortcuts")).to_contain_text("x select")

    # keyboard only: j moves, x ticks, a goes to the intent
    for key in ("j", "x", "j", "x"):
        await page.keyboard.press(key)
    await expect(page.locator("#review input[type=checkbox]:checked")).to_have_count(2)
    await expect(rows.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    await expect(rows.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    await page.keyboard.press("a")
    assert await page.evaluate("document.activeElement.id") == "intent"
    await page.select_option("#intent", PENSION_INTENT)
    await page.screenshot(path=str(ARTEFACTS / "review-desktop.png"), full_page=True)
    await page.click("#assign")
    await page.wait_for_url(f"{base}/console/training")
    await expect(rows).to_have_count(1)
    await expect(rows.nth(0).locator(".text")).to_have_text(GOLD)

    # "/" filters; nothing matches the pension any more
    await page.keyboard.press("/")
    await page.keyboard.type("សោធន")
    await expect(page.locator("#review > li:visible")).to_have_count(0)
    await page.keyboard.press("Escape")

    await page.click("nav.subnav a[href='/console/training/annotations']")
    table = page.locator("table.annotations")
    await expect(table).to_contain_text(PENSION)
    await expect(table).to_contain_text(WITHDRAW)
    await expect(table.locator("tbody tr")).to_have_count(2)
    await expect(table).to_contain_text(PENSION_INTENT)

    # a new intent: the service's refusal is shown with what was typed, then it is saved
    await page.click("nav.subnav a[href='/console/training/intents']")
    await page.fill("#intent-name", NEW_INTENT)
    await page.fill("#answer-km", KM)
    await page.fill("#answer-en", KM)  # Khmer where the English answer belongs
    await page.click("#create-intent")
    await expect(page.locator("#intent-form .error")).to_contain_text(
        "the English answer of 'ask_birth_certificate' contains Khmer script"
    )
    await expect(page.locator("#answer-km")).to_have_value(KM)
    await page.fill("#answer-en", EN)
    await page.click("#create-intent")
    await expect(page.locator(".notice")).to_contain_text(f"Intent {NEW_INTENT} saved")
    await expect(page.locator("main table")).to_contain_text(KM)
    await page.screenshot(path=str(ARTEFACTS / "intents-desktop.png"), full_page=True)
    await page.click("nav.subnav a[href='/console/training']")
    await expect(page.locator(f"#intent option[value={NEW_INTENT}]")).to_have_count(1)

    await follow_a_job(client, base, page)
    await phone_pages(page, base)


async def follow_a_job(client: TestClient[Any, Any], base: str, page: Page) -> None:
    """The job page's progress bar moves without a reload; at the end the report shows."""
    service = client.app[TRAINING_SERVICE]
    async with service.sessions() as session, session.begin():
        job = TrainingJob(
            created_by=ADMIN, status=TrainingJobStatus.RUNNING, stage="train", progress=30
        )
        session.add(job)
    await page.goto(f"{base}/console/training/jobs/{job.id}")
    await expect(page.locator("#percent")).to_have_text("30%")
    async with service.sessions() as session, session.begin():
        row = await session.get(TrainingJob, job.id)
        assert row is not None
        row.stage, row.progress = "evaluate", 80
    await expect(page.locator("#percent")).to_have_text("80%")  # polled, no reload
    await expect(page.locator("#stage")).to_have_text("evaluating")  # the stage in words
    assert await page.locator("#progress").evaluate("p => p.value") == 80
    await page.screenshot(path=str(ARTEFACTS / "job-running-desktop.png"), full_page=True)

    candidate = service.settings.registry_dir / f"candidate-{job.id}.tar.gz"
    candidate.parent.mkdir(parents=True, exist_ok=True)
    candidate.write_bytes(b"a candidate model")
    async with service.sessions() as session, session.begin():
        model = ModelEntry(
            path=str(candidate), sha256="c" * 64, status=ModelStatus.CANDIDATE, job_id=job.id
        )
        session.add(model)
        await session.flush()
        row = await session.get(TrainingJob, job.id)
        assert row is not None
        row.status, row.stage, row.progress = TrainingJobStatus.PASSED, "done", 100
        row.report, row.model_id, row.finished_at = report(), model.id, utcnow()
    await expect(page.locator("#gate")).to_contain_text("Passed")  # the page reloaded itself
    await expect(page.locator("table.accuracy")).to_contain_text("Khmer")  # in words
    activate = page.locator(f"form[action='/console/training/models/{model.id}/activate']")
    await expect(activate).to_have_count(1)
    await page.screenshot(path=str(ARTEFACTS / "report-desktop.png"), full_page=True)


async def phone_pages(desktop: Page, base: str) -> None:
    """The same pages at 360 px with the console in Khmer: no sideways scrolling, Khmer
    readable, buttons reachable."""
    assert desktop.context.browser is not None
    phone = await log_in(desktop.context.browser, base, PHONE, language="km")
    await expect(phone.locator("#review > li")).to_have_count(1)
    await expect(phone.locator("#assign")).to_have_text("ដាក់គោលបំណង")
    assert await phone.evaluate("document.documentElement.lang") == "km"
    await no_sideways_scrolling(phone)
    assert await phone.locator("#assign").is_visible()
    await phone.screenshot(path=str(ARTEFACTS / "review-phone.png"), full_page=True)
    # o: the current row is out of scope (the form's own button, pressed by the script)
    await phone.keyboard.press("j")
    await phone.keyboard.press("o")
    await expect(phone.locator("#review > li")).to_have_count(0)
    await phone.goto(f"{base}/console/training/annotations")
    await expect(phone.locator("table.annotations")).to_contain_text(GOLD)
    await expect(phone.locator("table.annotations")).to_contain_text("ក្រៅប្រធានបទ")
    await phone.goto(f"{base}/console/training/jobs")
    await phone.locator("table.jobs a").first.click()
    await expect(phone.locator("#gate")).to_be_visible()
    await no_sideways_scrolling(phone)
    await phone.screenshot(path=str(ARTEFACTS / "report-phone.png"), full_page=True)
