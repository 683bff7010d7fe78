"""Administration of organisations and agents (shared by the console and the CLI)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import Conflict, Invalid, NotFound
from bot.accounts import Admin, AdminRules, load_topics, verify_password
from bot.handoff import PlaceNames, parse_office_hours
from bot.storage._db import create_engine
from bot.storage._migrate import migrate
from bot.storage._store import Store

ROOT = Path(__file__).resolve().parents[2]
GAZETTEER = ROOT / "knowledge" / "gazetteer"
KNOWLEDGE = ROOT / "knowledge"
PASSWORD = "correct horse battery"


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[Admin]:
    engine, sessions = create_engine(database_url)
    await migrate(engine)
    rules = AdminRules(
        places=PlaceNames.load(GAZETTEER),
        office_hours=parse_office_hours,
        topics=load_topics(KNOWLEDGE / "programmes.yml"),
    )
    yield Admin(Store(sessions, engine.dialect.name), rules)
    await engine.dispose()


async def test_organisation_is_created_validated_and_updated(admin: Admin) -> None:
    org = await admin.add_organisation(
        "kc-network",
        "Kampong Cham network",
        languages=["km"],
        topics=["equity_card"],
        areas=["03", "1201"],
        office_hours={"mon-fri": ["08:00-12:00", "13:30-17:00"]},
        sla_minutes=45,
    )
    assert (org.slug, org.areas, org.sla_minutes) == ("kc-network", ["03", "1201"], 45)
    assert org.area_names == ["Kampong Cham", "Chamkar Mon, Phnom Penh"]
    changed = await admin.update_organisation("kc-network", areas=["0301"], sla_minutes=20)
    assert (changed.areas, changed.sla_minutes) == (["0301"], 20)
    assert [o.slug for o in await admin.organisations()] == ["national-pool", "kc-network"]
    with pytest.raises(Conflict):
        await admin.add_organisation("kc-network", "Again")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("areas", ["98"], "98"),  # no such province
        ("areas", ["0399"], "0399"),
        ("office_hours", {"mon-fri": ["17:00-08:00"]}, "must end after it starts"),
        ("office_hours", {"someday": ["08:00-12:00"]}, "someday"),
        ("languages", ["fr"], "fr"),
        ("topics", ["not_a_topic"], "not_a_topic"),
        ("sla_minutes", 0, "minutes"),
    ],
)
async def test_organisation_input_is_refused_with_a_reason(
    admin: Admin, field: str, value: object, message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        await admin.add_organisation("bad", "Bad", **{field: value})  # type: ignore[arg-type]
    assert "bad" not in [o.slug for o in await admin.organisations()]


async def test_agents_roles_passwords_and_deactivation(admin: Admin) -> None:
    await admin.add_organisation("batheay", "Batheay CSO", areas=["0301"])
    agent = await admin.add_agent("sokha", "Sokha", "batheay", "agent", PASSWORD)
    assert (agent.username, agent.role, agent.organisation_slug) == ("sokha", "agent", "batheay")
    with pytest.raises(Conflict):
        await admin.add_agent("Sokha", "Sokha again", "batheay", "agent", PASSWORD)
    with pytest.raises(Invalid, match="role"):
        await admin.add_agent("dara", "Dara", "batheay", "boss", PASSWORD)
    with pytest.raises(Invalid, match="10 characters"):
        await admin.add_agent("dara", "Dara", "batheay", "agent", "short")
    with pytest.raises(NotFound):
        await admin.add_agent("dara", "Dara", "nowhere", "agent", PASSWORD)
    await admin.set_password("sokha", "another long password")
    stored = await admin.password_hash("sokha")
    assert verify_password("another long password", stored)
    assert not verify_password(PASSWORD, stored)
    promoted = await admin.update_agent("sokha", role="supervisor", organisation="national-pool")
    assert (promoted.role, promoted.organisation_slug) == ("supervisor", "national-pool")
    gone = await admin.deactivate_agent("sokha")
    assert not gone.active
    assert [a.username for a in await admin.agents(active_only=True)] == []


async def test_ensure_admin_creates_one_admin_once_and_keeps_the_last(admin: Admin) -> None:
    created = await admin.ensure_admin()
    assert created is not None
    info, password = created
    assert (info.username, info.role) == ("admin", "admin")
    assert len(password) >= 16
    assert verify_password(password, await admin.password_hash("admin"))
    assert await admin.ensure_admin() is None  # an admin exists: nothing to do
    with pytest.raises(Conflict, match="last admin"):
        await admin.deactivate_agent("admin")
    with pytest.raises(Conflict, match="last admin"):
        await admin.update_agent("admin", role="agent")


def test_cli_org_and_agent_commands(tmp_path: Path) -> None:
    """``python -m bot org|agent ...`` on a fresh SQLite database, as an operator runs them."""
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
        "GATEWAY_CONSOLE_ADMIN_FILE": str(tmp_path / "console-admin.txt"),
        "GATEWAY_LOG_JSON": "0",
    }

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 (our own CLI)
            [sys.executable, "-m", "bot", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    added = run(
        "org", "add", "kc", "--name", "KC network", "--areas", "03", "--languages", "km",
        "--hours", '{"mon-fri": ["08:00-17:00"]}',
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    bad = run("org", "add", "bad", "--name", "Bad", "--areas", "98")
    assert bad.returncode == 1
    assert "98" in bad.stderr
    assert "kc" in run("org", "list").stdout
    updated = run("org", "update", "kc", "--sla-minutes", "15")
    assert updated.returncode == 0, updated.stderr
    # the password from stdin, never from the command line (it would show in ps)
    agent = run("agent", "add", "sokha", "--name", "Sokha", "--org", "kc", stdin=PASSWORD + "\n")
    assert agent.returncode == 0, agent.stderr
    assert PASSWORD not in agent.stdout
    generated = run("agent", "add", "dara", "--name", "Dara", "--org", "kc", "--generate")
    assert generated.returncode == 0, generated.stderr
    assert "password:" in generated.stdout
    listing = run("agent", "list").stdout
    assert "sokha" in listing
    assert "dara" in listing
    assert run("agent", "passwd", "sokha", stdin="a new long password\n").returncode == 0
    assert run("agent", "deactivate", "dara").returncode == 0
    assert "inactive" in run("agent", "list").stdout
    first = run("agent", "ensure-admin")
    assert first.returncode == 0, first.stderr
    secret_file = tmp_path / "console-admin.txt"
    password = secret_file.read_text().split()[-1]
    assert password in first.stdout
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    second = run("agent", "ensure-admin")
    assert second.returncode == 0
    assert password not in second.stdout  # printed once only


def test_supervise_makes_the_first_console_admin_before_the_gateway(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.bot.test_supervise import load_supervise

    supervise = load_supervise()
    env = {
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
        "GATEWAY_CONSOLE_ADMIN_FILE": str(tmp_path / "console-admin.txt"),
        "GATEWAY_LOG_JSON": "0",
    }
    assert supervise.ensure_console_admin(env)
    first = capsys.readouterr().out
    assert "console admin created: username admin" in first
    assert (tmp_path / "console-admin.txt").read_text().startswith("console: http://")
    assert supervise.ensure_console_admin(env)
    assert "an admin exists already" in capsys.readouterr().out
    banner = supervise.console_banner("embedded")
    assert "Agent console:  http://127.0.0.1:" in banner
    assert "/console" in banner
    assert "var/console-admin.txt" in banner
    assert "ensure-admin" in supervise.console_banner("production")
