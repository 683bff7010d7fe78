"""CAP 1.2 parsing: the OASIS schema (real lxml validation), the §3 rules, area mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.alerts import CapInvalid, MsgType, area_codes, parse_cap, reduce_codes
from tests.bot.cap_helpers import FLOOD_KM, OASIS_EXAMPLES, cap, oasis, reference

# ----- the OASIS CAP 1.2 examples (Appendix A) ---------------------------------------------


@pytest.mark.parametrize("name", OASIS_EXAMPLES)
def test_every_oasis_example_is_valid(name: str) -> None:
    alert = parse_cap(oasis(name))
    assert alert.identifier
    assert alert.status == "Actual"
    assert alert.infos


def test_oasis_thunderstorm_keeps_its_closed_polygon_and_expiry() -> None:
    alert = parse_cap(oasis("thunderstorm"))
    polygon = alert.infos[0].areas[0].polygons[0]
    assert polygon.points[0] == polygon.points[-1] == (38.47, -120.14)
    assert alert.expires == datetime(2003, 6, 17, 23, 0, tzinfo=UTC)
    assert alert.infos[0].areas[0].geocodes[0] == ("SAME", "006109")
    assert area_codes(alert) == []  # California is not in Cambodia


def test_oasis_earthquake_update_references_the_first_report() -> None:
    alert = parse_cap(oasis("earthquake_update"))
    assert alert.msg_type is MsgType.UPDATE
    (ref,) = alert.references
    assert (ref.sender, ref.identifier) == ("trinet@caltech.edu", "TRI13970876.1")
    assert alert.infos[0].areas[0].circles[0].radius_km == 0.0


def test_oasis_amber_alert_has_two_languages() -> None:
    alert = parse_cap(oasis("amber_alert"))
    assert [i.language for i in alert.infos] == ["en-US", "es-US"]


# ----- refusals: schema ----------------------------------------------------------------------


def test_a_value_outside_the_schema_is_refused_with_the_element_named() -> None:
    with pytest.raises(CapInvalid, match="status"):
        parse_cap(cap(status="BOGUS"))


def test_elements_out_of_order_are_refused() -> None:
    doc = (
        cap(references="x")
        .replace("<scope>Public</scope>", "")
        .replace("</references>", "</references><scope>Public</scope>")
    )
    with pytest.raises(CapInvalid, match=r"not valid CAP 1\.2"):
        parse_cap(doc)


def test_a_missing_required_element_is_refused() -> None:
    with pytest.raises(CapInvalid, match="urgency"):
        parse_cap(cap().replace("<urgency>Immediate</urgency>", ""))


def test_malformed_xml_and_other_documents_are_refused() -> None:
    with pytest.raises(CapInvalid, match="well-formed"):
        parse_cap("<alert")
    with pytest.raises(CapInvalid, match="root element"):
        parse_cap('<feed xmlns="http://www.w3.org/2005/Atom"/>')


def test_entities_are_not_expanded_from_files() -> None:
    doc = (
        cap()
        .replace(
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            '<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        )
        .replace(f"<headline>{FLOOD_KM}</headline>", "<headline>&x;</headline>", 1)
    )
    with pytest.raises(CapInvalid, match="DOCTYPE"):
        parse_cap(doc)


# ----- refusals: CAP §3 rules the schema cannot check ---------------------------------------


def test_expires_before_sent_is_refused() -> None:
    sent = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    with pytest.raises(CapInvalid, match=r"expires .* is not after sent"):
        parse_cap(cap(sent=sent, expires=sent - timedelta(minutes=1)))


def test_an_unclosed_polygon_is_refused() -> None:
    area = "<polygon>11.5,104.9 11.6,104.9 11.6,105.0 11.5,105.0</polygon>"
    with pytest.raises(CapInvalid, match="polygon is not closed"):
        parse_cap(cap(area=area))


def test_a_polygon_with_too_few_points_or_bad_coordinates_is_refused() -> None:
    with pytest.raises(CapInvalid, match="at least 4 points"):
        parse_cap(cap(area="<polygon>11.5,104.9 11.6,104.9 11.5,104.9</polygon>"))
    with pytest.raises(CapInvalid, match="outside WGS 84"):
        parse_cap(cap(area="<circle>95.0,104.9 10</circle>"))
    with pytest.raises(CapInvalid, match="circle is 'latitude,longitude radius'"):
        parse_cap(cap(area="<circle>11.5,104.9</circle>"))


def test_update_and_cancel_need_references_in_the_right_form() -> None:
    with pytest.raises(CapInvalid, match="needs <references>"):
        parse_cap(cap(msg_type="Update"))
    with pytest.raises(CapInvalid, match="sender,identifier,sent"):
        parse_cap(cap(msg_type="Cancel", references="KH-FLOOD-1", info=False))
    sent = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    alert = parse_cap(
        cap("KH-2", msg_type="Cancel", references=reference("KH-1", sent), info=False)
    )
    assert alert.references[0].identifier == "KH-1"


def test_an_identifier_with_a_comma_is_refused() -> None:
    with pytest.raises(CapInvalid, match="identifier"):
        parse_cap(cap("KH,1"))


# ----- areas to Cambodian administrative codes ------------------------------------------------


def test_khmer_and_english_blocks_are_read() -> None:
    alert = parse_cap(cap())
    assert [i.language for i in alert.infos] == ["km-KH", "en-US"]
    assert alert.infos[0].headline == FLOOD_KM


@pytest.mark.parametrize(
    ("geocode", "codes"),
    [
        ("<valueName>NCDD</valueName><value>12</value>", ["12"]),
        ("<valueName>ISO3166-2</valueName><value>KH-12</value>", ["12"]),
        ("<valueName>ISO 3166-2</valueName><value>KH-1</value>", ["01"]),
        ("<valueName>NCDD</valueName><value>120101</value>", ["120101"]),
        ("<valueName>NCDD</valueName><value>999999</value>", []),
        ("<valueName>SAME</valueName><value>006109</value>", []),
    ],
)
def test_geocodes_map_to_gazetteer_codes(geocode: str, codes: list[str]) -> None:
    assert area_codes(parse_cap(cap(area=f"<geocode>{geocode}</geocode>"))) == codes


def test_a_polygon_maps_to_the_communes_inside_it() -> None:
    # a small box around Sangkat 120101 (11.5509, 104.9359) in Phnom Penh
    ring = "11.545,104.930 11.556,104.930 11.556,104.941 11.545,104.941 11.545,104.930"
    codes = area_codes(parse_cap(cap(area=f"<polygon>{ring}</polygon>")))
    assert "120101" in codes
    assert all(c.startswith("12") for c in codes)


def test_a_circle_maps_to_the_communes_within_its_radius() -> None:
    near = area_codes(parse_cap(cap(area="<circle>11.5509,104.9359 0.5</circle>")))
    assert near == ["120101"]
    wide = area_codes(parse_cap(cap(area="<circle>11.5509,104.9359 15</circle>")))
    assert len(wide) > 20
    assert not any(c.startswith("01") for c in wide)  # not Banteay Meanchey


def test_codes_inside_a_listed_province_are_dropped() -> None:
    assert reduce_codes(["120101", "12", "0102", "010201", "1201"]) == ["0102", "12"]
