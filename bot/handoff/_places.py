"""Readable place names for gazetteer codes, so an agent sees "Batheay, Kampong Cham"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["PlaceNames"]

LEVELS = ("provinces", "districts", "communes")
PROVINCE_LEN = 2
DISTRICT_LEN = 4


class PlaceNames:
    """Code -> "Commune, District, Province" in Latin script and Khmer; missing files are fine."""

    def __init__(self, names: dict[str, tuple[str, str]]) -> None:
        self._names = names
        # every province/district/commune code, and the units above each known code, so a
        # copy holding only communes still accepts "12" and "1201" as coverage areas
        self._codes = {c[:n] for c in names for n in (PROVINCE_LEN, DISTRICT_LEN, len(c))}

    @classmethod
    def load(cls, directory: Path) -> PlaceNames:
        """Read provinces/districts/communes .yml from the gazetteer copy in knowledge/."""
        names: dict[str, tuple[str, str]] = {}
        for level in LEVELS:
            path = directory / f"{level}.yml"
            if not path.exists():
                continue
            data: dict[str, Any] = yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)
            for code, item in (data.get(level) or {}).items():
                name = item.get("name") or {}
                names[str(code)] = (str(name.get("latin") or ""), str(name.get("km") or ""))
        return cls(names)

    def knows(self, code: str) -> bool:
        """True for a province, district or commune code of the gazetteer."""
        return code in self._codes

    def describe(self, code: str | None, language: str = "en") -> str | None:
        """The place and the units above it, most specific first; None if unknown."""
        if not code:
            return None
        parts = []
        index = 1 if language == "km" else 0
        for prefix in (code, code[:DISTRICT_LEN], code[:PROVINCE_LEN]):
            found = self._names.get(prefix)
            if found and (found[index] or found[0]) not in parts:
                parts.append(found[index] or found[0])
        return ", ".join(parts) if parts else None
