"""Facts an announcement may quote, from the knowledge base's LIVE revision (issue #14), so
amounts and dates are the harmonised ones and a publish or a roll back changes what the
console offers at the next page load; the seed files (knowledge/programmes.yml) only when
the gateway runs without the knowledge feature."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

import kbprofile
from kbprofile import Fact

from .. import keys
from ..knowledge import KNOWLEDGE

__all__ = ["Fact", "knowledge_facts", "seed_facts"]

log = logging.getLogger("bot.dissemination")


def seed_facts(directory: Path) -> list[Fact]:
    """The seed files' facts (no live knowledge base here)."""
    if not (directory / "programmes.yml").exists():
        return []
    try:
        return kbprofile.document_facts(kbprofile.seed_to_document(directory))
    except kbprofile.ProfileError:
        log.warning("dissemination.bad_seed")
        return []


async def knowledge_facts(request: web.Request) -> list[Fact]:
    """Each programme's summary and known amounts, in Khmer and English, with source and
    verified date, from the live revision."""
    knowledge = request.config_dict.get(KNOWLEDGE)
    if knowledge is not None:
        document = await knowledge.live_document()
        if document is not None:
            return kbprofile.document_facts(document)
    return seed_facts(request.config_dict[keys.SETTINGS].knowledge_dir)
