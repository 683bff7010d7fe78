"""Channel-neutral value objects passed between parsers, the store and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["InboundKind", "InboundMessage", "OutboundKind"]


class InboundKind:
    """What a citizen sent; only TEXT, BUTTON and LOCATION reach Rasa."""

    TEXT = "text"
    BUTTON = "button"  # a tapped button: the text is the Rasa payload
    LOCATION = "location"
    MEDIA = "media"  # voice note, photo, ...: acknowledged and offered to a human


class OutboundKind:
    """Why a platform message exists."""

    REPLY = "reply"  # rendered from Rasa's answer
    NOTICE = "notice"  # "your answer is delayed" / "no answer"
    ACK = "ack"  # acknowledgement of a voice note or photo
    HANDOFF = "handoff"  # Rasa's custom handoff payload, recorded for operators
    AGENT = "agent"  # written by a person in the agent console


@dataclass(frozen=True, kw_only=True)
class InboundMessage:
    """One parsed citizen message; ``(channel, external_id)`` makes redeliveries harmless."""

    channel: str
    external_id: str
    chat_id: str
    kind: str
    text: str = ""
    language: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
