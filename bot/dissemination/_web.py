"""The console's broadcasts feature (/console/broadcasts) and the public announcements page
and Atom feed (/announcements, /announcements.atom).

Drafts are written in Khmer and English, may quote facts of the knowledge base, and are
approved by a second person (the service's rules); the detail page shows each channel's
preview with its length limit, the number of recipients, and the live report (the page
reloads itself every few seconds while a broadcast is sent)."""

from __future__ import annotations

import calendar
import csv
import functools
import io
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.web_request import FileField
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select

from .. import keys
from .._exceptions import Invalid, NotFound
from ..accounts import Role
from ..console import (
    ConsoleFeature,
    FeatureRoutes,
    done,
    fields,
    path_id,
    render,
    state,
    ui_language,
    viewer,
)
from ..handoff._places import PlaceNames
from ..storage._db import Organisation
from . import DISSEMINATION
from ._chat import TOPIC_NAMES
from ._knowledge import knowledge_facts
from ._phone import add_inbound_sms_route
from ._phone_web import add_phone_pages
from ._service import (
    AUDIO_URL_LANGUAGE,
    CHANNEL_LIMITS,
    MAX_AUDIO_BYTES,
    RECEIPT_CHANNELS,
    Broadcast,
    DisseminationService,
    Person,
    Recording,
    Report,
)
from ._tables import BroadcastStatus, Topic

__all__ = ["BROADCASTS_FEATURE", "LABELS", "add_public_routes"]

PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")
LIVE = (BroadcastStatus.APPROVED, BroadcastStatus.PLANNING, BroadcastStatus.SENDING)
PREVIEW = (BroadcastStatus.DRAFT, BroadcastStatus.PENDING_APPROVAL, BroadcastStatus.APPROVED)
LABELS: dict[str, dict[str, str]] = {
    "broadcasts": {"en": "Broadcasts", "km": "ការផ្សព្វផ្សាយ"},
    "new": {"en": "New announcement", "km": "សេចក្តីប្រកាសថ្មី"},
    "title_km": {"en": "Title (Khmer)", "km": "ចំណងជើង (ខ្មែរ)"},
    "title_en": {"en": "Title (English)", "km": "ចំណងជើង (អង់គ្លេស)"},
    "text_km": {"en": "Text (Khmer)", "km": "អត្ថបទ (ខ្មែរ)"},
    "text_en": {"en": "Text (English)", "km": "អត្ថបទ (អង់គ្លេស)"},
    "topic": {"en": "Topic", "km": "ប្រធានបទ"},
    "areas": {"en": "Area codes (empty: whole country)", "km": "លេខកូដតំបន់ (ទទេ៖ ទូទាំងប្រទេស)"},
    "channels": {"en": "Channels (empty: all)", "km": "បណ្តាញ (ទទេ៖ ទាំងអស់)"},
    "languages": {"en": "Languages (empty: all)", "km": "ភាសា (ទទេ៖ ទាំងអស់)"},
    "scheduled": {"en": "Send at (Phnom Penh time)", "km": "ផ្ញើនៅ (ម៉ោងភ្នំពេញ)"},
    "expires": {"en": "Expires at (Phnom Penh time)", "km": "ផុតកំណត់នៅ (ម៉ោងភ្នំពេញ)"},
    "fact": {"en": "Insert a fact from the knowledge base", "km": "បញ្ចូលព័ត៌មានពីមូលដ្ឋានចំណេះដឹង"},
    "none": {"en": "(none)", "km": "(គ្មាន)"},
    "verified": {"en": "verified on", "km": "ផ្ទៀងផ្ទាត់នៅ"},
    "save": {"en": "Save draft", "km": "រក្សាទុកសេចក្តីព្រាង"},
    "status": {"en": "Status", "km": "ស្ថានភាព"},
    "preview": {"en": "Preview per channel", "km": "មើលជាមុនតាមបណ្តាញ"},
    "limit": {"en": "characters, limit", "km": "តួអក្សរ កម្រិត"},
    "too_long": {"en": "too long", "km": "វែងពេក"},
    "recipients": {"en": "Recipients now", "km": "អ្នកទទួលឥឡូវ"},
    "report": {"en": "Report", "km": "របាយការណ៍"},
    "submit": {"en": "Ask for approval", "km": "ស្នើសុំការអនុម័ត"},
    "approve": {"en": "Approve", "km": "អនុម័ត"},
    "pause": {"en": "Pause", "km": "ផ្អាក"},
    "resume": {"en": "Resume", "km": "បន្ត"},
    "cancel": {"en": "Cancel", "km": "បោះបង់"},
    "targeted": {"en": "targeted", "km": "គោលដៅ"},
    "queued": {"en": "waiting", "km": "កំពុងរង់ចាំ"},
    "sent": {"en": "sent", "km": "បានផ្ញើ"},
    "failed": {"en": "failed", "km": "បរាជ័យ"},
    "blocked": {"en": "blocked", "km": "បានបិទ"},
    "skipped": {"en": "skipped", "km": "រំលង"},
    "cancelled": {"en": "cancelled", "km": "បានបោះបង់"},
    "expired": {"en": "expired", "km": "ផុតកំណត់"},
    "unconfirmed": {"en": "not confirmed", "km": "មិនទាន់បញ្ជាក់"},
    "whole_country": {"en": "the whole country", "km": "ទូទាំងប្រទេស"},
    "for_places": {"en": "For", "km": "សម្រាប់"},
    "resend_unconfirmed": {
        "en": "Send the unconfirmed again (some may get it twice)",
        "km": "ផ្ញើសារដែលមិនទាន់បញ្ជាក់ម្តងទៀត (អ្នកខ្លះអាចទទួលបានពីរដង)",
    },
    "by_channel": {"en": "By channel", "km": "តាមបណ្តាញ"},
    "by_province": {"en": "By province", "km": "តាមខេត្ត"},
    "reasons": {"en": "Skipped because", "km": "មូលហេតុរំលង"},
    "phone_subscribers": {"en": "Phone subscribers (SMS, voice)", "km": "អ្នកជាវតាមទូរសព្ទ"},
    "delivered": {"en": "delivered", "km": "បានទៅដល់"},
    "undelivered": {"en": "not delivered", "km": "មិនបានទៅដល់"},
    "undelivered_reasons": {"en": "Not delivered because", "km": "មូលហេតុមិនបានទៅដល់"},
    "progress": {"en": "Done", "km": "បានធ្វើរួច"},
    "channel": {"en": "Channel", "km": "បណ្តាញ"},
    "province": {"en": "Province", "km": "ខេត្ត"},
    "awaiting_receipts": {
        "en": "delivery receipts awaited",
        "km": "កំពុងរង់ចាំដំណឹងថាបានទៅដល់",
    },
    "no_receipts": {
        "en": "— : the platform does not say whether a message arrived (Telegram, web chat).",
        "km": "— ៖ វេទិកាមិនប្រាប់ថាសារបានទៅដល់ឬអត់ទេ (Telegram, web chat)។",
    },
    "csv": {"en": "Download the report (CSV)", "km": "ទាញយករបាយការណ៍ (CSV)"},
    "no_area": {"en": "no place given", "km": "មិនបានប្រាប់ទីកន្លែង"},
    "messenger_outside_24h": {
        "en": "Messenger, outside 24 hours, no token",
        "km": "Messenger ហួស ២៤ ម៉ោង គ្មានសិទ្ធិផ្ញើ",
    },
    "channel_not_configured": {"en": "channel not set up", "km": "បណ្តាញមិនទាន់រៀបចំ"},
    "sms:undelivered": {"en": "SMS not delivered", "km": "SMS មិនបានទៅដល់"},
    "sms:failed": {"en": "SMS failed", "km": "SMS បរាជ័យ"},
    "voice:busy": {"en": "call: line busy", "km": "ការហៅ៖ ខ្សែរវល់"},
    "voice:no-answer": {"en": "call: no answer", "km": "ការហៅ៖ គ្មានអ្នកលើក"},
    "voice:failed": {"en": "call failed", "km": "ការហៅបរាជ័យ"},
    "voice:canceled": {"en": "call cancelled", "km": "ការហៅត្រូវបានបោះបង់"},
    "announcements": {"en": "Announcements", "km": "សេចក្តីប្រកាស"},
    "recordings": {
        "en": "Recordings (voice calls and voice notes)",
        "km": "ការថតសំឡេង (ការហៅទូរសព្ទ និងសារសំឡេង)",
    },
    "audio_km": {"en": "Khmer recording", "km": "ការថតសំឡេងជាភាសាខ្មែរ"},
    "audio_en": {"en": "English recording", "km": "ការថតសំឡេងជាភាសាអង់គ្លេស"},
    "audio_other": {
        "en": "Recording in another language (e.g. an indigenous language), for everyone "
        "without one in their language",
        "km": "ការថតសំឡេងជាភាសាផ្សេង (ឧ. ភាសាជនជាតិដើមភាគតិច) សម្រាប់អ្នកដែលគ្មានការថតជាភាសារបស់ខ្លួន",
    },
    "audio_hint": {
        "en": "MP3, OGG, WAV or M4A, at most 5 MB. A call plays an MP3 or WAV recording "
        "(with another format it reads the text); chat subscribers get the recording after "
        "the text. Changing a recording sends the announcement back to draft.",
        "km": "MP3, OGG, WAV ឬ M4A អតិបរមា ៥ មេកាបៃ។ ការហៅទូរសព្ទចាក់ការថតសំឡេង MP3 ឬ WAV "
        "(ទម្រង់ផ្សេងទៀត វានឹងអានអត្ថបទ)។ អ្នកជាវតាមការជជែកទទួលបានវាបន្ទាប់ពីអត្ថបទ។ "
        "ការប្ដូរការថតសំឡេង នាំសេចក្តីប្រកាសត្រឡប់ទៅជាសេចក្តីព្រាងវិញ។",
    },
    "no_audio": {
        "en": "no recording: a call says the text",
        "km": "គ្មានការថតសំឡេង៖ ការហៅទូរសព្ទនឹងអានអត្ថបទ",
    },
    "upload": {"en": "Upload recording", "km": "ផ្ទុកការថតសំឡេងឡើង"},
    "remove_audio": {"en": "Remove recording", "km": "លុបការថតសំឡេង"},
    "listen": {"en": "Listen", "km": "ស្តាប់"},
    "public_intro": {
        "en": "Approved announcements and alerts of the social protection mechanism. Media "
        "partners may republish them; the Atom feed has the same.",
        "km": "សេចក្តីប្រកាស និងការព្រមានដែលបានអនុម័តរបស់យន្តការគាំពារសង្គម។ ដៃគូប្រព័ន្ធផ្សព្វផ្សាយអាចចុះផ្សាយឡើងវិញ។",
    },
}
STATUS_WORDS: dict[str, dict[str, str]] = {
    "draft": {"en": "draft", "km": "សេចក្តីព្រាង"},
    "pending_approval": {"en": "waiting for approval", "km": "រង់ចាំការអនុម័ត"},
    "approved": {"en": "approved", "km": "បានអនុម័ត"},
    "planning": {"en": "planning", "km": "កំពុងរៀបចំ"},
    "sending": {"en": "sending", "km": "កំពុងផ្ញើ"},
    "done": {"en": "done", "km": "រួចរាល់"},
    "paused": {"en": "paused", "km": "បានផ្អាក"},
    "cancelled": {"en": "cancelled", "km": "បានបោះបង់"},
    "expired": {"en": "expired", "km": "ផុតកំណត់"},
}
ACTIONS = ("submit", "approve", "pause", "resume", "cancel")
# what can be done now, by status (a button that can only be refused is not shown)
ACTIONS_NOW: dict[str, tuple[str, ...]] = {
    BroadcastStatus.DRAFT: ("submit", "approve", "cancel"),
    BroadcastStatus.PENDING_APPROVAL: ("approve", "cancel"),
    BroadcastStatus.APPROVED: ("pause", "cancel"),
    BroadcastStatus.PLANNING: ("pause", "cancel"),
    BroadcastStatus.SENDING: ("pause", "cancel"),
    BroadcastStatus.PAUSED: ("resume", "cancel"),
}
ALL_ROLES = frozenset(Role)


