"""Organisations and agents for handoff tests, written straight to the gateway's database."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import keys
from bot._passwords import hash_password
from bot.handoff import Viewer
from bot.storage._db import Agent, Organisation

PASSWORD = "correct horse battery"


async def add_org(client: TestClient[Any, Any], **values: Any) -> Organisation:
    defaults: dict[str, Any] = {
        "languages": ["km", "en"],
        "topics": [],
        "areas": [],
        "office_hours": {},
        "sla_minutes": 30,
        "national_pool": False,
        "active": True,
    }
    org = Organisation(**{**defaults, **values})
    async with client.app[keys.STORE].writing() as session:
        session.add(org)
        await session.commit()
    return org


async def add_agent(
    client: TestClient[Any, Any], org: Organisation, username: str, role: str = "agent"
) -> Viewer:
    agent = Agent(
        organisation_id=org.id,
        username=username,
        display_name=username.title(),
        password_hash=hash_password(PASSWORD),
        role=role,
        languages=["km"],
        active=True,
    )
    async with client.app[keys.STORE].writing() as session:
        session.add(agent)
        await session.commit()
    return Viewer(agent.id, org.id, role, agent.display_name)


async def pool(client: TestClient[Any, Any]) -> Organisation:
    async with client.app[keys.STORE].reading() as session:
        found: Organisation | None = await session.scalar(
            select(Organisation).where(Organisation.national_pool)
        )
    assert found is not None
    return found
