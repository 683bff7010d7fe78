"""Waiting for an event with a timeout, without losing a cancellation.

On Python 3.11 ``asyncio.wait_for(event.wait(), t)`` can swallow a ``cancel()`` that
arrives as the event is set: ``wait_for`` returns normally, the task stays "cancelling"
and a loop around it never stops (a worker's stop then waits forever). ``asyncio.timeout``
counts cancellations and has no such race, so every wake-or-poll loop waits through here.
"""

from __future__ import annotations

import asyncio

__all__ = ["wait_event"]


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """True if ``event`` was set within ``timeout_s`` seconds, False on the timeout."""
    try:
        async with asyncio.timeout(max(0.0, timeout_s)):
            await event.wait()
    except TimeoutError:
        return False
    return True