def _service(request: web.Request) -> DisseminationService:
    return request.config_dict[DISSEMINATION]


def _tr(lang: str) -> Any:
    def tr(key: str) -> str:
        return (LABELS.get(key) or STATUS_WORDS.get(key) or {}).get(lang, key)

    return tr


async def _person(request: web.Request) -> Person:
    who = viewer(request)
    async with request.config_dict[keys.STORE].reading() as session:
        kind = await session.scalar(
            select(Organisation.kind).where(Organisation.id == who.organisation_id)
        )
    return Person(agent_id=who.agent_id, role=who.role, org_kind=str(kind or ""))


def _when(value: str) -> float | None:
    """A datetime-local field in Phnom Penh time, as epoch seconds."""
    if not value.strip():
        return None
    local = datetime.fromisoformat(value.strip()).replace(tzinfo=PHNOM_PENH)
    return local.timestamp()


def _shown(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, PHNOM_PENH).strftime("%Y-%m-%d %H:%M")


def _list(value: str) -> list[str]:
    return [v for v in value.replace(",", " ").split() if v]


def _url(request: web.Request, name: str, **parts: str | int) -> str:
    return state(request).registry.url(f"broadcasts:{name}", **parts)


async def list_page(request: web.Request) -> web.Response:
    lang = ui_language(request)
    facts = await knowledge_facts(request)
    return render(
        request,
        "dissemination/list.html",
        title=_tr(lang)("broadcasts"),
        tr=_tr(lang),
        items=await _service(request).broadcasts(),
        topics=list(Topic),
        facts=facts,
        shown=_shown,
        detail=lambda b: _url(request, "detail", id=b.id),
        create_url=_url(request, "create"),
        subscribers_url=_url(request, "phone_subscribers"),
    )


