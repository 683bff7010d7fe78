"""Make bot/dashboard/data/provinces.geojson from the shared province layer (run by hand).

    python scripts/simplify_provinces.py SOURCE.geojson bot/dashboard/data/provinces.geojson

Every vertex is snapped to a 0.02° grid (about 2.2 km, under two pixels of the dashboard's
map) and repeated vertices are dropped.
Neighbouring provinces share their border vertices, so both snap to the same points: the
layer keeps no gaps or overlaps. Rings left with fewer than four points are dropped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

GRID = 0.02
MIN_RING = 4


def _ring(points: list[list[float]]) -> list[list[float]]:
    out: list[list[float]] = []
    for lon, lat in points:
        p = [round(round(lon / GRID) * GRID, 2), round(round(lat / GRID) * GRID, 2)]
        if not out or out[-1] != p:
            out.append(p)
    return out if len(out) >= MIN_RING and out[0] == out[-1] else []


def _polygon(rings: list[list[list[float]]]) -> list[list[list[float]]]:
    kept = [r for r in (_ring(x) for x in rings) if r]
    return kept if kept and _ring(rings[0]) else []


def simplify(data: dict[str, Any]) -> dict[str, Any]:
    features = []
    for feature in data["features"]:
        geometry = feature["geometry"]
        polygons = (
            [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        )
        parts = [p for p in (_polygon(x) for x in polygons) if p]
        props = {k: feature["properties"][k] for k in ("code", "name_en", "name_km")}
        features.append(
            {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "MultiPolygon", "coordinates": parts},
            }
        )
    return {
        "type": "FeatureCollection",
        "attribution": data.get("attribution", ""),
        "features": features,
    }


if __name__ == "__main__":
    source, target = (Path(a) for a in sys.argv[1:3])
    result = simplify(json.loads(source.read_text("utf-8")))
    target.write_text(
        json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n", "utf-8"
    )
