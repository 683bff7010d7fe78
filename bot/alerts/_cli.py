"""``python -m bot import-cap FILE`` and ``python -m bot cap-sender token|policy|list``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from .._settings import Settings
from ..dissemination import DisseminationService
from ..storage._db import create_engine
from ..storage._migrate import migrate
from ..storage._store import Store
from ._cap import CapInvalid
from ._hook import make_hook
from ._models import AlertSource
from ._service import AlertService, CapRefused

__all__ = ["ALERT_COMMANDS", "add_alert_commands", "run_alert_command"]

ALERT_COMMANDS = frozenset({"import-cap", "cap-sender"})
EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def add_alert_commands(sub: Any) -> None:
    """Register the alert commands on the main parser."""
    imp = sub.add_parser("import-cap", help="import a CAP 1.2 alert from a file ('-': stdin)")
    imp.add_argument("file")
    sender = sub.add_parser("cap-sender", help="CAP senders: tokens and approval policy")
    cmds = sender.add_subparsers(dest="cap_sender_command", required=True)
    token = cmds.add_parser("token", help="a new bearer token for a sender (shown once)")
    token.add_argument("sender", help="the CAP <sender> value, e.g. ews@mowram.gov.kh")
    token.add_argument("--name", default="", help="the authority's name, for the console")
    policy = cmds.add_parser("policy", help="require or waive the secretariat's approval")
    policy.add_argument("sender")
    policy.add_argument("approval", choices=["required", "waived"])
    cmds.add_parser("list", help="the senders and their policies")


async def _service(settings: Settings) -> tuple[AlertService, Any]:
    engine, sessions = create_engine(settings.database_url)
    if settings.auto_migrate:
        await migrate(engine)
    # the broadcast is written here and planned by the gateway's next dissemination tick
    target = DisseminationService(engine)
    return AlertService(Store(sessions, engine.dialect.name), make_hook(target)), engine


async def run_alert_command(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None
) -> int:
    """Run one alert command; 1 when the alert is refused (the reason on stderr)."""
    out = out or sys.stdout
    service, engine = await _service(settings)
    try:
        if args.command == "import-cap":
            source = sys.stdin.buffer.read if args.file == "-" else Path(args.file).read_bytes
            data = await asyncio.to_thread(source)
            try:
                result = await service.import_cap(data, source=AlertSource.CLI)
            except (CapInvalid, CapRefused) as exc:
                print(f"refused: {exc}", file=sys.stderr)
                return EXIT_REFUSED
            print(
                json.dumps(
                    {
                        "id": result.id,
                        "identifier": result.identifier,
                        "state": result.state,
                        "duplicate": result.duplicate,
                        "handed_off": result.handed_off,
                        "area_codes": result.imported.area_codes if result.imported else [],
                    },
                    ensure_ascii=False,
                ),
                file=out,
            )
            return EXIT_OK
        command = args.cap_sender_command
        if command == "token":
            try:
                token = await service.new_token(args.sender, args.name)
            except CapInvalid as exc:
                print(f"refused: {exc}", file=sys.stderr)
                return EXIT_USAGE
            print(token, file=out)
        elif command == "policy":
            row = await service.set_policy(
                args.sender, require_approval=args.approval == "required", by="command line"
            )
            print(f"{row.cap_sender}: approval {args.approval}", file=out)
        else:
            for s in await service.senders():
                approval = "required" if s.require_approval else "waived"
                has_token = "token" if s.token_hash else "no token"
                print(f"{s.cap_sender}\t{approval}\t{has_token}\t{s.name}", file=out)
        return EXIT_OK
    finally:
        await engine.dispose()
