"""Shared fixtures: the real domain and the real knowledge files, loaded once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actions.knowledge import KnowledgeBase, load_knowledge

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The assistant's real domain, as the action server receives it."""
    from rasa.shared.core.domain import Domain

    return Domain.load(str(REPO / "domain.yml")).as_dict()


@pytest.fixture(scope="session")
def knowledge() -> KnowledgeBase:
    return load_knowledge()
