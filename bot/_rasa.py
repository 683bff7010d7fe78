"""Client for Rasa's REST channel, routing each sender to one Rasa instance."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from ._exceptions import RasaUnavailable

__all__ = ["RasaClient", "RasaReply"]

REST_WEBHOOK_PATH = "/webhooks/rest/webhook"
STATUS_PATH = "/status"
CONNECT_TIMEOUT_S = 5.0
STATUS_TIMEOUT_S = 2.0  # a health probe must answer fast even when Rasa hangs

RasaReply = dict[str, Any]


class RasaClient:
    """POSTs to ``/webhooks/rest/webhook``; a sender always reaches the same instance.

    Sticky routing keeps one conversation on one Rasa process, so its tracker, lock and
    message order stay consistent even with several instances behind the gateway.
    """

    def __init__(
        self,
        urls: tuple[str, ...],
        *,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not urls:
            raise ValueError("at least one Rasa URL is needed")
        self._urls = tuple(u.rstrip("/") for u in urls)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)),
            transport=transport,
        )

    def instance_for(self, sender: str) -> str:
        """Stable choice of instance for a sender (same answer in every gateway process)."""
        digest = hashlib.sha256(sender.encode()).digest()
        return self._urls[int.from_bytes(digest[:8], "big") % len(self._urls)]

    async def send(
        self, sender: str, message: str, *, input_channel: str, metadata: dict[str, Any]
    ) -> list[RasaReply]:
        """The bot's replies; raises RasaUnavailable on network errors, 4xx/5xx or bad JSON."""
        url = self.instance_for(sender) + REST_WEBHOOK_PATH
        body = {
            "sender": sender,
            "message": message,
            "input_channel": input_channel,
            "metadata": metadata,
        }
        try:
            response = await self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"{type(exc).__name__} calling {url}") from exc
        if response.status_code != httpx.codes.OK:
            raise RasaUnavailable(f"Rasa answered HTTP {response.status_code}")
        try:
            replies = response.json()
        except ValueError as exc:
            raise RasaUnavailable("Rasa answered with invalid JSON") from exc
        if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
            raise RasaUnavailable("Rasa answered with something other than a list of messages")
        return replies

    async def ready(self) -> bool:
        """True when every instance has a model loaded (GET /status is 200)."""
        for url in self._urls:
            try:
                response = await self._client.get(url + STATUS_PATH, timeout=STATUS_TIMEOUT_S)
            except httpx.HTTPError:
                return False
            if response.status_code != httpx.codes.OK:
                return False
        return True

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
