"""The dashboard as a console feature (/console/dashboard: secretariat reviewers,
supervisors, administrators, ministry editors) and the public page of the same figures
(/figures, /figures.csv, /figures.json: anyone, one calendar year at a time).

Both read the monthly summary only, refreshed every DASHBOARD_REFRESH_S seconds (and on
demand from the dashboard); both publish suppressed figures only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from .. import keys
from .._exceptions import Invalid
from ..accounts import Role
from ..console import CONSOLE, SECURITY_HEADERS, ConsoleFeature, FeatureRoutes, render, ui_language
from ._charts import MAP_W, bars, classes, columns, legend, provinces
from ._figures import Figures, build, to_csv, to_json
from ._summary import Filters, Summary
from ._words import ATTRIBUTION, LANGUAGES, Names, words

__all__ = [
    "DASHBOARD",
    "DASHBOARD_FEATURE",
    "Dashboard",
    "DashboardSettings",
    "add_figures_routes",
]

log = logging.getLogger("bot.dashboard")

PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")
MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")  # fullmatch, ASCII digits only
YEAR = re.compile(r"[0-9]{4}")
DEFAULT_REFRESH_S = 300.0
DEFAULT_TARGET_DAYS = 15.0
DEFAULT_MONTHS = 12
MAX_MONTHS = 120
PUBLIC_MAX_AGE_S = 60
CSS_PATH = "/figures/dashboard.css"


@dataclass(frozen=True)
class DashboardSettings:
    """DASHBOARD_REFRESH_S: how often the summary is rebuilt; DASHBOARD_TARGET_DAYS: the
    service level the share "resolved in time" counts against."""

    refresh_s: float = DEFAULT_REFRESH_S
    target_days: float = DEFAULT_TARGET_DAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DashboardSettings:
        e = os.environ if env is None else env
        return cls(
            refresh_s=float(e.get("DASHBOARD_REFRESH_S") or DEFAULT_REFRESH_S),
            target_days=float(e.get("DASHBOARD_TARGET_DAYS") or DEFAULT_TARGET_DAYS),
        )


@dataclass
class Dashboard:
    """The summary, the names of coded values and the stylesheet, for the life of the app."""

    summary: Summary
    names: Names
    settings: DashboardSettings
    css: bytes = field(default=b"")
    css_url: str = CSS_PATH

    async def figures(self, filters: Filters) -> Figures:
        """One suppressed release."""
        rows = await self.summary.rows(filters)
        return build(rows, filters, self.names, target_days=self.settings.target_days)


DASHBOARD = web.AppKey("dashboard", Dashboard)


def local(at: datetime | None) -> str:
    """A time as people in Cambodia read it."""
    return at.astimezone(PHNOM_PENH).strftime("%Y-%m-%d %H:%M") if at else "–"


def _this_month() -> str:
    return datetime.now(PHNOM_PENH).strftime("%Y-%m")


def _months_before(month: str, count: int) -> str:
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 - (count - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def console_filters(query: Mapping[str, str], names: Names) -> Filters:
    """Period (default: the last twelve months), programme and province from the URL."""
    end = query.get("to") or _this_month()
    start = query.get("from") or _months_before(end, DEFAULT_MONTHS)
    if not MONTH.fullmatch(start) or not MONTH.fullmatch(end) or start > end:
        raise Invalid("the period is YYYY-MM to YYYY-MM")
    if start < _months_before(end, MAX_MONTHS):
        raise Invalid(f"the period is at most {MAX_MONTHS} months")
    programme = query.get("programme") or None
    if programme is not None and programme not in names.programmes and programme != "-":
        raise Invalid("unknown programme")
    province = query.get("province") or None
    if province is not None and province not in names.provinces and province != "-":
        raise Invalid("unknown province")
    return Filters(
        start,
        end,
        "" if programme == "-" else programme,
        "" if province == "-" else province,
    )


def public_filters(query: Mapping[str, str]) -> Filters:
    """A calendar year (default: this one): releases never overlap, so one cannot be
    subtracted from another."""
    year = query.get("year") or _this_month()[:4]
    if not YEAR.fullmatch(year):
        raise Invalid("the year is YYYY")
    return Filters(f"{year}-01", f"{year}-12")


def view(dashboard: Dashboard, figures: Figures, lang: str) -> dict[str, Any]:
    """What the figures templates show: charts' geometry and names in ``lang``."""
    names = dashboard.names
    w = words(lang)

    def name(axis: str, key: str) -> str:
        return names.name(axis, key, lang)

    month_totals = figures.month_totals()
    charts = {}
    for axis in ("programme", "issue", "province"):
        table = figures.tables[axis]
        shown = [[table.shown(i, j) for j in range(table.width + 1)] for i in range(table.height)]
        shades = classes([v for row in shown for v in row[:-1]])
        rows = []
        for i, key in enumerate(table.rows):
            cells = list(
                zip(shown[i][:-1], shades[i * table.width : (i + 1) * table.width], strict=True)
            )
            rows.append({"name": name(axis, key), "cells": cells, "total": shown[i][-1]})
        chart, height = bars([(name(axis, k), t) for k, t in figures.row_totals(axis)])
        charts[axis] = {"bars": chart, "height": height, "rows": rows}
    province_totals = dict(figures.row_totals("province"))
    shapes, map_h = provinces()
    codes = [s.code for s in shapes]
    values = [province_totals.get(c, 0) for c in codes]
    shades = classes(values)
    regions = [
        {
            "path": s.path,
            "shade": shade,
            "title": f"{name('province', s.code)}: " + ("—" if v is None else str(v)),
        }
        for s, v, shade in zip(shapes, values, shades, strict=True)
    ]
    resolution: list[dict[str, Any]] = [
        {
            "name": w["total"] if r.key == "total" else name("programme", r.key),
            "median": r.median_days,
            "p90": r.p90_days,
            "over": r.open_over,
            "within": r.within_percent,
        }
        for r in figures.resolution
    ]
    within_bars, within_h = bars([(row["name"], row["within"]) for row in resolution])
    return {
        "L": w,
        "figures": figures,
        "total": figures.total,
        "month_columns": columns(list(zip(figures.months, month_totals, strict=True))),
        "month_totals": month_totals,
        "charts": charts,
        "regions": regions,
        "map_w": MAP_W,
        "map_h": map_h,
        "map_legend": legend(values),
        "attribution": ATTRIBUTION,
        "resolution": resolution,
        "within_bars": within_bars,
        "within_h": within_h,
        "target_days": f"{dashboard.settings.target_days:g}",
        "css_url": dashboard.css_url,
    }


