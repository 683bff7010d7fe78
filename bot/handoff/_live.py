"""In-process fan-out of handoff events to the console's live views (server-sent events).

The gateway runs as one process per deployment (see deploy/README.md); several console
browsers subscribe here. A slow browser never blocks the pipeline: its queue is bounded
and, when full, the oldest event is dropped (the page re-reads the queue on any event).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LiveEvent", "LiveHub"]

SUBSCRIBER_QUEUE = 256


@dataclass(frozen=True)
class LiveEvent:
    """Something changed: ``kind`` is queue / message / handoff; ``organisation_id`` scopes
    who may see it (None = admins only, e.g. chats not handed off)."""

    kind: str
    handoff_id: int | None = None
    organisation_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


class LiveHub:
    """Publish/subscribe of LiveEvents; ``subscribe()`` is an async context manager."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[LiveEvent]] = set()

    @property
    def subscribers(self) -> int:
        """Open live connections (a gauge for /metrics)."""
        return len(self._subscribers)

    def publish(self, event: LiveEvent) -> None:
        """Non-blocking: hand the event to every subscriber."""
        for queue in self._subscribers:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[LiveEvent]]:
        """A queue receiving every event published while the context is open."""
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