async def create(request: web.Request) -> web.StreamResponse:
    form = {k: (v[0] if v else "") for k, v in (await fields(request)).items()}
    text_km, text_en = form.get("text_km", ""), form.get("text_en", "")
    fact_id = form.get("fact", "")
    if fact_id:
        facts = {f.id: f for f in await knowledge_facts(request)}
        if fact_id in facts:
            text_km = f"{text_km}\n{facts[fact_id].km}".strip()
            text_en = f"{text_en}\n{facts[fact_id].en}".strip()
    broadcast_id = await _service(request).create_draft(
        await _person(request),
        title_km=form.get("title_km", ""),
        title_en=form.get("title_en", ""),
        text_km=text_km,
        text_en=text_en,
        topic=form.get("topic", Topic.PROGRAMMES),
        area_codes=_list(form.get("area_codes", "")),
        channels=_list(form.get("channels", "")),
        languages=_list(form.get("languages", "")),
        scheduled_at=_when(form.get("scheduled_at", "")),
        expires_at=_when(form.get("expires_at", "")),
    )
    return done(request, _url(request, "detail", id=broadcast_id), {"id": broadcast_id})


def _previews(broadcast: Broadcast) -> list[dict[str, Any]]:
    rows = []
    for channel, limit in CHANNEL_LIMITS.items():
        for language in ("km", "en"):
            text = broadcast.text(language)
            rows.append(
                {
                    "channel": channel,
                    "language": language,
                    "text": text,
                    "length": len(text),
                    "limit": limit,
                    "ok": len(text) <= limit,
                }
            )
    return rows


# ----- reports: counts only (never a phone number or chat id) --------------------------------

REPORT_COLUMNS = (
    "targeted",
    "queued",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "blocked",
    "skipped",
    "cancelled",
    "expired",
    "unconfirmed",
)
RECEIPT_COLUMNS = ("delivered", "undelivered")  # unknown ("—") on channels without receipts
REPORT_POLL_S = 3
# once done, the report follows the delivery receipts still awaited (an SMS's can take
# minutes), more slowly, for up to an hour; a Messenger user offline for days sends none
RECEIPT_POLL_S = 15
RECEIPT_FOLLOW_S = 3600


@functools.lru_cache(maxsize=4)
def _places(directory: Path) -> PlaceNames:
    return PlaceNames.load(directory)


def _province_name(request: web.Request, code: str, lang: str) -> str:
    if code == "-":
        return str(_tr(lang)("no_area"))
    places = _places(request.config_dict[keys.SETTINGS].gazetteer_path.parent)
    return places.describe(code, lang) or code


def _cells(row: dict[str, int]) -> list[tuple[str, int | None]]:
    """A row's counts in REPORT_COLUMNS order; None where the platform does not say."""
    return [(c, row.get(c, None if c in RECEIPT_COLUMNS else 0)) for c in REPORT_COLUMNS]


