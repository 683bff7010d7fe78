"""Channel-neutral value objects passed between parsers, the store and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

__all__ = ["InboundKind", "InboundMessage", "OutboundKind", "Priority", "priority_of"]


class InboundKind(StrEnum):
    """What a citizen sent; only TEXT, BUTTON and LOCATION reach Rasa."""

    TEXT = "text"
    BUTTON = "button"  # a tapped button: the text is the Rasa payload
    LOCATION = "location"
    MEDIA = "media"  # voice note, photo, ...: acknowledged and offered to a human


class OutboundKind(StrEnum):
    """Why a platform message exists."""

    REPLY = "reply"  # rendered from Rasa's answer
    NOTICE = "notice"  # "your answer is delayed" / "no answer"
    ACK = "ack"  # acknowledgement of a voice note or photo
    HANDOFF = "handoff"  # Rasa's custom handoff payload, recorded for operators
    AGENT = "agent"  # written by a person in the agent console
    ALERT = "alert"  # an emergency alert to many chats
    BROADCAST = "broadcast"  # a bulk announcement


class Priority(IntEnum):
    """Delivery order across chats (lower first): a citizen waiting for an answer must
    never queue behind an announcement to thousands."""

    CONVERSATION = 0  # replies, notices, acknowledgements, agents' messages
    ALERT = 10
    BULK = 50  # broadcasts: paced below the channel's limit, 1 per second per chat


_PRIORITIES: dict[str, Priority] = {
    OutboundKind.ALERT: Priority.ALERT,
    OutboundKind.BROADCAST: Priority.BULK,
}


def priority_of(kind: str) -> int:
    """The delivery priority of a message of this kind."""
    return int(_PRIORITIES.get(kind, Priority.CONVERSATION))


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
