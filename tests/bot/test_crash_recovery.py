"""SIGKILL the gateway process mid-conversation, start it again: no message is lost, none
is answered twice, and Rasa is never fed a message twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import text

from bot.rasa._client import MESSAGE_ID_KEY
from bot.storage._db import create_engine
from tests.bot.gateway_fakes import TG_SECRET, TOKEN, FakeRasa, FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_gateway(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once; we poll /healthz)
        [sys.executable, "-m", "bot", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(100):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("gateway did not start")


async def test_sigkill_mid_conversation_then_restart_loses_nothing(
    tmp_path: Path, fake_telegram: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
        "GATEWAY_PORT": str(port),
        "RASA_URLS": fake_rasa.url,
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_SECRET": TG_SECRET,
        "TELEGRAM_API_URL": fake_telegram.base_url,
        "GATEWAY_RETRY_BASE": "0.05",
        "GATEWAY_RETRY_MAX": "0.2",
        "GATEWAY_LEASE_S": "3",  # the killed process's chats and sends are taken over soon
    }
    fake_rasa.delay_s = 0.3  # slow Rasa: the kill lands while answers are in flight
    proc = await start_gateway(env, port)
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    async with httpx.AsyncClient(timeout=5) as client:
        for i in range(20):
            update = {
                "update_id": 1000 + i,
                "message": {
                    "message_id": i,
                    "date": 1,
                    "chat": {"id": 500 + i % 4, "type": "private"},
                    "text": f"q{i}",
                },
            }
            resp = await client.post(url, json=update, headers={HEADER: TG_SECRET})
            assert resp.status_code == 200  # 200 = persisted
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    answered_before = len(fake_telegram.sent())
    assert answered_before < 20  # the kill really interrupted the conversation
    fake_rasa.delay_s = 0
    proc = await start_gateway(env, port)

    async def unconfirmed() -> set[str]:
        """Answers whose send the kill cut: never repeated (a repeat is worse)."""
        engine, _ = create_engine(env["GATEWAY_DATABASE_URL"])
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT body FROM gw_outbound WHERE status = 'unconfirmed'")
                )
                return {json.loads(body)["html"] for (body,) in rows}
        finally:
            await engine.dispose()

    expected_all = {f"echo: q{i}" for i in range(20)}
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            sent = {c.params["text"] for c in fake_telegram.sent()}
            lost = await unconfirmed()
            if sent | lost >= expected_all:
                break
            assert asyncio.get_running_loop().time() < deadline, (sent, lost)
            await asyncio.sleep(0.1)
    finally:
        proc.terminate()
        # waited for off the event loop: the fake Bot API on this loop must keep answering
        # while the gateway finishes its sends in flight
        await asyncio.to_thread(proc.wait, 15)
    texts = [c.params["text"] for c in fake_telegram.sent()]
    for chat in range(500, 504):  # per chat, answers still in the order asked
        mine = [
            t
            for c, t in zip(fake_telegram.sent(), texts, strict=True)
            if int(c.params["chat_id"]) == chat
        ]
        expected = [
            f"echo: q{i}" for i in range(20) if 500 + i % 4 == chat and f"echo: q{i}" not in lost
        ]
        assert mine == expected  # in order, and nothing sent twice
    assert len(lost) <= 4  # at most the one send in flight per chat
    for chat in range(500, 504):  # Rasa got each message once
        fed = [e["metadata"][MESSAGE_ID_KEY] for e in fake_rasa.user_messages(f"telegram:{chat}")]
        assert len(fed) == len(set(fed)) == 5
