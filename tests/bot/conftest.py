"""tests/bot fixtures live in gateway_fixtures (tests/e2e uses them too)."""

from tests.bot.gateway_fixtures import (
    database_url,
    fake_graph,
    fake_rasa,
    fake_telegram,
    gateway,
    make_settings,
    postgres_url,
    sqlite_url,
    throwaway_databases,
)

__all__ = [
    "database_url",
    "fake_graph",
    "fake_rasa",
    "fake_telegram",
    "gateway",
    "make_settings",
    "postgres_url",
    "sqlite_url",
    "throwaway_databases",
]
