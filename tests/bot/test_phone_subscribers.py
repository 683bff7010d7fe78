"""Phone subscribers (SMS and voice calls through Somleng): a CSO registers one in the
console only with the person's consent and sees numbers masked; an SMS ឈប់ / STOP to the
gateway's number (signed by Somleng) stops that number, a forged one gets 403; an approved
announcement reaches an SMS subscriber and a voice subscriber at the Somleng fake."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from bot.console import CONSOLE
from bot.dissemination import DISSEMINATION, Person, Topic
from tests.bot.console_helpers import PASSWORD, logged_in
from tests.bot.gateway_fakes import wait_until
from tests.bot.somleng_fake import ACCOUNT_SID, AUTH_TOKEN, FakeSomleng, start_somleng

SHIPPED_GAZETTEER = (
    Path(__file__).resolve().parents[2] / "knowledge" / "gazetteer" / "communes.yml"
)
PHONE = "+85512345678"
OTHER_PHONE = "+855977123456"
AUTHOR = Person(agent_id=1, role="ministry_editor", org_kind="ministry")
SECRETARIAT = Person(agent_id=2, role="secretariat_reviewer", org_kind="secretariat")


def twiml_message(xml: str) -> str:
    """The text of TwiML's one <Message> (the whole answer must be just that)."""
    found = re.fullmatch(
        r'<\?xml version="1.0" encoding="UTF-8"\?><Response><Message>(.*)</Message></Response>',
        xml.strip(),
        re.DOTALL,
    )
    assert found is not None, xml
    return html.unescape(found.group(1))


