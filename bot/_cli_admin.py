"""``python -m bot org ...`` and ``python -m bot agent ...``: the console's administration
from a terminal (the same rules, through bot.accounts.Admin).

Passwords are read from standard input (never from the command line, where ``ps`` and the
shell history would show them) or generated and printed once.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from ._exceptions import Refused
from ._settings import Settings
from .accounts import (
    Admin,
    AdminRules,
    AgentInfo,
    OrgInfo,
    OrgKind,
    Role,
    generate_password,
    load_topics,
)
from .handoff import PlaceNames, parse_office_hours
from .storage._db import create_engine
from .storage._migrate import migrate
from .storage._store import Store

__all__ = ["add_admin_commands", "run_admin_command", "write_secret_file"]

SECRET_FILE_MODE = 0o600
_YES = {"yes", "true", "1", "on"}
_NO = {"no", "false", "0", "off"}


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _hours(value: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"office hours must be JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError('office hours look like {"mon-fri": ["08:00-17:00"]}')
    return data


def _yes_no(value: str) -> bool:
    if value.lower() in _YES:
        return True
    if value.lower() in _NO:
        return False
    raise argparse.ArgumentTypeError("use yes or no")


def add_admin_commands(sub: Any) -> None:
    """Register ``org`` and ``agent`` with their subcommands on the main parser."""
    org = sub.add_parser("org", help="organisations that answer handoffs").add_subparsers(
        dest="org_command", required=True
    )
    org.add_parser("list", help="list organisations")
    for name in ("add", "update"):
        p = org.add_parser(name, help=f"{name} an organisation")
        p.add_argument("slug", help="short id, e.g. kc-network")
        p.add_argument("--name", required=name == "add")
        p.add_argument("--languages", type=_csv, help="km,en")
        p.add_argument("--topics", type=_csv, help="topic ids of knowledge/programmes.yml")
        p.add_argument("--areas", type=_csv, help="gazetteer codes, e.g. 03,1201")
        p.add_argument("--hours", type=_hours, help='{"mon-fri": ["08:00-17:00"]}')
        p.add_argument("--sla-minutes", type=int)
        p.add_argument(
            "--kind",
            choices=[k.value for k in OrgKind if k != OrgKind.NATIONAL_POOL],
            help="ministry, secretariat or cso (the default)",
        )
        if name == "update":
            p.add_argument("--active", type=_yes_no, help="yes or no")
    agent = sub.add_parser("agent", help="console users").add_subparsers(
        dest="agent_command", required=True
    )
    p = agent.add_parser("list", help="list agents")
    p.add_argument("--org")
    p = agent.add_parser("add", help="add an agent (password from stdin, or --generate)")
    p.add_argument("username")
    p.add_argument("--name", required=True, help="the name citizens see")
    p.add_argument("--org", required=True)
    p.add_argument("--role", default=Role.AGENT.value, help=", ".join(Role))
    p.add_argument("--generate", action="store_true", help="generate and print a password")
    p = agent.add_parser("update", help="change role, organisation or name")
    p.add_argument("username")
    p.add_argument("--name")
    p.add_argument("--org")
    p.add_argument("--role")
    p.add_argument("--active", type=_yes_no)
    p = agent.add_parser("passwd", help="reset a password (stdin, or --generate)")
    p.add_argument("username")
    p.add_argument("--generate", action="store_true")
    p = agent.add_parser("deactivate", help="deactivate an agent (history keeps the name)")
    p.add_argument("username")
    agent.add_parser(
        "ensure-admin", help="create an admin with a random password if there is none"
    )


def _read_password(stdin: TextIO) -> str:
    if stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise Refused("the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def write_secret_file(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600; an old one is replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _org_line(org: OrgInfo) -> str:
    flags = " national-pool" if org.national_pool else f" kind={org.kind}"
    flags += "" if org.active else " inactive"
    return (
        f"{org.slug}\t{org.name}\tlanguages={','.join(org.languages) or 'all'}"
        f"\ttopics={','.join(org.topics) or 'all'}\tareas={','.join(org.areas) or 'national'}"
        f"\thours={json.dumps(org.office_hours) if org.office_hours else 'always'}"
        f"\tsla={org.sla_minutes}min{flags}"
    )


def _agent_line(agent: AgentInfo) -> str:
    state = "active" if agent.active else "inactive"
    return (
        f"{agent.username}\t{agent.display_name}\t{agent.role}\t{agent.organisation_slug}\t{state}"
    )


@contextlib.asynccontextmanager
async def admin_for(settings: Settings) -> AsyncIterator[Admin]:
    """An Admin on the configured database (migrated first, as the gateway would)."""
    engine, sessions = create_engine(settings.database_url)
    try:
        if settings.auto_migrate:
            await migrate(engine)
        rules = AdminRules(
            places=PlaceNames.load(settings.gazetteer_path.parent),
            office_hours=parse_office_hours,
            topics=load_topics(settings.knowledge_dir / "programmes.yml"),
        )
        yield Admin(Store(sessions, engine.dialect.name), rules)
    finally:
        await engine.dispose()


async def _org(admin: Admin, args: argparse.Namespace, out: TextIO) -> None:
    if args.org_command == "list":
        for org in await admin.organisations():
            print(_org_line(org), file=out)
        return
    fields: dict[str, Any] = {
        "languages": args.languages,
        "topics": args.topics,
        "areas": args.areas,
        "office_hours": args.hours,
        "sla_minutes": args.sla_minutes,
        "kind": args.kind,
    }
    if args.org_command == "add":
        given = {k: v for k, v in fields.items() if v is not None}
        org = await admin.add_organisation(args.slug, args.name, **given)
    else:
        org = await admin.update_organisation(
            args.slug, name=args.name, active=args.active, **fields
        )
    print(_org_line(org), file=out)


async def _agent(
    admin: Admin, settings: Settings, args: argparse.Namespace, out: TextIO, stdin: TextIO
) -> None:
    command = args.agent_command
    if command == "list":
        for agent in await admin.agents(organisation=args.org):
            print(_agent_line(agent), file=out)
    elif command in ("add", "passwd"):
        password = generate_password() if args.generate else _read_password(stdin)
        if command == "add":
            info = await admin.add_agent(args.username, args.name, args.org, args.role, password)
        else:
            info = await admin.set_password(args.username, password)
        print(_agent_line(info), file=out)
        if args.generate:
            print(f"password: {password}  (shown once: give it to {info.username})", file=out)
    elif command == "update":
        info = await admin.update_agent(
            args.username,
            display_name=args.name,
            role=args.role,
            organisation=args.org,
            active=args.active,
        )
        print(_agent_line(info), file=out)
    elif command == "deactivate":
        print(_agent_line(await admin.deactivate_agent(args.username)), file=out)
    elif command == "ensure-admin":
        created = await admin.ensure_admin()
        path = settings.console_admin_file
        if created is None:
            print(
                f"an admin exists already; nothing changed (see {path} if you made it)", file=out
            )
            return
        info, password = created
        write_secret_file(
            path,
            f"console: {settings.console_url}\nusername: {info.username}\npassword: {password}\n",
        )
        print(
            f"console admin created: username {info.username}, password {password}\n"
            f"(also written to {path}, readable by this user only; change it after login)",
            file=out,
        )


async def run_admin_command(
    settings: Settings,
    args: argparse.Namespace,
    out: TextIO = sys.stdout,
    stdin: TextIO = sys.stdin,
) -> int:
    """Run ``org``/``agent``; a refused change prints why and returns 1."""
    try:
        async with admin_for(settings) as admin:
            if args.command == "org":
                await _org(admin, args, out)
            else:
                await _agent(admin, settings, args, out, stdin)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def admin_commands() -> Sequence[str]:
    """The top-level commands this module handles."""
    return ("org", "agent")
