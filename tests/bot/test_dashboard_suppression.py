"""Small-cell suppression (issue #16): no published count is 1–4, and no suppressed count can
be worked out from the published ones (every row and column with its total is an equation)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dashboard._suppress import CountTable, hidden_count, suppress, suppress_together

Cell = tuple[int, int]


def _rank(rows: list[list[Fraction]]) -> int:
    matrix = [r[:] for r in rows]
    rank = 0
    width = len(matrix[0]) if matrix else 0
    for col in range(width):
        pivot = next((r for r in range(rank, len(matrix)) if matrix[r][col] != 0), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        for r in range(len(matrix)):
            if r != rank and matrix[r][col] != 0:
                factor = matrix[r][col] / matrix[rank][col]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[rank], strict=True)]
        rank += 1
    return rank


def derivable(table: CountTable) -> list[Cell]:
    """Hidden cells whose value follows from the published cells by the table's equations:
    e_k lies in the row space of the equations restricted to the hidden cells."""
    hidden = sorted(table.hidden)
    index = {c: k for k, c in enumerate(hidden)}
    equations: list[list[Fraction]] = []
    for line in table.lines():
        total = line[-1]
        row = [Fraction(0)] * len(hidden)
        for cell in line:
            if cell in index:
                row[index[cell]] += -1 if cell == total else 1
        if any(row):
            equations.append(row)
    if not equations:
        return []
    base = _rank(equations)
    found = []
    for cell, k in index.items():
        unit = [Fraction(int(i == k)) for i in range(len(hidden))]
        if _rank([*equations, unit]) == base:
            found.append(cell)
    return found


def table_of(cells: list[list[int]], name: str = "t") -> CountTable:
    return CountTable(
        name,
        [f"r{i}" for i in range(len(cells))],
        [f"2026-{j + 1:02d}" for j in range(len(cells[0]))],
        [row[:] for row in cells],
        row_axis="province",
        col_axis="month",
    )


def check(table: CountTable) -> None:
    for i in range(table.height + 1):
        for j in range(table.width + 1):
            shown = table.shown(i, j)
            assert shown is None or not hidden_count(shown), (i, j, shown)
    assert derivable(table) == [], table.hidden
    for line in table.lines():  # hidden cells under a visible total never sum to 1-4
        total = line[-1]
        if total not in table.hidden:
            inner = sum(table.value(*c) for c in line if c in table.hidden and c != total)
            assert not hidden_count(inner)


counts = st.one_of(st.integers(0, 6), st.integers(0, 60), st.integers(0, 3))
tables = st.integers(1, 6).flatmap(
    lambda h: st.integers(1, 7).flatmap(
        lambda w: st.lists(st.lists(counts, min_size=w, max_size=w), min_size=h, max_size=h)
    )
)


@settings(max_examples=300, deadline=None)
@given(tables)
def test_no_suppressed_cell_is_shown_or_derivable_from_totals(cells: list[list[int]]) -> None:
    check(suppress(table_of(cells)))


@settings(max_examples=150, deadline=None)
@given(tables, st.data())
def test_tables_sharing_month_totals_hide_the_same_totals(
    cells: list[list[int]], data: st.DataObject
) -> None:
    height = data.draw(st.integers(1, 5))
    other = data.draw(
        st.lists(
            st.lists(counts, min_size=len(cells[0]), max_size=len(cells[0])),
            min_size=height,
            max_size=height,
        )
    )
    # the second table must add up to the same month totals: its last row takes the rest
    col_totals = [sum(r[j] for r in cells) for j in range(len(cells[0]))]
    upper = [[min(v, t) for v, t in zip(r, col_totals, strict=True)] for r in other[:-1]]
    rest = [t - sum(r[j] for r in upper) for j, t in enumerate(col_totals)]
    if any(v < 0 for v in rest):
        upper, rest = [], col_totals
    a, b = table_of(cells, "a"), table_of([*upper, rest], "b")
    suppress_together([a, b])
    check(a)
    check(b)
    assert {j for (i, j) in a.hidden if i == a.height} == {
        j for (i, j) in b.hidden if i == b.height
    }


def test_a_khmer_province_table_with_a_single_small_cell() -> None:
    table = CountTable(
        "province_month",
        ["ភ្នំពេញ Phnom Penh", "កំពង់ចាម Kampong Cham"],
        ["2026-01", "2026-02"],
        [[120, 3], [80, 40]],
        row_axis="province",
        col_axis="month",
    )
    suppress(table)
    assert (0, 1) in table.hidden
    assert len(table.hidden) >= 4  # the 3, and a rectangle of complements around it
    check(table)
