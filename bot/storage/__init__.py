"""The gateway's database: tables (``_db``), the conversation log's statements (``_store``),
value objects passed between parsers and the store (``_models``) and Alembic migrations."""

from __future__ import annotations

from ._db import create_engine, utcnow
from ._migrate import alembic_config, migrate
from ._models import InboundKind, InboundMessage, OutboundKind
from ._store import NewOutbound, Store

__all__ = [
    "InboundKind",
    "InboundMessage",
    "NewOutbound",
    "OutboundKind",
    "Store",
    "alembic_config",
    "create_engine",
    "migrate",
    "utcnow",
]
