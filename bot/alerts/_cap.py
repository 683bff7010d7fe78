"""CAP 1.2 documents: parsed safely, validated against the OASIS schema, then against the
rules of the standard's section 3 that a schema cannot say (a closed polygon, ``expires``
after ``sent``, the ``references`` format, a reference for Update and Cancel).

``parse_cap(data)`` returns a ``CapAlert`` or raises ``CapInvalid`` whose message says what
is wrong and where; nothing is stored or sent for an invalid document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cache
from pathlib import Path

from lxml import etree

__all__ = [
    "CAP_NS",
    "CapAlert",
    "CapArea",
    "CapInfo",
    "CapInvalid",
    "Circle",
    "MsgType",
    "Polygon",
    "Reference",
    "parse_cap",
    "parse_datetime",
]

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SCHEMA_PATH = Path(__file__).parent / "schema" / "CAP-v1.2.xsd"
MAX_DOCUMENT_BYTES = 900 * 1024  # Google Public Alerts' limit for one alert
MIN_POLYGON_POINTS = 4  # CAP §3.2.4: at least four pairs, the first and last the same
_FORBIDDEN_IN_ID = re.compile(r"[\s,<&]")
_N = f"{{{CAP_NS}}}"


class CapInvalid(ValueError):
    """The document is not a valid CAP 1.2 alert; the message says why (for the sender)."""


class MsgType(StrEnum):
    """CAP ``msgType``."""

    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


@dataclass(frozen=True)
class Reference:
    """One ``sender,identifier,sent`` triple of ``<references>``."""

    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True)
class Polygon:
    """A closed ring of (lat, lon) points."""

    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Circle:
    """A centre (lat, lon) and a radius in km."""

    lat: float
    lon: float
    radius_km: float


@dataclass(frozen=True)
class CapArea:
    """One ``<area>``: its description, shapes and geocodes (valueName, value)."""

    description: str
    polygons: tuple[Polygon, ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CapInfo:
    """One ``<info>`` block (one language)."""

    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str = ""
    description: str = ""
    instruction: str = ""
    sender_name: str = ""
    effective: datetime | None = None
    expires: datetime | None = None
    areas: tuple[CapArea, ...] = ()
    audio_uri: str = ""  # the first <resource> with an audio mimeType (for voice calls)


@dataclass(frozen=True)
class CapAlert:
    """A valid CAP 1.2 alert and its original text."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: MsgType
    scope: str
    references: tuple[Reference, ...] = ()
    note: str = ""
    infos: tuple[CapInfo, ...] = field(default_factory=tuple)
    xml: str = ""

    @property
    def expires(self) -> datetime | None:
        """The latest expiry of its info blocks (None: one of them does not expire)."""
        ends = [i.expires for i in self.infos]
        if not ends or any(e is None for e in ends):
            return None
        return max(e for e in ends if e is not None)


@cache
def _schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH), parser))


def _parser() -> etree.XMLParser:
    # no entities, no DTD, no network: an alert from outside cannot read files or expand
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
    )


def parse_datetime(value: str) -> datetime:
    """A CAP date-time (the schema checked its form: with a UTC offset, no fractions)."""
    return datetime.fromisoformat(value.strip())


def _text(el: etree._Element, name: str) -> str:
    found = el.find(_N + name)
    return (found.text or "").strip() if found is not None else ""


