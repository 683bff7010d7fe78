"""What the pipeline needs from a channel: render Rasa's replies, send one message, typing."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from ..rasa._client import RasaReply

__all__ = ["Channel", "callback_key"]

CALLBACK_KEY_PREFIX = "k:"
CALLBACK_KEY_HEX = 24  # "k:" + 24 hex characters = 26 bytes, far below Telegram's 64


def callback_key(payload: str) -> str:
    """Deterministic short key for a button payload (same payload -> same key)."""
    return CALLBACK_KEY_PREFIX + hashlib.sha256(payload.encode()).hexdigest()[:CALLBACK_KEY_HEX]


class Channel(Protocol):
    """A delivery channel. ``send`` raises RateLimited / RecipientBlocked / ChannelError."""

    name: str
    #: True if button payloads must be stored behind short keys (Telegram's 64-byte limit)
    needs_callback_keys: bool
    #: True if an earlier message's buttons stay tappable until removed (Telegram's inline
    #: keyboards); the delivery engine then calls ``retire_buttons`` when a newer message
    #: went out, so only the last turn's buttons can be tapped
    retires_buttons: bool

    def render(self, replies: list[RasaReply]) -> list[dict[str, Any]]:
        """Turn Rasa's text/buttons replies into platform messages, within platform limits."""
        ...

    async def send(self, chat_id: str, body: dict[str, Any]) -> str | None:
        """Deliver one rendered message; returns the platform's message id if any."""
        ...

    def recorded(self, chat_id: str) -> None:
        """Called once a sent message is committed as SENT (the web chat wakes pollers)."""
        ...

    async def typing(self, chat_id: str) -> None:
        """Show "typing..." while Rasa thinks; best effort, never raises."""
        ...

    async def retire_buttons(self, chat_id: str, message_id: str) -> None:
        """Take the buttons off an earlier message; best effort, never raises."""
        ...
