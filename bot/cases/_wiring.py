"""The cases feature in the gateway: the service, the chat desk and the timer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from ..channels._base import Channel
from ..handoff import PlaceNames
from ..storage._store import Store
from ._config import load_config
from ._desk import FeedbackDesk, load_commune_names
from ._service import CaseService

__all__ = ["make_cases", "run_case_timer"]

log = logging.getLogger("bot.cases")
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "knowledge" / "cases.yml"


def make_cases(
    *,
    store: Store,
    channels: Mapping[str, Channel],
    knowledge_dir: Path,
    gazetteer_path: Path,
    wake: Callable[[str, str], None],
) -> tuple[CaseService, FeedbackDesk]:
    """The service and the desk, from knowledge/cases.yml and the gazetteer."""
    path = knowledge_dir / "cases.yml"
    if not path.exists():  # a knowledge copy without cases: the repository's words and times
        log.warning("cases.config_missing", extra={"path": str(path)})
        path = DEFAULT_CONFIG
    config = load_config(path, knowledge_dir / "programmes.yml")
    service = CaseService(
        store=store,
        channels=channels,
        config=config,
        places=PlaceNames.load(gazetteer_path.parent),
        wake=wake,
    )
    desk = FeedbackDesk(cases=service, config=config, communes=load_commune_names(gazetteer_path))
    return service, desk


async def run_case_timer(service: CaseService, every_s: float) -> None:
    """Escalate overdue cases and ask "was this resolved?", forever (cancel to stop)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await service.escalate_overdue()
            await service.send_followups()
            await service.purge_drafts()
        except Exception:  # a database hiccup must not stop the timer for good
            log.exception("cases.timer_failed")
