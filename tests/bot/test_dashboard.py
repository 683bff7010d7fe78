"""The dashboard (issue #16 part 3) on SQLite and PostgreSQL: counts from the monthly
summary, suppressed cells, exports and the public page with no citizen's words, phone
numbers, names or identifiers, the roles that may see it, the console's security headers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from bot import keys
from bot.cases import Case, CaseKind, CaseStatus, CaseTopic
from bot.console import SECURITY_HEADERS
from bot.dashboard import DASHBOARD
from tests.bot.console_helpers import logged_in, make_team

DESCRIPTION = "លោកមេភូមិទារប្រាក់ ២០ ០០០ រៀល ពីខ្ញុំ ទូរស័ព្ទ 012 345 678"  # a citizen's words
PHONE = re.compile(r"\b0\d{2}[ -]?\d{3}[ -]?\d{3,4}\b")


def at(month: int, day: int = 10) -> datetime:
    return datetime(2026, month, day, 3, 0, tzinfo=UTC)


async def add_cases(
    app: Any, specs: list[tuple[int, str, str, CaseTopic, int, int | None]]
) -> None:
    """(count, programme, province, topic, month, days to resolve or None) per group."""
    rows = []
    n = 0
    for count, programme, province, topic, month, days in specs:
        for _ in range(count):
            n += 1
            created = at(month)
            resolved = created + timedelta(days=days) if days is not None else None
            rows.append(
                {
                    "code": f"K{n:07d}",
                    "kind": CaseKind.COMPLAINT,
                    "topic": topic,
                    "programme": programme,
                    "status": CaseStatus.CLOSED if resolved else CaseStatus.NEW,
                    "urgent": False,
                    "anonymous": False,
                    "channel": "webchat",
                    "language": "km",
                    "province_code": province,
                    "escalation_level": 0,
                    "description": DESCRIPTION,
                    "created_at": created,
                    "updated_at": created,
                    "resolved_at": resolved,
                }
            )
    async with app[keys.ENGINE].begin() as conn:
        await conn.execute(insert(Case), rows)


SPECS = [
    (40, "equity_card", "12", CaseTopic.MISSING_PAYMENT, 3, 4),
    (30, "equity_card", "03", CaseTopic.SERVICE, 3, 20),
    (25, "scholarship", "12", CaseTopic.INFORMATION, 4, 2),
    (20, "scholarship", "03", CaseTopic.ELIGIBILITY, 4, None),
    (3, "scholarship", "17", CaseTopic.MONEY_DEMAND, 4, 1),  # a small cell: Siem Reap
    (12, "free text 012 345 678", "12", CaseTopic.OTHER, 3, 9),  # never published as stored
]


async def test_dashboard_counts_suppresses_and_leaks_nothing(
    gateway: Any, database_url: str
) -> None:
    client = await gateway(database_url=database_url)
    await make_team(client)
    await add_cases(client.app, SPECS)
    await client.app[DASHBOARD].summary.refresh()

    root = await logged_in(client, "root")
    status, page = await root.get("/console/dashboard?from=2026-01&to=2026-06")
    assert status == 200, page
    assert "<svg" in page
    assert 'class="map"' in page
    assert "Phnom Penh" in page
    assert "Equity card" in page
    data = await root.api("/console/dashboard/export.json?from=2026-01&to=2026-06")
    province = {r["key"]: r for r in data["tables"]["province"]["rows"]}
    truth = {("12", "2026-03"): 52, ("12", "2026-04"): 25, ("03", "2026-03"): 30}
    truth |= {("03", "2026-04"): 20, ("17", "2026-04"): 3}
    for (code, month), n in truth.items():  # published as counted, or hidden
        assert province[code]["months"][month] in (n, None)
    assert province["12"]["total"] == 77
    assert province["17"]["total"] is None  # 3 cases: hidden
    assert province["17"]["months"]["2026-04"] is None
    hidden = sum(v is None for r in province.values() for v in r["months"].values())
    assert hidden >= 4  # and complements with it
    assert data["tables"]["province"]["total"] == 130
    programmes = {r["key"] for r in data["tables"]["programme"]["rows"]}
    assert programmes == {"equity_card", "scholarship", "other"}
    total = data["resolution"]["rows"][0]
    assert total["key"] == "total"
    assert total["median_days"] == 5

    _status, csv_text = await root.get("/console/dashboard/export.csv?from=2026-01&to=2026-06")
    anonymous_status, public = await root.get("/figures?year=2026")
    _s, public_json = await root.get("/figures.json?year=2026")
    _s, public_csv = await root.get("/figures.csv?year=2026&lang=en")
    assert anonymous_status == 200
    for published in (
        page,
        json.dumps(data, ensure_ascii=False),
        csv_text,
        public,
        public_json,
        public_csv,
    ):
        assert DESCRIPTION not in published
        assert "ទារប្រាក់ ២០" not in published
        assert not PHONE.search(published), PHONE.search(published)
        assert "K000" not in published  # no case code
        assert "Sokha" not in published
        assert "sokha" not in published
    assert "ភ្នំពេញ" in public  # Khmer by default
    await root.close()


async def test_public_page_needs_no_login_and_has_the_console_headers(
    gateway: Any, database_url: str
) -> None:
    client = await gateway(database_url=database_url)
    await add_cases(client.app, SPECS[:2])
    await client.app[DASHBOARD].summary.refresh()
    for path in ("/figures", "/figures?lang=en", "/figures.csv", "/figures.json"):
        response = await client.get(path)
        assert response.status == 200, path
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
    english = await (await client.get("/figures?lang=en&year=2026")).text()
    assert "Cases by province" in english
    assert "Phnom Penh" in english
    assert "CC BY-IGO 3.0" in english  # the map's attribution
    summary = client.app[DASHBOARD].summary
    assert await summary.refresh(min_age_s=600) is False  # rebuilt a moment ago
    before = await summary.refreshed_at()
    assert await summary.refresh() is True  # on demand: always
    after = await summary.refreshed_at()
    assert before is not None
    assert after is not None
    assert after > before
    bad = await client.get("/figures?year=20x6")
    assert bad.status == 400
    css = await client.get("/figures/dashboard.css")
    assert css.status == 200
    assert "text/css" in css.headers["Content-Type"]


async def test_only_the_dashboard_roles_see_it(gateway: Any) -> None:
    client = await gateway()
    await make_team(client)
    agent = await logged_in(client, "sokha")
    status, _ = await agent.get("/console/dashboard")
    assert status == 403
    supervisor = await logged_in(client, "srey")
    status, page = await supervisor.get("/console/dashboard")
    assert status == 200
    assert 'href="/console/dashboard"' in page
    status, _ = await supervisor.get("/console/dashboard?from=2026-13&to=2026-01")
    assert status == 400
    status, _ = await supervisor.get("/console/dashboard?programme=nope")
    assert status == 400
    code, _body, location = await supervisor.form("/console/dashboard/refresh", {})
    assert code == 303
    assert location == "/console/dashboard"
    for user in (agent, supervisor):
        await user.close()
    logged_out = await client.get("/console/dashboard/export.json", allow_redirects=False)
    assert logged_out.status in (303, 401)


ODD_QUERIES = [
    "year=",
    "year=٢٠٢٦",  # Arabic-Indic digits are digits to Python, not to the dashboard
    "year=2026%0A",
    "year=0000",
    "year=9999&lang=xx",
    "lang=km&lang=en",
    "year=2026&programme=%00",
]
ODD_CONSOLE_QUERIES = [
    "from=٢٠٢٦-01&to=٢٠٢٦-12",
    "from=2026-01%0A",
    "from=0001-01&to=9999-12",
    "from=2026-12&to=2026-01",
    "province=99",
    "province=-&programme=-",
    "programme=%F0%9F%98%80",
]


async def test_odd_queries_are_answered_never_a_5xx(gateway: Any, database_url: str) -> None:
    client = await gateway(database_url=database_url)
    await make_team(client)
    for query in ODD_QUERIES:
        for path in ("/figures", "/figures.csv", "/figures.json"):
            response = await client.get(f"{path}?{query}")
            assert response.status in (200, 400), (path, query, response.status)
    root = await logged_in(client, "root")
    for query in ODD_CONSOLE_QUERIES:
        for path in ("", "/export.csv", "/export.json"):
            status, _ = await root.get(f"/console/dashboard{path}?{query}")
            assert status in (200, 400), (path, query, status)
    await root.close()
