"""``python -m bot knowledge import|export|validate`` on a real database (SQLite and
PostgreSQL): the seed in, the live revision out, byte-identical after a round trip."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

from bot.knowledge._cli import EXIT_INVALID, EXIT_OK, add_knowledge_commands, run_knowledge_command

REPO = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_knowledge_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["knowledge", *argv])


async def run(settings: Any, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_knowledge_command(settings, parse(*argv), out)
    return code, out.getvalue()


async def test_import_export_validate_round_trip(make_settings, database_url, tmp_path) -> None:
    settings = make_settings(database_url=database_url)
    code, said = await run(settings, "import", "--seed", str(REPO / "knowledge"))
    assert (code, said) == (EXIT_OK, "published revision 1\n")
    first = tmp_path / "r1.json"
    assert (await run(settings, "export", "--out", str(first)))[0] == EXIT_OK
    code, said = await run(settings, "validate", str(first))
    assert code == EXIT_OK
    assert "valid" in said
    assert (await run(settings, "import", str(first)))[1] == "published revision 2\n"
    code, exported = await run(settings, "export")
    assert code == EXIT_OK
    assert exported.encode() == first.read_bytes()
    code, seed = await run(settings, "export", "--seed")
    assert "អាហារូបករណ៍សិស្ស" in seed  # the scholarship's Khmer title, as programmes.yml


async def test_validate_names_what_is_wrong(make_settings, tmp_path) -> None:
    settings = make_settings()
    await run(settings, "import", "--seed", str(REPO / "knowledge"))
    good = tmp_path / "good.json"
    await run(settings, "export", "--out", str(good))
    document = json.loads(good.read_text(encoding="utf-8"))
    del document["services"][0]["description"]["en"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    code, said = await run(settings, "validate", str(bad))
    assert code == EXIT_INVALID
    assert "services/0/description" in said
