"""The gateway's client of Rasa's REST channel and tracker API (several instances, each
citizen pinned to one)."""

from __future__ import annotations

from ._client import RasaClient, RasaReply

__all__ = ["RasaClient", "RasaReply"]
