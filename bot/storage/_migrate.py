"""Bring the gateway's schema to the newest Alembic revision (same code path in tests and prod)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["alembic_config", "migrate"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
HEAD = "head"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config that needs no alembic.ini on disk."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, HEAD)


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade to head on an existing async engine (runs Alembic inside run_sync)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
