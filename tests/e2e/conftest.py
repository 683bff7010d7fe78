"""The REAL assistant for end-to-end tests, started once per session.

An action server and two Rasa instances in the production profile (tracker store on a
throwaway PostgreSQL database, Redis lock store), on free ports; the gateway under test
routes each sender to one of them. Needs models/sp4all.tar.gz (`make test` trains it first).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from tests.bot.gateway_fixtures import (
    database_url,
    fake_graph,
    fake_rasa,
    fake_telegram,
    gateway,
    make_settings,
    pg_admin,
    postgres_url,
    sqlite_url,
    throwaway_databases,
)

__all__ = [
    "browser",
    "database_url",
    "fake_graph",
    "fake_rasa",
    "fake_telegram",
    "gateway",
    "make_settings",
    "postgres_url",
    "rasa_stack",
    "real_rasa",
    "sqlite_url",
    "throwaway_databases",
]

ROOT = Path(__file__).resolve().parents[2]
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
# SP4ALL_MODEL points at another trained model (e.g. while models/ is being retrained).
MODEL = Path(os.environ.get("SP4ALL_MODEL") or ROOT / "models" / "sp4all.tar.gz")
ENDPOINTS = ROOT / "deploy" / "endpoints.production.yml"
INSTANCES = 2
READY_TIMEOUT_S = 240.0
# Debian's Chromium: Playwright never downloads a browser (.ci/run installs chromium). Without
# the background-networking flags Chromium keeps calling hosts this machine cannot reach.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
UI_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class RasaStack:
    """Where the real Rasa instances listen."""

    urls: tuple[str, ...]
    actions_url: str
    log_dir: Path
    tracker_db_url: str  # SQLAlchemy URL of the instances' shared tracker store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


async def _drop(name: str) -> None:
    await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def rasa_stack(
    log_dir: Path,
    *,
    instances: int = INSTANCES,
    model: Path = MODEL,
    extra_env: dict[str, str] | None = None,
) -> Iterator[RasaStack]:
    """An action server and ``instances`` Rasa servers on a throwaway tracker database,
    stopped and dropped on exit. ``extra_env`` reaches every process (e.g. the action
    server's SP4ALL_KNOWLEDGE_DIR)."""
    if not model.exists():
        pytest.fail(f"{model} is missing: train it first (make train)")
    run_id = secrets.token_hex(4)
    tracker_db = f"rasa_e2e_{run_id}"
    actions_port = _free_port()
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "RASA_TELEMETRY_ENABLED": "false",  # no network: telemetry would only retry and log
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "ACTION_SERVER_URL": f"http://127.0.0.1:{actions_port}/webhook",
        "RASA_DB_HOST": "127.0.0.1",
        "RASA_DB_NAME": tracker_db,
        "RASA_DB_USER": "postgres",
        "RASA_DB_PASSWORD": "",
        "REDIS_HOST": "127.0.0.1",
        "RASA_LOCK_PREFIX": f"e2e{run_id}",
        **(extra_env or {}),
    }
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, cmd: list[str]) -> None:
        log = (log_dir / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(  # noqa: S603 (our own Rasa binary)
                cmd,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    spawn(
        "actions",
        [str(RASA), "run", "actions", "--actions", "actions", "--port", str(actions_port)],
    )
    ports = [_free_port() for _ in range(instances)]
    for i, port in enumerate(ports):
        spawn(
            f"rasa{i}",
            [
                str(RASA),
                "run",
                "--enable-api",
                "--model",
                str(model),
                "--endpoints",
                str(ENDPOINTS),
                "--credentials",
                "credentials.yml",
                "--port",
                str(port),
            ],
        )
    urls = tuple(f"http://127.0.0.1:{p}" for p in ports)
    checks = [f"http://127.0.0.1:{actions_port}/health", *(u + "/status" for u in urls)]
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(_ready(c) for c in checks):
            dead = [p for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(
                    f.read_text(errors="replace")[-3000:] for f in sorted(log_dir.glob("*.log"))
                )
                pytest.fail(f"real Rasa did not start; logs:\n{logs}")
            time.sleep(1)
        yield RasaStack(
            urls=urls,
            actions_url=checks[0],
            log_dir=log_dir,
            tracker_db_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{tracker_db}",
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        asyncio.run(_drop(tracker_db))


@pytest.fixture(scope="session")
def real_rasa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RasaStack]:
    """Start the action server and two Rasa instances once; stop and clean up at the end."""
    with rasa_stack(tmp_path_factory.mktemp("rasa-logs")) as stack:
        yield stack


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """Headless Chromium for the browser tests (each keeps its screenshots in results/)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


async def console_login(
    browser: Browser,
    base: str,
    username: str,
    password: str,
    *,
    viewport: ViewportSize = DESKTOP,
    landing: str = "/console/",
    language: str | None = None,
) -> Page:
    """A new browser context logged in to the console through its form, on ``landing``."""
    context = await browser.new_context(viewport=viewport, locale="km-KH")
    page = await context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    query = {"next": landing} if landing != "/console/" else {}
    if language:
        query["lang"] = language
    await page.goto(f"{base}/console/login" + (f"?{urlencode(query)}" if query else ""))
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("form[action='/console/login'] button[type=submit]")
    await page.wait_for_url(f"{base}{landing}")
    return page


async def no_sideways_scroll(page: Page) -> None:
    """Nothing on the page is wider than its viewport (a phone scrolls only down)."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = await page.evaluate("window.innerWidth")
    assert width <= viewport + 1, (page.url, width, viewport)
