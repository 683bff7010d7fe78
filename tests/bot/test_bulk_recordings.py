"""An announcement's recording goes out after its text on its own: the row is recorded
``sent`` and the next batch claimed while the recording waits its second (waiting inside
the batch held one worker with recordings under half the account's rate), and a worker
that stops sends the recordings still on their way."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.delivery._bulk import BulkStatus
from bot.dissemination import DisseminationService, Topic
from tests.bot.gateway_fakes import wait_until_async
from tests.bot.test_broadcast_audio import AUTHOR, PUBLIC, SECRETARIAT, TEXT_KM, ogg_opus
from tests.bot.test_bulk_journal import engine, rows_of, unpaced_worker

__all__ = ["engine"]  # the fixture


class _SlowRecordings:
    """A platform that answers texts at once and holds recordings until released."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.recordings: list[str] = []
        self.release = asyncio.Event()

    async def send_bulk(self, chat_id: str, body: dict[str, Any], key: str) -> str | None:
        self.texts.append(chat_id)
        return f"m{chat_id}"

    async def send_recording(self, chat_id: str, body: dict[str, Any], key: str) -> None:
        await self.release.wait()
        self.recordings.append(chat_id)


async def test_rows_are_recorded_sent_while_their_recordings_wait(engine: Any) -> None:
    service = DisseminationService(engine, channels=("telegram",), public_url=PUBLIC)
    chats = ["9001", "9002", "9003"]
    for chat in chats:
        await service.subscribe("telegram", chat, topics=[Topic.PAYMENTS], language="km")
    bid = await service.create_draft(AUTHOR, text_km=TEXT_KM, text_en="-", topic=Topic.PAYMENTS)
    await service.attach_audio(bid, "km", ogg_opus(), "audio/ogg")
    await service.approve(bid, SECRETARIAT)
    assert await service.plan(bid)
    platform = _SlowRecordings()
    # one row a batch: the later rows are claimed only after the first one's record
    worker = unpaced_worker(engine, "recording-worker:1", platform, batch=1)
    task = asyncio.create_task(worker.run())
    try:

        async def statuses() -> set[str]:
            return {r.status for r in (await rows_of(engine, bid)).values()}

        # every row sent and recorded, no recording out yet
        await wait_until_async(statuses, lambda s: s == {BulkStatus.SENT}, timeout=10)
        assert sorted(platform.texts) == chats
        assert platform.recordings == []
    finally:
        worker.stop()  # the stop waits for the recordings on their way
        await asyncio.sleep(0.1)
        assert not task.done()
        platform.release.set()
        await asyncio.wait_for(task, 10)
    assert sorted(platform.recordings) == chats