def _totals(report: Report) -> dict[str, int]:
    """The broadcast's counts; delivered only when one of its channels has receipts."""
    return {
        c: getattr(report, c)
        for c in REPORT_COLUMNS
        if report.has_receipts or c not in RECEIPT_COLUMNS
    }


def _following(report: Report) -> bool:
    """Whether an open report page keeps taking its numbers: while the broadcast is sent,
    and once done while receipts are awaited, for up to RECEIPT_FOLLOW_S."""
    if report.status in LIVE:
        return True
    return (
        report.done_at is not None
        and time.time() - report.done_at < RECEIPT_FOLLOW_S
        and report.awaiting_receipts > 0
    )


def _shape(report: Report) -> str:
    """The status and rows a page shows: when the JSON has others, the live page reloads."""
    return (
        report.status
        + "|"
        + "|".join(
            " ".join(sorted(keys_))
            for keys_ in (
                report.by_channel,
                report.by_province,
                report.skipped_reasons,
                report.undelivered_reasons,
            )
        )
    )


def _report_rows(request: web.Request, report: Report, lang: str) -> dict[str, Any]:
    return {
        "channels": [(name, name, _cells(row)) for name, row in sorted(report.by_channel.items())],
        "provinces": [
            (code, _province_name(request, code, lang), _cells(row))
            for code, row in sorted(report.by_province.items())
        ],
        "totals": _cells(_totals(report)),
        "shape": _shape(report),
        "columns": REPORT_COLUMNS,
        "receipt_columns": RECEIPT_COLUMNS,
    }


async def detail(request: web.Request) -> web.Response:
    lang = ui_language(request)
    service = _service(request)
    broadcast = await service.get(path_id(request, "broadcast"))
    report = await service.report(broadcast.id)
    verbs = list(ACTIONS_NOW.get(broadcast.status, ()))
    if report.unconfirmed and broadcast.status in (BroadcastStatus.SENDING, BroadcastStatus.DONE):
        verbs.append("resend_unconfirmed")
    return render(
        request,
        "dissemination/detail.html",
        title=broadcast.title_en or broadcast.text_en[:40],
        tr=_tr(lang),
        b=broadcast,
        live=_following(report),
        previews=_previews(broadcast),
        # the preview reads every subscriber: only until the plan's counts replace it
        counts=await service.recipient_count(broadcast) if broadcast.status in PREVIEW else None,
        report=report,
        shown=_shown,
        actions=[(a, _url(request, "action", id=broadcast.id, action=a)) for a in verbs],
        recordings=await _recording_rows(request, broadcast),
        page="broadcast",
        topic_name=TOPIC_NAMES.get(broadcast.topic, {}).get(lang, broadcast.topic),
        area_names=[_province_name(request, code, lang) for code in broadcast.area_codes],
        sent_yet=broadcast.status not in (BroadcastStatus.DRAFT, BroadcastStatus.PENDING_APPROVAL),
        rows=_report_rows(request, report, lang),
        report_url=_url(request, "report", id=broadcast.id),
        csv_url=_url(request, "report_csv", id=broadcast.id),
        poll_ms=(REPORT_POLL_S if broadcast.status in LIVE else RECEIPT_POLL_S) * 1000,
    )


EDITABLE = (BroadcastStatus.DRAFT, BroadcastStatus.PENDING_APPROVAL)
URL_LANGUAGE = {v: k for k, v in AUDIO_URL_LANGUAGE.items()}  # 'other' -> ''


async def _recording_rows(request: web.Request, broadcast: Broadcast) -> list[dict[str, Any]]:
    """One row per language: its recording (a player) and, while editable, the forms."""
    found = {
        r.language: r for r in (await _service(request).recordings([broadcast.id]))[broadcast.id]
    }
    rows = []
    for language, segment in AUDIO_URL_LANGUAGE.items():
        parts: dict[str, str | int] = {"id": broadcast.id, "lang": segment}
        rows.append(
            {
                "label": f"audio_{segment}",
                "recording": found.get(language),
                "src": _url(request, "audio", **parts),
                "upload": _url(request, "audio_upload", **parts),
                "remove": _url(request, "audio_remove", **parts),
                "editable": broadcast.status in EDITABLE,
            }
        )
    return rows


def _audio_language(request: web.Request) -> str:
    segment = request.match_info["lang"]
    if segment not in URL_LANGUAGE:
        raise NotFound("no such recording")
    return URL_LANGUAGE[segment]


