"""``python -m bot knowledge import|export|validate``: the catalogue from the command line.

* ``validate FILE``   check a profile document (JSON) against the schema; no database
* ``export [--out FILE] [--seed]``  the live revision's canonical JSON (or programmes.yml)
* ``import FILE | --seed DIR``      publish a document (or the seed files) as a new revision
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import async_sessionmaker

import kbprofile

from .._exceptions import GatewayError
from .._settings import Settings
from ..storage._db import create_engine
from ..storage._migrate import migrate
from ._service import KnowledgeService

__all__ = ["COMMAND", "add_knowledge_commands", "run_knowledge_command"]

COMMAND = "knowledge"
EXIT_OK, EXIT_ERROR, EXIT_INVALID = 0, 1, 3


def add_knowledge_commands(sub: Any) -> None:
    """Register ``knowledge`` and its subcommands on the main parser."""
    parser = sub.add_parser(COMMAND, help="the knowledge base: import, export, validate")
    cmds = parser.add_subparsers(dest="knowledge_command", required=True)
    check = cmds.add_parser("validate", help="check a profile document against the schema")
    check.add_argument("file", type=Path)
    export = cmds.add_parser("export", help="the live revision (canonical JSON)")
    export.add_argument("--out", type=Path, help="write here instead of standard output")
    export.add_argument("--seed", action="store_true", help="as programmes.yml instead")
    imp = cmds.add_parser("import", help="publish a document as a new revision")
    what = imp.add_mutually_exclusive_group(required=True)
    what.add_argument("file", nargs="?", type=Path, help="a profile document (JSON)")
    what.add_argument("--seed", type=Path, metavar="DIR", help="a knowledge/ directory")


def _write(text: str, out: Path | None, stream: TextIO) -> None:
    if out is None:
        stream.write(text)
    else:
        out.write_text(text, encoding="utf-8")


async def run_knowledge_command(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None
) -> int:
    """Run one ``knowledge`` subcommand; errors are printed, not raised."""
    stream = out or sys.stdout
    errors = sys.stderr if out is None else stream
    try:
        if args.knowledge_command == "validate":
            problems = kbprofile.validate(kbprofile.loads(args.file.read_bytes()))
            for problem in problems:
                print(f"invalid: {problem}", file=errors)
            if not problems:
                print(
                    f"{args.file}: valid ({kbprofile.PROFILE} {kbprofile.PROFILE_VERSION})",
                    file=stream,
                )
            return EXIT_INVALID if problems else EXIT_OK
        engine, sessions = create_engine(settings.database_url)
        del sessions  # the service makes its own, without expiring on commit
        try:
            if settings.auto_migrate:
                await migrate(engine)
            service = KnowledgeService(async_sessionmaker(engine, expire_on_commit=False))
            if args.knowledge_command == "export":
                live = await service.live()
                if live is None:
                    print("error: no published revision yet", file=errors)
                    return EXIT_ERROR
                text = live.text
                if args.seed:
                    text = kbprofile.dump_seed_yaml(kbprofile.document_to_seed(live.document()))
                _write(text, args.out, stream)
                return EXIT_OK
            if args.seed is not None:
                text = kbprofile.dumps(kbprofile.seed_to_document(args.seed))
            else:
                text = args.file.read_text(encoding="utf-8")
            number = await service.import_document(text)
            print(f"published revision {number}", file=stream)
            return EXIT_OK
        finally:
            await engine.dispose()
    except (GatewayError, kbprofile.ProfileError, OSError) as exc:
        print(f"error: {exc}", file=errors)
        return EXIT_ERROR
