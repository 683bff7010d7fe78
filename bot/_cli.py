"""Command line: serve, migrate, explicit webhook management, a terminal chat, and the
console's administration (org, agent)."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import httpx
from aiohttp import web
from telegram import Bot

from ._app import TELEGRAM_PATH, WEBCHAT_PATH, create_app
from ._cli_admin import add_admin_commands, admin_commands, run_admin_command
from ._exceptions import SettingsError
from ._logging import setup_logging
from ._settings import Settings
from .alerts._cli import ALERT_COMMANDS, add_alert_commands, run_alert_command
from .channels._telegram import ALLOWED_UPDATES
from .knowledge._cli import add_knowledge_commands, run_knowledge_command
from .storage._db import create_engine
from .storage._migrate import migrate
from .training import add_training_commands, run_training_command

__all__ = ["chat_loop", "delete_webhook", "main", "set_webhook"]

CHAT_TIMEOUT_S = 60.0
CHAT_POLL_WAIT_S = 20
CHAT_SETTLE_S = 1.0  # more replies to the same message arrive within this
QUIT_WORDS = {"/quit", "/exit"}


def _bot(settings: Settings) -> Bot:
    if not settings.telegram_token:
        raise SettingsError("TELEGRAM_TOKEN is not set")
    return Bot(settings.telegram_token, base_url=settings.telegram_api_url)


async def set_webhook(settings: Settings) -> str:
    """Register our webhook with Telegram once (not at every start): URL, secret, updates."""
    if not settings.public_url:
        raise SettingsError("GATEWAY_PUBLIC_URL is needed to set the Telegram webhook")
    url = settings.public_url + TELEGRAM_PATH
    async with _bot(settings) as bot:
        await bot.set_webhook(
            url=url, secret_token=settings.telegram_secret, allowed_updates=ALLOWED_UPDATES
        )
    return url


async def delete_webhook(settings: Settings) -> None:
    """Remove the webhook (e.g. before local polling); pending updates are kept."""
    async with _bot(settings) as bot:
        await bot.delete_webhook(drop_pending_updates=False)


async def _migrate_only(settings: Settings) -> None:
    engine, _ = create_engine(settings.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def _render(message: dict[str, Any]) -> str:
    lines = [str(message.get("text") or "")]
    for i, button in enumerate(message.get("buttons") or [], start=1):
        lines.append(f"  [{i}] {button['title']}")
    return "\n".join(line for line in lines if line)


async def chat_loop(
    base_url: str,
    lines: Iterable[str],
    out: TextIO,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """Chat through the web chat API; a number picks the last message's button."""
    session = "term-" + secrets.token_hex(8)
    after = 0
    buttons: list[dict[str, str]] = []
    async with httpx.AsyncClient(
        base_url=base_url, timeout=httpx.Timeout(CHAT_TIMEOUT_S), transport=transport
    ) as client:
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if line in QUIT_WORDS:
                break
            text, is_button = line, False
            if line.isdigit() and 0 < int(line) <= len(buttons):
                text, is_button = buttons[int(line) - 1]["payload"], True
            response = await client.post(
                "/webchat/messages",
                json={
                    "session": session,
                    "id": secrets.token_hex(8),
                    "text": text,
                    "button": is_button,
                },
            )
            response.raise_for_status()
            # Wait for the first reply, then collect the rest of the answer (Rasa often
            # answers with several messages, delivered one by one).
            wait: float = CHAT_POLL_WAIT_S
            while True:
                poll = await client.get(
                    "/webchat/messages", params={"session": session, "after": after, "wait": wait}
                )
                poll.raise_for_status()
                messages = poll.json()["messages"]
                if not messages:
                    break
                for message in messages:
                    after = max(after, int(message["id"]))
                    buttons = message.get("buttons") or buttons
                    print("bot> " + _render(message), file=out, flush=True)
                wait = CHAT_SETTLE_S


def _stdin_lines() -> Iterable[str]:
    while True:
        try:
            yield input("you> ")
        except EOFError:
            return


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bot``."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the gateway (default)")
    serve.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the port with other gateway processes (SO_REUSEPORT; PostgreSQL only)",
    )
    sub.add_parser("migrate", help="upgrade the gateway database to the newest schema")
    sub.add_parser("set-webhook", help="register the Telegram webhook (run once per URL)")
    sub.add_parser("delete-webhook", help="remove the Telegram webhook")
    chat = sub.add_parser("chat", help="chat in this terminal with a running gateway")
    chat.add_argument("--url", default=None, help="gateway address (default from settings)")
    add_admin_commands(sub)
    add_training_commands(sub)
    add_alert_commands(sub)
    add_knowledge_commands(sub)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"settings: {exc}", file=sys.stderr)
        return 2
    command = args.command or "serve"
    if getattr(args, "reuse_port", False) and settings.database_url.startswith("sqlite"):
        print("serve --reuse-port needs PostgreSQL: SQLite has one writer", file=sys.stderr)
        return 2
    if command in admin_commands():
        return asyncio.run(run_admin_command(settings, args))
    if command == "training":
        return asyncio.run(run_training_command(settings, args))
    if command in ALERT_COMMANDS:
        return asyncio.run(run_alert_command(settings, args))
    if command == "knowledge":
        return asyncio.run(run_knowledge_command(settings, args))
    if command == "chat":
        url = args.url or f"http://{settings.host}:{settings.port}"
        print(f"Chatting with {url} (Khmer or English; a number taps a button; /quit ends)")
        asyncio.run(chat_loop(url, _stdin_lines(), sys.stdout))
        return 0
    setup_logging(json_lines=settings.log_json)
    if command == "migrate":
        asyncio.run(_migrate_only(settings))
    elif command == "set-webhook":
        print("webhook set:", asyncio.run(set_webhook(settings)))
    elif command == "delete-webhook":
        asyncio.run(delete_webhook(settings))
    else:
        print(f"web chat: http://{settings.host}:{settings.port}{WEBCHAT_PATH}", flush=True)
        print(f"agent console: {settings.console_url}", flush=True)
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            print=None,
            shutdown_timeout=10,
            reuse_port=bool(getattr(args, "reuse_port", False)),
        )
    return 0
