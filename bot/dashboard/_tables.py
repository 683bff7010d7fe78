"""The dashboard's summary table: cases counted by month and by every coded column the
dashboard filters or groups on, with resolution times in buckets (issue #16).

One row per (month, programme, kind, topic, province, status); the month is the month the
case was filed, in Phnom Penh time. Rebuilt from gw_cases by ``Summary.refresh``: the
dashboard never reads gw_cases itself, so its queries stay fast at a million cases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..storage._db import Base

__all__ = ["BUCKET_COLUMNS", "BUCKET_DAYS", "CaseMonthly", "SummaryRefresh"]

# upper bounds (days) of the resolution-time buckets; the last bucket is everything longer
BUCKET_DAYS: tuple[int, ...] = (1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90)
BUCKET_COLUMNS: tuple[str, ...] = tuple(f"r{i:02d}" for i in range(len(BUCKET_DAYS) + 1))


class CaseMonthly(Base):
    """Counts of one month's cases with the same coded values ('' where none is known)."""

    __tablename__ = "gw_case_monthly"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # 2026-12
    programme: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    province_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    within_target: Mapped[int] = mapped_column(Integer, default=0)  # resolved in time
    r00: Mapped[int] = mapped_column(Integer, default=0)
    r01: Mapped[int] = mapped_column(Integer, default=0)
    r02: Mapped[int] = mapped_column(Integer, default=0)
    r03: Mapped[int] = mapped_column(Integer, default=0)
    r04: Mapped[int] = mapped_column(Integer, default=0)
    r05: Mapped[int] = mapped_column(Integer, default=0)
    r06: Mapped[int] = mapped_column(Integer, default=0)
    r07: Mapped[int] = mapped_column(Integer, default=0)
    r08: Mapped[int] = mapped_column(Integer, default=0)
    r09: Mapped[int] = mapped_column(Integer, default=0)
    r10: Mapped[int] = mapped_column(Integer, default=0)
    r11: Mapped[int] = mapped_column(Integer, default=0)
    r12: Mapped[int] = mapped_column(Integer, default=0)


class SummaryRefresh(Base):
    """When the summary was last rebuilt (one row, id 1), by whichever gateway process."""

    __tablename__ = "gw_case_monthly_refresh"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
