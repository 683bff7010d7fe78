"""An announcement's recording (issue #15): a ministry editor uploads it in the console, a
second person approves, and then a call plays it (Somleng's TwiML ``<Play>``), Telegram and
Messenger subscribers get it as a voice note after the text, the web chat shows a player,
and the public page and URL serve it (never a draft's). Refusals: not a recording, too
large, no longer a draft. Fixtures are real audio headers (an OGG/Opus page with its CRC,
MPEG-1 Layer III frames), not random bytes."""

from __future__ import annotations

import asyncio
import hashlib
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot._exceptions import Conflict, Invalid
from bot.console import CONSOLE
from bot.console._web import LANG_COOKIE
from bot.delivery._bulk import BULK_OUTBOUND
from bot.dissemination import DISSEMINATION, BroadcastStatus, DisseminationService, Person, Topic
from bot.dissemination._service import MAX_AUDIO_BYTES, sniff_audio
from bot.storage._db import create_engine
from bot.storage._migrate import migrate
from tests.bot.console_helpers import PASSWORD, ConsoleUser, logged_in
from tests.bot.gateway_fakes import FakeGraph, FakeTelegram, wait_until, wait_until_async
from tests.bot.somleng_fake import ACCOUNT_SID, AUTH_TOKEN, FakeSomleng, start_somleng

TITLE_KM = "ប្រាក់ឧបត្ថម្ភសិស្ស"
TEXT_KM = "ការបើកប្រាក់ឧបត្ថម្ភសម្រាប់សិស្ស នឹងធ្វើនៅថ្ងៃទី១៥ ខែមករា"
TEXT_EN = "Student allowances will be paid on 15 January"
PUBLIC = "http://sp4all.example.org"  # http: the console's cookies are Secure under https
PHONE = "+85512345678"
AUTHOR = Person(agent_id=1, role="ministry_editor", org_kind="ministry")
SECRETARIAT = Person(agent_id=2, role="secretariat_reviewer", org_kind="secretariat")


# ----- fixtures: small real audio --------------------------------------------------------