@pytest.fixture
async def somleng(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeSomleng]:
    fake = await start_somleng()
    monkeypatch.setenv("SOMLENG_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("SOMLENG_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("SOMLENG_API_URL", fake.url)
    monkeypatch.setenv("SOMLENG_SMS_FROM", "1294")
    monkeypatch.setenv("SOMLENG_VOICE_FROM", "+85523999999")
    yield fake
    assert fake.server is not None
    await fake.server.close()


async def test_a_cso_registers_a_phone_subscriber_with_consent_and_sees_it_masked(
    gateway: Any,
) -> None:
    client = await gateway()
    admin = client.app[CONSOLE].admin
    cso = await admin.add_organisation("cso-north", "CSO North", areas=[], kind="cso")
    await admin.add_agent("sokha", "Sokha", cso.slug, "agent", PASSWORD)
    service = client.app[DISSEMINATION]
    agent = await logged_in(client, "sokha")
    try:
        status, page = await agent.get("/console/broadcasts")
        assert status == 200
        assert "/console/broadcasts/subscribers" in page
        status, page = await agent.get("/console/broadcasts/subscribers")
        assert status == 200
        assert 'name="consent"' in page

        async def register(*pairs: tuple[str, str]) -> tuple[int, str]:
            """A browser's form post: the checkboxes repeat their name."""
            data = [*pairs, ("csrf_token", agent.csrf)]
            async with agent.http.post(
                agent.url("/console/broadcasts/subscribers"), data=data, allow_redirects=False
            ) as resp:
                return resp.status, await resp.text()

        form = [
            ("number", "០១២ ៣៤៥ ៦៧៨"),
            ("channel", "voice"),
            ("topics", "emergency"),
            ("topics", "payments"),
            ("place", "ទន្លេបាសាក់"),
            ("language", "km"),
        ]
        # without the person's consent, nothing is stored
        status, body = await register(*form)
        assert status == 400
        assert "consent" in body
        assert await service.subscriber("voice", PHONE) is None
        wrong_number = [("number", "023 45"), *form[1:], ("consent", "1")]
        assert (await register(*wrong_number))[0] == 400
        unknown_place = [*form[:4], ("place", "Atlantis"), ("language", "km"), ("consent", "1")]
        assert (await register(*unknown_place))[0] == 400
        status, _ = await register(*form, ("consent", "1"))
        assert status == 303
        voice = await service.subscriber("voice", PHONE)
        assert voice is not None
        assert voice.active
        assert (voice.topics, voice.area_code, voice.language) == (
            ["emergency", "payments"],
            "120101",
            "km",
        )
        # an English SMS subscriber by place code, the whole country by an empty place
        await register(
            ("number", "+855 97 7123 456"),
            ("channel", "sms"),
            ("topics", "health"),
            ("place", ""),
            ("language", "en"),
            ("consent", "on"),
        )
        sms = await service.subscriber("sms", OTHER_PHONE)
        assert sms is not None
        assert (sms.topics, sms.area_code, sms.language) == (["health"], None, "en")
        # the list: numbers masked, never whole
        status, page = await agent.get("/console/broadcasts/subscribers")
        assert status == 200
        assert "+855 ••• ••• 678" in page
        assert "+855 ••• ••• 456" in page
        for digits in ("12345678", "345678", "977123456", "7123456"):
            assert digits not in page.replace(" ", "")
        # stop one from the console
        status, _, _ = await agent.form(f"/console/broadcasts/subscribers/{voice.id}/stop", {})
        assert status == 303
        stopped = await service.subscriber("voice", PHONE)
        assert stopped is not None
        assert not stopped.active
        sms_again = await service.subscriber("sms", OTHER_PHONE)
        assert sms_again is not None
        assert sms_again.active
        # a chat subscriber is not a phone subscriber: not stopped from this page
        chat = await service.subscribe("telegram", "2001", topics=["emergency"])
        status, _, _ = await agent.form(f"/console/broadcasts/subscribers/{chat.id}/stop", {})
        assert status == 404
    finally:
        await agent.close()


async def test_an_organisation_with_areas_sees_and_stops_only_people_in_them(
    gateway: Any,
) -> None:
    """A CSO covering Kampong Chhnang (04) lists, registers and stops only people there;
    the secretariat sees everyone."""
    client = await gateway(gazetteer_path=SHIPPED_GAZETTEER)
    admin = client.app[CONSOLE].admin
    cso = await admin.add_organisation("cso-04", "CSO Kampong Chhnang", areas=["04"], kind="cso")
    await admin.add_agent("sokha", "Sokha", cso.slug, "agent", PASSWORD)
    nspc = await admin.add_organisation("nspc", "NSPC", areas=[], kind="secretariat")
    await admin.add_agent("vanna", "Vanna", nspc.slug, "secretariat_reviewer", PASSWORD)
    service = client.app[DISSEMINATION]
    here = await service.subscribe("sms", "+85512111678", area_code="040302")
    there = await service.subscribe("voice", "+85512222789", area_code="120101")
    agent = await logged_in(client, "sokha")
    reviewer = await logged_in(client, "vanna")
    try:
        status, page = await agent.get("/console/broadcasts/subscribers")
        assert status == 200
        assert "+855 ••• ••• 678" in page
        assert "+855 ••• ••• 789" not in page
        status, page = await reviewer.get("/console/broadcasts/subscribers")
        assert "+855 ••• ••• 678" in page
        assert "+855 ••• ••• 789" in page
        # outside its areas: neither stopped nor registered
        status, _, _ = await agent.form(f"/console/broadcasts/subscribers/{there.id}/stop", {})
        assert status == 403
        outside = await service.subscriber("voice", "+85512222789")
        assert outside is not None
        assert outside.active
        data = {
            "number": "012 333 444",
            "channel": "sms",
            "topics": "emergency",
            "place": "12",
            "language": "km",
            "consent": "1",
        }
        status, _, _ = await agent.form("/console/broadcasts/subscribers", data)
        assert status == 403
        assert await service.subscriber("sms", "+85512333444") is None
        status, _, _ = await agent.form(
            "/console/broadcasts/subscribers", {**data, "place": "0403"}
        )
        assert status == 303
        assert await service.subscriber("sms", "+85512333444") is not None
        status, _, _ = await agent.form(f"/console/broadcasts/subscribers/{here.id}/stop", {})
        assert status == 303
        stopped = await service.subscriber("sms", "+85512111678")
        assert stopped is not None
        assert not stopped.active
    finally:
        await agent.close()
        await reviewer.close()


async def test_stop_by_sms_in_khmer_unsubscribes_the_number_and_forgeries_get_403(
    gateway: Any, somleng: FakeSomleng
) -> None:
    client = await gateway()
    service = client.app[DISSEMINATION]
    await service.subscribe("sms", PHONE, topics=["emergency"], area_code="120101")
    await service.subscribe("voice", PHONE, topics=["emergency"], area_code="120101")
    await service.subscribe("sms", OTHER_PHONE, topics=["emergency"])
    validator = RequestValidator(AUTH_TOKEN)
    url = str(client.make_url("/somleng/inbound/sms"))

    async def inbound(body: str, sender: str = PHONE, signature: str | None = None) -> Any:
        params = {"From": sender, "To": "1294", "Body": body, "MessageSid": "SM" + "0" * 32}
        sig = validator.compute_signature(url, params) if signature is None else signature
        return await client.post(
            "/somleng/inbound/sms", data=params, headers={"X-Twilio-Signature": sig}
        )

    forged = await inbound("ឈប់", signature="forged")
    assert forged.status == 403
    assert (await inbound("ឈប់", signature="")).status == 403
    sub = await service.subscriber("sms", PHONE)
    assert sub is not None
    assert sub.active
    # a question: how to reach us, and nothing stopped
    resp = await inbound("តើខ្ញុំនឹងទទួលប្រាក់នៅពេលណា?")
    assert resp.status == 200
    help_text = twiml_message(await resp.text())
    assert "ឈប់" in help_text
    assert "STOP" in help_text
    # ឈប់ (with a zero-width space and a full stop, as phones type it) stops SMS and calls
    resp = await inbound("ឈ\u200bប់។")
    assert resp.status == 200
    assert resp.content_type == "application/xml"
    stopped_text = twiml_message(await resp.text())
    assert "លែងទទួល" in stopped_text
    assert "You will not receive any more messages or calls" in stopped_text
    for kind in ("sms", "voice"):
        row = await service.subscriber(kind, PHONE)
        assert row is not None
        assert not row.active, kind
    other = await service.subscriber("sms", OTHER_PHONE)
    assert other is not None
    assert other.active
    # STOP in English, from the number as Somleng may send it (no plus)
    resp = await inbound("STOP", sender=OTHER_PHONE[1:])
    assert resp.status == 200
    other = await service.subscriber("sms", OTHER_PHONE)
    assert other is not None
    assert not other.active


async def test_without_somleng_the_inbound_webhook_is_not_there(gateway: Any) -> None:
    client = await gateway()
    resp = await client.post("/somleng/inbound/sms", data={"From": PHONE, "Body": "STOP"})
    assert resp.status == 404


async def test_an_approved_announcement_reaches_sms_and_voice_subscribers_at_somleng(
    gateway: Any, somleng: FakeSomleng
) -> None:
    client = await gateway()
    service = client.app[DISSEMINATION]
    await service.subscribe(
        "sms", PHONE, topics=[Topic.PAYMENTS], area_code="120101", language="km"
    )
    await service.subscribe(
        "voice", OTHER_PHONE, topics=[Topic.PAYMENTS], area_code="12", language="en"
    )
    await service.subscribe("sms", "+85511222333", topics=[Topic.PAYMENTS], area_code="17")
    announcement = await service.create_draft(
        AUTHOR,
        text_km="ការបើកប្រាក់ថ្ងៃទី១៥ ខែមករា",
        text_en="Payments on 15 January",
        topic=Topic.PAYMENTS,
        area_codes=["12"],
    )
    await service.approve(announcement, SECRETARIAT)
    await wait_until(lambda: len(somleng.messages) == 1 and len(somleng.calls) == 1, timeout=10)
    (sms,) = somleng.messages
    assert (sms["To"], sms["From"], sms["Body"]) == (PHONE, "1294", "ការបើកប្រាក់ថ្ងៃទី១៥ ខែមករា")
    (call,) = somleng.calls
    assert call["To"] == OTHER_PHONE
    assert "<Say" in call["Twiml"]
    assert "Payments on 15 January" in call["Twiml"]


async def test_malformed_inbound_sms_is_refused_not_a_server_error(
    gateway: Any, somleng: FakeSomleng
) -> None:
    client = await gateway()
    for path in ("/somleng/inbound/sms", "/somleng/status/sms", "/somleng/status/voice"):
        for body, content_type in (
            (b"\xff\xfe\x00", "application/x-www-form-urlencoded"),
            (b'{"From": "+85512345678", "Body": "STOP"}', "application/json"),
            (b"--x\r\nnot a part", "multipart/form-data; boundary=x"),
            (b"From=%2B85512345678&Body=%E1%9E%88%E1%9E%94%E1%9F%8B", "text/plain"),
        ):
            resp = await client.post(
                path,
                data=body,
                headers={"Content-Type": content_type, "X-Twilio-Signature": "x"},
            )
            assert resp.status in {400, 403, 415}, (path, content_type, resp.status)