async def upload_audio(request: web.Request) -> web.StreamResponse:
    """The detail page's file field (multipart, under the console's CSRF token)."""
    broadcast_id = path_id(request, "broadcast")
    language = _audio_language(request)
    if request.content_type != "multipart/form-data":
        raise Invalid("send the recording as a file", km="សូមផ្ញើការថតសំឡេងជាឯកសារ")
    upload = (await request.post()).get("audio")
    if not isinstance(upload, FileField):
        raise Invalid("choose a recording to upload", km="សូមជ្រើសរើសការថតសំឡេងដើម្បីផ្ទុកឡើង")
    data = upload.file.read(MAX_AUDIO_BYTES + 1)
    recording = await _service(request).attach_audio(
        broadcast_id, language, data, upload.content_type
    )
    return done(
        request,
        _url(request, "detail", id=broadcast_id),
        {"size": recording.size, "content_type": recording.content_type},
    )


async def remove_audio(request: web.Request) -> web.StreamResponse:
    broadcast_id = path_id(request, "broadcast")
    removed = await _service(request).remove_audio(broadcast_id, _audio_language(request))
    return done(request, _url(request, "detail", id=broadcast_id), {"removed": removed})


def _audio_response(request: web.Request, recording: Recording, cache: str) -> web.Response:
    """The bytes with their type, length and ETag (a 304 when the caller has them), or the
    one byte range asked for (players seek, and some play nothing without ranges)."""
    etag = f'"{recording.sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": cache,
        "Accept-Ranges": "bytes",
        "Content-Type": recording.content_type,
    }
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    data, size = recording.data, len(recording.data)
    wanted = _RANGE.fullmatch(request.headers.get("Range", "").strip())
    if wanted is None:
        return web.Response(body=data, headers=headers)
    first, last = wanted.groups()
    if (not first and not last) or (first and last and int(last) < int(first)):
        return web.Response(body=data, headers=headers)  # not a valid range: ignored
    if first:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    else:
        start, end = max(size - int(last or 0), 0), size - 1
    if start > end or start >= size:
        headers["Content-Range"] = f"bytes */{size}"
        return web.Response(status=416, headers=headers)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return web.Response(status=206, body=data[start : end + 1], headers=headers)


_RANGE = re.compile(r"bytes=(\d{0,15})-(\d{0,15})")


async def console_audio(request: web.Request) -> web.Response:
    """The recording of any broadcast, for the people who draft and approve it."""
    recording = await _service(request).audio(
        path_id(request, "broadcast"), _audio_language(request)
    )
    if recording is None:
        raise NotFound("no such recording")
    return _audio_response(request, recording, "private, no-cache")


async def action(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    broadcast_id = path_id(request, "broadcast")
    verb = request.match_info["action"]
    if verb == "submit":
        await service.submit(broadcast_id)
    elif verb == "approve":
        await service.approve(broadcast_id, await _person(request))
    elif verb == "pause":
        await service.pause(broadcast_id)
    elif verb == "resume":
        await service.resume(broadcast_id)
    elif verb == "cancel":
        await service.cancel(broadcast_id)
    elif verb == "resend_unconfirmed":
        await service.resend_unconfirmed(broadcast_id)
    else:
        raise web.HTTPNotFound()
    return done(request, _url(request, "detail", id=broadcast_id), {"ok": True})


async def report_json(request: web.Request) -> web.Response:
    report = await _service(request).report(path_id(request, "broadcast"))
    return web.json_response(
        report.__dict__
        | {
            "done_share": report.done_share,
            "awaiting_receipts": report.awaiting_receipts,
            "live": _following(report),
            "shape": _shape(report),
            "receipt_channels": list(RECEIPT_CHANNELS),
        }
    )


async def report_csv(request: web.Request) -> web.Response:
    """The report for the secretariat: counts per channel and province, and the reasons;
    an empty delivered cell is unknown (a channel without receipts)."""
    broadcast_id = path_id(request, "broadcast")
    report = await _service(request).report(broadcast_id)
    en, km = _tr("en"), _tr("km")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["scope", "code", "name_en", "name_km", *REPORT_COLUMNS])

    def counts(row: dict[str, int]) -> list[str]:
        return ["" if v is None else str(v) for _c, v in _cells(row)]

    writer.writerow(["total", "", "", "", *counts(_totals(report))])
    for name, row in sorted(report.by_channel.items()):
        writer.writerow(["channel", name, name, name, *counts(row)])
    for code, row in sorted(report.by_province.items()):
        writer.writerow(
            [
                "province",
                code,
                _province_name(request, code, "en"),
                _province_name(request, code, "km"),
                *counts(row),
            ]
        )
    for scope, column, reasons in (
        ("skipped_because", "skipped", report.skipped_reasons),
        ("not_delivered_because", "undelivered", report.undelivered_reasons),
    ):
        for reason, n in sorted(reasons.items()):
            cells = [str(n) if c == column else "" for c in REPORT_COLUMNS]
            writer.writerow([scope, reason, en(reason), km(reason), *cells])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="broadcast-{broadcast_id}-report.csv"'
        },
    )


