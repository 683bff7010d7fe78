"""Fixtures shared by tests/bot and tests/e2e: fakes on 127.0.0.1, databases, the gateway."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bot import Settings, create_app
from tests.bot.gateway_fakes import (
    FB_SECRET,
    FB_VERIFY,
    TG_SECRET,
    TOKEN,
    FakeGraph,
    FakeRasa,
    FakeTelegram,
    start,
)

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
FIXTURES = Path(__file__).parent / "data"


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    server = await start(fake)
    yield fake
    await server.close()


@pytest.fixture
async def fake_graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    server = await start(fake)
    yield fake
    await server.close()


@pytest.fixture
async def fake_rasa() -> AsyncIterator[FakeRasa]:
    fake = FakeRasa()
    server = await start(fake)
    yield fake
    await server.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"


async def pg_admin(sql: str, *args: object) -> None:
    """One statement on the local PostgreSQL's maintenance database."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def _drop_databases(names: list[str]) -> None:
    for name in names:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def throwaway_databases() -> Iterator[list[str]]:
    """Names of the databases the tests created, all dropped when the session ends.

    Not at each test's end: pytest tears fixtures down in the reverse order of their set-up,
    so a test that asked for its app before its database would see the database dropped
    (WITH FORCE) under an app that is still running; the app's shutdown then fails.
    """
    names: list[str] = []
    yield names
    asyncio.run(_drop_databases(names))


def new_database(names: list[str], prefix: str) -> str:
    """Create an empty database on the local PostgreSQL; dropped with the session."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    names.append(name)
    return name


@pytest.fixture
def postgres_url(throwaway_databases: list[str]) -> str:
    """A fresh database on the local PostgreSQL."""
    name = new_database(throwaway_databases, "gateway_test")
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Both supported databases, for tests of the storage layer and a full flow."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def make_settings(
    sqlite_url: str, fake_telegram: FakeTelegram, fake_graph: FakeGraph, fake_rasa: FakeRasa
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": sqlite_url,
            "rasa_urls": (fake_rasa.url,),
            "telegram_token": TOKEN,
            "telegram_secret": TG_SECRET,
            "telegram_api_url": fake_telegram.base_url,
            "messenger_verify_token": FB_VERIFY,
            "messenger_app_secret": FB_SECRET,
            "messenger_page_token": "page-token",
            "graph_api_url": fake_graph.base_url,
            "retry_base_s": 0.05,
            "retry_max_s": 0.2,
            "rasa_timeout_s": 2.0,
            "send_timeout_s": 2.0,
            "gazetteer_path": FIXTURES / "communes.yml",
            "log_json": False,
        }
        values.update(overrides)
        return Settings(**values)

    return make


GatewayFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def gateway(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    make_settings: Callable[..., Settings],
) -> GatewayFactory:
    """Start the real gateway app (aiohttp test server) with settings overrides."""

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        return await aiohttp_client(create_app(make_settings(**overrides)))

    return make
