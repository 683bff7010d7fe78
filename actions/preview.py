"""How the assistant would answer the standard questions about one programme from a draft
of the knowledge base, in Khmer and English (issue #14, the console's preview).

    python -m actions.preview < {"service": "scholarship", "documents": {"draft": {...}}}

prints {"draft": {"km": {question: answer}, "en": {...}}, ...} (or {"error": "..."}): each
document is an HSDS profile document (kbprofile), checked by the same loader and eligibility
rules as the live revision; the answers are composed by the same code as the actions'.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import kbprofile
from actions.compose import Composer, Resources, get_resources
from actions.eligibility import load_rules
from actions.knowledge import KnowledgeError, parse_knowledge
from actions.text import LANGUAGES

QUESTIONS = ("what", "how_much", "more", "where", "source")


def preview(document: dict[str, Any], service_id: str) -> dict[str, dict[str, str]]:
    """The standard answers about `service_id` from `document`, per language."""
    knowledge = parse_knowledge(kbprofile.document_to_seed(document))
    if service_id not in knowledge.topics:
        raise KnowledgeError(f"no programme {service_id!r}")
    base = get_resources()
    resources = Resources(
        knowledge=knowledge,
        catalogue=base.catalogue,
        rules=load_rules(knowledge),
        gazetteer=base.gazetteer,
    )
    topic = knowledge.topics[service_id]
    found: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        composer = Composer(resources, language)
        answers = {"what": composer.short_answer(topic)}
        if topic.amounts:
            answers["how_much"] = composer.short_answer(topic, amounts_first=True)
        answers["more"] = composer.topic_details(topic)
        if topic.enrol is not None or topic.replaced_by is not None:
            answers["where"] = composer.enrol_guidance(topic, None)
        answers["source"] = composer.topic_sources(topic)
        found[language] = answers
    return found


def main() -> int:
    request = json.load(sys.stdin)
    try:
        result: dict[str, Any] = {
            name: preview(document, str(request["service"]))
            for name, document in request["documents"].items()
        }
    except (KnowledgeError, kbprofile.ProfileError, KeyError) as error:
        result = {"error": str(error)}
    json.dump(result, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
