"""Settings from the environment and the package's deliberate public surface."""

from __future__ import annotations

import pytest

import bot
from bot import (
    GatewayError,
    RasaUnavailable,
    RateLimited,
    RecipientBlocked,
    Settings,
    SettingsError,
    UnsupportedUpdate,
)


def test_public_api_is_explicit() -> None:
    assert bot.__all__ == sorted(bot.__all__)
    assert bot.__all__ == [
        "BadInbound",
        "ChannelError",
        "Conflict",
        "GatewayError",
        "HandoffError",
        "Invalid",
        "NotAllowed",
        "NotFound",
        "RasaUnavailable",
        "RateLimited",
        "RecipientBlocked",
        "Settings",
        "SettingsError",
        "Undeliverable",
        "UnsupportedUpdate",
        "create_app",
        "migrate",
    ]
    for name in bot.__all__:
        assert getattr(bot, name) is not None


def test_exception_hierarchy() -> None:
    assert issubclass(RateLimited, bot.ChannelError)
    assert issubclass(RecipientBlocked, bot.ChannelError)
    assert issubclass(bot.Undeliverable, bot.ChannelError)
    assert issubclass(UnsupportedUpdate, bot.BadInbound)
    for exc in (bot.ChannelError, RasaUnavailable, SettingsError, bot.BadInbound):
        assert issubclass(exc, GatewayError)
    assert RateLimited(3.5).retry_after == 3.5


def test_defaults_are_the_embedded_profile() -> None:
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.rasa_urls == ("http://127.0.0.1:5005",)
    assert not settings.telegram_enabled
    assert not settings.messenger_enabled


def test_production_profile_from_env() -> None:
    settings = Settings.from_env(
        {
            "GATEWAY_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/gateway",
            "RASA_URLS": "http://r1:5005/, http://r2:5005",
            "TELEGRAM_TOKEN": "1:abc",
            "TELEGRAM_SECRET": "s3cret_-",
            "GATEWAY_PORT": "9000",
        }
    )
    assert settings.rasa_urls == ("http://r1:5005", "http://r2:5005")
    assert settings.port == 9000
    assert settings.telegram_enabled


@pytest.mark.parametrize(
    "env",
    [
        {"TELEGRAM_TOKEN": "1:abc"},  # no secret: anyone could post updates
        {"TELEGRAM_TOKEN": "1:abc", "TELEGRAM_SECRET": "has space"},
        {"MESSENGER_PAGE_TOKEN": "p"},  # no app secret / verify token
        {"GATEWAY_PORT": "eighty"},
    ],
)
def test_bad_settings_fail_at_start(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)
