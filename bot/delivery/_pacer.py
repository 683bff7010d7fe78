"""Pacing: each channel account's sends spread out in advance, below the platform's limit.

Modelled on python-telegram-bot's ``BaseRateLimiter``: a pluggable object the sender asks
before each call. Telegram answers bursts with 429 and a ``retry_after`` that stalls every
chat of the bot; pacing ahead of time avoids that instead of reacting to it.

The schedule is a next-free-slot (GCRA) per account: a conversation message takes the next
slot, even one in the future (it waits its turn); a bulk message takes a slot only when the
account has one free now, so bulk never queues in front of a reply. Bulk also keeps to
``limit - reply_headroom`` per second and to one message per second per chat.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Grant", "LocalPacer", "PaceLimit", "Pacer", "RedisPacer"]

# Timers fire late, never early: a send that fired late followed by ones on time would
# put limit + 1 sends in some one-second window. Slots are spaced for this share of the
# limit, which keeps every window under it with tens of milliseconds of timer lateness.
PACE_SHARE = 0.9
BULK_PER_CHAT_INTERVAL_S = 1.0  # Telegram: about one message per second to one chat


@dataclass(frozen=True)
class PaceLimit:
    """Messages per second for one channel account; 0 means unpaced (the web chat)."""

    per_s: float
    reply_headroom_per_s: float = 0.0  # kept free of bulk sends for replies

    @property
    def interval_s(self) -> float:
        return 1.0 / (self.per_s * PACE_SHARE) if self.per_s > 0 else 0.0

    @property
    def bulk_interval_s(self) -> float:
        bulk = max(self.per_s - self.reply_headroom_per_s, self.per_s * 0.1)
        return 1.0 / (bulk * PACE_SHARE) if self.per_s > 0 else 0.0


@dataclass(frozen=True)
class Grant:
    """A pacing answer: ``granted`` → send after ``delay_s``; else nothing was reserved,
    try again in ``delay_s``."""

    granted: bool
    delay_s: float


class Pacer(Protocol):
    """Reserves send slots per channel account (``acquire`` waits for one)."""

    async def reserve(self, account: str, *, chat: str, bulk: bool, max_wait_s: float) -> Grant:
        """A slot within ``max_wait_s`` (bulk: free now), or how long until there may be one."""
        ...

    async def push_back(self, account: str, seconds: float) -> None:
        """The platform said 429: no send on this account for ``seconds``."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


async def acquire(pacer: Pacer, account: str, *, chat: str = "", bulk: bool = False) -> float:
    """Wait for a slot, however long; returns the seconds waited (tests, tools)."""
    waited = 0.0
    while True:
        grant = await pacer.reserve(account, chat=chat, bulk=bulk, max_wait_s=3600.0)
        if grant.delay_s > 0:
            await asyncio.sleep(grant.delay_s)
            waited += grant.delay_s
        if grant.granted:
            return waited


class LocalPacer:
    """The schedule in this process's memory: the embedded profile (one gateway process)."""

    def __init__(self, limits: dict[str, PaceLimit]) -> None:
        self._limits = limits
        self._next: dict[str, float] = {}

    async def reserve(self, account: str, *, chat: str, bulk: bool, max_wait_s: float) -> Grant:
        limit = self._limits.get(account)
        if limit is None or limit.per_s <= 0:
            return Grant(True, 0.0)
        now = time.monotonic()
        keys = [account]
        if bulk:
            keys += [f"{account}|bulk", f"{account}|chat|{chat}"]
        start = max([now, *(self._next.get(k, 0.0) for k in keys)])
        if start - now > (0.0 if bulk else max_wait_s):
            return Grant(False, start - now)
        self._next[account] = start + limit.interval_s
        if bulk:
            self._next[keys[1]] = start + limit.bulk_interval_s
            self._next[keys[2]] = start + BULK_PER_CHAT_INTERVAL_S
            self._forget_old(now)
        return Grant(True, start - now)

    def _forget_old(self, now: float) -> None:
        if len(self._next) > 10_000:  # per-chat bulk slots of chats long done
            self._next = {k: v for k, v in self._next.items() if v > now}

    async def push_back(self, account: str, seconds: float) -> None:
        until = time.monotonic() + seconds
        self._next[account] = max(self._next.get(account, 0.0), until)

    async def aclose(self) -> None:
        """Nothing to release."""


# One atomic script per acquisition, on Redis's clock (the machines' clocks may differ).
# KEYS: account slot, bulk slot, chat's bulk slot. ARGV: interval_us, bulk_interval_us,
# chat_interval_us, max_wait_us, bulk (0/1). Returns {granted, delay_us}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local bulk = ARGV[5] == '1'
local start = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
if bulk then
  start = math.max(start, tonumber(redis.call('GET', KEYS[2]) or '0'),
                   tonumber(redis.call('GET', KEYS[3]) or '0'))
end
local wait = start - now
if wait > tonumber(ARGV[4]) then
  return {0, wait}
end
local function set(key, at)
  redis.call('SET', key, string.format('%d', at), 'PX', math.floor((at - now) / 1000) + 1000)
end
set(KEYS[1], start + tonumber(ARGV[1]))
if bulk then
  set(KEYS[2], start + tonumber(ARGV[2]))
  set(KEYS[3], start + tonumber(ARGV[3]))
end
return {1, wait}
"""
_PUSH_BACK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = now + tonumber(ARGV[1])
if at > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%d', at), 'PX', math.floor(ARGV[1] / 1000) + 1000)
end
return 1
"""
_US = 1_000_000


class RedisPacer:
    """The schedule in Redis: every process on every machine shares one limit per account."""

    def __init__(self, redis: Any, limits: dict[str, PaceLimit], prefix: str = "sp4all:pace:"):
        self._redis = redis  # a redis.asyncio.Redis
        self._limits = limits
        self._prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._push_back = redis.register_script(_PUSH_BACK)

    @classmethod
    def from_url(
        cls, url: str, limits: dict[str, PaceLimit], prefix: str = "sp4all:pace:"
    ) -> RedisPacer:
        """A pacer with its own connection pool (closed by ``aclose``)."""
        import redis.asyncio as aioredis  # only the production profile needs it

        return cls(aioredis.Redis.from_url(url), limits, prefix)

    async def reserve(self, account: str, *, chat: str, bulk: bool, max_wait_s: float) -> Grant:
        limit = self._limits.get(account)
        if limit is None or limit.per_s <= 0:
            return Grant(True, 0.0)
        base = self._prefix + account
        granted, wait_us = await self._reserve(
            keys=[base, f"{base}|bulk", f"{base}|chat|{chat}"],
            args=[
                int(limit.interval_s * _US),
                int(limit.bulk_interval_s * _US),
                int(BULK_PER_CHAT_INTERVAL_S * _US),
                0 if bulk else int(max_wait_s * _US),
                1 if bulk else 0,
            ],
        )
        return Grant(bool(granted), int(wait_us) / _US)

    async def push_back(self, account: str, seconds: float) -> None:
        await self._push_back(keys=[self._prefix + account], args=[int(seconds * _US)])

    async def aclose(self) -> None:
        await self._redis.aclose()