def _query(base: Mapping[str, str], **changes: str) -> str:
    merged = {k: v for k, v in {**base, **changes}.items() if v}
    return "?" + urlencode(merged) if merged else ""


def _json_response(data: dict[str, Any], name: str) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False, indent=1),
        content_type="application/json",
        charset="utf-8",
        headers={"Content-Disposition": f'inline; filename="{name}.json"'},
    )


def _csv_response(body: str, name: str) -> web.Response:
    return web.Response(
        text=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


# ----- the console feature ---------------------------------------------------------------


def _dashboard(request: web.Request) -> Dashboard:
    return request.config_dict[DASHBOARD]


async def dashboard_page(request: web.Request) -> web.StreamResponse:
    """The dashboard with its filters."""
    dashboard = _dashboard(request)
    filters = console_filters(request.query, dashboard.names)
    lang = ui_language(request)
    figures = await dashboard.figures(filters)
    names = dashboard.names
    query = {
        k: v for k, v in request.query.items() if k in ("from", "to", "programme", "province")
    }
    refreshed = await dashboard.summary.refreshed_at()
    return render(
        request,
        "dashboard/index.html",
        title=words(lang)["title"],
        page="dashboard",
        **view(dashboard, figures, lang),
        filters=filters,
        programmes=[(k, names.name("programme", k, lang)) for k in names.programmes],
        province_options=[(k, names.name("province", k, lang)) for k in names.provinces],
        csv_url=request.app.router["dashboard:csv"].url_for().with_query(query),
        json_url=request.app.router["dashboard:json"].url_for().with_query(query),
        refreshed=local(refreshed),
    )


async def dashboard_json(request: web.Request) -> web.StreamResponse:
    """The figures shown, as JSON."""
    dashboard = _dashboard(request)
    filters = console_filters(request.query, dashboard.names)
    figures = await dashboard.figures(filters)
    return _json_response(to_json(figures, dashboard.names), f"sp4all-cases-{filters.start}")


async def dashboard_csv(request: web.Request) -> web.StreamResponse:
    """The figures shown, as CSV."""
    dashboard = _dashboard(request)
    filters = console_filters(request.query, dashboard.names)
    figures = await dashboard.figures(filters)
    return _csv_response(to_csv(figures, dashboard.names), f"sp4all-cases-{filters.start}")


async def dashboard_refresh(request: web.Request) -> web.StreamResponse:
    """Rebuild the summary now (a form's POST, CSRF-checked by the console)."""
    await _dashboard(request).summary.refresh()
    raise web.HTTPSeeOther(str(request.app.router["dashboard:index"].url_for()))


def _routes(routes: FeatureRoutes) -> None:
    routes.get("", dashboard_page, name="index")
    routes.get("/export.csv", dashboard_csv, name="csv")
    routes.get("/export.json", dashboard_json, name="json")
    routes.post("/refresh", dashboard_refresh, name="refresh")


async def _refresh_forever(dashboard: Dashboard) -> None:
    while True:
        try:  # another process may have rebuilt it just now
            await dashboard.summary.refresh(min_age_s=dashboard.settings.refresh_s / 2)
        except Exception:  # a database hiccup must not stop the refreshes for good
            log.exception("dashboard.refresh_failed")
        await asyncio.sleep(dashboard.settings.refresh_s)


async def _dashboard_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = DashboardSettings.from_env()
    css = resources.files("bot.dashboard").joinpath("static", "dashboard.css").read_bytes()
    dashboard = Dashboard(
        summary=Summary(app[keys.ENGINE], target_days=settings.target_days),
        names=Names.load(app[keys.SETTINGS].knowledge_dir),
        settings=settings,
        css=css,
        css_url=f"{CSS_PATH}?v={hashlib.sha256(css).hexdigest()[:12]}",
    )
    app[DASHBOARD] = dashboard
    task = asyncio.create_task(_refresh_forever(dashboard), name="dashboard-refresh")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


DASHBOARD_FEATURE = ConsoleFeature(
    name="dashboard",
    label_km="តួលេខ",
    label_en="Dashboard",
    roles=frozenset(
        {Role.SECRETARIAT_REVIEWER, Role.SUPERVISOR, Role.ADMIN, Role.MINISTRY_EDITOR}
    ),
    setup=_routes,
    prefix="/dashboard",
    home="index",
    context=_dashboard_ctx,
    templates="bot.dashboard",
)


# ----- the public page -------------------------------------------------------------------


def _public(response: web.StreamResponse) -> web.StreamResponse:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE_S}"
    return response


