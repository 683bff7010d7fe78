"""The profile's JSON Schema (Draft 7) and validation of a document against it, plus the
checks a schema cannot state: ids that refer to things (a fact's source, a contact, an
owner, a replacement) and unique ids."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from ._convert import fact_paths

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.json"


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The JSON Schema as data (a fresh copy)."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


def _references(document: dict[str, Any]) -> list[str]:
    problems = []
    organizations = {o.get("id") for o in document.get("organizations", [])}
    contacts = {c.get("id") for c in document.get("contacts", [])}
    services = [s.get("id") for s in document.get("services", [])]
    if len(set(services)) != len(services):
        problems.append("services: duplicate ids")
    for service in document.get("services", []):
        where = f"services.{service.get('id')}"
        if service.get("organization_id") not in organizations:
            problems.append(f"{where}.organization_id: unknown {service.get('organization_id')!r}")
        if service.get("contact_id") not in contacts:
            problems.append(f"{where}.contact_id: unknown {service.get('contact_id')!r}")
        if service.get("replaced_by") is not None and service["replaced_by"] not in services:
            problems.append(f"{where}.replaced_by: unknown {service['replaced_by']!r}")
        sources = {s.get("id") for s in service.get("sources", [])}
        options = [o.get("id") for o in service.get("cost_options", [])]
        if len(set(options)) != len(options):
            problems.append(f"{where}.cost_options: duplicate ids")
        for path, fact in fact_paths(service):
            if fact.get("source") not in sources:
                problems.append(f"{where}.{path}.source: unknown {fact.get('source')!r}")
    return problems


def _schema_errors(document: dict[str, Any]) -> list[str]:
    try:
        import jsonschema  # Rasa's 3.2 or the gateway's 4.x: both have Draft7Validator
    except ImportError:  # pragma: no cover - depends on the environment
        from ._mini import MiniValidator

        found = MiniValidator(load_schema()).iter_errors(document)
        return sorted("/".join(path) + ": " + message for path, message in found)
    validator = jsonschema.Draft7Validator(load_schema())
    return sorted(
        "/".join(str(p) for p in error.absolute_path) + ": " + error.message
        for error in validator.iter_errors(document)
    )


def validate(document: dict[str, Any]) -> list[str]:
    """Every problem of ``document`` as "where: what" (empty: it fits the profile): the
    JSON Schema (with jsonschema where installed, else a built-in Draft 7 subset), then the
    references between ids."""
    problems = _schema_errors(document)
    if problems:
        return problems
    try:
        return _references(document)
    except (AttributeError, KeyError, TypeError) as error:
        return [f"malformed: {error!r}"]
