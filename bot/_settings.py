"""Settings from the environment, so one image runs embedded locally and in production."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ._exceptions import SettingsError

__all__ = ["Settings"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/gateway.db"
DEFAULT_RASA_URL = "http://127.0.0.1:5005"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_TELEGRAM_API = "https://api.telegram.org/bot"
DEFAULT_GRAPH_API = "https://graph.facebook.com/v21.0"
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_RASA_TIMEOUT_S = 30.0
DEFAULT_SEND_TIMEOUT_S = 15.0
DEFAULT_RETRY_BASE_S = 1.0
DEFAULT_RETRY_MAX_S = 60.0
DEFAULT_MAX_SEND_ATTEMPTS = 8
DEFAULT_CONCURRENCY = 64
DEFAULT_RASA_MAX_IN_FLIGHT = 64  # = DEFAULT_CONCURRENCY; also the warm connections kept
DEFAULT_HANDOFF_CHECK_S = 30.0
DEFAULT_TYPING_AFTER_S = 1.0  # "typing..." only for answers slower than this
DEFAULT_LEASE_S = 10.0  # a killed process's chats and sends are taken over after this
DEFAULT_DELIVERY_WORKERS = 32  # sends in flight per process
DEFAULT_DELIVERY_POLL_S = 0.5  # how often other processes' rows are looked for
DEFAULT_TELEGRAM_PER_S = 30.0  # Telegram's documented bulk limit per bot
DEFAULT_MESSENGER_PER_S = 0.0  # Meta publishes no per-second limit: unpaced unless set
DEFAULT_REPLY_HEADROOM_PER_S = 5.0  # of each limit, kept free of bulk for replies
DEFAULT_SMS_PER_S = 10.0  # Somleng SMS per account (bot/channels/_somleng.py)
DEFAULT_VOICE_PER_S = 2.0  # Somleng calls started per second per account
DEFAULT_CONSOLE_SESSION_HOURS = 12.0  # one working day; then log in again
DEFAULT_GAZETTEER = "knowledge/gazetteer/communes.yml"
DEFAULT_KNOWLEDGE_DIR = "knowledge"  # canned_replies.yml (console), programmes.yml (topics)
DEFAULT_CONSOLE_ADMIN_FILE = "var/console-admin.txt"  # `agent ensure-admin` writes it (0600)
# Telegram allows 1-256 characters from A-Z a-z 0-9 _ - (setWebhook secret_token)
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TRUE = {"1", "true", "yes", "on"}


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return int(_float(env, name, float(default)))


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the gateway needs; build with ``Settings.from_env()`` or directly in tests."""

    database_url: str = DEFAULT_DATABASE_URL
    rasa_urls: tuple[str, ...] = (DEFAULT_RASA_URL,)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    public_url: str = ""
    telegram_token: str = ""
    telegram_secret: str = ""
    telegram_api_url: str = DEFAULT_TELEGRAM_API
    telegram_polling: bool = False  # local development without a public URL
    messenger_verify_token: str = ""
    messenger_app_secret: str = ""
    messenger_page_token: str = ""
    graph_api_url: str = DEFAULT_GRAPH_API
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    rasa_timeout_s: float = DEFAULT_RASA_TIMEOUT_S
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S
    retry_base_s: float = DEFAULT_RETRY_BASE_S
    retry_max_s: float = DEFAULT_RETRY_MAX_S
    max_send_attempts: int = DEFAULT_MAX_SEND_ATTEMPTS
    concurrency: int = DEFAULT_CONCURRENCY
    rasa_max_in_flight: int = DEFAULT_RASA_MAX_IN_FLIGHT  # per Rasa instance
    typing_after_s: float = DEFAULT_TYPING_AFTER_S
    rasa_token: str = ""  # Rasa's --auth-token, for the HTTP API (pause/resume, models)
    handoff_check_s: float = DEFAULT_HANDOFF_CHECK_S  # how often overdue handoffs escalate
    redis_url: str = ""  # shared pacing across processes; unset: paced in this process
    redis_prefix: str = "sp4all:"  # keys of this deployment in a Redis shared with others
    lease_s: float = DEFAULT_LEASE_S
    delivery_workers: int = DEFAULT_DELIVERY_WORKERS
    delivery_poll_s: float = DEFAULT_DELIVERY_POLL_S
    delivery_telegram_per_s: float = DEFAULT_TELEGRAM_PER_S
    delivery_messenger_per_s: float = DEFAULT_MESSENGER_PER_S
    delivery_reply_headroom_per_s: float = DEFAULT_REPLY_HEADROOM_PER_S
    delivery_sms_per_s: float = DEFAULT_SMS_PER_S
    delivery_voice_per_s: float = DEFAULT_VOICE_PER_S
    console_session_hours: float = DEFAULT_CONSOLE_SESSION_HOURS
    gazetteer_path: Path = field(default_factory=lambda: Path(DEFAULT_GAZETTEER))
    knowledge_dir: Path = field(default_factory=lambda: Path(DEFAULT_KNOWLEDGE_DIR))
    console_admin_file: Path = field(default_factory=lambda: Path(DEFAULT_CONSOLE_ADMIN_FILE))
    auto_migrate: bool = True
    log_json: bool = True

    def __post_init__(self) -> None:
        if self.telegram_secret and not _SECRET_TOKEN_RE.match(self.telegram_secret):
            raise SettingsError("TELEGRAM_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
        if self.telegram_token and not self.telegram_secret:
            raise SettingsError("TELEGRAM_SECRET is required when TELEGRAM_TOKEN is set")
        if self.messenger_page_token and not (
            self.messenger_app_secret and self.messenger_verify_token
        ):
            raise SettingsError(
                "MESSENGER_APP_SECRET and MESSENGER_VERIFY_TOKEN are required with "
                "MESSENGER_PAGE_TOKEN"
            )
        if not self.rasa_urls:
            raise SettingsError("RASA_URLS needs at least one URL")

    @property
    def telegram_enabled(self) -> bool:
        """Telegram routes exist only when a bot token is configured."""
        return bool(self.telegram_token)

    @property
    def console_url(self) -> str:
        """Where agents open the console (the public URL if set, else this host)."""
        base = self.public_url or f"http://{self.host}:{self.port}"
        return f"{base}/console"

    @property
    def messenger_enabled(self) -> bool:
        """Messenger routes exist only when a page token is configured."""
        return bool(self.messenger_page_token)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``GATEWAY_*``/channel variables; unset ones keep the embedded defaults."""
        e = os.environ if env is None else env
        urls = tuple(u.strip().rstrip("/") for u in e.get("RASA_URLS", "").split(",") if u.strip())
        return cls(
            database_url=e.get("GATEWAY_DATABASE_URL") or DEFAULT_DATABASE_URL,
            rasa_urls=urls or (DEFAULT_RASA_URL,),
            host=e.get("GATEWAY_HOST") or DEFAULT_HOST,
            port=_int(e, "GATEWAY_PORT", DEFAULT_PORT),
            public_url=(e.get("GATEWAY_PUBLIC_URL") or "").rstrip("/"),
            telegram_token=e.get("TELEGRAM_TOKEN", ""),
            telegram_secret=e.get("TELEGRAM_SECRET", ""),
            telegram_api_url=e.get("TELEGRAM_API_URL") or DEFAULT_TELEGRAM_API,
            telegram_polling=e.get("TELEGRAM_POLLING", "0").lower() in _TRUE,
            messenger_verify_token=e.get("MESSENGER_VERIFY_TOKEN", ""),
            messenger_app_secret=e.get("MESSENGER_APP_SECRET", ""),
            messenger_page_token=e.get("MESSENGER_PAGE_TOKEN", ""),
            graph_api_url=(e.get("GRAPH_API_URL") or DEFAULT_GRAPH_API).rstrip("/"),
            max_body_bytes=_int(e, "GATEWAY_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            rasa_timeout_s=_float(e, "RASA_TIMEOUT", DEFAULT_RASA_TIMEOUT_S),
            send_timeout_s=_float(e, "GATEWAY_SEND_TIMEOUT", DEFAULT_SEND_TIMEOUT_S),
            retry_base_s=_float(e, "GATEWAY_RETRY_BASE", DEFAULT_RETRY_BASE_S),
            retry_max_s=_float(e, "GATEWAY_RETRY_MAX", DEFAULT_RETRY_MAX_S),
            max_send_attempts=_int(e, "GATEWAY_MAX_SEND_ATTEMPTS", DEFAULT_MAX_SEND_ATTEMPTS),
            concurrency=_int(e, "GATEWAY_CONCURRENCY", DEFAULT_CONCURRENCY),
            rasa_max_in_flight=_int(e, "RASA_MAX_IN_FLIGHT", DEFAULT_RASA_MAX_IN_FLIGHT),
            typing_after_s=_float(e, "GATEWAY_TYPING_AFTER", DEFAULT_TYPING_AFTER_S),
            rasa_token=e.get("RASA_TOKEN", ""),
            handoff_check_s=_float(e, "HANDOFF_CHECK_INTERVAL", DEFAULT_HANDOFF_CHECK_S),
            redis_url=e.get("GATEWAY_REDIS_URL", ""),
            redis_prefix=e.get("GATEWAY_REDIS_PREFIX", "sp4all:"),
            lease_s=_float(e, "GATEWAY_LEASE_S", DEFAULT_LEASE_S),
            delivery_workers=_int(e, "DELIVERY_WORKERS", DEFAULT_DELIVERY_WORKERS),
            delivery_poll_s=_float(e, "DELIVERY_POLL_INTERVAL", DEFAULT_DELIVERY_POLL_S),
            delivery_telegram_per_s=_float(e, "DELIVERY_TELEGRAM_PER_S", DEFAULT_TELEGRAM_PER_S),
            delivery_messenger_per_s=_float(
                e, "DELIVERY_MESSENGER_PER_S", DEFAULT_MESSENGER_PER_S
            ),
            delivery_reply_headroom_per_s=_float(
                e, "DELIVERY_REPLY_HEADROOM_PER_S", DEFAULT_REPLY_HEADROOM_PER_S
            ),
            delivery_sms_per_s=_float(e, "DELIVERY_SMS_PER_S", DEFAULT_SMS_PER_S),
            delivery_voice_per_s=_float(e, "DELIVERY_VOICE_PER_S", DEFAULT_VOICE_PER_S),
            console_session_hours=_float(
                e, "CONSOLE_SESSION_HOURS", DEFAULT_CONSOLE_SESSION_HOURS
            ),
            gazetteer_path=Path(e.get("GATEWAY_GAZETTEER") or DEFAULT_GAZETTEER),
            knowledge_dir=Path(e.get("GATEWAY_KNOWLEDGE_DIR") or DEFAULT_KNOWLEDGE_DIR),
            console_admin_file=Path(
                e.get("GATEWAY_CONSOLE_ADMIN_FILE") or DEFAULT_CONSOLE_ADMIN_FILE
            ),
            auto_migrate=e.get("GATEWAY_AUTO_MIGRATE", "1").lower() in _TRUE,
            log_json=e.get("GATEWAY_LOG_JSON", "1").lower() in _TRUE,
        )
