"""Wake-or-poll loops stop when cancelled, also when the cancel arrives as the event is set
(Python 3.11's ``asyncio.wait_for`` returns normally then, and such a loop never stops)."""

from __future__ import annotations

import asyncio

from bot._waiting import wait_event


async def _poll_forever(event: asyncio.Event) -> None:
    while True:
        event.clear()
        await wait_event(event, 30.0)


async def test_a_cancel_that_arrives_as_the_event_is_set_stops_the_loop() -> None:
    event = asyncio.Event()
    task = asyncio.create_task(_poll_forever(event))
    await asyncio.sleep(0.01)  # the loop waits on the event
    event.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    assert done == {task}
    assert task.cancelled()


async def test_the_event_or_the_timeout() -> None:
    event = asyncio.Event()
    assert not await wait_event(event, 0.01)
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5.0)
    assert await wait_event(event, -1.0)  # already set: no wait, even with no time left
