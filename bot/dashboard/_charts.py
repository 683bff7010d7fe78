"""Chart geometry for the SVG templates (no JavaScript): bars, the months' columns and the
choropleth map of the provinces. Only numbers and coordinates here; the markup is in
templates/dashboard/_charts.html."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from ._words import map_data

__all__ = ["Bar", "Column", "Province", "bars", "classes", "columns", "legend", "provinces"]

BAR_H = 50  # viewBox units per bar of a horizontal bar chart (its label above the bar)
COL_W = 600  # the months chart's width (viewBox units)
COL_H = 160
MAP_W = 400
SHADES = 5


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None  # None: hidden
    y: int
    width: float  # percent of the chart's bar area


@dataclass(frozen=True)
class Column:
    label: str
    value: int | None
    x: float
    width: float
    height: float
    y: float


def bars(items: list[tuple[str, int | None]]) -> tuple[list[Bar], int]:
    """Horizontal bars (longest = 100 %), and the chart's height."""
    top = max((v for _, v in items if v), default=0)
    found = [
        Bar(label, value, i * BAR_H, 100.0 * value / top if value and top else 0.0)
        for i, (label, value) in enumerate(items)
    ]
    return found, max(BAR_H, len(items) * BAR_H)


def columns(items: list[tuple[str, int | None]]) -> list[Column]:
    """Vertical columns of the months chart (viewBox COL_W × COL_H, labels below)."""
    top = max((v for _, v in items if v), default=0)
    slot = COL_W / max(1, len(items))
    found = []
    for i, (label, value) in enumerate(items):
        h = (COL_H - 40) * value / top if value and top else 0.0  # 20 above for the number
        found.append(Column(label, value, i * slot + slot * 0.1, slot * 0.8, h, COL_H - 20 - h))
    return found


def _edges(values: list[int | None]) -> list[int]:
    shown = sorted(v for v in values if v)
    if not shown:
        return []
    return [shown[min(len(shown) - 1, len(shown) * k // SHADES)] for k in range(1, SHADES)]


def legend(values: list[int | None]) -> list[tuple[str, str]]:
    """The shades in use with the counts each stands for: (class, "12–40")."""
    shown = [v for v in values if v]
    if not shown:
        return []
    edges = _edges(values)
    bounds = [min(shown), *(e + 1 for e in edges)]
    uppers = [*edges, max(shown)]
    found = []
    for k, (low, high) in enumerate(zip(bounds, uppers, strict=True)):
        if low <= high and any(low <= v <= high for v in shown):
            found.append((f"q{k}", f"{low}–{high}" if low < high else str(low)))
    return found


def classes(values: list[int | None]) -> list[str]:
    """A CSS class per value: ``hidden``, ``zero``, or one of five shades by quantile."""
    edges = _edges(values)
    found = []
    for v in values:
        if v is None:
            found.append("hidden")
        elif v == 0:
            found.append("zero")
        else:
            found.append(f"q{sum(v > e for e in edges)}")
    return found


@dataclass(frozen=True)
class Province:
    code: str
    path: str  # SVG path data in the map's viewBox


@cache
def _shapes() -> tuple[tuple[Province, ...], int]:
    features = map_data()["features"]
    points = [
        p for f in features for poly in f["geometry"]["coordinates"] for ring in poly for p in ring
    ]
    lon0 = min(p[0] for p in points)
    lon1 = max(p[0] for p in points)
    lat0 = min(p[1] for p in points)
    lat1 = max(p[1] for p in points)
    squash = math.cos(math.radians((lat0 + lat1) / 2))
    scale = MAP_W / ((lon1 - lon0) * squash)
    height = math.ceil((lat1 - lat0) * scale)

    def xy(p: list[float]) -> str:
        return f"{(p[0] - lon0) * squash * scale:.1f} {(lat1 - p[1]) * scale:.1f}"

    shapes = []
    for f in features:
        parts = []
        for poly in f["geometry"]["coordinates"]:
            for ring in poly:
                parts.append("M" + "L".join(xy(p) for p in ring[:-1]) + "Z")
        shapes.append(Province(f["properties"]["code"], "".join(parts)))
    return tuple(shapes), height


def provinces() -> tuple[tuple[Province, ...], int]:
    """Every province's outline, and the map's height for a width of MAP_W."""
    return _shapes()
