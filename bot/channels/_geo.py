"""Nearest commune to a shared location, from the gazetteer copied into knowledge/.

Kept separate from the channels: it needs only coordinates, and it degrades to "unknown"
when knowledge/gazetteer/communes.yml is absent (the coordinates still reach Rasa).
"""

from __future__ import annotations

import csv
import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "POINTS_PATH",
    "Commune",
    "commune_points",
    "commune_table",
    "haversine_km",
    "load_communes",
    "nearest_commune",
]

log = logging.getLogger("bot.geo")

# The communes' positions (code, lat, lon), shipped with the alerts, which map CAP polygons
# with them; the gazetteer's YAML copy keeps names only (see knowledge/gazetteer/SOURCE.md).
POINTS_PATH = Path(__file__).resolve().parents[1] / "alerts" / "data" / "commune_points.csv"
EARTH_RADIUS_KM = 6371.0088
# A shared point farther than this from every commune centre is not in Cambodia's gazetteer.
MAX_DISTANCE_KM = 50.0


@dataclass(frozen=True)
class Commune:
    """A commune centre: gazetteer code, names, coordinates."""

    code: str
    name_km: str
    name_latin: str
    lat: float
    lon: float


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance; plenty accurate at commune scale."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


@functools.cache
def commune_table(
    path: Path = POINTS_PATH,
) -> tuple[frozenset[str], dict[str, tuple[float, float]]]:
    """Every commune code of the shipped table, and (lat, lon) of those with a position
    (read once per process; the alerts' areas and a shared location both use it)."""
    communes: set[str] = set()
    points: dict[str, tuple[float, float]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            communes.add(row["code"])
            if row["lat"] and row["lon"]:
                points[row["code"]] = (float(row["lat"]), float(row["lon"]))
    return frozenset(communes), points


def commune_points(path: Path = POINTS_PATH) -> dict[str, tuple[float, float]]:
    """Commune code -> (lat, lon), for those with a known position."""
    return commune_table(path)[1]


def load_communes(
    path: Path, points: dict[str, tuple[float, float]] | None = None
) -> list[Commune]:
    """Communes with coordinates from the gazetteer YAML (its ``geodata``, else ``points``,
    by default the shipped commune points); [] if the file is not there yet."""
    if not path.is_file():
        log.info("geo.gazetteer_missing", extra={"path": str(path)})
        return []
    known = commune_points() if points is None else points
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    communes: list[Commune] = []
    for code, item in (data.get("communes") or {}).items():
        geo = (item or {}).get("geodata") or {}
        try:
            lat, lon = float(geo["lat"]), float(geo["long"])
        except (KeyError, TypeError, ValueError):
            if str(code) not in known:
                continue
            lat, lon = known[str(code)]
        name = item.get("name") or {}
        communes.append(
            Commune(str(code), str(name.get("km", "")), str(name.get("latin", "")), lat, lon)
        )
    return communes


def nearest_commune(
    lat: float, lon: float, communes: list[Commune], max_km: float = MAX_DISTANCE_KM
) -> tuple[Commune, float] | None:
    """The closest commune centre and its distance in km, or None if none is close enough."""
    best: tuple[Commune, float] | None = None
    for commune in communes:
        d = haversine_km(lat, lon, commune.lat, commune.lon)
        if best is None or d < best[1]:
            best = (commune, d)
    if best is None or best[1] > max_km:
        return None
    return best
