"""One release of figures: the summary's counts for a period (and a programme and a
province), suppressed together, with resolution times; as JSON and CSV for export.

Only coded values and counts are here: no case, no code, no name, no phone number and no
citizen's words ever reach a release (the summary holds none of them).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from ._summary import Filters, SummaryRows
from ._suppress import MIN_SHOWN, CountTable, hidden_count, suppress_together
from ._tables import BUCKET_DAYS
from ._words import Names

__all__ = ["TABLES", "Figures", "Resolution", "build", "month_range", "to_csv", "to_json"]

TABLES = ("programme", "issue", "province")  # row axes; every table's columns are months
PERCENT = 100
MAX_MONTHS = 1200  # a guard: callers check their periods first


def month_range(start: str, end: str) -> list[str]:
    """Every month from ``start`` to ``end`` (YYYY-MM), both included."""
    year, month = int(start[:4]), int(start[5:7])
    found: list[str] = []
    while f"{year:04d}-{month:02d}" <= end and len(found) < MAX_MONTHS:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


@dataclass(frozen=True)
class Resolution:
    """How long cases of one programme (or all, key "total") took to resolve; None where
    fewer than five cases would stand behind a figure."""

    key: str
    median_days: int | None  # the upper bound of the bucket holding the median
    p90_days: int | None
    within_percent: int | None  # resolved within the target, of those resolved
    open_over: bool = False  # the median or p90 lies beyond the last bucket


@dataclass(frozen=True)
class Figures:
    """A release: three tables (rows × months) suppressed together, and resolution times."""

    filters: Filters
    months: list[str]
    tables: dict[str, CountTable]
    resolution: list[Resolution]
    target_days: float

    @property
    def total(self) -> int | None:
        """All cases of the release (None if hidden)."""
        t = self.tables["province"]
        return t.shown(t.height, t.width)

    def month_totals(self) -> list[int | None]:
        t = self.tables["province"]
        return [t.shown(t.height, j) for j in range(t.width)]

    def row_totals(self, axis: str) -> list[tuple[str, int | None]]:
        t = self.tables[axis]
        return [(key, t.shown(i, t.width)) for i, key in enumerate(t.rows)]


def _table(
    axis: str, triples: list[tuple[str, str, int]], months: list[str], names: Names
) -> CountTable:
    counts: dict[str, dict[str, int]] = {}
    for key, month, n in triples:
        row = counts.setdefault(names.known(axis, key), {})
        row[month] = row.get(month, 0) + n
    rows = sorted(counts, key=lambda k: (k == "", k == "other", -sum(counts[k].values()), k))
    cells = [[counts[r].get(m, 0) for m in months] for r in rows]
    return CountTable(axis, rows, list(months), cells, row_axis=axis, col_axis="month")


def _percentile(buckets: list[int], share: float) -> tuple[int | None, bool]:
    n = sum(buckets)
    seen = 0
    for upper, count in zip((*BUCKET_DAYS, None), buckets, strict=True):
        seen += count
        if seen >= share * n:
            return (upper, False) if upper is not None else (BUCKET_DAYS[-1], True)
    return None, False


def _resolution(key: str, resolved: int, within: int, buckets: list[int]) -> Resolution:
    if resolved < MIN_SHOWN:
        return Resolution(key, None, None, None)
    median, over_m = _percentile(buckets, 0.5)
    p90, over_p = _percentile(buckets, 0.9)
    late = resolved - within
    share = (
        None if hidden_count(within) or hidden_count(late) else round(within * PERCENT / resolved)
    )
    return Resolution(key, median, p90, share, over_m or over_p)


def build(rows: SummaryRows, filters: Filters, names: Names, *, target_days: float) -> Figures:
    """Suppress the three tables together and work out the resolution times."""
    months = month_range(filters.start, filters.end)
    tables = {
        "programme": _table("programme", rows.programme_month, months, names),
        "issue": _table("issue", rows.issue_month, months, names),
        "province": _table("province", rows.province_month, months, names),
    }
    suppress_together(list(tables.values()))
    per: dict[str, list[int]] = {}
    for programme, _cases, resolved, within, *buckets in rows.resolution:
        key = names.known("programme", str(programme))
        acc = per.setdefault(key, [0, 0] + [0] * len(buckets))
        for k, v in enumerate(
            [int(resolved or 0), int(within or 0), *(int(b or 0) for b in buckets)]
        ):
            acc[k] += v
    resolution = []
    if per:
        width = len(next(iter(per.values())))
        total = [sum(v[k] for v in per.values()) for k in range(width)]
        resolution.append(_resolution("total", total[0], total[1], total[2:]))
    for key in tables["programme"].rows:
        if key in per:
            found = per[key]
            resolution.append(_resolution(key, found[0], found[1], found[2:]))
    return Figures(filters, months, tables, resolution, target_days)


def _named(names: Names, axis: str, key: str) -> dict[str, str]:
    return {"key": key, "km": names.name(axis, key, "km"), "en": names.name(axis, key, "en")}


def to_json(figures: Figures, names: Names) -> dict[str, Any]:
    """The release as JSON (null where a count is hidden)."""
    f = figures.filters
    tables: dict[str, Any] = {}
    for axis, t in figures.tables.items():
        tables[axis] = {
            "rows": [
                {
                    **_named(names, axis, key),
                    "months": {m: t.shown(i, j) for j, m in enumerate(t.cols)},
                    "total": t.shown(i, t.width),
                }
                for i, key in enumerate(t.rows)
            ],
            "month_totals": {m: t.shown(t.height, j) for j, m in enumerate(t.cols)},
            "total": t.shown(t.height, t.width),
        }
    return {
        "period": {"from": f.start, "to": f.end},
        "programme": f.programme,
        "province": f.province,
        "hidden_below": MIN_SHOWN,
        "note": "null: hidden for privacy (counts of 1-4 and the counts that would reveal them)",
        "tables": tables,
        "resolution": {
            "target_days": figures.target_days,
            "rows": [
                {
                    **(
                        {"key": "total", "km": "សរុប", "en": "Total"}
                        if r.key == "total"
                        else _named(names, "programme", r.key)
                    ),
                    "median_days": r.median_days,
                    "p90_days": r.p90_days,
                    "within_target_percent": r.within_percent,
                }
                for r in figures.resolution
            ],
        },
    }


CSV_HEADER = ("table", "key", "name_km", "name_en", "month", "cases")


def to_csv(figures: Figures, names: Names) -> str:
    """The release as CSV: one line per published cell (empty ``cases`` where hidden)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)

    def cell(value: int | None) -> str:
        return "" if value is None else str(value)

    for axis, t in figures.tables.items():
        for i, key in enumerate([*t.rows, "total"]):
            named = (
                {"key": "total", "km": "សរុប", "en": "Total"}
                if i == t.height
                else _named(names, axis, key)
            )
            for j, month in enumerate([*t.cols, "total"]):
                row = (axis, named["key"], named["km"], named["en"], month)
                writer.writerow((*row, cell(t.shown(i, j))))
    return out.getvalue()
