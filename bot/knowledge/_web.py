"""The knowledge base as a console feature (/console/knowledge) and its public read-only
API (/api/knowledge/v1/catalogue and /schema, no login).

Pages: the programmes with their owner and freshness, a change (edit form, diff of old and
new in both languages, comments, submit / publish / send back), the published revisions
with roll back, and the quality report (facts past the age limit, non-official sources).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

import kbprofile

from .. import keys
from .._exceptions import Invalid, NotFound
from ..accounts import Role
from ..console import (
    LIVE_CATALOGUE,
    ConsoleFeature,
    FeatureRoutes,
    fields,
    path_id,
    render,
    state,
    ui_language,
    viewer,
)
from ..storage._db import Agent
from ._labels import klabel
from ._models import ChangeStatus
from ._preview import QUESTIONS, preview_answers
from ._service import AMOUNT_PERIODS, AMOUNT_UNITS, Actor, KnowledgeService, SourceInput, diff

__all__ = [
    "CATALOGUE_PATH",
    "KNOWLEDGE",
    "KNOWLEDGE_FEATURE",
    "SCHEMA_PATH",
    "add_knowledge_api",
]

KNOWLEDGE = web.AppKey("knowledge", KnowledgeService)
CATALOGUE_PATH = "/api/knowledge/v1/catalogue"
SCHEMA_PATH = "/api/knowledge/v1/schema"
MAX_AGE_ENV = "SP4ALL_KNOWLEDGE_MAX_AGE_DAYS"
DEFAULT_MAX_AGE_DAYS = 365
JSON_TYPE = "application/json"
log = logging.getLogger("bot.knowledge.web")


def max_age_days() -> int:
    """How old a verified date may get before the fact is flagged (days)."""
    raw = os.environ.get(MAX_AGE_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_AGE_DAYS


def _service(request: web.Request) -> KnowledgeService:
    return request.config_dict[KNOWLEDGE]


async def _actor(request: web.Request) -> Actor:
    return await _service(request).actor(viewer(request))


def _url(request: web.Request, name: str, **parts: str | int) -> str:
    return state(request).registry.url(f"knowledge:{name}", **parts)


def _page(request: web.Request, template: str, title: str, **values: Any) -> web.Response:
    lang = ui_language(request)
    return render(
        request,
        f"knowledge/{template}",
        k=partial(klabel, lang=lang),
        title_words=klabel(title, lang=lang),
        amount=kbprofile.amount_words,
        date=kbprofile.date_words,
        num=partial(kbprofile.format_number, language=lang),
        unit_name=kbprofile.unit_name,
        period_name=kbprofile.period_name,
        page="knowledge",
        **values,
    )


def _one(values: dict[str, list[str]], name: str) -> str:
    return (values.get(name) or [""])[-1]


async def _names(request: web.Request, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    async with request.config_dict[keys.STORE].reading() as session:
        rows = await session.execute(select(Agent.id, Agent.display_name).where(Agent.id.in_(ids)))
        return {int(i): str(n) for i, n in rows.all()}


# ----- pages ---------------------------------------------------------------------------


async def home(request: web.Request) -> web.Response:
    service = _service(request)
    actor = await _actor(request)
    live = await service.live()
    document = live.document() if live else {"services": [], "organizations": []}
    stale = await service.stale_facts(max_age_days())
    stale_by_service: dict[str, int] = {}
    for fact in stale:
        stale_by_service[fact["service"]] = stale_by_service.get(fact["service"], 0) + 1
    lang = ui_language(request)
    programmes = [
        {
            "id": s["id"],
            "title": kbprofile.title_of(s, lang, s["id"]),
            "name": s["name"],
            "owner": kbprofile.organisation_name(document, s["organization_id"], lang),
            "stale": stale_by_service.get(s["id"], 0),
            "may_draft": service.may_draft(actor, s),
        }
        for s in document["services"]
    ]
    changes = await service.changes()
    names = await _names(request, {c.author_id for c in changes})
    titles = {p["id"]: p["title"] for p in programmes}
    return _page(
        request,
        "home.html",
        "knowledge",
        live=live,
        programmes=programmes,
        changes=changes,
        titles=titles,
        names=names,
        actor=actor,
        max_age=max_age_days(),
    )


async def draft(request: web.Request) -> web.StreamResponse:
    actor = await _actor(request)
    change_id = await _service(request).start(actor, request.match_info["service"])
    raise web.HTTPSeeOther(_url(request, "change", id=change_id))


def _form_rows(service: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    return [
        {
            "path": path,
            "label": kbprofile.fact_label(path, lang, service),
            "fact": fact,
            "amount": path.endswith(".amount"),
        }
        for path, fact in kbprofile.fact_paths(service)
    ]


def _diff_rows(base: dict[str, Any], current: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The changed facts, each labelled in words from the draft's (or the live) names."""
    return [
        {
            "path": c.path,
            "label": kbprofile.fact_label(c.path, lang, current, base),
            "amount": c.path.endswith(".amount"),
            "old": c.old,
            "new": c.new,
        }
        for c in diff(base, current)
    ]


