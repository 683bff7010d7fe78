"""The monthly summary of cases: rebuilt from gw_cases in one statement, read by the
dashboard's four queries (each a GROUP BY over the summary, never over gw_cases)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ..cases import CaseStatus
from ._tables import BUCKET_COLUMNS, BUCKET_DAYS, SummaryRefresh

__all__ = ["Filters", "Summary", "SummaryRows"]

log = logging.getLogger("bot.dashboard")

LOCK_ID = 160_316  # pg_try_advisory_xact_lock: one refresh at a time across processes
DONE = (CaseStatus.RESOLVED.value, CaseStatus.CLOSED.value)
DAY_S = 86_400


@dataclass(frozen=True)
class Filters:
    """The period (months, inclusive, YYYY-MM), and optionally one programme and province."""

    start: str
    end: str
    programme: str | None = None
    province: str | None = None


def _month_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return "to_char(created_at AT TIME ZONE 'Asia/Phnom_Penh', 'YYYY-MM')"
    return "strftime('%Y-%m', created_at, '+7 hours')"  # Phnom Penh: UTC+7, no summer time


def _days_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return f"extract(epoch from (resolved_at - created_at)) / {DAY_S}"
    return "(julianday(resolved_at) - julianday(created_at))"


def refresh_sql(dialect: str, target_days: float) -> str:
    """INSERT ... SELECT of the whole summary (the caller deletes the old rows first)."""
    done = ", ".join(f"'{s}'" for s in DONE)
    buckets = []
    lower = None
    for column, upper in zip(BUCKET_COLUMNS, (*BUCKET_DAYS, None), strict=True):
        cond = ["days IS NOT NULL"]
        if lower is not None:
            cond.append(f"days > {lower}")
        if upper is not None:
            cond.append(f"days <= {upper}")
        buckets.append(f"SUM(CASE WHEN {' AND '.join(cond)} THEN 1 ELSE 0 END) AS {column}")
        lower = upper
    columns = ", ".join(BUCKET_COLUMNS)
    # constants and a float: no input reaches this text
    return f"""
INSERT INTO gw_case_monthly (month, programme, kind, topic, province_code, status,
    cases, resolved, within_target, {columns})
SELECT month, programme, kind, topic, province_code, status, COUNT(*),
    SUM(CASE WHEN days IS NOT NULL THEN 1 ELSE 0 END),
    SUM(CASE WHEN days IS NOT NULL AND days <= {float(target_days)} THEN 1 ELSE 0 END),
    {", ".join(buckets)}
FROM (
    SELECT {_month_sql(dialect)} AS month, COALESCE(programme, '') AS programme, kind, topic,
        COALESCE(province_code, '') AS province_code, status,
        CASE WHEN status IN ({done}) AND resolved_at IS NOT NULL
            THEN {_days_sql(dialect)} END AS days
    FROM gw_cases
) AS c
GROUP BY month, programme, kind, topic, province_code, status
"""  # noqa: S608


@dataclass(frozen=True)
class SummaryRows:
    """What the four dashboard queries return, before suppression."""

    programme_month: list[tuple[str, str, int]]
    issue_month: list[tuple[str, str, int]]  # (kind/topic, month, n)
    province_month: list[tuple[str, str, int]]
    resolution: list[tuple[Any, ...]]  # (programme, cases, resolved, within, r00..r12)


class Summary:
    """Refreshes and reads gw_case_monthly on the gateway's engine."""

    def __init__(self, engine: AsyncEngine, *, target_days: float) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self.target_days = target_days

    async def refresh(self, *, min_age_s: float = 0.0) -> bool:
        """Rebuild the summary in one transaction (readers see the old one until it
        commits). False if another process is rebuilding it right now, or rebuilt it less
        than ``min_age_s`` seconds ago (every gateway process runs the periodic refresh)."""
        started = time.monotonic()
        async with self._engine.begin() as conn:
            if self._dialect == "postgresql":
                got = await conn.scalar(text(f"SELECT pg_try_advisory_xact_lock({LOCK_ID})"))
                if not got:
                    return False
            last = _aware(await conn.scalar(select(SummaryRefresh.refreshed_at)))
            now = datetime.now(UTC)
            if min_age_s and last is not None and (now - last).total_seconds() < min_age_s:
                return False
            await conn.execute(text("DELETE FROM gw_case_monthly"))
            await conn.execute(text(refresh_sql(self._dialect, self.target_days)))
            await conn.execute(delete(SummaryRefresh))
            await conn.execute(insert(SummaryRefresh).values(id=1, refreshed_at=now))
        log.info(
            "dashboard.refreshed",
            extra={"ms": round((time.monotonic() - started) * 1000)},
        )
        return True

    async def refreshed_at(self) -> datetime | None:
        """When the summary was last rebuilt (by any process)."""
        async with self._engine.connect() as conn:
            return _aware(await conn.scalar(select(SummaryRefresh.refreshed_at)))

    async def months(self) -> tuple[str, str] | None:
        """The first and last month with cases."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT MIN(month), MAX(month) FROM gw_case_monthly"))
            ).one()
        return None if row[0] is None else (str(row[0]), str(row[1]))

    def _where(self, filters: Filters) -> tuple[str, dict[str, Any]]:
        clauses = ["month >= :start", "month <= :end"]
        params: dict[str, Any] = {"start": filters.start, "end": filters.end}
        if filters.programme is not None:
            clauses.append("programme = :programme")
            params["programme"] = filters.programme
        if filters.province is not None:
            clauses.append("province_code = :province")
            params["province"] = filters.province
        return " AND ".join(clauses), params

    async def query(self, name: str, filters: Filters) -> list[tuple[Any, ...]]:
        """One of the dashboard's queries: programme_month, issue_month, province_month,
        resolution."""
        where, params = self._where(filters)
        sql = QUERIES[name].format(where=where)
        async with self._engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql), params)).all()]

    async def rows(self, filters: Filters) -> SummaryRows:
        """All four queries for one view of the dashboard, side by side (each on its own
        connection from the pool)."""
        results = await asyncio.gather(*(self.query(name, filters) for name in QUERIES))
        found = dict(zip(QUERIES, results, strict=True))
        return SummaryRows(
            programme_month=_triples(found["programme_month"]),
            issue_month=_triples(found["issue_month"]),
            province_month=_triples(found["province_month"]),
            resolution=found["resolution"],
        )


def _aware(at: datetime | None) -> datetime | None:
    """SQLite gives times back without their zone: they are UTC."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _triples(rows: Sequence[tuple[Any, ...]]) -> list[tuple[str, str, int]]:
    return [(str(a), str(b), int(n)) for a, b, n in rows]


_SUMS = ", ".join(f"SUM({c})" for c in BUCKET_COLUMNS)
QUERIES = {
    "programme_month": (
        "SELECT programme, month, SUM(cases) FROM gw_case_monthly WHERE {where} "
        "GROUP BY programme, month"
    ),
    "issue_month": (
        "SELECT kind || ':' || topic, month, SUM(cases) FROM gw_case_monthly WHERE {where} "
        "GROUP BY kind, topic, month"
    ),
    "province_month": (
        "SELECT province_code, month, SUM(cases) FROM gw_case_monthly WHERE {where} "
        "GROUP BY province_code, month"
    ),
    # column names from BUCKET_COLUMNS; values are parameters
    "resolution": (
        "SELECT programme, SUM(cases), SUM(resolved), SUM(within_target), "  # noqa: S608
        + _SUMS.replace("{", "{{").replace("}", "}}")
        + " FROM gw_case_monthly WHERE {where} GROUP BY programme"
    ),
}