def _pair(value: str, where: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = value.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError as exc:
        raise CapInvalid(f"{where}: {value!r} is not a 'latitude,longitude' pair") from exc
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise CapInvalid(f"{where}: {value!r} is outside WGS 84 latitude/longitude")
    return lat, lon


def _polygon(value: str, where: str) -> Polygon:
    points = tuple(_pair(p, where) for p in value.split())
    if len(points) < MIN_POLYGON_POINTS:
        raise CapInvalid(f"{where}: a polygon needs at least {MIN_POLYGON_POINTS} points")
    if points[0] != points[-1]:
        raise CapInvalid(f"{where}: the polygon is not closed (its last point is not its first)")
    return Polygon(points)


def _circle(value: str, where: str) -> Circle:
    parts = value.split()
    if len(parts) != 2:  # a centre and a radius
        raise CapInvalid(f"{where}: a circle is 'latitude,longitude radius'")
    lat, lon = _pair(parts[0], where)
    try:
        radius = float(parts[1])
    except ValueError as exc:
        raise CapInvalid(f"{where}: the radius {parts[1]!r} is not a number") from exc
    if radius < 0:
        raise CapInvalid(f"{where}: the radius may not be negative")
    return Circle(lat, lon, radius)


def _references(value: str) -> tuple[Reference, ...]:
    refs = []
    for item in value.split():
        parts = item.split(",")
        if len(parts) != 3 or not all(parts):  # sender,identifier,sent
            raise CapInvalid(f"references: {item!r} is not 'sender,identifier,sent'")
        try:
            sent = parse_datetime(parts[2])
        except ValueError as exc:
            raise CapInvalid(f"references: {parts[2]!r} is not a date-time") from exc
        refs.append(Reference(parts[0], parts[1], sent))
    return tuple(refs)


def _area(el: etree._Element, where: str) -> CapArea:
    polygons = tuple(
        _polygon(p.text or "", f"{where} polygon {n}")
        for n, p in enumerate(el.findall(_N + "polygon"), 1)
    )
    circles = tuple(
        _circle(c.text or "", f"{where} circle {n}")
        for n, c in enumerate(el.findall(_N + "circle"), 1)
    )
    geocodes = tuple(
        (_text(g, "valueName"), _text(g, "value")) for g in el.findall(_N + "geocode")
    )
    return CapArea(_text(el, "areaDesc"), polygons, circles, geocodes)


def _audio(info: etree._Element) -> str:
    for res in info.findall(_N + "resource"):
        if _text(res, "mimeType").startswith("audio/") and _text(res, "uri"):
            return _text(res, "uri")
    return ""


def _info(el: etree._Element, n: int, sent: datetime) -> CapInfo:
    where = f"info {n}"
    effective = _text(el, "effective")
    expires = _text(el, "expires")
    info = CapInfo(
        language=_text(el, "language") or "en-US",  # CAP's default
        event=_text(el, "event"),
        urgency=_text(el, "urgency"),
        severity=_text(el, "severity"),
        certainty=_text(el, "certainty"),
        headline=_text(el, "headline"),
        description=_text(el, "description"),
        instruction=_text(el, "instruction"),
        sender_name=_text(el, "senderName"),
        effective=parse_datetime(effective) if effective else None,
        expires=parse_datetime(expires) if expires else None,
        areas=tuple(
            _area(a, f"{where} area {m}") for m, a in enumerate(el.findall(_N + "area"), 1)
        ),
        audio_uri=_audio(el),
    )
    if info.expires is not None and info.expires <= sent:
        raise CapInvalid(f"{where}: expires ({expires}) is not after sent")
    if info.expires is not None and info.effective is not None and info.expires <= info.effective:
        raise CapInvalid(f"{where}: expires ({expires}) is not after effective ({effective})")
    return info


def _schema_error(schema: etree.XMLSchema) -> str:
    err = schema.error_log.last_error
    if err is None:
        return "the document does not follow the CAP 1.2 schema"
    message = re.sub(r"\{" + re.escape(CAP_NS) + r"\}", "", err.message)
    return f"line {err.line}: {message}"


def parse_cap(data: bytes | str) -> CapAlert:
    """Parse and validate one CAP 1.2 alert; ``CapInvalid`` says what is wrong."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise CapInvalid(f"the alert is larger than {MAX_DOCUMENT_BYTES // 1024} KB")
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise CapInvalid(f"not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:  # CAP has no DTD: entities only smuggle things in
        raise CapInvalid("a CAP alert may not have a DOCTYPE")
    if root.tag != _N + "alert":
        raise CapInvalid(f"the root element must be <alert> in the namespace {CAP_NS}")
    schema = _schema()
    try:
        valid = schema.validate(root)
    except etree.XMLSchemaValidateError as exc:
        raise CapInvalid(f"not valid CAP 1.2: {exc}") from exc
    if not valid:
        raise CapInvalid(f"not valid CAP 1.2: {_schema_error(schema)}")
    identifier = _text(root, "identifier")
    sender = _text(root, "sender")
    for name, value in (("identifier", identifier), ("sender", sender)):
        if not value or _FORBIDDEN_IN_ID.search(value):
            raise CapInvalid(f"{name} may not be empty or hold spaces, commas, '<' or '&'")
    sent = parse_datetime(_text(root, "sent"))
    msg_type = MsgType(_text(root, "msgType"))
    refs_text = _text(root, "references")
    references = _references(refs_text) if refs_text else ()
    if msg_type in (MsgType.UPDATE, MsgType.CANCEL, MsgType.ACK, MsgType.ERROR) and not references:
        raise CapInvalid(f"a {msg_type} needs <references> to the alert(s) it concerns")
    infos = tuple(_info(el, n, sent) for n, el in enumerate(root.findall(_N + "info"), 1))
    if msg_type in (MsgType.ALERT, MsgType.UPDATE) and not infos:
        raise CapInvalid(f"an {msg_type} needs at least one <info>")
    return CapAlert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=_text(root, "status"),
        msg_type=msg_type,
        scope=_text(root, "scope"),
        references=references,
        note=_text(root, "note"),
        infos=infos,
        xml=raw.decode("utf-8", errors="replace"),
    )
