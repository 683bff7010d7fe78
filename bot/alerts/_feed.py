"""Feeds both ways: the CAP 1.2 Atom feed of the alerts the mechanism issues (what Google
Public Alerts and other aggregators read: one entry per alert, linking to its CAP XML), and
polling a warning authority's Atom or RSS feed for new CAP alerts (``CAP_FEED_URLS``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urljoin

import aiohttp
from lxml import etree

from ._cap import CAP_NS, CapInvalid
from ._models import AlertSource, CapAlertRow
from ._service import AlertService, CapRefused

__all__ = ["FeedPoller", "atom_feed", "cap_links", "poll_once"]

log = logging.getLogger("bot.alerts.feed")

ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_TYPE = "application/cap+xml"
FEED_TITLE = "SP4ALL: ការព្រមានបន្ទាន់ / Emergency alerts"
MAX_FEED_BYTES = 2 * 1024 * 1024
MAX_ALERT_BYTES = 900 * 1024
_A = f"{{{ATOM_NS}}}"
_C = f"{{{CAP_NS}}}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom_feed(rows: Sequence[CapAlertRow], base_url: str, now: datetime | None = None) -> bytes:
    """The Atom feed (RFC 4287) of ``rows``, each entry with its CAP summary elements and a
    link to the full alert at ``{base_url}/alerts/{id}.xml``."""
    now = now or datetime.now(UTC)
    feed = etree.Element(_A + "feed", nsmap={None: ATOM_NS, "cap": CAP_NS})
    etree.SubElement(feed, _A + "id").text = f"{base_url}/alerts/feed.atom"
    etree.SubElement(feed, _A + "title").text = FEED_TITLE
    updated = max((r.received_at for r in rows), default=now)
    etree.SubElement(feed, _A + "updated").text = _iso(updated)
    author = etree.SubElement(feed, _A + "author")
    etree.SubElement(author, _A + "name").text = "SP4ALL"
    self_url = f"{base_url}/alerts/feed.atom"
    etree.SubElement(feed, _A + "link", rel="self", href=self_url, type="application/atom+xml")
    for row in rows:
        entry = etree.SubElement(feed, _A + "entry")
        etree.SubElement(entry, _A + "id").text = f"urn:cap:{row.sender}:{row.identifier}"
        title = " / ".join(t for t in dict.fromkeys((row.headline_km, row.headline_en)) if t)
        etree.SubElement(entry, _A + "title").text = title or row.msg_type
        etree.SubElement(entry, _A + "updated").text = _iso(row.received_at)
        etree.SubElement(entry, _A + "published").text = _iso(row.sent_at)
        entry_author = etree.SubElement(entry, _A + "author")
        etree.SubElement(entry_author, _A + "name").text = row.sender
        href = f"{base_url}/alerts/{row.id}.xml"
        etree.SubElement(entry, _A + "link", rel="alternate", type=CAP_TYPE, href=href)
        summary = etree.SubElement(entry, _A + "summary")
        summary.text = row.text_en or row.text_km
        for name, value in (
            ("identifier", row.identifier),
            ("sender", row.sender),
            ("sent", row.sent_at.isoformat()),
            ("status", row.status),
            ("msgType", row.msg_type),
            ("event", row.event),
            ("urgency", row.urgency),
            ("severity", row.severity),
            ("certainty", row.certainty),
            ("areaDesc", row.area_desc),
        ):
            if value:
                etree.SubElement(entry, _C + name).text = value
        if row.expires_at is not None:
            expires = datetime.fromtimestamp(row.expires_at, UTC).isoformat()
            etree.SubElement(entry, _C + "expires").text = expires
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def cap_links(feed: bytes, feed_url: str) -> tuple[list[str], list[bytes]]:
    """From an Atom or RSS feed: the CAP documents it links to (absolute URLs) and those it
    carries inline (an ``<alert>`` inside an entry)."""
    try:
        root = etree.fromstring(feed, _safe_parser())
    except etree.XMLSyntaxError as exc:
        raise CapInvalid(f"the feed is not well-formed XML: {exc}") from exc
    links: list[str] = []
    inline: list[bytes] = []
    entries = root.findall(f".//{_A}entry") or root.findall(".//item")
    for entry in entries:
        for alert in entry.iter(_C + "alert"):
            inline.append(bytes(etree.tostring(alert, encoding="UTF-8")))
        if entry.find(f".//{_C}alert") is not None:
            continue
        href = ""
        for link in entry.findall(_A + "link"):
            kind, rel = link.get("type", ""), link.get("rel", "alternate")
            if kind == CAP_TYPE or (not href and rel == "alternate"):
                href = link.get("href", "")
                if kind == CAP_TYPE:
                    break
        if not href:  # RSS: <link>text</link> or an enclosure
            enclosure = entry.find("enclosure")
            rss_link = entry.find("link")
            if enclosure is not None and enclosure.get("url"):
                href = enclosure.get("url", "")
            elif rss_link is not None and rss_link.text:
                href = rss_link.text.strip()
        if href:
            links.append(urljoin(feed_url, href))
    return links, inline


async def _fetch(http: aiohttp.ClientSession, url: str, limit: int) -> bytes:
    async with http.get(url) as resp:
        resp.raise_for_status()
        data = await resp.content.read(limit + 1)
    if len(data) > limit:
        raise CapInvalid(f"{url} is larger than {limit // 1024} KB")
    return data


async def poll_once(
    service: AlertService, http: aiohttp.ClientSession, feed_url: str
) -> dict[str, int]:
    """Read one feed and import what is new; counts of imported, duplicate, refused."""
    counts = {"imported": 0, "duplicate": 0, "refused": 0}
    links, inline = cap_links(await _fetch(http, feed_url, MAX_FEED_BYTES), feed_url)
    documents = list(inline)
    for url in links:
        try:
            documents.append(await _fetch(http, url, MAX_ALERT_BYTES))
        except (aiohttp.ClientError, TimeoutError, CapInvalid) as exc:
            counts["refused"] += 1
            log.warning("alerts.feed_item_unreadable", extra={"error": type(exc).__name__})
    for doc in documents:
        try:
            result = await service.import_cap(doc, source=AlertSource.FEED)
        except CapInvalid:
            counts["refused"] += 1
            log.info("alerts.feed_item_refused", extra={"status": 400})
            continue
        except CapRefused as exc:
            counts["refused"] += 1
            log.info("alerts.feed_item_refused", extra={"status": exc.status})
            continue
        counts["duplicate" if result.duplicate else "imported"] += 1
    return counts


class FeedPoller:
    """Polls every configured feed every ``interval_s`` until cancelled."""

    def __init__(
        self,
        service: AlertService,
        urls: Sequence[str],
        *,
        interval_s: float,
        timeout_s: float = 15.0,
    ) -> None:
        self._service = service
        self._urls = list(urls)
        self._interval_s = interval_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=self._timeout) as http:
            while True:
                for url in self._urls:
                    try:
                        counts = await poll_once(self._service, http, url)
                        log.info("alerts.feed_polled", extra=counts)
                    except Exception as exc:  # a feed away or broken: try again next round
                        log.warning("alerts.feed_failed", extra={"error": str(exc)})
                await self._service.expire_due()
                await asyncio.sleep(self._interval_s)
