"""CAP documents for the alert tests: the OASIS examples and Cambodian alerts in Khmer and
English (built here so each test can change one thing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

CAP_DIR = Path(__file__).parent / "data" / "cap"
OASIS_EXAMPLES = ("homeland_security", "thunderstorm", "earthquake_update", "amber_alert")
SENDER = "mowram@ews1294.gov.kh"
FLOOD_KM = "ព្រមានទឹកជំនន់នៅភ្នំពេញ"
FLOOD_TEXT_KM = "ទឹកទន្លេមេគង្គកំពុងឡើងខ្ពស់។ សូមផ្លាស់ទីទៅកន្លែងខ្ពស់។"
FLOOD_EN = "Flood warning in Phnom Penh"
FLOOD_TEXT_EN = "The Mekong is rising. Move to high ground."


def oasis(name: str) -> bytes:
    return (CAP_DIR / f"{name}.xml").read_bytes()


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def cap(
    identifier: str = "KH-FLOOD-1",
    *,
    sender: str = SENDER,
    msg_type: str = "Alert",
    status: str = "Actual",
    sent: datetime | None = None,
    expires: datetime | str | None = "default",
    references: str = "",
    area: str = "<geocode><valueName>NCDD</valueName><value>12</value></geocode>",
    note: str = "",
    headline_km: str = FLOOD_KM,
    info: bool = True,
) -> str:
    """A Cambodian alert with a Khmer and an English info block."""
    sent = sent or datetime.now(UTC).replace(microsecond=0)
    ends = sent + timedelta(hours=6) if expires == "default" else expires
    expires_el = f"<expires>{stamp(ends)}</expires>" if isinstance(ends, datetime) else ""
    refs = f"<references>{references}</references>" if references else ""
    note_el = f"<note>{note}</note>" if note else ""

    def block(lang: str, headline: str, text: str) -> str:
        return (
            f"<info><language>{lang}</language><category>Met</category>"
            "<event>Flood</event><urgency>Immediate</urgency><severity>Severe</severity>"
            f"<certainty>Likely</certainty>{expires_el}"
            "<senderName>Ministry of Water Resources and Meteorology</senderName>"
            f"<headline>{headline}</headline><description>{text}</description>"
            f"<area><areaDesc>Phnom Penh</areaDesc>{area}</area></info>"
        )

    infos = (
        block("km-KH", headline_km, FLOOD_TEXT_KM) + block("en-US", FLOOD_EN, FLOOD_TEXT_EN)
        if info
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
        f"<identifier>{identifier}</identifier><sender>{sender}</sender>"
        f"<sent>{stamp(sent)}</sent><status>{status}</status><msgType>{msg_type}</msgType>"
        f"<scope>Public</scope>{note_el}{refs}{infos}</alert>"
    )


def reference(identifier: str, sent: datetime, sender: str = SENDER) -> str:
    return f"{sender},{identifier},{stamp(sent)}"
