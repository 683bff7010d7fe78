"""The alerts on the web: the warning authorities' REST import, the public CAP feed, and
the console feature (list, detail, the senders' approval policy) under /console/alerts.

``POST /api/alerts/v1/cap`` takes one CAP 1.2 document with the sender's bearer token and
answers 201 (stored), 200 (the same document again), or a 4xx whose JSON ``error`` says what
is wrong: 401 no or unknown token, 400 not valid CAP, 403 another sender's alert, 409 the
identifier taken, 413 too large, 422 refused (unknown reference, expired, not in Cambodia).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .. import keys
from .._exceptions import NotAllowed, NotFound
from ..accounts import Role
from ..console import ConsoleFeature, FeatureRoutes, done, fields, path_id, render, ui_language
from ..console import state as console_state
from ..console import viewer as console_viewer
from ..dissemination import DISSEMINATION
from ._cap import MAX_DOCUMENT_BYTES, CapInvalid
from ._feed import FeedPoller, atom_feed
from ._hook import make_hook
from ._models import AlertSource
from ._service import AlertService, CapRefused
from ._settings import AlertSettings

__all__ = ["ALERTS", "ALERTS_FEATURE", "ALERT_SETTINGS", "add_alert_routes"]

log = logging.getLogger("bot.alerts.web")

ALERTS = web.AppKey("alerts", AlertService)
ALERT_SETTINGS = web.AppKey("alert_settings", AlertSettings)
REST_PATH = "/api/alerts/v1/cap"
CAP_CONTENT_TYPE = "application/cap+xml"
POLICY_ROLES = frozenset({Role.ADMIN, Role.SECRETARIAT_REVIEWER})

WORDS: dict[str, dict[str, str]] = {
    "alerts": {"en": "Emergency alerts", "km": "ការព្រមានបន្ទាន់"},
    "senders": {"en": "Alert senders", "km": "អ្នកផ្ញើការព្រមាន"},
    "sent": {"en": "Sent", "km": "ពេលផ្ញើ"},
    "sender": {"en": "Sender", "km": "អ្នកផ្ញើ"},
    "type": {"en": "Type", "km": "ប្រភេទ"},
    "headline": {"en": "Headline", "km": "ចំណងជើង"},
    "severity": {"en": "Severity", "km": "កម្រិតធ្ងន់ធ្ងរ"},
    "urgency": {"en": "Urgency", "km": "ភាពបន្ទាន់"},
    "certainty": {"en": "Certainty", "km": "ភាពប្រាកដ"},
    "areas": {"en": "Areas (codes)", "km": "តំបន់ (លេខកូដ)"},
    "expires": {"en": "Expires", "km": "ផុតកំណត់"},
    "state": {"en": "State", "km": "ស្ថានភាព"},
    "approval": {"en": "Approval", "km": "ការអនុម័ត"},
    "required": {"en": "required", "km": "ត្រូវការ"},
    "waived": {"en": "waived", "km": "លើកលែង"},
    "require": {"en": "Require approval", "km": "តម្រូវឱ្យអនុម័ត"},
    "waive": {"en": "Waive approval", "km": "លើកលែងការអនុម័ត"},
    "none": {"en": "No alerts yet.", "km": "មិនទាន់មានការព្រមាននៅឡើយទេ។"},
    "no_senders": {
        "en": "No senders yet: give one a token with `python -m bot cap-sender token`.",
        "km": "មិនទាន់មានអ្នកផ្ញើទេ៖ ផ្តល់សញ្ញាសម្ងាត់ដោយ `python -m bot cap-sender token`។",
    },
    "source": {"en": "Received by", "km": "ទទួលតាម"},
    "text": {"en": "Message", "km": "សារ"},
    "document": {"en": "CAP document", "km": "ឯកសារ CAP"},
    "policy_by": {"en": "Set by", "km": "កំណត់ដោយ"},
    "feed": {"en": "Public CAP feed", "km": "ព័ត៌មាន CAP សាធារណៈ"},
    "active": {"en": "active", "km": "កំពុងអនុវត្ត"},
    "superseded": {"en": "superseded", "km": "ត្រូវបានជំនួស"},
    "cancelled": {"en": "cancelled", "km": "បានលុបចោល"},
    "expired": {"en": "expired", "km": "ផុតកំណត់"},
    "recorded": {"en": "recorded only", "km": "បានកត់ត្រាតែប៉ុណ្ណោះ"},
}


def words(language: str) -> dict[str, str]:
    """The feature's words in the console's language."""
    return {k: v.get(language) or v["en"] for k, v in WORDS.items()}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _base_url(request: web.Request) -> str:
    public = request.config_dict[keys.SETTINGS].public_url
    return public or f"{request.scheme}://{request.host}"


# ----- public routes -------------------------------------------------------------------------


async def rest_import(request: web.Request) -> web.Response:
    """A warning authority posts one CAP alert with its bearer token."""
    service = request.config_dict[ALERTS]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    sender = await service.sender_by_token(token.strip()) if scheme.lower() == "bearer" else None
    if sender is None:
        response = _error(401, "a valid bearer token of a registered CAP sender is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="cap"'
        return response
    if request.content_length is not None and request.content_length > MAX_DOCUMENT_BYTES:
        return _error(413, f"a CAP alert may be at most {MAX_DOCUMENT_BYTES // 1024} KB")
    try:
        body = await request.content.read(MAX_DOCUMENT_BYTES + 1)
    except (ValueError, web.HTTPException):
        return _error(400, "the request body could not be read")
    if len(body) > MAX_DOCUMENT_BYTES:
        return _error(413, f"a CAP alert may be at most {MAX_DOCUMENT_BYTES // 1024} KB")
    try:
        result = await service.import_cap(body, source=AlertSource.REST, sender=sender)
    except CapInvalid as exc:
        return _error(400, str(exc))
    except CapRefused as exc:
        return _error(exc.status, str(exc))
    return web.json_response(
        {
            "id": result.id,
            "identifier": result.identifier,
            "msg_type": result.msg_type,
            "state": result.state,
            "duplicate": result.duplicate,
            "handed_off": result.handed_off,
            "area_codes": result.imported.area_codes if result.imported else [],
            "url": f"{_base_url(request)}/alerts/{result.id}.xml",
        },
        status=200 if result.duplicate else 201,
    )


async def feed(request: web.Request) -> web.Response:
    """The CAP 1.2 Atom feed of the alerts issued (current ones)."""
    rows = await request.config_dict[ALERTS].feed_alerts()
    return web.Response(
        body=atom_feed(rows, _base_url(request)),
        content_type="application/atom+xml",
        charset="utf-8",
    )


async def alert_xml(request: web.Request) -> web.Response:
    """One alert's CAP document, as received."""
    try:
        alert_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    row = await request.config_dict[ALERTS].alert(alert_id)
    if row is None or row.status != "Actual" or row.scope != "Public":
        raise web.HTTPNotFound()
    return web.Response(text=row.xml, content_type=CAP_CONTENT_TYPE, charset="utf-8")