def _ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, initial 0)."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def ogg_opus() -> bytes:
    """The first page of an Ogg Opus stream: OpusHead (mono, 48 kHz), CRC filled in."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    page = bytearray(
        b"OggS"
        + struct.pack("<BBqIII", 0, 0x02, 0, 0x5350_3441, 0, 0)  # BOS, serial "SP4A"
        + bytes([1, len(head)])
        + head
    )
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return bytes(page)


def mp3(frames: int = 8) -> bytes:
    """MPEG-1 Layer III frames, 128 kbit/s at 44.1 kHz (417 bytes each), silent."""
    frame = bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(413)
    return frame * frames


PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def test_fixtures_are_recognised_by_their_first_bytes() -> None:
    assert sniff_audio(ogg_opus()) == "audio/ogg; codecs=opus"
    vorbis = bytearray(ogg_opus())
    vorbis[28:36] = b"\x01vorbis\x00"
    assert sniff_audio(bytes(vorbis)) == "audio/ogg"
    assert sniff_audio(mp3()) == "audio/mpeg"
    assert sniff_audio(b"RIFF\x24\x00\x00\x00WAVEfmt ") == "audio/wav"
    assert sniff_audio(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00") == "audio/mp4"
    assert sniff_audio(PNG) is None
    assert sniff_audio("សួស្តី".encode()) is None
    assert sniff_audio(bytes([0xFF, 0xE8, 0x90, 0x64])) is None  # a "reserved" layer


# ----- the service on both databases -------------------------------------------------------


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[DisseminationService]:
    engine, _ = create_engine(database_url)
    await migrate(engine)
    yield DisseminationService(
        engine, channels=("telegram", "voice", "sms", "webchat"), public_url=PUBLIC + "/"
    )
    await engine.dispose()


async def test_recordings_are_kept_checked_and_given_to_each_language(
    service: DisseminationService,
) -> None:
    bid = await service.create_draft(
        AUTHOR, title_km=TITLE_KM, text_km=TEXT_KM, text_en=TEXT_EN, topic=Topic.PAYMENTS
    )
    ogg = ogg_opus()
    saved = await service.attach_audio(bid, "", ogg, "audio/ogg; codecs=opus")
    assert (saved.content_type, saved.size) == ("audio/ogg; codecs=opus", len(ogg))
    found = await service.audio(bid, "")
    assert found is not None
    assert found.data == ogg
    assert found.sha256 == hashlib.sha256(ogg).hexdigest()
    assert await service.audio(bid, "", published_only=True) is None  # a draft's
    # the declared type must agree with the content; an untyped upload is judged by it
    with pytest.raises(Invalid, match="MP3, OGG, WAV or M4A") as refused:
        await service.attach_audio(bid, "km", mp3(), "audio/ogg")
    assert "ទូរសព្ទ" in refused.value.words("km")
    with pytest.raises(Invalid, match="MP3, OGG, WAV or M4A"):
        await service.attach_audio(bid, "km", PNG, "audio/mpeg")
    with pytest.raises(Invalid, match="empty"):
        await service.attach_audio(bid, "km", b"", "audio/mpeg")
    await service.attach_audio(bid, "en", mp3(), "application/octet-stream")
    # asking for approval, then changing the recording: back to draft
    await service.submit(bid)
    await service.attach_audio(bid, "en", mp3(4), "audio/mpeg")
    assert (await service.get(bid)).status == BroadcastStatus.DRAFT
    # Khmer subscribers get the recording in "another language", English ones their own
    subs = [("telegram", "7001", "km"), ("telegram", "7002", "en"), ("voice", PHONE, "km")]
    for channel, chat_id, language in subs:
        await service.subscribe(channel, chat_id, topics=[Topic.PAYMENTS], language=language)
    await service.subscribe("sms", "+85598765432", topics=[Topic.PAYMENTS])
    await service.subscribe("webchat", "session-audio-01", topics=[Topic.PAYMENTS])
    await service.approve(bid, SECRETARIAT)
    assert await service.plan(bid)
    async with service._engine.connect() as conn:
        rows = {
            r.chat_id: r.body
            for r in await conn.execute(select(BULK_OUTBOUND.c.chat_id, BULK_OUTBOUND.c.body))
        }
    other, english = f"/announcements/{bid}/audio/other", f"/announcements/{bid}/audio/en"
    assert rows["7001"]["audio_url"] == PUBLIC + other
    assert rows["7001"]["audio_type"] == "audio/ogg; codecs=opus"
    assert rows["7002"]["audio_url"] == PUBLIC + english
    # a call plays only MP3 or WAV: with an OGG recording it says the text
    assert rows[PHONE] == {"text": f"{TITLE_KM}\n\n{TEXT_KM}", "language": "km"}
    assert rows["+85598765432"] == {"text": f"{TITLE_KM}\n\n{TEXT_KM}", "language": "km"}
    assert rows["session-audio-01"]["audio_url"] == other  # the page's own origin
    # approved: served publicly, and no longer changed
    published = await service.audio(bid, "en", published_only=True)
    assert published is not None
    assert published.data == mp3(4)
    with pytest.raises(Conflict, match="draft"):
        await service.attach_audio(bid, "km", ogg, "audio/ogg")
    with pytest.raises(Conflict):
        await service.remove_audio(bid, "")


# ----- the console and the public URL -------------------------------------------------------


async def console_people(client: Any) -> tuple[ConsoleUser, ConsoleUser]:
    admin = client.app[CONSOLE].admin
    ministry = await admin.add_organisation("mosvy", "MoSVY", areas=[], kind="ministry")
    secretariat = await admin.add_organisation(
        "nspc", "NSPC secretariat", areas=[], kind="secretariat"
    )
    await admin.add_agent("editor", "Editor", ministry.slug, "ministry_editor", PASSWORD)
    await admin.add_agent(
        "reviewer", "Reviewer", secretariat.slug, "secretariat_reviewer", PASSWORD
    )
    return await logged_in(client, "editor"), await logged_in(client, "reviewer")


async def upload(
    user: ConsoleUser, path: str, data: bytes, content_type: str, filename: str
) -> tuple[int, str]:
    """The detail page's file field, as a browser posts it (multipart, hidden CSRF field)."""
    form = aiohttp.FormData()
    form.add_field("csrf_token", user.csrf)
    form.add_field("audio", data, content_type=content_type, filename=filename)
    async with user.http.post(user.url(path), data=form, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def draft_in_console(editor: ConsoleUser) -> tuple[int, str]:
    status, _, location = await editor.form(
        "/console/broadcasts",
        {
            "title_km": TITLE_KM,
            "title_en": "Student allowances",
            "text_km": TEXT_KM,
            "text_en": TEXT_EN,
            "topic": "payments",
        },
    )
    assert status == 303
    return int(location.rsplit("/", 1)[1]), location


async def test_an_editor_uploads_a_recording_served_publicly_only_once_approved(
    gateway: Any,
) -> None:
    client = await gateway(public_url=PUBLIC)
    editor, reviewer = await console_people(client)
    try:
        bid, location = await draft_in_console(editor)
        status, page = await editor.get(location)
        assert 'enctype="multipart/form-data"' in page
        assert "ការថតសំឡេងជាភាសាខ្មែរ" in page or "Khmer recording" in page
        ogg = ogg_opus()
        status, _ = await upload(editor, f"{location}/audio/km", ogg, "audio/ogg", "km.ogg")
        assert status == 303
        status, page = await editor.get(location)
        assert f'<audio controls preload="none" src="{location}/audio/km">' in page
        assert "Remove recording" in page
        # the console previews a draft's recording; the public URL does not serve it
        async with editor.http.get(editor.url(f"{location}/audio/km")) as resp:
            assert resp.status == 200
            assert await resp.read() == ogg
            assert "media-src 'self'" in resp.headers["Content-Security-Policy"]
        public = f"/announcements/{bid}/audio/km"
        assert (await client.get(public)).status == 404
        assert (await client.get(f"/announcements/{bid}/audio/xx")).status == 404
        assert (await client.get("/announcements/99999999999/audio/km")).status == 404
        # an uploaded then removed English recording
        status, _ = await upload(editor, f"{location}/audio/en", mp3(), "audio/mpeg", "en.mp3")
        assert status == 303
        status, _, _ = await editor.form(f"{location}/audio/en/remove", {})
        assert status == 303
        service = client.app[DISSEMINATION]
        assert await service.audio(bid, "en") is None
        # the second person approves: now it is public, with its type, length and ETag
        status, _, _ = await reviewer.form(f"{location}/approve", {})
        assert status == 303
        resp = await client.get(public)
        assert resp.status == 200
        assert await resp.read() == ogg
        assert resp.headers["Content-Type"] == "audio/ogg; codecs=opus"
        assert resp.headers["Content-Length"] == str(len(ogg))
        etag = f'"{hashlib.sha256(ogg).hexdigest()}"'
        assert resp.headers["ETag"] == etag
        assert "public" in resp.headers["Cache-Control"]
        again = await client.get(public, headers={"If-None-Match": etag})
        assert again.status == 304
        part = await client.get(public, headers={"Range": "bytes=0-3"})
        assert part.status == 206
        assert await part.read() == b"OggS"
        assert part.headers["Content-Range"] == f"bytes 0-3/{len(ogg)}"
        tail = await client.get(public, headers={"Range": "bytes=-8"})
        assert await tail.read() == ogg[-8:]
        beyond = await client.get(public, headers={"Range": f"bytes={len(ogg)}-"})
        assert beyond.status == 416
        for nonsense in ("bytes=5-2", "bytes=-", "lines=1-2", "bytes=0-1,4-5", "ប៉ុន្មាន"):
            whole = await client.get(public, headers={"Range": nonsense})
            assert (whole.status, await whole.read()) == (200, ogg), nonsense
        for path in ("abc", "-1", "1e3", "٣"):
            assert (await client.get(f"/announcements/{path}/audio/km")).status == 404, path
        assert (await client.get(f"/announcements/{bid}/audio/en")).status == 404
        page_resp = await client.get("/announcements")
        assert f'src="{public}"' in await page_resp.text()
        feed = await (await client.get("/announcements.atom")).text()
        assert f'type="audio/ogg; codecs=opus" length="{len(ogg)}"' in feed
        assert f'{public}"/>' in feed
        # approved: the recording can no longer be changed
        status, body = await upload(editor, f"{location}/audio/km", mp3(), "audio/mpeg", "x.mp3")
        assert status == 409
        assert "draft" in body
    finally:
        await editor.close()
        await reviewer.close()


async def test_the_console_refuses_what_is_not_a_recording_or_too_large(gateway: Any) -> None:
    client = await gateway()
    editor, reviewer = await console_people(client)
    try:
        _bid, location = await draft_in_console(editor)
        path = f"{location}/audio/km"
        status, body = await upload(editor, path, PNG, "audio/mpeg", "photo.mp3")
        assert status == 400
        assert "not a recording phones can play" in body
        status, body = await upload(editor, path, "សួស្តី".encode(), "text/plain", "note.txt")
        assert status == 400
        assert "MP3, OGG, WAV or M4A" in body
        frames = MAX_AUDIO_BYTES // 417 + 1
        status, body = await upload(editor, path, mp3(frames), "audio/mpeg", "long.mp3")
        assert status == 400
        assert "too large" in body
        assert "at most 5 MB" in body
        status, body = await upload(editor, path, mp3(frames + 400), "audio/mpeg", "huge.mp3")
        assert status == 413
        assert "too large" in body
        # no file, and no CSRF token: refused too
        status, _, _ = await editor.form(path, {})
        assert status == 400
        form = aiohttp.FormData()
        form.add_field("audio", ogg_opus(), content_type="audio/ogg", filename="km.ogg")
        async with editor.http.post(editor.url(path), data=form, allow_redirects=False) as r:
            assert r.status == 403
        # a Khmer console gets the Khmer words
        editor.http.cookie_jar.update_cookies({LANG_COOKIE: "km"})
        status, body = await upload(editor, path, PNG, "audio/mpeg", "photo.mp3")
        assert status == 400
        assert "ឯកសារនេះមិនមែនជាការថតសំឡេង" in body
        assert await client.app[DISSEMINATION].audio(_bid, "km") is None
    finally:
        await editor.close()
        await reviewer.close()


# ----- delivery: a call, a voice note, an attachment, a player --------------------------------


@pytest.fixture
async def somleng(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeSomleng]:
    fake = await start_somleng()
    monkeypatch.setenv("SOMLENG_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("SOMLENG_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("SOMLENG_API_URL", fake.url)
    yield fake
    assert fake.server is not None
    await fake.server.close()


async def test_calls_play_it_and_chats_get_it_after_the_text(
    gateway: Any, somleng: FakeSomleng, fake_telegram: FakeTelegram, fake_graph: FakeGraph
) -> None:
    client = await gateway(public_url=PUBLIC)
    service = client.app[DISSEMINATION]
    assert {"voice", "sms", "telegram", "messenger", "webchat"} <= set(service.channels)
    for channel, chat_id, language in (
        ("voice", PHONE, "km"),
        ("sms", "+85598765432", "km"),
        ("telegram", "8001", "km"),
        ("telegram", "8002", "en"),
        ("messenger", "psid-audio-1", "km"),
        ("webchat", "session-audio-02", "km"),
    ):
        await service.subscribe(channel, chat_id, topics=[Topic.PAYMENTS], language=language)
    bid = await service.create_draft(
        AUTHOR, title_km=TITLE_KM, text_km=TEXT_KM, text_en=TEXT_EN, topic=Topic.PAYMENTS
    )
    await service.attach_audio(bid, "km", mp3(), "audio/mpeg")
    await service.attach_audio(bid, "en", ogg_opus(), "audio/ogg")
    await service.approve(bid, SECRETARIAT)
    km_url, en_url = (
        f"{PUBLIC}/announcements/{bid}/audio/km",
        f"{PUBLIC}/announcements/{bid}/audio/en",
    )

    def everything_sent() -> bool:
        return (
            len(somleng.calls) == 1
            and len(somleng.messages) == 1
            and len(fake_telegram.sent("sendVoice")) == 1
            and len(fake_telegram.sent("sendAudio")) == 1
            and len(fake_graph.messages()) == 2
        )

    await wait_until(everything_sent, timeout=15)
    # the call plays the Khmer recording (Somleng fetches it from the public URL)
    twiml = somleng.calls[0]["Twiml"]
    assert f"<Play>{km_url}</Play>" in twiml
    assert "<Say" not in twiml
    assert somleng.calls[0]["To"] == PHONE
    # the SMS is the text only
    assert somleng.messages[0]["Body"] == f"{TITLE_KM}\n\n{TEXT_KM}"
    # Telegram: the text, then the recording (MP3: an audio file; OGG/Opus: a voice note)
    order = [
        (c.method, str(c.params["chat_id"]))
        for c in fake_telegram.calls
        if c.method in ("sendMessage", "sendVoice", "sendAudio")
    ]
    assert order.index(("sendMessage", "8001")) < order.index(("sendAudio", "8001"))
    assert order.index(("sendMessage", "8002")) < order.index(("sendVoice", "8002"))
    # at most one message a second to a chat: the recording a second after its text
    at = {(c.method, str(c.params.get("chat_id"))): c.at for c in fake_telegram.calls}
    assert at[("sendAudio", "8001")] - at[("sendMessage", "8001")] >= 1.0
    assert at[("sendVoice", "8002")] - at[("sendMessage", "8002")] >= 1.0
    assert fake_telegram.sent("sendAudio")[0].params["audio"] == km_url
    assert fake_telegram.sent("sendVoice")[0].params["voice"] == en_url
    texts = {str(c.params["chat_id"]): c.params["text"] for c in fake_telegram.sent()}
    assert TEXT_KM in texts["8001"]
    assert TEXT_EN in texts["8002"]
    # Messenger: the text, then an audio attachment, both as a response in the 24 hours
    text_msg, audio_msg = fake_graph.messages()
    assert TEXT_KM in text_msg["message"]["text"]
    assert audio_msg["recipient"] == {"id": "psid-audio-1"}
    assert audio_msg["messaging_type"] == "RESPONSE"
    assert audio_msg["message"] == {
        "attachment": {"type": "audio", "payload": {"url": km_url, "is_reusable": True}}
    }

    # the web chat's page gets the path of the recording, which plays from this gateway
    async def polled() -> list[dict[str, Any]]:
        resp = await client.get("/webchat/messages", params={"session": "session-audio-02"})
        return list((await resp.json())["messages"])

    await wait_until_async(polled, bool, timeout=10)
    messages = await polled()
    assert messages[0]["audio_url"] == f"/announcements/{bid}/audio/km"
    assert TEXT_KM in messages[0]["text"]
    played = await client.get(messages[0]["audio_url"])
    assert played.status == 200
    assert await played.read() == mp3()
    assert played.headers["Content-Type"] == "audio/mpeg"
    chat_page = await (await client.get("/chat")).text()
    assert "audio_url" in chat_page  # the page shows a player for it
    # every recipient counted once, every row sent
    for _ in range(100):
        report = await service.report(bid)
        if report.sent == 6:
            break
        await asyncio.sleep(0.05)
    assert (report.targeted, report.sent) == (6, 6)


async def test_a_refused_recording_does_not_fail_or_repeat_the_text(
    gateway: Any, fake_telegram: FakeTelegram
) -> None:
    client = await gateway(public_url=PUBLIC)
    service = client.app[DISSEMINATION]
    await service.subscribe("telegram", "8101", topics=[Topic.PAYMENTS], language="km")
    fake_telegram.fail("sendVoice", 400, "Bad Request: wrong file identifier/HTTP URL")
    bid = await service.create_draft(
        AUTHOR, text_km=TEXT_KM, text_en=TEXT_EN, topic=Topic.PAYMENTS
    )
    await service.attach_audio(bid, "km", ogg_opus(), "audio/ogg")
    await service.approve(bid, SECRETARIAT)
    await wait_until(lambda: fake_telegram.sent("sendVoice:failed"), timeout=10)
    for _ in range(100):
        report = await service.report(bid)
        if report.sent == 1:
            break
        await asyncio.sleep(0.05)
    assert report.sent == 1
    assert report.failed == 0
    assert [c.params["text"] for c in fake_telegram.sent()] == [TEXT_KM]
    assert len(fake_telegram.sent("sendVoice:failed")) == 1  # tried once, never again
    assert not fake_telegram.sent("sendVoice")