def _public_errors(handler: Any) -> Any:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return _public(await handler(request))
        except Invalid as exc:
            return _public(web.json_response({"error": str(exc)}, status=400))

    wrapped.__doc__ = handler.__doc__
    return wrapped


async def figures_page(request: web.Request) -> web.StreamResponse:
    """The public page: this year's figures (or ?year=), in Khmer (or ?lang=en)."""
    dashboard = request.app[DASHBOARD]
    filters = public_filters(request.query)
    lang = request.query.get("lang", "km")
    if lang not in LANGUAGES:
        raise Invalid("the language is km or en")
    figures = await dashboard.figures(filters)
    other = "en" if lang == "km" else "km"
    year = filters.start[:4]
    span = await dashboard.summary.months()
    first = int(span[0][:4]) if span else int(year)
    last = max(int(span[1][:4]) if span else int(year), int(_this_month()[:4]))
    templates = request.app[CONSOLE].templates
    body = templates.get_template("dashboard/public.html").render(
        lang=lang,
        **view(dashboard, figures, lang),
        year=year,
        years=[str(y) for y in range(last, first - 1, -1)],
        other_lang=other,
        other_url=_query({"year": year}, lang=other),
        csv_url="/figures.csv" + _query({"year": year}),
        json_url="/figures.json" + _query({"year": year}),
        console_css=request.app[CONSOLE].assets["console.css"].url,
        refreshed=local(await dashboard.summary.refreshed_at()),
    )
    return web.Response(text=body, content_type="text/html", charset="utf-8")


async def figures_json(request: web.Request) -> web.StreamResponse:
    """The public figures as JSON."""
    dashboard = request.app[DASHBOARD]
    filters = public_filters(request.query)
    figures = await dashboard.figures(filters)
    return _json_response(to_json(figures, dashboard.names), f"sp4all-cases-{filters.start[:4]}")


async def figures_csv(request: web.Request) -> web.StreamResponse:
    """The public figures as CSV."""
    dashboard = request.app[DASHBOARD]
    filters = public_filters(request.query)
    figures = await dashboard.figures(filters)
    return _csv_response(to_csv(figures, dashboard.names), f"sp4all-cases-{filters.start[:4]}")


async def figures_css(request: web.Request) -> web.StreamResponse:
    """The dashboard's stylesheet (versioned URL, cacheable)."""
    response = web.Response(
        body=request.app[DASHBOARD].css, content_type="text/css", charset="utf-8"
    )
    _public(response)
    response.headers["Cache-Control"] = "public, max-age=604800"
    return response


def add_figures_routes(app: web.Application) -> None:
    """GET /figures, /figures.csv, /figures.json (and the stylesheet): no login."""
    app.router.add_get("/figures", _public_errors(figures_page))
    app.router.add_get("/figures.csv", _public_errors(figures_csv))
    app.router.add_get("/figures.json", _public_errors(figures_json))
    app.router.add_get(CSS_PATH, figures_css)
