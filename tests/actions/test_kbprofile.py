"""The Cambodia HSDS profile (kbprofile) in the action server's environment: the seed as a
profile document answers exactly as the seed files do, the export validates against the
schema (Rasa's jsonschema 3.2), and a changed fact reaches the loader with its new source."""

from __future__ import annotations

import copy
from pathlib import Path

import kbprofile
from actions.knowledge import load_knowledge, parse_knowledge

REPO = Path(__file__).resolve().parents[2]


def seed_document() -> dict:
    return kbprofile.seed_to_document(REPO / "knowledge")


def test_the_seed_as_a_document_loads_as_the_same_knowledge_base():
    document = seed_document()
    assert parse_knowledge(kbprofile.document_to_seed(document)) == load_knowledge()


def test_export_import_export_gives_the_same_bytes_and_validates():
    text = kbprofile.dumps(seed_document())
    again = kbprofile.dumps(
        kbprofile.seed_data_to_document(kbprofile.document_to_seed(kbprofile.loads(text)))
    )
    assert again.encode() == text.encode()
    assert kbprofile.validate(kbprofile.loads(text)) == []


def test_every_fact_has_a_source_a_verified_date_and_who_verified_it():
    for service in seed_document()["services"]:
        sources = {s["id"]: s for s in service["sources"]}
        assert service["organization_id"]
        for path, fact in kbprofile.fact_paths(service):
            assert fact["source"] in sources, (service["id"], path)
            assert fact["assured_date"]
            assert fact["assurer"]
            assert set(sources[fact["source"]]) >= {"url", "title", "issuer", "date"}


def test_unknown_is_a_first_class_amount():
    unknown = [
        (s["id"], o["id"])
        for s in seed_document()["services"]
        for o in s["cost_options"]
        if o["amount"]["value"] == kbprofile.AMOUNT_UNKNOWN
    ]
    assert unknown
    kb = parse_knowledge(kbprofile.document_to_seed(seed_document()))
    topic_id, amount_id = unknown[0]
    assert kb.topics[topic_id].amount(amount_id).unknown


def test_a_changed_amount_with_a_new_source_is_what_the_loader_reads_first():
    document = seed_document()
    service = next(s for s in document["services"] if s["id"] == "scholarship")
    service["sources"].append(
        {
            "id": "moeys-2026",
            "url": "https://moeys.gov.kh/km/scholarship-2026",
            "title": "សេចក្តីជូនដំណឹងអំពីអាហារូបករណ៍ឆ្នាំ២០២៦",
            "issuer": "ក្រសួងអប់រំ យុវជន និងកីឡា",
            "date": "2026-12-01",
            "assured_date": "2026-12-06",
            "assurer": "ministry editor",
        }
    )
    fact = copy.deepcopy(kbprofile.get_fact(service, "cost_options.upper_secondary.amount"))
    fact.update(value=35000, source="moeys-2026", assured_date="2026-12-06", assurer="editor")
    kbprofile.set_fact(service, "cost_options.upper_secondary.amount", fact)
    assert kbprofile.validate(document) == []
    topic = parse_knowledge(kbprofile.document_to_seed(document)).topics["scholarship"]
    assert topic.amount("upper_secondary").value == 35000
    assert topic.sources[0].url == "https://moeys.gov.kh/km/scholarship-2026"
    assert topic.sources[0].verified.isoformat() == "2026-12-06"
    # and the round trip keeps the per-fact provenance
    text = kbprofile.dumps(kbprofile.normalise(document))
    assert (
        kbprofile.dumps(kbprofile.seed_data_to_document(kbprofile.document_to_seed(document)))
        == text
    )


def test_the_schema_refuses_a_fact_without_khmer_or_a_source():
    document = seed_document()
    service = document["services"][0]
    del service["name"]["km"]
    service["description"]["source"] = "nowhere"
    problems = kbprofile.validate(document)
    assert any("km" in p for p in problems)


def test_the_built_in_validator_agrees_with_jsonschema():
    from kbprofile._mini import MiniValidator

    schema = kbprofile.load_schema()
    good = seed_document()
    assert list(MiniValidator(schema).iter_errors(good)) == []
    broken = seed_document()
    broken["services"][0]["name"].pop("km")
    broken["services"][1]["cost_options"] = [{"id": "x"}]
    broken["services"][2]["status"] = "open"
    broken["contacts"][0]["website"] = 5
    broken["services"][4]["cost_options"][0]["amount"]["value"] = -3
    import jsonschema

    expected = {
        tuple(map(str, e.absolute_path))
        for e in jsonschema.Draft7Validator(schema).iter_errors(broken)
    }
    found = {path for path, _ in MiniValidator(schema).iter_errors(broken)}
    assert found == expected
