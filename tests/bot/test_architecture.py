"""The gateway's packages depend on each other in one direction: no import cycles.

A cycle between packages (keys -> console -> keys, conversation -> handoff -> conversation)
means neither can be understood, tested or replaced alone, and it breaks at import time as
soon as someone imports them in another order. Imports under ``if TYPE_CHECKING:`` count too:
they are the same dependency, only postponed.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"


def _unit(module: str) -> str:
    """The unit a module belongs to: a subpackage (bot.channels) or a top-level module."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _module_name(path: Path) -> str:
    relative = path.relative_to(BOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names] if not node.module else []
            found.update(t for t in [target, *names] if t.startswith("bot"))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("bot"))
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in BOT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        source = _unit(_module_name(path))
        for target in _imports(path):
            unit = _unit(target)
            if unit not in (source, "bot") and _exists(unit):
                graph[source].add(unit)
    return graph


def _exists(unit: str) -> bool:
    """A package or module of bot/ (not a name imported from one)."""
    path = BOT.parent / unit.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").is_file()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_graph_sees_the_packages() -> None:
    graph = _graph()
    assert "bot.storage" in graph["bot.conversation"]
    assert "bot.channels" in graph["bot.conversation"]


def test_no_import_cycles_between_the_gateways_packages() -> None:
    assert _cycles(_graph()) == []
