"""The inbound conversation loop: persisted citizen messages -> Rasa -> queued replies."""

from __future__ import annotations

from ._keys import PIPELINE, WORKER_KEY
from ._pipeline import Pipeline, handoff_record

__all__ = [
    "PIPELINE",
    "WORKER_KEY",
    "Pipeline",
    "handoff_record",
]
