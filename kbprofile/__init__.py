"""The Cambodia profile of Open Referral HSDS 3.0: the knowledge base as a catalogue of
services (programmes) with their owning agency, every citizen-facing text in Khmer and
English, amounts as cost options, and a source and a verified date on every fact.

Shared by the gateway (Python 3.11, the console's editorial workflow and the public API)
and the action server (Python 3.10, which answers from the live revision): standard library
+ PyYAML, and jsonschema (Draft 7, so Rasa's pinned 3.2.0 works) only for ``validate``.

Public surface::

    from kbprofile import seed_to_document, document_to_seed, dumps, loads, validate
    doc = seed_to_document(Path("knowledge"))     # programmes.yml -> HSDS profile document
    text = dumps(doc)                             # deterministic bytes (sorted keys)
    seed = document_to_seed(loads(text))          # -> programmes.yml's data (the loader's input)
"""

from __future__ import annotations

from ._convert import (
    AMOUNT_UNKNOWN,
    DEFAULT_OWNERS,
    HSDS_VERSION,
    PROFILE,
    PROFILE_VERSION,
    ProfileError,
    amount_facts,
    document_to_seed,
    dump_seed_yaml,
    dumps,
    etag_of,
    fact_paths,
    get_fact,
    loads,
    normalise,
    seed_data_to_document,
    seed_to_document,
    set_fact,
)
from ._facts import FACT_PLACEHOLDER, Fact, amount_text, document_facts, fact_text, fill_facts
from ._schema import SCHEMA_PATH, load_schema, validate
from ._words import (
    amount_words,
    date_words,
    fact_label,
    format_number,
    organisation_name,
    period_name,
    title_of,
    unit_name,
)

__all__ = [
    "AMOUNT_UNKNOWN",
    "DEFAULT_OWNERS",
    "FACT_PLACEHOLDER",
    "HSDS_VERSION",
    "PROFILE",
    "PROFILE_VERSION",
    "SCHEMA_PATH",
    "Fact",
    "ProfileError",
    "amount_facts",
    "amount_text",
    "amount_words",
    "date_words",
    "document_facts",
    "document_to_seed",
    "dump_seed_yaml",
    "dumps",
    "etag_of",
    "fact_label",
    "fact_paths",
    "fact_text",
    "fill_facts",
    "format_number",
    "get_fact",
    "load_schema",
    "loads",
    "normalise",
    "organisation_name",
    "period_name",
    "seed_data_to_document",
    "seed_to_document",
    "set_fact",
    "title_of",
    "unit_name",
    "validate",
]
