"""Seed files (knowledge/programmes.yml) <-> HSDS profile documents, and their bytes.

A document is plain JSON data::

    {"profile": "sp4all-kh-hsds", "profile_version": "1.0", "hsds_version": "3.0",
     "version": ..., "verified_on": "YYYY-MM-DD",
     "organizations": [{"id", "name": {"km", "en"}, "kind", "website"}],
     "contacts": [{"id", "text": {"km", "en"}, "website"}],
     "services": [{"id", "organization_id", "status", "kind", "languages", "service_areas",
                   "name", "description", "operated_by", "eligibility_description", "alert",
                   "cost_options": [{"id", "option", "amount", "amount_description",
                                     "valid_from", "valid_to"}],
                   "application_process": {"where": [...], "how", "required_documents"},
                   "contact_id", "end_date", "replaced_by", "sources": [...]}]}

A *fact* is a text ``{"km", "en", ...}`` or an amount ``{"value", "unit", "period", ...}``,
each with its provenance: ``source`` (the id of one of the service's sources: url, title,
issuer, date, assured_date, assurer), ``assured_date`` (verified on) and ``assurer`` (who
verified it). An amount's value is a number or ``"unknown"`` (first-class: the assistant
hedges and names the official contact).

The seed keeps its readable shape: provenance that differs from the topic's first source is
kept in an optional ``provenance`` map, owners in ``owner``, so seed -> document -> seed and
document -> seed -> document are lossless and ``dumps`` is canonical (sorted keys), which
makes export -> import -> export byte-identical.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

PROFILE = "sp4all-kh-hsds"
PROFILE_VERSION = "1.0"
HSDS_VERSION = "3.0"
AMOUNT_UNKNOWN = "unknown"
PROGRAMMES_FILE = "programmes.yml"
NATIONAL = "KH"  # the service area code of the whole country
DEFAULT_ASSURER = "GS-NSPC secretariat (seed)"
STATUS_TO_HSDS = {"active": "active", "closed": "defunct"}
STATUS_FROM_HSDS = {v: k for k, v in STATUS_TO_HSDS.items()}

# The agencies that own programmes (the console's organisations use the same slugs).
ORGANIZATIONS: tuple[dict[str, Any], ...] = (
    {
        "id": "gs-nspc",
        "kind": "secretariat",
        "name": {
            "km": "អគ្គលេខាធិការដ្ឋានក្រុមប្រឹក្សាជាតិគាំពារសង្គម",
            "en": "General Secretariat of the National Social Protection Council",
        },
        "website": "nspc.gov.kh",
    },
    {
        "id": "moh",
        "kind": "ministry",
        "name": {"km": "ក្រសួងសុខាភិបាល", "en": "Ministry of Health"},
        "website": "moh.gov.kh",
    },
    {
        "id": "molvt",
        "kind": "ministry",
        "name": {
            "km": "ក្រសួងការងារ និងបណ្តុះបណ្តាលវិជ្ជាជីវៈ",
            "en": "Ministry of Labour and Vocational Training",
        },
        "website": "mlvt.gov.kh",
    },
    {
        "id": "mop",
        "kind": "ministry",
        "name": {"km": "ក្រសួងផែនការ", "en": "Ministry of Planning"},
        "website": "idpoor.gov.kh",
    },
    {
        "id": "mosvy",
        "kind": "ministry",
        "name": {
            "km": "ក្រសួងសង្គមកិច្ច អតីតយុទ្ធជន និងយុវនីតិសម្បទា",
            "en": "Ministry of Social Affairs, Veterans and Youth Rehabilitation",
        },
        "website": "nsaf.gov.kh",
    },
    {
        "id": "nssf",
        "kind": "agency",
        "name": {"km": "បេឡាជាតិរបបសន្តិសុខសង្គម", "en": "National Social Security Fund"},
        "website": "nssf.gov.kh",
    },
)
# Who owns each seed topic when programmes.yml does not say (`owner:`).
DEFAULT_OWNERS: dict[str, str] = {
    "equity_card": "mop",
    "lost_card": "mop",
    "health_equity_fund": "moh",
    "pregnancy_cash": "mosvy",
    "scholarship": "mosvy",
    "disability_allowance": "mosvy",
    "elderly_allowance": "mosvy",
    "hiv_support": "mosvy",
    "family_package": "mosvy",
    "nssf": "nssf",
    "nssf_pension": "nssf",
    "nssf_self_employed": "nssf",
    "civil_servant_benefits": "nssf",
    "closed_programmes": "gs-nspc",
    "who_runs": "gs-nspc",
    "vocational_training": "molvt",
}
_HOST = re.compile(r"https?://(?:www\.|m\.)?([^/]+)")
_TEXT_FIELDS = (  # seed key -> document key, in the service's order
    ("title", "name"),
    ("summary", "description"),
    ("runs", "operated_by"),
    ("eligibility", "eligibility_description"),
    ("note", "alert"),
)


class ProfileError(ValueError):
    """A seed or a document does not fit the profile; the message says where."""


def _date(value: Any) -> str:
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def issuer_of(url: str) -> str:
    """The default issuer of a source: its web domain (the secretariat can name it)."""
    match = _HOST.match(url)
    return match.group(1) if match else url


# --- facts --------------------------------------------------------------------------


def fact_paths(service: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every fact of a service as (path, fact), in a stable order."""
    for _, key in _TEXT_FIELDS:
        if service.get(key) is not None:
            yield key, service[key]
    for option in service.get("cost_options", []):
        base = f"cost_options.{option['id']}"
        yield f"{base}.option", option["option"]
        yield f"{base}.amount", option["amount"]
        if option.get("amount_description") is not None:
            yield f"{base}.amount_description", option["amount_description"]
    process = service.get("application_process")
    if process is not None:
        yield "application_process.how", process["how"]
        for i, document in enumerate(process.get("required_documents", [])):
            yield f"application_process.required_documents.{i}", document


