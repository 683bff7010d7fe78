"""Fan-out of handoff events to the console's live views (server-sent events).

Console browsers subscribe here. A slow browser never blocks the pipeline: its queue is
bounded and, when full, the oldest event is dropped (the page re-reads on any event).
With several gateway processes (PostgreSQL), a relay (_live_relay) carries each event
about a handoff to the other processes, which ``deliver`` it to their own subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["RESYNC", "LiveEvent", "LiveHub", "Relay"]

SUBSCRIBER_QUEUE = 256
# Events from other processes may have been missed (the relay reconnected): re-read.
RESYNC = "resync"


@dataclass(frozen=True)
class LiveEvent:
    """Something changed: ``kind`` is queue / message / handoff; ``organisation_id`` scopes
    who may see it (None = admins only, e.g. chats not handed off)."""

    kind: str
    handoff_id: int | None = None
    organisation_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def sse(self) -> bytes:
        """The server-sent event as written to every stream: encoded once per event, not
        once per subscriber (only which conversation changed, never ``data``)."""
        payload = json.dumps({"kind": self.kind, "handoff_id": self.handoff_id})
        return f"event: {self.kind}\ndata: {payload}\n\n".encode()


Accept = Callable[[LiveEvent], bool]


class Relay(Protocol):
    """Carries events to the other gateway processes (see _live_relay)."""

    listening: asyncio.Event  # set while events of the others arrive

    def forward(self, event: LiveEvent) -> None:
        """Queue the event for the other processes; never blocks."""


class LiveHub:
    """Publish/subscribe of LiveEvents; ``subscribe()`` is an async context manager."""

    def __init__(self) -> None:
        # each queue with what it accepts: a browser is woken only for what it may see
        self._subscribers: dict[asyncio.Queue[LiveEvent], Accept | None] = {}
        self._relay: Relay | None = None

    @property
    def subscribers(self) -> int:
        """Open live connections (a gauge for /metrics)."""
        return len(self._subscribers)

    @property
    def relay(self) -> Relay | None:
        """The relay to the other processes, if any (PostgreSQL)."""
        return self._relay

    def relay_to(self, relay: Relay | None) -> None:
        """Also hand every event about a handoff to ``relay`` (the other processes)."""
        self._relay = relay

    def publish(self, event: LiveEvent) -> None:
        """Non-blocking: hand the event to every subscriber here and, if it is about a
        handoff, to the other processes (a stream shutdown stays in this one)."""
        self.deliver(event)
        if self._relay is not None and event.handoff_id is not None:
            self._relay.forward(event)

    def deliver(self, event: LiveEvent) -> None:
        """Non-blocking: hand the event to this process's subscribers only."""
        for queue, accept in self._subscribers.items():
            if accept is not None and not accept(event):
                continue
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, accept: Accept | None = None
    ) -> AsyncIterator[asyncio.Queue[LiveEvent]]:
        """A queue receiving every event published while the context is open (only those
        ``accept`` returns True for, if given)."""
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers[queue] = accept
        try:
            yield queue
        finally:
            self._subscribers.pop(queue, None)
