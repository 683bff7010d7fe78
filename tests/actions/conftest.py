"""Shared fixtures: the real domain and the real knowledge files, loaded once per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

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


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load_tracker(name: str, slots: dict[str, Any] | None = None, **latest: Any) -> Tracker:
    """A tracker from tests/actions/fixtures/<name>.json, with slots or message fields changed."""
    state = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    state["slots"].update(slots or {})
    state["latest_message"].update(latest)
    return Tracker.from_dict(state)


async def run_action(
    action: Action, tracker: Tracker, domain: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run an action as the action server would: (events, messages sent)."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    return events, dispatcher.messages


@pytest.fixture(name="load_tracker")
def load_tracker_fixture() -> Any:
    """The `load_tracker` helper, as a fixture so test modules need not import conftest."""
    return load_tracker


@pytest.fixture(name="run_action")
def run_action_fixture() -> Any:
    """The `run_action` helper, as a fixture."""
    return run_action
