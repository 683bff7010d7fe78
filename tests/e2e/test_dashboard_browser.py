"""The dashboard and the public figures page in a real browser (Debian's Chromium), at
360 px and at desktop width, without Rasa (the fake one answers): charts and the map are
SVG drawn on the server, so the pages need no script. Screenshots go to results/dashboard/.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage
from sqlalchemy import insert

from bot import keys
from bot.cases import Case, CaseKind, CaseStatus, CaseTopic
from bot.dashboard import DASHBOARD
from tests.bot.console_helpers import PASSWORD, make_team
from tests.e2e.conftest import DESKTOP, PHONE, console_login

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "results" / "dashboard"
PROGRAMMES = ["equity_card", "family_package", "scholarship", "pregnancy_cash", "nssf"]
DESCRIPTION = "ខ្ញុំមិនទាន់បានទទួលប្រាក់ឧបត្ថម្ភទេ លេខ 012 345 678"


@pytest.fixture(autouse=True)
def artefacts() -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS


async def seed(app: Any, count: int = 3000) -> None:
    """Cases over 2026 in every province, weighted like a real spread (Phnom Penh most)."""
    rng = random.Random(16)
    provinces = [f"{i:02d}" for i in range(1, 26)]
    weights = [
        1 + (30 if p == "12" else 10 if p in ("03", "17", "02") else rng.random() * 6)
        for p in provinces
    ]
    rows = []
    for n in range(count):
        created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=rng.random() * 330)
        days = rng.expovariate(1 / 9)
        resolved = created + timedelta(days=days) if rng.random() < 0.7 else None
        rows.append(
            {
                "code": f"D{n:07d}",
                "kind": rng.choice(list(CaseKind)),
                "topic": rng.choice(list(CaseTopic)),
                "programme": rng.choice(PROGRAMMES),
                "status": CaseStatus.CLOSED if resolved else CaseStatus.IN_PROGRESS,
                "urgent": False,
                "anonymous": False,
                "channel": "webchat",
                "language": "km",
                "province_code": rng.choices(provinces, weights)[0],
                "escalation_level": 0,
                "description": DESCRIPTION,
                "created_at": created,
                "updated_at": created,
                "resolved_at": resolved,
            }
        )
    async with app[keys.ENGINE].begin() as conn:
        await conn.execute(insert(Case), rows)
    await app[DASHBOARD].summary.refresh()


async def test_dashboard_and_public_page_at_phone_and_desktop_width(
    gateway: Any, browser: Browser
) -> None:
    client = await gateway()
    await make_team(client)
    await seed(client.app)
    base = str(client.make_url("")).rstrip("/")
    landing = "/console/dashboard?from=2026-01&to=2026-11"
    errors: list[str] = []  # a Content-Security-Policy refusal shows as a console error

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for lang in ("en", "km"):
            page = await console_login(
                browser, base, "root", PASSWORD, viewport=viewport, landing=landing, language=lang
            )
            page.on("console", watch)
            await page.reload()
            await page.locator("svg.map path").first.wait_for()
            assert await page.locator("svg.map path").count() == 25
            text = await page.locator("main").inner_text()
            assert DESCRIPTION not in text
            assert "012 345" not in text
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], (name, width)  # only the tables scroll inside
            await page.screenshot(
                path=str(ARTEFACTS / f"dashboard-{lang}-{name}.png"), full_page=True
            )
            if name == "phone":  # the first screen, as a person sees it
                await page.screenshot(path=str(ARTEFACTS / f"dashboard-{lang}-phone-top.png"))
            await page.context.close()
        context = await browser.new_context(viewport=viewport)
        public = await context.new_page()
        public.on("console", watch)
        for lang in ("km", "en"):
            await public.goto(f"{base}/figures?year=2026&lang={lang}")
            await public.locator("svg.map path").first.wait_for()
            assert "CC BY-IGO 3.0" in await public.locator("main").inner_text()
            width = await public.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], (name, width)
            await public.screenshot(
                path=str(ARTEFACTS / f"figures-{lang}-{name}.png"), full_page=True
            )
            if name == "phone":  # each chart on its own, to look at closely
                for section in ("months", "map", "issue", "resolution"):
                    shot = ARTEFACTS / f"figures-{lang}-phone-{section}.png"
                    await public.locator(f"#{section}").screenshot(path=str(shot))
        assert errors == []  # the CSP refused nothing: no inline style or script
        await context.close()
