"""Fixtures of the retraining tool's tests: a temporary workspace (a copy of the repository's
Rasa files, so no test touches the real ones), the gateway database on SQLite and PostgreSQL,
console users, Rasa's tracker table, and a fake Rasa model API on loopback.

Tests marked ``rasa_training`` train real Rasa models (minutes each on 2 cores):
``pytest tests/training -m rasa_training`` runs only them, ``-m "not rasa_training"`` the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage._db import Agent, Organisation, create_engine
from bot.storage._migrate import migrate
from bot.training import GatePolicy, TrainingSettings
from tests.bot.gateway_fixtures import (
    database_url,
    new_database,
    postgres_url,
    sqlite_url,
    throwaway_databases,
)
from tests.training.helpers import (
    ADMIN,
    AGENT,
    SUPERVISOR,
    FakeModelApi,
    copy_workspace,
)

__all__ = ["database_url", "postgres_url", "sqlite_url", "throwaway_databases"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rasa_training: trains and evaluates real Rasa models (minutes each)"
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return copy_workspace(tmp_path / "workspace")


@pytest.fixture
def training_settings(tmp_path: Path, workspace: Path) -> TrainingSettings:
    models = tmp_path / "models"
    models.mkdir()
    live = models / "sp4all.tar.gz"
    live.write_bytes(b"not a real model: the registry only hashes it")
    return TrainingSettings(
        workspace=workspace,
        registry_dir=models / "registry",
        active_file=models / "ACTIVE",
        bootstrap_model=live,
        tracker_db_url=f"sqlite+aiosqlite:///{tmp_path / 'trackers.db'}",
        rasa_urls=("http://127.0.0.1:9",),
        gate=GatePolicy(),
    )


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The gateway's database (both kinds), migrated, with an organisation and three users."""
    engine, factory = create_engine(database_url)
    await migrate(engine)
    async with factory() as session, session.begin():
        org = Organisation(slug="nsaf", name="NSAF secretariat", languages=["km", "en"])
        session.add(org)
        await session.flush()
        for actor in (ADMIN, AGENT, SUPERVISOR):
            session.add(
                Agent(
                    organisation_id=org.id,
                    username=actor.username,
                    display_name=actor.username,
                    password_hash="x",
                    role=actor.role,
                    languages=["km"],
                )
            )
    yield factory
    await engine.dispose()


@pytest.fixture
def tracker_pg(throwaway_databases: list[str]) -> tuple[str, str]:
    """A throwaway PostgreSQL database for a tracker table: (asyncpg DSN, SQLAlchemy URL)."""
    name = new_database(throwaway_databases, "rasa_tracker_test")
    return (
        f"postgresql://postgres@127.0.0.1:5432/{name}",
        f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
    )


@pytest.fixture
async def rasa_api() -> AsyncIterator[list[FakeModelApi]]:
    """Two fake Rasa instances."""
    fakes = [FakeModelApi(), FakeModelApi()]
    for fake in fakes:
        fake.server = TestServer(fake.app(), host="127.0.0.1")
        await fake.server.start_server()
    yield fakes
    for fake in fakes:
        assert fake.server is not None
        await fake.server.close()
