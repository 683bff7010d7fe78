"""In-process fan-out of handoff events to the console's live views (server-sent events).

The gateway runs as one process per deployment (see deploy/README.md); several console
browsers subscribe here. A slow browser never blocks the pipeline: its queue is bounded
and, when full, the oldest event is dropped (the page re-reads the queue on any event).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Callable
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

    @functools.cached_property
    def sse(self) -> bytes:
        """The server-sent event as written to every stream: encoded once per event, not
        once per subscriber (only which conversation changed, never ``data``)."""
        payload = json.dumps({"kind": self.kind, "handoff_id": self.handoff_id})
        return f"event: {self.kind}\ndata: {payload}\n\n".encode()


Accept = Callable[[LiveEvent], bool]


class LiveHub:
    """Publish/subscribe of LiveEvents; ``subscribe()`` is an async context manager."""

    def __init__(self) -> None:
        # each queue with what it accepts: a browser is woken only for what it may see
        self._subscribers: dict[asyncio.Queue[LiveEvent], Accept | None] = {}

    @property
    def subscribers(self) -> int:
        """Open live connections (a gauge for /metrics)."""
        return len(self._subscribers)

    def publish(self, event: LiveEvent) -> None:
        """Non-blocking: hand the event to every subscriber."""
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
