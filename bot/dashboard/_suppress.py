"""Small-cell suppression of published count tables (issue #16).

A table is counts by rows × columns with its row totals, column totals and grand total; all
of them are published, so all of them are cells here: the extended table has one more row
(the column totals) and one more column (the row totals). Every line of it (a row with its
total, a column with its total) is an equation an outsider can solve.

* Primary suppression: every cell (totals too) of 1 to 4 is hidden.
* Complementary suppression: a hidden cell must not be derivable from the others. Seen as a
  graph whose nodes are the lines and whose edges are the hidden cells (a cell joins its row
  and its column), a hidden cell is derivable exactly when its edge is a bridge (no cycle goes
  through it). So more cells are hidden, smallest first, until no line holds a single hidden
  cell and no hidden cell is a bridge; a line whose visible total leaves its hidden cells
  summing to 1–4 gets one more too (the sum alone would say they are small).
* Tables that share totals (the months, the grand total) are suppressed together: a total
  hidden in one is hidden in all, until nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "MAX_HIDDEN",
    "MIN_SHOWN",
    "CountTable",
    "hidden_count",
    "suppress",
    "suppress_together",
]

MIN_SHOWN = 5  # a count of 1..4 is never shown
MAX_HIDDEN = MIN_SHOWN - 1

Cell = tuple[int, int]


def hidden_count(value: int) -> bool:
    """A count that may not be published."""
    return 1 <= value <= MAX_HIDDEN


@dataclass
class CountTable:
    """Counts by ``rows`` × ``cols`` with their totals; ``hidden`` holds the suppressed cells
    of the extended table (row ``len(rows)`` is the column totals, column ``len(cols)`` the
    row totals). ``col_axis`` and ``row_axis`` name what the totals are shared by."""

    name: str
    rows: list[str]
    cols: list[str]
    cells: list[list[int]]
    row_axis: str = "row"
    col_axis: str = "col"
    hidden: set[Cell] = field(default_factory=set)

    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return len(self.cols)

    def value(self, i: int, j: int) -> int:
        """A cell of the extended table (totals included)."""
        h, w = self.height, self.width
        if i < h and j < w:
            return self.cells[i][j]
        if i < h:
            return sum(self.cells[i])
        if j < w:
            return sum(row[j] for row in self.cells)
        return sum(sum(row) for row in self.cells)

    def shown(self, i: int, j: int) -> int | None:
        """The published value, None where suppressed."""
        return None if (i, j) in self.hidden else self.value(i, j)

    def lines(self) -> list[list[Cell]]:
        """Every row and column of the extended table, with its total."""
        h, w = self.height, self.width
        rows = [[(i, j) for j in range(w + 1)] for i in range(h + 1)]
        cols = [[(i, j) for i in range(h + 1)] for j in range(w + 1)]
        return rows + cols

    def shared(self) -> dict[Cell, tuple[str, str]]:
        """The totals other tables publish too: column totals by column key, and the total."""
        h = self.height
        found: dict[Cell, tuple[str, str]] = {
            (h, j): (self.col_axis, c) for j, c in enumerate(self.cols)
        }
        found[(h, self.width)] = ("total", "")
        return found


def _pick(table: CountTable, candidates: Sequence[Cell]) -> Cell | None:
    """The cell to hide next: inner cells before totals, non-zero before zero, then one
    whose other line already hides a cell (no new line to protect), smallest."""
    h, w = table.height, table.width
    free = [c for c in candidates if c not in table.hidden]
    if not free:
        return None
    rows = {i for i, _ in table.hidden}
    cols = {j for _, j in table.hidden}

    def cost(c: Cell) -> tuple[int, int, int, int]:
        total = c[0] == h or c[1] == w
        v = table.value(*c)
        alone = c[0] not in rows or c[1] not in cols
        return (int(total), int(v == 0), int(alone), v)

    return min(free, key=cost)


def _line_fix(table: CountTable) -> bool:
    for line in table.lines():
        hidden = [c for c in line if c in table.hidden]
        if not hidden:
            continue
        total = line[-1]
        inner_sum = sum(table.value(*c) for c in hidden if c != total)
        small_sum = total not in table.hidden and hidden_count(inner_sum)
        if len(hidden) == 1 or small_sum:
            inner = [c for c in line if c != total]
            cell = _pick(table, inner) or _pick(table, [total])
            if cell is not None:
                table.hidden.add(cell)
                return True
    return False


def _node_edges(table: CountTable) -> dict[str, list[Cell]]:
    edges: dict[str, list[Cell]] = {}
    for i, j in table.hidden:
        edges.setdefault(f"r{i}", []).append((i, j))
        edges.setdefault(f"c{j}", []).append((i, j))
    return edges


def _component(edges: dict[str, list[Cell]], start: str, without: Cell) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        node = todo.pop()
        for i, j in edges.get(node, []):
            if (i, j) == without:
                continue
            for other in (f"r{i}", f"c{j}"):
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
    return seen


def _bridge_fix(table: CountTable) -> bool:
    """Hide one more cell across the first bridge found (a cycle then runs through it)."""
    edges = _node_edges(table)
    for i, j in sorted(table.hidden):
        side = _component(edges, f"r{i}", (i, j))
        if f"c{j}" in side:
            continue  # on a cycle: not derivable
        rows_a = [int(n[1:]) for n in side if n[0] == "r"]
        cols_a = [int(n[1:]) for n in side if n[0] == "c"]
        other = _component(edges, f"c{j}", (i, j))
        rows_b = [int(n[1:]) for n in other if n[0] == "r"]
        cols_b = [int(n[1:]) for n in other if n[0] == "c"]
        candidates = [(r, c) for r in rows_a for c in cols_b if (r, c) != (i, j)]
        candidates += [(r, c) for r in rows_b for c in cols_a]
        cell = _pick(table, candidates)
        if cell is None:  # cannot happen for a table of at least one row and one column
            raise RuntimeError(f"cannot protect cell {(i, j)} of {table.name}")
        table.hidden.add(cell)
        return True
    return False


def suppress(table: CountTable) -> CountTable:
    """Primary and complementary suppression of one table (in place; returned)."""
    for i in range(table.height + 1):
        for j in range(table.width + 1):
            if hidden_count(table.value(i, j)):
                table.hidden.add((i, j))
    while _line_fix(table) or _bridge_fix(table):
        pass
    return table


def suppress_together(tables: Sequence[CountTable]) -> list[CountTable]:
    """Suppress tables that publish the same totals, so that a total hidden in one is
    hidden in all (and their complements follow), until nothing changes."""
    while True:
        for table in tables:
            suppress(table)
        hidden_keys = {key for t in tables for cell, key in t.shared().items() if cell in t.hidden}
        changed = False
        for table in tables:
            for cell, key in table.shared().items():
                if key in hidden_keys and cell not in table.hidden:
                    table.hidden.add(cell)
                    changed = True
        if not changed:
            return list(tables)
