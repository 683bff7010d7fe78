"""The inbound conversation loop: persisted citizen messages -> Rasa -> queued replies."""

from __future__ import annotations

from ._pipeline import Pipeline, handoff_record

__all__ = ["Pipeline", "handoff_record"]
