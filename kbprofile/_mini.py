"""A small Draft 7 validator for the keywords schema.json uses, for an environment without
jsonschema (the gateway's until jsonschema is installed there). The tests check that it
agrees with jsonschema on valid and broken documents."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is(value: Any, name: str) -> bool:
    if name in ("number", "integer") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


class MiniValidator:
    """iter_errors(instance) -> (path, message) for the subset of Draft 7 in use."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.root = schema

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.root
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return dict(node)

    def iter_errors(
        self, value: Any, schema: dict[str, Any] | None = None, path: tuple[str, ...] = ()
    ) -> Iterator[tuple[tuple[str, ...], str]]:
        schema = self.root if schema is None else schema
        if "$ref" in schema:
            yield from self.iter_errors(value, self._resolve(schema["$ref"]), path)
            return
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is(value, n) for n in names):
                yield path, f"{value!r} is not of type {', '.join(names)}"
                return
        if "const" in schema and value != schema["const"]:
            yield path, f"{schema['const']!r} was expected"
        if "enum" in schema and value not in schema["enum"]:
            yield path, f"{value!r} is not one of {schema['enum']!r}"
        if isinstance(value, str):
            if len(value) < schema.get("minLength", 0):
                yield path, f"{value!r} is too short"
            if "pattern" in schema and not re.search(schema["pattern"], value):
                yield path, f"{value!r} does not match {schema['pattern']!r}"
        minimum = schema.get("exclusiveMinimum")
        if _is(value, "number") and minimum is not None and not value > minimum:
            yield path, f"{value!r} is not above {schema['exclusiveMinimum']}"
        if isinstance(value, list):
            if len(value) < schema.get("minItems", 0):
                yield path, "too few items"
            if "items" in schema:
                for i, item in enumerate(value):
                    yield from self.iter_errors(item, schema["items"], (*path, str(i)))
        if isinstance(value, dict):
            for key in schema.get("required", []):
                if key not in value:
                    yield path, f"{key!r} is a required property"
            properties = schema.get("properties", {})
            for key, item in value.items():
                if key in properties:
                    yield from self.iter_errors(item, properties[key], (*path, key))
                elif schema.get("additionalProperties") is False:
                    yield path, f"additional property {key!r} is not allowed"
        for sub in schema.get("allOf", []):
            yield from self.iter_errors(value, sub, path)
        if "oneOf" in schema:
            matching = sum(
                1
                for sub in schema["oneOf"]
                if next(self.iter_errors(value, sub, path), None) is None
            )
            if matching != 1:
                yield path, f"{value!r} is not valid under exactly one of the given schemas"
        if "if" in schema:
            branch = (
                "then"
                if next(self.iter_errors(value, schema["if"], path), None) is None
                else "else"
            )
            if branch in schema:
                yield from self.iter_errors(value, schema[branch], path)
