"""The gateway's client of Rasa's REST channel and tracker API (several instances, each
citizen pinned to one)."""

from __future__ import annotations

from ._client import RasaClient, RasaReply
from ._keys import RASA, RASA_WARMER_KEY

__all__ = [
    "RASA",
    "RASA_WARMER_KEY",
    "RasaClient",
    "RasaReply",
]