def amount_facts(service: dict[str, Any]) -> list[str]:
    """The paths of a service's amount facts."""
    return [path for path, _ in fact_paths(service) if path.endswith(".amount")]


def get_fact(service: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The fact at ``path`` (None if the service has none there)."""
    return dict(fact_paths(service)).get(path)


def set_fact(service: dict[str, Any], path: str, fact: dict[str, Any]) -> None:
    """Replace the existing fact at ``path`` (ProfileError if there is none)."""
    parts = path.split(".")
    if len(parts) == 1 and parts[0] in dict(_TEXT_FIELDS).values():
        service[parts[0]] = fact
        return
    if parts[0] == "cost_options" and len(parts) == 3:
        for option in service.get("cost_options", []):
            if option["id"] == parts[1] and parts[2] in ("option", "amount", "amount_description"):
                option[parts[2]] = fact
                return
    if parts[0] == "application_process" and service.get("application_process"):
        process = service["application_process"]
        if parts[1:] == ["how"]:
            process["how"] = fact
            return
        if len(parts) == 3 and parts[1] == "required_documents" and parts[2].isdigit():
            index = int(parts[2])
            if index < len(process["required_documents"]):
                process["required_documents"][index] = fact
                return
    raise ProfileError(f"{service.get('id')}: no fact {path!r}")


def _provenance(fact: dict[str, Any]) -> dict[str, Any]:
    return {k: fact[k] for k in ("source", "assured_date", "assurer")}


# --- seed -> document ----------------------------------------------------------------


def _seed_source(index: int, data: dict[str, Any]) -> dict[str, Any]:
    url = str(data["url"])
    return {
        "id": str(data.get("id") or f"s{index + 1}"),
        "url": url,
        "title": str(data["title"]),
        "issuer": str(data.get("issuer") or issuer_of(url)),
        "date": _date(data["published"]),
        "assured_date": _date(data["verified"]),
        "assurer": str(data.get("assurer") or DEFAULT_ASSURER),
    }


def _topic_to_service(topic_id: str, data: dict[str, Any]) -> dict[str, Any]:
    sources = [_seed_source(i, s) for i, s in enumerate(data.get("sources") or [])]
    if not sources:
        raise ProfileError(f"topics.{topic_id}: at least one source is required")
    first = sources[0]
    default = {
        "source": first["id"],
        "assured_date": first["assured_date"],
        "assurer": first["assurer"],
    }
    provenance = data.get("provenance") or {}

    def prov(path: str) -> dict[str, Any]:
        found = dict(default)
        found.update(
            {
                k: _date(v) if k == "assured_date" else v
                for k, v in provenance.get(path, {}).items()
            }
        )
        return found

    def text(value: Any, path: str) -> dict[str, Any] | None:
        if value is None:
            return None
        return {"km": str(value["km"]).strip(), "en": str(value["en"]).strip(), **prov(path)}

    service: dict[str, Any] = {
        "id": topic_id,
        "organization_id": str(data.get("owner") or DEFAULT_OWNERS.get(topic_id, "gs-nspc")),
        "status": STATUS_TO_HSDS.get(str(data.get("status")), str(data.get("status"))),
        "kind": str(data.get("kind", "programme")),
        "languages": ["km", "en"],
        "service_areas": [{"code": code} for code in data.get("areas") or [NATIONAL]],
    }
    for seed_key, key in _TEXT_FIELDS:
        service[key] = text(data.get(seed_key), key)
    options = []
    for amount in data.get("amounts") or []:
        base = f"cost_options.{amount['id']}"
        unknown = amount.get("unknown", False) is True
        options.append(
            {
                "id": str(amount["id"]),
                "option": text(amount["label"], f"{base}.option"),
                "amount": {
                    "value": AMOUNT_UNKNOWN if unknown else amount.get("value"),
                    "unit": None if unknown else amount.get("unit"),
                    "period": None if unknown else amount.get("period"),
                    **prov(f"{base}.amount"),
                },
                "amount_description": text(amount.get("note"), f"{base}.amount_description"),
                "valid_from": _date(amount["valid_from"]) if amount.get("valid_from") else None,
                "valid_to": _date(amount["valid_to"]) if amount.get("valid_to") else None,
            }
        )
    service["cost_options"] = options
    enrol = data.get("enrol")
    service["application_process"] = (
        None
        if enrol is None
        else {
            "where": [str(place) for place in enrol.get("where") or []],
            "how": text(enrol["how"], "application_process.how"),
            "required_documents": [
                text(document, f"application_process.required_documents.{i}")
                for i, document in enumerate(enrol.get("documents") or [])
            ],
        }
    )
    service["contact_id"] = str(data["contact"])
    service["end_date"] = _date(data["ended"]) if data.get("ended") is not None else None
    service["replaced_by"] = data.get("replaced_by")
    service["sources"] = sources
    return service


def seed_data_to_document(data: dict[str, Any]) -> dict[str, Any]:
    """programmes.yml's data -> a profile document."""
    try:
        contacts = [
            {
                "id": str(contact_id),
                "text": {"km": str(c["text"]["km"]).strip(), "en": str(c["text"]["en"]).strip()},
                "website": c.get("website"),
            }
            for contact_id, c in data["contacts"].items()
        ]
        services = [_topic_to_service(str(k), v) for k, v in data["topics"].items()]
        organizations = data.get("organizations") or copy.deepcopy(list(ORGANIZATIONS))
        return normalise(
            {
                "profile": PROFILE,
                "profile_version": PROFILE_VERSION,
                "hsds_version": HSDS_VERSION,
                "version": str(data["version"]),
                "verified_on": _date(data["verified_on"]),
                "organizations": organizations,
                "contacts": contacts,
                "services": services,
            }
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise ProfileError(f"the seed does not fit the profile: {error!r}") from None


def seed_to_document(directory: Path) -> dict[str, Any]:
    """The seed directory's programmes.yml as a profile document."""
    path = directory / PROGRAMMES_FILE
    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=yaml.CSafeLoader)
    except (OSError, yaml.YAMLError) as error:
        raise ProfileError(f"cannot read {path}: {error}") from None
    return seed_data_to_document(data)


# --- document -> seed ----------------------------------------------------------------


def _ordered_sources(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Sources, the one behind the most recently verified fact first (stable otherwise):
    the assistant's "source, last verified on" line names the first."""
    newest: dict[str, str] = {}
    for _, fact in fact_paths(service):
        current = newest.get(fact["source"], "")
        newest[fact["source"]] = max(current, fact["assured_date"])
    return sorted(service["sources"], key=lambda s: newest.get(s["id"], ""), reverse=True)


def normalise(document: dict[str, Any]) -> dict[str, Any]:
    """Put every service's sources in their canonical order (in place; returns it): the
    source of the most recently verified fact first, so document -> seed -> document is
    lossless after an edit too."""
    for service in document.get("services", []):
        service["sources"] = _ordered_sources(service)
    return document


def _service_to_topic(service: dict[str, Any]) -> dict[str, Any]:
    sources = _ordered_sources(service)
    first = sources[0]
    default = {
        "source": first["id"],
        "assured_date": first["assured_date"],
        "assurer": first["assurer"],
    }
    topic: dict[str, Any] = {"owner": service["organization_id"]}
    for seed_key, key in _TEXT_FIELDS:
        fact = service.get(key)
        if fact is not None:
            topic[seed_key] = {"km": fact["km"], "en": fact["en"]}
        if seed_key == "title":
            topic["status"] = STATUS_FROM_HSDS.get(service["status"], service["status"])
            topic["kind"] = service["kind"]
    areas = [area["code"] for area in service.get("service_areas", [])]
    if areas != [NATIONAL]:
        topic["areas"] = areas
    amounts = []
    for option in service.get("cost_options", []):
        amount: dict[str, Any] = {
            "id": option["id"],
            "label": {"km": option["option"]["km"], "en": option["option"]["en"]},
        }
        value = option["amount"]
        if value["value"] == AMOUNT_UNKNOWN:
            amount["unknown"] = True
        else:
            amount.update(value=value["value"], unit=value["unit"], period=value["period"])
        note = option.get("amount_description")
        if note is not None:
            amount["note"] = {"km": note["km"], "en": note["en"]}
        for key in ("valid_from", "valid_to"):
            if option.get(key):
                amount[key] = option[key]
        amounts.append(amount)
    topic["amounts"] = amounts
    process = service.get("application_process")
    if process is not None:
        topic["enrol"] = {
            "where": list(process["where"]),
            "how": {"km": process["how"]["km"], "en": process["how"]["en"]},
            "documents": [
                {"km": d["km"], "en": d["en"]} for d in process.get("required_documents", [])
            ],
        }
    topic["contact"] = service["contact_id"]
    if service.get("end_date") is not None:
        topic["ended"] = service["end_date"]
    if service.get("replaced_by") is not None:
        topic["replaced_by"] = service["replaced_by"]
    topic["sources"] = [
        {
            "id": s["id"],
            "url": s["url"],
            "title": s["title"],
            "issuer": s["issuer"],
            "published": s["date"],
            "verified": s["assured_date"],
            "assurer": s["assurer"],
        }
        for s in sources
    ]
    provenance = {
        path: _provenance(fact)
        for path, fact in fact_paths(service)
        if _provenance(fact) != default
    }
    if provenance:
        topic["provenance"] = provenance
    return topic


def document_to_seed(document: dict[str, Any]) -> dict[str, Any]:
    """A profile document -> programmes.yml's data (what the action server's loader reads)."""
    try:
        return {
            "version": document["version"],
            "verified_on": document["verified_on"],
            "organizations": copy.deepcopy(document["organizations"]),
            "contacts": {
                c["id"]: {
                    **({"website": c["website"]} if c.get("website") is not None else {}),
                    "text": dict(c["text"]),
                }
                for c in document["contacts"]
            },
            "topics": {s["id"]: _service_to_topic(s) for s in document["services"]},
        }
    except (KeyError, TypeError, IndexError) as error:
        raise ProfileError(f"the document does not fit the profile: {error!r}") from None


def dump_seed_yaml(seed: dict[str, Any]) -> str:
    """programmes.yml text for seed data (deterministic)."""
    return yaml.safe_dump(seed, allow_unicode=True, sort_keys=False, width=100)


# --- bytes ---------------------------------------------------------------------------


def dumps(document: dict[str, Any]) -> str:
    """The canonical text of a document: sorted keys, UTF-8 Khmer, two-space indent."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def loads(text: str | bytes) -> dict[str, Any]:
    """Parse a document's text (ProfileError if it is not a JSON object)."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ProfileError(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ProfileError("a profile document is a JSON object")
    return data


def etag_of(text: str) -> str:
    """A strong ETag for a document's canonical text."""
    return '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + '"'