async def change(request: web.Request) -> web.Response:
    knowledge = _service(request)
    actor = await _actor(request)
    row = await knowledge.change(path_id(request, "change"))
    base = json.loads(row.base_service)
    current = json.loads(row.service)
    lang = ui_language(request)
    changes = _diff_rows(base, current, lang)
    sources = {s["id"]: s for s in current["sources"]}
    comments = await knowledge.comments(row.id)
    names = await _names(
        request, {row.author_id} | ({row.decided_by} if row.decided_by else set())
    )
    lock = await knowledge.lock_of(row.service_id)
    return _page(
        request,
        "change.html",
        "change",
        change=row,
        service=current,
        programme=kbprofile.title_of(current, lang, row.service_id),
        rows=_form_rows(current, lang),
        changes=changes,
        sources=sources,
        comments=comments,
        names=names,
        actor=actor,
        may_edit=row.author_id == actor.agent_id and row.status == ChangeStatus.DRAFT,
        may_review=actor.reviewer and row.status == ChangeStatus.IN_REVIEW,
        locked_by_other=lock is not None and lock.agent_id != actor.agent_id,
        units=AMOUNT_UNITS,
        periods=AMOUNT_PERIODS,
    )


def _edits(values: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    edits: dict[str, dict[str, str]] = {}
    for key, found in values.items():
        if key.startswith("fact:") and key.count(":") == 2:
            _, path, part = key.split(":")
            edits.setdefault(path, {})[part] = found[-1]
    return edits


def _source(values: dict[str, list[str]]) -> SourceInput | None:
    parts = {
        n: _one(values, f"source_{n}").strip()
        for n in ("url", "title", "issuer", "date", "verified")
    }
    if not any(parts.values()):
        return None
    return SourceInput(**parts)


async def save(request: web.Request) -> web.StreamResponse:
    change_id = path_id(request, "change")
    values = await fields(request)
    try:
        version = int(_one(values, "version"))
    except ValueError as exc:
        raise Invalid(
            "the form has no version: reload the page",
            km="ទម្រង់នេះគ្មានលេខកំណែ៖ សូមបើកទំព័រឡើងវិញ",
        ) from exc
    actor = await _actor(request)
    await _service(request).save(actor, change_id, version, _edits(values), _source(values))
    raise web.HTTPSeeOther(_url(request, "change", id=change_id))


async def _decision(request: web.Request, what: str) -> web.StreamResponse:
    change_id = path_id(request, "change")
    note = _one(await fields(request), "note")
    actor = await _actor(request)
    knowledge = _service(request)
    if what == "submit":
        await knowledge.submit(actor, change_id, note)
    elif what == "publish":
        await knowledge.publish(actor, change_id, note)
    elif what == "reject":
        await knowledge.reject(actor, change_id, note)
    else:
        await knowledge.comment(actor, change_id, note)
    raise web.HTTPSeeOther(_url(request, "change", id=change_id))


async def submit(request: web.Request) -> web.StreamResponse:
    return await _decision(request, "submit")


async def publish(request: web.Request) -> web.StreamResponse:
    return await _decision(request, "publish")


async def reject(request: web.Request) -> web.StreamResponse:
    return await _decision(request, "reject")


async def comment(request: web.Request) -> web.StreamResponse:
    return await _decision(request, "comment")


async def preview(request: web.Request) -> web.Response:
    """The standard answers from the draft and from the live revision, in both languages."""
    knowledge = _service(request)
    row = await knowledge.change(path_id(request, "change"))
    live = await knowledge.live()
    if live is None:
        raise NotFound(
            "no published knowledge base yet",
            km="មូលដ្ឋានចំណេះដឹងមិនទាន់មានកំណែដែលបានផ្សព្វផ្សាយនៅឡើយទេ",
        )
    document = live.document()
    draft = json.loads(json.dumps(document))
    draft["services"] = [
        json.loads(row.service) if s["id"] == row.service_id else s for s in draft["services"]
    ]
    answers = await preview_answers(
        {"draft": kbprofile.normalise(draft), "live": document}, row.service_id
    )
    return _page(
        request,
        "preview.html",
        "preview",
        change=row,
        programme=kbprofile.title_of(
            json.loads(row.service), ui_language(request), row.service_id
        ),
        answers=answers,
        questions=QUESTIONS,
    )


_NOTE_CHANGE = re.compile(r"change (\d+)")
_NOTE_ROLLBACK = re.compile(r"rollback to r(\d+)")


def note_words(note: str, lang: str) -> str:
    """A revision's note: the notes the workflow writes itself in words, a person's as is."""
    number = partial(kbprofile.format_number, language=lang)
    if note == "seed":
        return klabel("note_seed", lang=lang)
    if found := _NOTE_CHANGE.fullmatch(note):
        return klabel("note_change", lang=lang, number=number(int(found[1])))
    if found := _NOTE_ROLLBACK.fullmatch(note):
        return klabel("note_rollback", lang=lang, number=number(int(found[1])))
    return note


async def history(request: web.Request) -> web.Response:
    revisions = await _service(request).revisions()
    names = await _names(request, {r.published_by for r in revisions if r.published_by})
    actor = await _actor(request)
    lang = ui_language(request)
    notes = {r.number: note_words(r.note or "", lang) for r in revisions}
    return _page(
        request,
        "history.html",
        "history",
        revisions=revisions,
        names=names,
        notes=notes,
        actor=actor,
    )


async def rollback(request: web.Request) -> web.StreamResponse:
    actor = await _actor(request)
    await _service(request).rollback(actor, path_id(request, "revision"))
    raise web.HTTPSeeOther(_url(request, "history"))


async def report(request: web.Request) -> web.Response:
    knowledge = _service(request)
    lang = ui_language(request)
    live = await knowledge.live()
    document = live.document() if live else {"services": [], "organizations": []}
    services = {s["id"]: s for s in document["services"]}

    def worded(found: dict[str, Any]) -> dict[str, Any]:
        service = services.get(found["service"], {})
        words = {
            "programme": kbprofile.title_of(service, lang, found["service"]),
            "owner_name": kbprofile.organisation_name(document, found["owner"], lang),
        }
        if "path" in found:
            words["label"] = kbprofile.fact_label(found["path"], lang, service)
        return {**found, **words}

    return _page(
        request,
        "report.html",
        "report",
        stale=[worded(f) for f in await knowledge.stale_facts(max_age_days())],
        sources=[worded(s) for s in await knowledge.source_report()],
        max_age=max_age_days(),
    )


# ----- the public API ------------------------------------------------------------------


async def catalogue(request: web.Request) -> web.StreamResponse:
    """The live revision in the HSDS profile; ETag / If-None-Match make polling cheap."""
    knowledge = request.app[KNOWLEDGE]
    head = await knowledge.live_etag()
    if head is None:
        raise web.HTTPServiceUnavailable(text="no published knowledge base yet")
    number, etag = head
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Knowledge-Revision": str(number)}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    live = await knowledge.live()
    if live is None:  # pragma: no cover - the head was there a moment ago
        raise NotFound(
            "no published knowledge base yet",
            km="មូលដ្ឋានចំណេះដឹងមិនទាន់មានកំណែដែលបានផ្សព្វផ្សាយនៅឡើយទេ",
        )
    headers = {
        "ETag": live.etag,
        "Cache-Control": "no-cache",
        "X-Knowledge-Revision": str(live.number),
    }
    if request.query.get("download"):
        headers["Content-Disposition"] = (
            f'attachment; filename="sp4all-knowledge-r{live.number}.json"'
        )
    return web.Response(text=live.text, content_type=JSON_TYPE, charset="utf-8", headers=headers)


async def schema(request: web.Request) -> web.Response:
    return web.Response(
        body=kbprofile.SCHEMA_PATH.read_bytes(),
        content_type="application/schema+json",
        charset="utf-8",
    )


def add_knowledge_api(app: web.Application) -> None:
    """The public read-only API on the gateway's root app."""
    app.router.add_get(CATALOGUE_PATH, catalogue)
    app.router.add_get(SCHEMA_PATH, schema)


def _routes(routes: FeatureRoutes) -> None:
    routes.get("", home, name="home")
    routes.post("/programmes/{service}/draft", draft, name="draft")
    routes.get("/changes/{id}", change, name="change")
    routes.post("/changes/{id}/save", save, name="save")
    routes.post("/changes/{id}/submit", submit, name="submit")
    routes.post("/changes/{id}/publish", publish, name="publish")
    routes.post("/changes/{id}/reject", reject, name="reject")
    routes.post("/changes/{id}/comment", comment, name="comment")
    routes.get("/changes/{id}/preview", preview, name="preview")
    routes.get("/history", history, name="history")
    routes.post("/history/{id}/rollback", rollback, name="rollback")
    routes.get("/report", report, name="report")


def _back(request: web.Request) -> str:
    """A refused form about a change leads back to that change."""
    parts = request.path.split("/changes/")
    if len(parts) == 2 and parts[1].split("/")[0].isdigit():
        return _url(request, "change", id=parts[1].split("/")[0])
    return _url(request, "home")


async def _knowledge_ctx(app: web.Application) -> AsyncIterator[None]:
    """The workflow on the gateway's database; the seed files become revision 1."""
    sessions = async_sessionmaker(app[keys.ENGINE], expire_on_commit=False)
    app[KNOWLEDGE] = service = KnowledgeService(sessions)
    app[LIVE_CATALOGUE] = service.live_document  # canned replies quote the live facts
    try:
        await service.ensure_seeded(app[keys.SETTINGS].knowledge_dir)
    except kbprofile.ProfileError as exc:  # no seed here: the catalogue waits for an import
        log.warning("knowledge.no_seed", extra={"error": str(exc)[:200]})
    yield


KNOWLEDGE_FEATURE = ConsoleFeature(
    name="knowledge",
    label_km="មូលដ្ឋានចំណេះដឹង",
    label_en="Knowledge base",
    roles=frozenset(
        {Role.MINISTRY_EDITOR, Role.SECRETARIAT_REVIEWER, Role.ADMIN, Role.AGENT, Role.SUPERVISOR}
    ),
    setup=_routes,
    prefix="/knowledge",
    home="home",
    context=_knowledge_ctx,
    templates="bot.knowledge",
    back=_back,
)