def add_alert_routes(app: web.Application) -> None:
    """The public routes (the service comes from the console feature's context)."""
    app.router.add_post(REST_PATH, rest_import)
    app.router.add_get("/alerts/feed.atom", feed)
    app.router.add_get(r"/alerts/{id:\d+}.xml", alert_xml)


# ----- console -------------------------------------------------------------------------------


def _at(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def _page(request: web.Request, template: str, section: str, **values: Any) -> web.Response:
    language = ui_language(request)
    return render(
        request,
        f"alerts/{template}",
        page=f"alerts-{template.removesuffix('.html')}",
        section=section,
        w=words(language),
        ui=language,
        at=_at,
        **values,
    )


async def list_page(request: web.Request) -> web.StreamResponse:
    service = request.config_dict[ALERTS]
    await service.expire_due()
    return _page(request, "list.html", "list", rows=await service.alerts())


async def detail_page(request: web.Request) -> web.StreamResponse:
    row = await request.config_dict[ALERTS].alert(path_id(request, "alert"))
    if row is None:
        raise NotFound("no such alert")
    return _page(request, "detail.html", "list", row=row)


async def senders_page(request: web.Request) -> web.StreamResponse:
    who = console_viewer(request)
    return _page(
        request,
        "senders.html",
        "senders",
        senders=await request.config_dict[ALERTS].senders(),
        may_set=who.role in POLICY_ROLES,
    )


async def set_policy(request: web.Request) -> web.StreamResponse:
    """The secretariat requires or waives approval of one sender's alerts."""
    who = console_viewer(request)
    if who.role not in POLICY_ROLES:
        raise NotAllowed("only the secretariat sets a sender's approval policy")
    values = await fields(request)
    sender = (values.get("sender") or [""])[-1]
    choice = (values.get("approval") or [""])[-1]
    if choice not in ("required", "waived") or not sender:
        raise NotFound("no such sender or policy")
    service = request.config_dict[ALERTS]
    if sender not in {s.cap_sender for s in await service.senders()}:
        raise NotFound("no such sender")
    row = await service.set_policy(
        sender, require_approval=choice == "required", by=who.display_name or str(who.agent_id)
    )
    log.info("alerts.policy_set", extra={"agent_id": who.agent_id, "approval": choice})
    location = console_state(request).registry.url("alerts:senders")
    return done(request, location, {"sender": row.cap_sender, "approval": choice})


def _routes(routes: FeatureRoutes) -> None:
    routes.get("", list_page, name="list")
    routes.get(r"/{id:\d+}", detail_page, name="detail")
    routes.get("/senders", senders_page, name="senders")
    routes.post("/senders/policy", set_policy, name="policy")


async def _alerts_ctx(app: web.Application) -> AsyncIterator[None]:
    """The alert service on the gateway's store; polls the configured feeds."""
    # the gateway's dissemination service (set up in _pipeline_ctx, before the console)
    service = AlertService(app[keys.STORE], make_hook(app.get(DISSEMINATION)))
    app[ALERTS] = service
    settings = app.get(ALERT_SETTINGS) or AlertSettings.from_env()
    task: asyncio.Task[None] | None = None
    if settings.feed_urls:
        poller = FeedPoller(service, settings.feed_urls, interval_s=settings.poll_s)
        task = asyncio.create_task(poller.run(), name="cap-feeds")
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


ALERTS_FEATURE = ConsoleFeature(
    name="alerts",
    label_km="ការព្រមានបន្ទាន់",
    label_en="Emergency alerts",
    roles=frozenset({Role.ADMIN, Role.SECRETARIAT_REVIEWER, Role.MINISTRY_EDITOR}),
    setup=_routes,
    prefix="/alerts",
    home="list",
    context=_alerts_ctx,
    templates="bot.alerts",
)
