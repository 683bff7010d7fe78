"""Client for Rasa's REST channel, routing each sender to one Rasa instance."""

from __future__ import annotations

import asyncio
import hashlib
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import aiohttp

from .._exceptions import RasaUnavailable

__all__ = ["MESSAGE_ID_KEY", "RasaClient", "RasaOutcomeUnknown", "RasaReply", "replies_after"]

REST_WEBHOOK_PATH = "/webhooks/rest/webhook"
STATUS_PATH = "/status"
HELLO_PATH = "/"  # Rasa's cheapest route ("Hello from Rasa"), for opening connections
EVENTS_PATH = "/conversations/{sender}/tracker/events"
TRACKER_PATH = "/conversations/{sender}/tracker"
# The gateway's id of a message, in the metadata Rasa keeps on the message's `user` event:
# after a crash or a timeout the tracker says whether Rasa already has the message.
MESSAGE_ID_KEY = "gateway_message_id"
REPLY_KEYS = ("buttons", "image", "custom", "attachment", "elements", "quick_replies")
PAUSE = {"event": "pause"}
RESUME = {"event": "resume"}
# While paused, Rasa logs the citizen's messages with no action after them. Resuming ends on
# action_listen, so the next message is read as a new turn; without it the policies cannot
# follow the turn and Rasa runs its core fallback ("I'm not sure I understood").
LISTEN = {"event": "action", "name": "action_listen"}
CONNECT_TIMEOUT_S = 5.0
STATUS_TIMEOUT_S = 2.0  # a health probe must answer fast even when Rasa hangs
DEFAULT_MAX_IN_FLIGHT = 64  # per instance; see RasaClient.__init__
# Rasa keeps an idle connection 120 s (rasa.core.constants.DEFAULT_KEEP_ALIVE_TIMEOUT); we
# drop ours first, and top the pool up well within that time.
KEEPALIVE_S = 100.0
WARM_INTERVAL_S = 60.0
WARM_RETRY_S = 5.0  # while Rasa is not up yet

RasaReply = dict[str, Any]


class RasaOutcomeUnknown(RasaUnavailable):
    """The request may have reached Rasa (a timeout, a dropped connection): ask its
    tracker before sending the message again."""


def replies_after(events: list[Any], message_id: str) -> list[RasaReply] | None:
    """The answer Rasa gave to the message with this gateway id, rebuilt from the tracker's
    `bot` events after its `user` event (as the REST channel would have returned it);
    None if the tracker has no such message."""
    found = False
    replies: list[RasaReply] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind == "user":
            if found:
                break  # the next message's turn
            metadata = event.get("metadata")
            found = isinstance(metadata, dict) and str(metadata.get(MESSAGE_ID_KEY)) == message_id
        elif kind == "bot" and found:
            raw = event.get("data")
            data: dict[str, Any] = raw if isinstance(raw, dict) else {}
            reply: RasaReply = {"text": event["text"]} if event.get("text") else {}
            reply.update({k: data[k] for k in REPLY_KEYS if data.get(k)})
            if reply:
                replies.append(reply)
    return replies if found else None


