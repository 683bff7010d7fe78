"""An alert's areas as Cambodian administrative codes (NCDD: province PP, district PPDD,
commune PPDDCC), from geocodes (``NCDD`` or ``ISO3166-2`` such as ``KH-12``) or from its
polygons and circles against the commune points of data/commune_points.csv.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..channels._geo import POINTS_PATH, commune_table, haversine_km
from ._cap import CapAlert, CapArea, Circle, Polygon

__all__ = ["Gazetteer", "area_codes", "gazetteer", "reduce_codes"]

PROVINCE_DIGITS, DISTRICT_DIGITS, COMMUNE_DIGITS = 2, 4, 6
NCDD_NAMES = frozenset({"ncdd", "khncdd", "gazetteer", "pcode"})
ISO_NAMES = frozenset({"iso31662", "iso3166"})


@dataclass(frozen=True)
class Gazetteer:
    """Every commune code, and the position of those that have one."""

    communes: frozenset[str]
    points: dict[str, tuple[float, float]]

    @property
    def districts(self) -> frozenset[str]:
        return frozenset(c[:DISTRICT_DIGITS] for c in self.communes)

    @property
    def provinces(self) -> frozenset[str]:
        return frozenset(c[:PROVINCE_DIGITS] for c in self.communes)

    def known(self, code: str) -> bool:
        """A province, district or commune of the gazetteer."""
        return code in self.communes or code in self.districts or code in self.provinces


@cache
def gazetteer(path: Path = POINTS_PATH) -> Gazetteer:
    """The commune list shipped with the package (read once)."""
    communes, points = commune_table(path)
    return Gazetteer(communes, points)


def _inside(point: tuple[float, float], polygon: Polygon) -> bool:
    """Ray casting on (lat, lon): plenty at commune scale, away from the antimeridian."""
    lat, lon = point
    inside = False
    ring = polygon.points
    for (lat1, lon1), (lat2, lon2) in itertools.pairwise(ring):
        if (lat1 > lat) != (lat2 > lat):
            crossing = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
            if lon < crossing:
                inside = not inside
    return inside


def _in_circle(point: tuple[float, float], circle: Circle) -> bool:
    return haversine_km(*point, circle.lat, circle.lon) <= circle.radius_km


def _geocode(name: str, value: str, gaz: Gazetteer) -> str | None:
    key = "".join(ch for ch in name.lower() if ch.isalnum())
    value = value.strip()
    if key in ISO_NAMES:
        prefix, _, number = value.upper().partition("KH-")
        if prefix or not number.isdigit():
            return None
        code = f"{int(number):02d}"
    elif key in NCDD_NAMES:
        code = value
    else:
        return None
    return code if gaz.known(code) else None


def _area(area: CapArea, gaz: Gazetteer) -> set[str]:
    codes = {c for n, v in area.geocodes if (c := _geocode(n, v, gaz)) is not None}
    for code, point in gaz.points.items():
        if any(_inside(point, p) for p in area.polygons) or any(
            _in_circle(point, c) for c in area.circles
        ):
            codes.add(code)
    return codes


def reduce_codes(codes: Iterable[str]) -> list[str]:
    """Sorted, without a code whose province or district is listed too."""
    found = set(codes)
    return sorted(
        c for c in found if not any(c != p and c.startswith(p) for p in found if len(p) < len(c))
    )


def area_codes(alert: CapAlert, gaz: Gazetteer | None = None) -> list[str]:
    """The administrative codes every info block's areas cover (empty: none in Cambodia)."""
    gaz = gaz or gazetteer()
    codes: set[str] = set()
    for info in alert.infos:
        for area in info.areas:
            codes |= _area(area, gaz)
    return reduce_codes(codes)
