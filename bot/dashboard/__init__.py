"""Citizens' voice counted for policy makers (issue #16): a dashboard of cases in the
console and a public page of the same figures, both suppressed (no count of 1–4, none
derivable from totals) and drawn as SVG on the server.

Public surface::

    from bot.dashboard import DASHBOARD_FEATURE, add_figures_routes, DASHBOARD
    setup_console(app, ..., DASHBOARD_FEATURE)   # /console/dashboard (+ export.csv/json)
    add_figures_routes(app)                      # /figures, /figures.csv, /figures.json
    await app[DASHBOARD].summary.refresh()       # rebuild the monthly summary now
"""

from __future__ import annotations

from ._figures import Figures, build, to_csv, to_json
from ._summary import Filters, Summary
from ._suppress import CountTable, suppress, suppress_together
from ._tables import CaseMonthly
from ._web import DASHBOARD, DASHBOARD_FEATURE, Dashboard, DashboardSettings, add_figures_routes

__all__ = [
    "DASHBOARD",
    "DASHBOARD_FEATURE",
    "CaseMonthly",
    "CountTable",
    "Dashboard",
    "DashboardSettings",
    "Figures",
    "Filters",
    "Summary",
    "add_figures_routes",
    "build",
    "suppress",
    "suppress_together",
    "to_csv",
    "to_json",
]