class RasaClient:
    """POSTs to ``/webhooks/rest/webhook``; a sender always reaches the same instance.

    Sticky routing keeps one conversation on one Rasa process, so its tracker, lock and
    message order stay consistent even with several instances behind the gateway.
    Uses aiohttp (as the server does): httpx's pool cost several times more CPU per call.
    """

    def __init__(
        self,
        urls: tuple[str, ...],
        *,
        timeout_s: float,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        session: aiohttp.ClientSession | None = None,
        token: str = "",
    ) -> None:
        if not urls:
            raise ValueError("at least one Rasa URL is needed")
        self._urls = tuple(u.rstrip("/") for u in urls)
        # Rasa's HTTP API takes its --auth-token as a query parameter.
        self._auth = {"token": token} if token else {}
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_s, sock_connect=min(CONNECT_TIMEOUT_S, timeout_s)
        )
        # Admission is capped per instance below, not by the pool.
        self._session = session or aiohttp.ClientSession(
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_S),
        )
        # A busy Rasa serves requests on its open connections but is slow to take new ones:
        # measured with 50 users whose first messages arrived over one second, some waited
        # 10 s before Rasa even started on them (p99 2.5 x that of the same users on open
        # connections). So a pool of open connections, one per request that may be in
        # flight, is kept warm by `keep_warm` while Rasa is idle enough to accept them, and
        # requests beyond it queue here first-come first-served. A queue here makes every
        # turn wait as long as the longest (a greeting behind a long form step), where Rasa
        # itself would answer short turns first: with 50 chats, a cap of 16 gave p50 +24%
        # against Rasa alone, 64 (no queue) +2% to +10% (bench/gateway_bench.py, 3 pooled
        # rounds). So the cap only guards against floods beyond what Rasa serves at once.
        self._max_in_flight = max_in_flight
        self._slots = {url: asyncio.Semaphore(max_in_flight) for url in self._urls}

    def instance_for(self, sender: str) -> str:
        """Stable choice of instance for a sender (same answer in every gateway process)."""
        digest = hashlib.sha256(sender.encode()).digest()
        return self._urls[int.from_bytes(digest[:8], "big") % len(self._urls)]

    async def send(
        self, sender: str, message: str, *, input_channel: str, metadata: dict[str, Any]
    ) -> list[RasaReply]:
        """The bot's replies; raises RasaUnavailable on network errors, 4xx/5xx or bad JSON."""
        base = self.instance_for(sender)
        url = base + REST_WEBHOOK_PATH
        body = {
            "sender": sender,
            "message": message,
            "input_channel": input_channel,
            "metadata": metadata,
        }
        try:
            async with (
                self._slots[base],
                self._session.post(url, json=body, timeout=self._timeout) as response,
            ):
                if response.status != HTTPStatus.OK:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status}")
                try:
                    replies = await response.json(content_type=None)
                except ValueError as exc:
                    raise RasaOutcomeUnknown("Rasa answered with invalid JSON") from exc
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # never connected: Rasa cannot have the message
            raise RasaUnavailable(f"{type(exc).__name__} calling {url}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaOutcomeUnknown(f"{type(exc).__name__} calling {url}") from exc
        if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
            raise RasaUnavailable("Rasa answered with something other than a list of messages")
        return replies

    async def tracker_replies(self, sender: str, message_id: str) -> list[RasaReply] | None:
        """Rasa's answer to the message with this gateway id, from the sender's tracker
        (``GET /conversations/{sender}/tracker``), or None if Rasa never got it. Raises
        RasaUnavailable if the tracker cannot be read."""
        base = self.instance_for(sender)
        url = base + TRACKER_PATH.format(sender=quote(sender, safe=""))
        try:
            async with self._session.get(
                url,
                params={"include_events": "AFTER_RESTART", **self._auth},
                timeout=self._timeout,
            ) as response:
                if response.status != HTTPStatus.OK:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status} to {url}")
                tracker = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__} reading {url}") from exc
        events = tracker.get("events") if isinstance(tracker, dict) else None
        return replies_after(events if isinstance(events, list) else [], message_id)

    async def append_events(self, sender: str, events: list[dict[str, Any]]) -> None:
        """Append tracker events through Rasa's HTTP API (needs ``rasa run --enable-api``).

        The handoff uses it to pause the conversation when a person takes over and to
        resume it when they hand back. Raises RasaUnavailable on any failure.
        """
        base = self.instance_for(sender)
        url = base + EVENTS_PATH.format(sender=quote(sender, safe=""))
        try:
            async with self._session.post(
                url,
                json=events,
                params={"include_events": "NONE", **self._auth},
                timeout=self._timeout,
            ) as response:
                if response.status != HTTPStatus.OK:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status} to {url}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__} calling {url}") from exc

    async def pause(self, sender: str) -> None:
        """Pause the sender's tracker: Rasa logs their messages but predicts nothing."""
        await self.append_events(sender, [PAUSE])

    async def resume(self, sender: str) -> None:
        """Resume the sender's tracker after a person handed the conversation back."""
        await self.append_events(sender, [RESUME, LISTEN])

    async def warm(self) -> int:
        """Open (or keep open) one connection per possible request on every instance.

        Concurrent requests to Rasa's hello route make the pool hold that many idle
        connections; the ones already open are reused, so this only tops the pool up.
        Returns how many of the requests succeeded (0 when Rasa is down).
        """
        probe = aiohttp.ClientTimeout(total=STATUS_TIMEOUT_S)

        async def hello(url: str) -> bool:
            try:
                async with self._session.get(url + HELLO_PATH, timeout=probe) as response:
                    await response.read()
                    return response.status == HTTPStatus.OK
            except (aiohttp.ClientError, TimeoutError):
                return False

        results = await asyncio.gather(
            *(hello(url) for url in self._urls for _ in range(self._max_in_flight))
        )
        return sum(results)

    async def keep_warm(self, interval_s: float = WARM_INTERVAL_S) -> None:
        """Background task: top the connection pool up now and every ``interval_s``."""
        while True:
            opened = await self.warm()
            await asyncio.sleep(interval_s if opened else min(interval_s, WARM_RETRY_S))

    async def ready(self) -> bool:
        """True when every instance has a model loaded (GET /status is 200)."""
        probe = aiohttp.ClientTimeout(total=STATUS_TIMEOUT_S)
        for url in self._urls:
            try:
                async with self._session.get(url + STATUS_PATH, timeout=probe) as response:
                    if response.status != HTTPStatus.OK:
                        return False
            except (aiohttp.ClientError, TimeoutError):
                return False
        return True

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._session.close()
