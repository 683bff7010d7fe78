"""Dashboard benchmark (issue #16): N synthetic cases on PostgreSQL, the monthly summary
rebuilt from them, then every dashboard query and every export timed.

    .venv-bot/bin/python bench/dashboard_bench.py --cases 1000000

A throwaway database (dropped at the end) gets the gateway's schema (Alembic), then N cases
spread over three years, 16 programmes, the kinds and topics (urgent topics only on
complaints), 25 provinces weighted like their populations (2 % unknown) and statuses that
age towards closed, loaded with COPY. The four dashboard queries (over the last twelve
months, and again filtered by one programme and one province) and the CSV and JSON exports
(queries, suppression and serialising) are each run ``--repeat`` times, and so is the
page's work (its four queries side by side, then suppression). The last line is one
JSON object: cases, backend, load and refresh times, and p50_ms/p95_ms per query and export
(also written to bench/out/dashboard.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.cases import CaseKind, CaseStatus, CaseTopic  # noqa: E402
from bot.dashboard._figures import build, to_csv, to_json  # noqa: E402
from bot.dashboard._summary import QUERIES, Filters, Summary  # noqa: E402
from bot.dashboard._words import Names  # noqa: E402
from bot.storage._db import create_engine  # noqa: E402
from bot.storage._migrate import migrate  # noqa: E402

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
OUT = ROOT / "bench" / "out" / "dashboard.json"
BATCH = 50_000
MONTHS = 36
END = datetime(2026, 12, 1, tzinfo=UTC)
PROGRAMMES = [
    "equity_card", "family_package", "health_equity_fund", "scholarship", "pregnancy_cash",
    "disability_allowance", "elderly_allowance", "nssf", "nssf_pension", "lost_card",
    "hiv_support", "nssf_self_employed", "civil_servant_benefits", "vocational_training",
    "who_runs", "closed_programmes",
]  # fmt: skip
# roughly the 2019 census shares of the 25 provinces (01..25)
POPULATION = [
    86, 99, 90, 53, 88, 68, 59, 119, 12, 37, 10, 228, 25, 106, 41, 20, 101, 31, 16,
    53, 90, 27, 4, 19, 78,
]  # fmt: skip
TOPICS = {
    CaseKind.COMPLAINT: (
        [CaseTopic.MISSING_PAYMENT, CaseTopic.SERVICE, CaseTopic.MONEY_DEMAND,
         CaseTopic.ELIGIBILITY, CaseTopic.ABUSE, CaseTopic.OTHER],
        [30, 25, 12, 20, 5, 8],
    ),
    CaseKind.QUESTION: (
        [CaseTopic.ELIGIBILITY, CaseTopic.INFORMATION, CaseTopic.MISSING_PAYMENT, CaseTopic.OTHER],
        [40, 40, 12, 8],
    ),
    CaseKind.SUGGESTION: (
        [CaseTopic.SERVICE, CaseTopic.INFORMATION, CaseTopic.OTHER], [50, 30, 20]
    ),
    CaseKind.PRAISE: ([CaseTopic.SERVICE, CaseTopic.OTHER], [80, 20]),
}  # fmt: skip
KINDS = (
    [CaseKind.COMPLAINT, CaseKind.QUESTION, CaseKind.SUGGESTION, CaseKind.PRAISE],
    [45, 35, 12, 8],
)
COLUMNS = [
    "code", "kind", "topic", "programme", "status", "urgent", "anonymous", "channel",
    "language", "province_code", "escalation_level", "description", "created_at",
    "updated_at", "resolved_at", "closed_at",
]  # fmt: skip
OPEN = [CaseStatus.NEW, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS, CaseStatus.REFERRED]


def records(start: int, count: int, rng: random.Random) -> list[tuple[Any, ...]]:
    """``count`` synthetic cases (coded columns only; the description is a fixed phrase)."""
    provinces = [f"{i:02d}" for i in range(1, 26)]
    zipf = [1 / (k + 1) for k in range(len(PROGRAMMES))]
    span = MONTHS * 30.4 * 86_400
    rows = []
    kinds = rng.choices(KINDS[0], KINDS[1], k=count)
    places = rng.choices(provinces, POPULATION, k=count)
    programmes = rng.choices(PROGRAMMES, zipf, k=count)
    for n in range(count):
        kind = kinds[n]
        topic = rng.choices(*TOPICS[kind])[0]
        age_s = rng.random() * span
        created = END - timedelta(seconds=age_s)
        days = rng.expovariate(1 / 12)
        age_days = age_s / 86_400
        resolved = created + timedelta(days=days) if days < age_days else None
        if resolved is None:
            status = rng.choice(OPEN)
        else:
            status = CaseStatus.CLOSED if days + 7 < age_days else CaseStatus.RESOLVED
        rows.append(
            (
                f"B{start + n:09d}",
                str(kind),
                str(topic),
                programmes[n] if rng.random() > 0.03 else None,
                str(status),
                topic in (CaseTopic.MONEY_DEMAND, CaseTopic.ABUSE, CaseTopic.MISSING_PAYMENT),
                rng.random() < 0.1,
                "telegram",
                "km",
                places[n] if rng.random() > 0.02 else None,
                0,
                "",
                created,
                resolved or created,
                resolved,
                resolved + timedelta(days=7) if status == CaseStatus.CLOSED and resolved else None,
            )
        )
    return rows


async def load(dsn: str, cases: int) -> float:
    started = time.monotonic()
    rng = random.Random(16)
    conn = await asyncpg.connect(dsn)
    try:
        for start in range(0, cases, BATCH):
            batch = records(start, min(BATCH, cases - start), rng)
            await conn.copy_records_to_table("gw_cases", records=batch, columns=COLUMNS)
        await conn.execute("ANALYZE gw_cases")
    finally:
        await conn.close()
    return time.monotonic() - started


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> dict[str, float]:
    await fn()  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1)}


async def run(cases: int, repeat: int) -> dict[str, Any]:
    name = f"dashboard_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    engine, _sessions = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    try:
        await migrate(engine)
        load_s = await load(f"postgresql://postgres@127.0.0.1:5432/{name}", cases)
        summary = Summary(engine, target_days=15)
        started = time.monotonic()
        await summary.refresh()
        refresh_s = time.monotonic() - started
        async with engine.connect() as conn:
            from sqlalchemy import text

            await conn.execute(text("ANALYZE gw_case_monthly"))
            rows = await conn.scalar(text("SELECT COUNT(*) FROM gw_case_monthly"))
            await conn.commit()
        names = Names.load(ROOT / "knowledge")
        views = {
            "": Filters("2025-12", "2026-11"),
            "_filtered": Filters("2025-12", "2026-11", "equity_card", "12"),
        }
        queries: dict[str, dict[str, float]] = {}
        for suffix, filters in views.items():
            for query in QUERIES:

                async def one(q: str = query, f: Filters = filters) -> Any:
                    return await summary.query(q, f)

                queries[query + suffix] = await timed(one, repeat)
        filters = views[""]

        async def page() -> Any:  # what the dashboard page does before its template
            return build(await summary.rows(filters), filters, names, target_days=15)

        queries["dashboard_page_all_four"] = await timed(page, repeat)
        exports: dict[str, dict[str, float]] = {}
        for fmt, render in (("csv", to_csv), ("json", to_json)):

            async def export(r: Any = render) -> Any:
                figures = build(await summary.rows(filters), filters, names, target_days=15)
                body = r(figures, names)
                return body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)

            exports[fmt] = await timed(export, max(5, repeat // 2))
        return {
            "cases": cases,
            "backend": "postgresql",
            "load_s": round(load_s, 1),
            "refresh_s": round(refresh_s, 2),
            "summary_rows": rows,
            "queries": queries,
            "exports": exports,
            "max_query_p95_ms": max(v["p95_ms"] for v in queries.values()),
        }
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    result = asyncio.run(run(args.cases, args.repeat))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