def _setup(routes: FeatureRoutes) -> None:
    routes.get("", list_page, name="list")
    routes.post("", create, name="create")
    add_phone_pages(routes)  # /subscribers: before /{id}
    routes.get("/{id}", detail, name="detail")
    routes.post("/{id}/{action}", action, name="action")
    routes.get("/{id}/audio/{lang}", console_audio, name="audio")
    routes.post("/{id}/audio/{lang}", upload_audio, name="audio_upload")
    routes.post("/{id}/audio/{lang}/remove", remove_audio, name="audio_remove")
    routes.api_get("/{id}/report", report_json, name="report")
    routes.get("/{id}/report.csv", report_csv, name="report_csv")


BROADCASTS_FEATURE = ConsoleFeature(
    name="broadcasts",
    label_km="ការផ្សព្វផ្សាយ",
    label_en="Broadcasts",
    roles=ALL_ROLES,
    setup=_setup,
    prefix="/broadcasts",
    home="list",
    templates="bot.dissemination",
    uploads={"broadcasts:audio_upload": MAX_AUDIO_BYTES + 64 * 1024},  # the form around it
)

# ----- public pages ------------------------------------------------------------------------

_PUBLIC = Environment(
    loader=PackageLoader("bot.dissemination", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def _iso(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch or time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def announcements_page(request: web.Request) -> web.Response:
    lang = "en" if request.query.get("lang") == "en" else "km"
    service = request.config_dict[DISSEMINATION]
    items = await service.published()
    html = _PUBLIC.get_template("dissemination/public.html").render(
        lang=lang,
        tr=_tr(lang),
        items=items,
        shown=_shown,
        recordings=await service.recordings(b.id for b in items),
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def announcements_atom(request: web.Request) -> web.Response:
    service = request.config_dict[DISSEMINATION]
    items = await service.published()
    base = f"{request.scheme}://{request.host}"
    updated = _iso(
        max((b.published_at or 0 for b in items), default=calendar.timegm(time.gmtime()))
    )
    xml = _PUBLIC.get_template("dissemination/feed.atom").render(
        items=items,
        base=base,
        updated=updated,
        iso=_iso,
        recordings=await service.recordings(b.id for b in items),
    )
    return web.Response(text=xml, content_type="application/atom+xml", charset="utf-8")


async def announcement_audio(request: web.Request) -> web.Response:
    """An approved announcement's recording, for phone platforms (a call plays it), chat
    platforms (a voice note), the web chat and listeners; never a draft's (404)."""
    raw, segment = request.match_info["id"], request.match_info["lang"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or segment not in URL_LANGUAGE:
        raise web.HTTPNotFound()
    broadcast_id = int(raw)
    if broadcast_id > 2**31 - 1:  # an INTEGER column: PostgreSQL refuses more
        raise web.HTTPNotFound()
    recording = await request.config_dict[DISSEMINATION].audio(
        broadcast_id, URL_LANGUAGE[segment], published_only=True
    )
    if recording is None:
        raise web.HTTPNotFound()
    # an approved announcement's recording no longer changes
    return _audio_response(request, recording, "public, max-age=86400")


def add_public_routes(app: web.Application) -> None:
    app.router.add_get("/announcements", announcements_page)
    app.router.add_get("/announcements.atom", announcements_atom)
    app.router.add_get("/announcements/{id}/audio/{lang}", announcement_audio)
    add_inbound_sms_route(app)  # Somleng's inbound SMS: STOP / ឈប់ by SMS
