"""Settings of the alerts, from the environment like the gateway's."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .._exceptions import SettingsError

__all__ = ["AlertSettings"]

DEFAULT_POLL_S = 60.0


@dataclass(frozen=True, kw_only=True)
class AlertSettings:
    """``CAP_FEED_URLS`` (comma-separated Atom/RSS feeds of warning authorities) and how
    often they are read (``CAP_FEED_POLL_S``)."""

    feed_urls: tuple[str, ...] = ()
    poll_s: float = DEFAULT_POLL_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertSettings:
        e = os.environ if env is None else env
        urls = tuple(u.strip() for u in e.get("CAP_FEED_URLS", "").split(",") if u.strip())
        raw = e.get("CAP_FEED_POLL_S", "")
        try:
            poll_s = float(raw) if raw else DEFAULT_POLL_S
        except ValueError as exc:
            raise SettingsError(f"CAP_FEED_POLL_S must be a number, got {raw!r}") from exc
        if poll_s <= 0:
            raise SettingsError("CAP_FEED_POLL_S must be above 0")
        return cls(feed_urls=urls, poll_s=poll_s)
