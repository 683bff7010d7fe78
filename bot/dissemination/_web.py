"""The console's broadcasts feature (/console/broadcasts) and the public announcements page
and Atom feed (/announcements, /announcements.atom).

Drafts are written in Khmer and English, may quote facts of the knowledge base, and are
approved by a second person (the service's rules); the detail page shows each channel's
preview with its length limit, the number of recipients, and the live report (the page
reloads itself every few seconds while a broadcast is sent)."""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select

from .. import keys
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
from ..storage._db import Organisation
from . import DISSEMINATION
from ._knowledge import knowledge_facts
from ._phone import add_inbound_sms_route
from ._phone_web import add_phone_pages
from ._service import CHANNEL_LIMITS, Broadcast, DisseminationService, Person
from ._tables import BroadcastStatus, Topic

__all__ = ["BROADCASTS_FEATURE", "LABELS", "add_public_routes"]

PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")
LIVE = (BroadcastStatus.APPROVED, BroadcastStatus.PLANNING, BroadcastStatus.SENDING)
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
    "by_channel": {"en": "By channel", "km": "តាមបណ្តាញ"},
    "by_province": {"en": "By province", "km": "តាមខេត្ត"},
    "reasons": {"en": "Skipped because", "km": "មូលហេតុរំលង"},
    "phone_subscribers": {"en": "Phone subscribers (SMS, voice)", "km": "អ្នកជាវតាមទូរសព្ទ"},
    "announcements": {"en": "Announcements", "km": "សេចក្តីប្រកាស"},
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


async def detail(request: web.Request) -> web.Response:
    lang = ui_language(request)
    service = _service(request)
    broadcast = await service.get(path_id(request, "broadcast"))
    return render(
        request,
        "dissemination/detail.html",
        title=broadcast.title_en or broadcast.text_en[:40],
        tr=_tr(lang),
        b=broadcast,
        live=broadcast.status in LIVE,
        previews=_previews(broadcast),
        counts=await service.recipient_count(broadcast),
        report=await service.report(broadcast.id),
        shown=_shown,
        actions=[(a, _url(request, "action", id=broadcast.id, action=a)) for a in ACTIONS],
    )


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
    else:
        raise web.HTTPNotFound()
    return done(request, _url(request, "detail", id=broadcast_id), {"ok": True})


async def report_json(request: web.Request) -> web.Response:
    report = await _service(request).report(path_id(request, "broadcast"))
    return web.json_response(report.__dict__ | {"done_share": report.done_share})


def _setup(routes: FeatureRoutes) -> None:
    routes.get("", list_page, name="list")
    routes.post("", create, name="create")
    add_phone_pages(routes)  # /subscribers: before /{id}
    routes.get("/{id}", detail, name="detail")
    routes.post("/{id}/{action}", action, name="action")
    routes.api_get("/{id}/report", report_json, name="report")


BROADCASTS_FEATURE = ConsoleFeature(
    name="broadcasts",
    label_km="ការផ្សព្វផ្សាយ",
    label_en="Broadcasts",
    roles=ALL_ROLES,
    setup=_setup,
    prefix="/broadcasts",
    home="list",
    templates="bot.dissemination",
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
    items = await request.config_dict[DISSEMINATION].published()
    html = _PUBLIC.get_template("dissemination/public.html").render(
        lang=lang, tr=_tr(lang), items=items, shown=_shown
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def announcements_atom(request: web.Request) -> web.Response:
    items = await request.config_dict[DISSEMINATION].published()
    base = f"{request.scheme}://{request.host}"
    updated = _iso(
        max((b.published_at or 0 for b in items), default=calendar.timegm(time.gmtime()))
    )
    xml = _PUBLIC.get_template("dissemination/feed.atom").render(
        items=items, base=base, updated=updated, iso=_iso
    )
    return web.Response(text=xml, content_type="application/atom+xml", charset="utf-8")


def add_public_routes(app: web.Application) -> None:
    app.router.add_get("/announcements", announcements_page)
    app.router.add_get("/announcements.atom", announcements_atom)
    add_inbound_sms_route(app)  # Somleng's inbound SMS: STOP / ឈប់ by SMS
