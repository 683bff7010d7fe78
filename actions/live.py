"""The live knowledge base: the action server answers from the revision the secretariat
published, not only from the seed files it started with (issue #14).

With `SP4ALL_KNOWLEDGE_URL` set (the gateway's /api/knowledge/v1/catalogue), a daemon
thread asks for the catalogue every `SP4ALL_KNOWLEDGE_POLL_S` seconds with the last ETag
(If-None-Match): an unchanged catalogue costs one 304. A new revision is converted from the
HSDS profile (kbprofile), checked by the same loader as the seed files and swapped in whole
(one assignment, so an answer never mixes two revisions). Unset, unreachable or broken, the
assistant keeps what it has: the seed files at start-up, the last good revision later.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import kbprofile
from actions.knowledge import KnowledgeBase, KnowledgeError, parse_knowledge

log = logging.getLogger(__name__)

URL_ENV = "SP4ALL_KNOWLEDGE_URL"
POLL_ENV = "SP4ALL_KNOWLEDGE_POLL_S"
DEFAULT_POLL_S = 5.0
MIN_POLL_S = 0.2
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Fetched:
    """One answer of the catalogue: the knowledge base (None: not modified) and its ETag."""

    knowledge: KnowledgeBase | None
    etag: str | None
    revision: str | None


def fetch(url: str, etag: str | None = None, timeout: float = TIMEOUT_S) -> Fetched:
    """GET the catalogue (conditional on `etag`); raise KnowledgeError if it is unusable."""
    if not url.startswith(("http://", "https://")):
        raise KnowledgeError(f"{URL_ENV} must be an http(s) address")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    if etag:
        request.add_header("If-None-Match", etag)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read()
            new_etag = response.headers.get("ETag")
            revision = response.headers.get("X-Knowledge-Revision")
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return Fetched(None, etag, None)
        raise KnowledgeError(f"the catalogue answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise KnowledgeError(f"the catalogue is unreachable: {error}") from None
    try:
        seed = kbprofile.document_to_seed(kbprofile.loads(body))
    except kbprofile.ProfileError as error:
        raise KnowledgeError(f"the catalogue does not fit the profile: {error}") from None
    return Fetched(parse_knowledge(seed), new_etag, revision)


class Poller:
    """Polls the catalogue and hands every new knowledge base to `apply`."""

    def __init__(
        self,
        url: str,
        apply: Callable[[KnowledgeBase], None],
        interval: float = DEFAULT_POLL_S,
    ) -> None:
        self.url = url
        self.apply = apply
        self.interval = max(MIN_POLL_S, interval)
        self.etag: str | None = None
        self.revision: str | None = None
        self.swaps = 0
        self._last_problem = ""  # logged once until it changes (a gateway down for a while)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> bool:
        """One poll; True if a new revision was applied. Failures are logged, not raised."""
        try:
            fetched = fetch(self.url, self.etag)
        except KnowledgeError as error:
            if str(error) != self._last_problem:
                log.warning("knowledge.poll_failed: %s (keeping the current facts)", error)
            self._last_problem = str(error)
            return False
        self._last_problem = ""
        if fetched.knowledge is None:
            return False
        try:
            self.apply(fetched.knowledge)
        except KnowledgeError as error:  # e.g. eligibility rules that name a removed amount
            log.warning("knowledge.rejected: %s", error)
            return False
        self.etag, self.revision = fetched.etag, fetched.revision
        self.swaps += 1
        log.info("knowledge.live revision=%s", self.revision)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll_once()

    def start(self) -> None:
        """Poll in a daemon thread until `stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="knowledge-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_S + self.interval)
            self._thread = None


def poll_interval() -> float:
    """`SP4ALL_KNOWLEDGE_POLL_S` (default 5 s)."""
    try:
        return float(os.environ.get(POLL_ENV, DEFAULT_POLL_S))
    except ValueError:
        return DEFAULT_POLL_S


def start_from_env(apply: Callable[[KnowledgeBase], None]) -> Poller | None:
    """With `SP4ALL_KNOWLEDGE_URL` set: take the live revision now (or keep the seed if the
    catalogue cannot be had) and keep polling. None when the variable is unset."""
    url = os.environ.get(URL_ENV, "").strip()
    if not url:
        return None
    poller = Poller(url, apply, poll_interval())
    started = time.monotonic()
    if poller.poll_once():
        log.info("knowledge.first_load %.0f ms", (time.monotonic() - started) * 1000)
    poller.start()
    return poller
