"""The retraining tool's routes under /console/training (admins only).

The console's middleware already checks the login and, on every POST, the CSRF token and
the origin; here every handler also requires the admin role, and turns the service's
refusals (TrainingError) and the console's (HandoffError) into a 4xx page or JSON, never a
5xx. Forms get a 303 back to a page; JSON requests get JSON.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from .. import keys
from .._exceptions import (
    ActivationFailed,
    Conflict,
    GatewayError,
    HandoffError,
    Invalid,
    InvalidAnnotation,
    NotAllowed,
    NotFound,
    TrainingBusy,
    TrainingError,
    TrainingFailed,
    TrainingForbidden,
)
from ..console import html_response, page_context, request_fields, wants_json
from ..console._auth import AUTH, require_role
from ..console._pages import error_page
from ..storage._db import Agent, AgentRole, ModelEntry, TrainingJob
from ._pages import (
    API_PREFIX,
    PREFIX,
    SECTIONS,
    IntentForm,
    annotations_page,
    audit_page,
    intents_page,
    job_json,
    job_page,
    jobs_page,
    models_page,
    review_page,
)
from ._service import Actor, TrainingService
from ._text import normalise

__all__ = ["add_training_routes"]

log = logging.getLogger("bot.training.web")

REFUSAL_STATUS: tuple[tuple[type[GatewayError], int], ...] = (
    (TrainingForbidden, 403),
    (NotAllowed, 403),
    (NotFound, 404),
    (InvalidAnnotation, 400),
    (Invalid, 400),
    (TrainingBusy, 409),
    (ActivationFailed, 409),
    (TrainingFailed, 409),
    (Conflict, 409),
)
DEFAULT_REFUSAL_STATUS = 400

AdminHandler = Callable[[web.Request, Actor], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ----- helpers -------------------------------------------------------------------------------


def _service(request: web.Request) -> TrainingService:
    return request.app[keys.TRAINING]


async def _actor(request: web.Request) -> Actor:
    """The logged-in admin as the service knows them (the audit log records the username)."""
    viewer = request[AUTH].viewer
    require_role(viewer, AgentRole.ADMIN)
    async with request.app[keys.STORE].reading() as session:
        username = await session.scalar(select(Agent.username).where(Agent.id == viewer.agent_id))
    if username is None:
        raise NotAllowed("this console user no longer exists")
    return Actor(username, viewer.role)


def _back(path: str) -> str:
    """The section a refused request came from, for the error page's way back."""
    rest = path.removeprefix(API_PREFIX).removeprefix(PREFIX)
    for section, _label in SECTIONS[1:]:
        if rest.startswith(section):
            return PREFIX + section
    return PREFIX


def _refused(request: web.Request, exc: GatewayError) -> web.Response:
    status = next((s for cls, s in REFUSAL_STATUS if isinstance(exc, cls)), DEFAULT_REFUSAL_STATUS)
    log.info("training.refused", extra={"path": request.path, "status": status})
    if wants_json(request) or request.path.startswith(API_PREFIX):
        return web.json_response({"error": str(exc)}, status=status)
    return html_response(error_page(page_context(request), str(exc), _back(request.path)), status)


def admin_only(handler: AdminHandler) -> Handler:
    """Admins only; the service's and the console's refusals become 4xx pages or JSON."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request, await _actor(request))
        except (TrainingError, HandoffError) as exc:
            return _refused(request, exc)

    return wrapped


def _id(request: web.Request, what: str) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError as exc:
        raise NotFound(f"no such {what}") from exc


def _one(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return values[-1]


def _done(request: web.Request, location: str, data: dict[str, Any]) -> web.StreamResponse:
    if wants_json(request):
        return web.json_response(data)
    raise web.HTTPSeeOther(location)


# ----- review queue and annotations ----------------------------------------------------------


@admin_only
async def review(request: web.Request, actor: Actor) -> web.StreamResponse:
    """The review queue, optionally filtered (``?q=``, matched on the normalised text)."""
    service = _service(request)
    query = request.query.get("q", "").strip()
    items = await service.queue(actor)
    if query:
        wanted = normalise(query)
        items = [
            i for i in items if wanted in i.key or any(wanted in normalise(v) for v in i.variants)
        ]
    if wants_json(request):
        return web.json_response(
            {
                "items": [
                    {
                        "text": i.text,
                        "conversations": i.conversations,
                        "messages": i.messages,
                        "reasons": i.reasons,
                        "intents": i.intents,
                        "mean_confidence": i.mean_confidence,
                    }
                    for i in items
                ]
            }
        )
    return html_response(review_page(page_context(request), items, await service.intents(), query))


@admin_only
async def annotate(request: web.Request, actor: Actor) -> web.StreamResponse:
    """Bulk: the checked messages get an intent, or are out of scope, or spam."""
    fields = await request_fields(request)
    texts = [t for t in fields.get("text", []) + fields.get("texts", []) if t.strip()]
    label = _one(fields, "label")
    intent = _one(fields, "intent") or None
    saved = await _service(request).annotate(actor, texts, label=label, intent=intent)
    query = _one(fields, "q")
    location = PREFIX + (f"?{urlencode({'q': query})}" if query else "")
    return _done(request, location, {"annotated": len(saved)})


@admin_only
async def annotations_list(request: web.Request, actor: Actor) -> web.StreamResponse:
    """Every annotation, newest first."""
    rows = await _service(request).annotations(actor)
    if wants_json(request):
        return web.json_response(
            {
                "annotations": [
                    {"text": a.text, "label": a.label, "intent": a.intent, "by": a.annotator}
                    for a in rows
                ]
            }
        )
    return html_response(annotations_page(page_context(request), rows))


@admin_only
async def remove_annotation(request: web.Request, actor: Actor) -> web.StreamResponse:
    """Forget one annotation: the message may come back to the queue."""
    text = _one(await request_fields(request), "text")
    await _service(request).remove_annotation(actor, text)
    return _done(request, f"{PREFIX}/annotations", {"ok": True})


# ----- new intents ---------------------------------------------------------------------------


@admin_only
async def intents(request: web.Request, actor: Actor) -> web.StreamResponse:
    """The intents created here, and the form for a new one."""
    service = _service(request)
    answers = await asyncio.to_thread(service.workspace.answers)
    saved = request.query.get("saved", "")
    ctx = page_context(request)
    notice = ctx.t("intent_saved", intent=saved) if saved in answers else ""
    return html_response(intents_page(ctx, answers, notice=notice))


@admin_only
async def define_intent(request: web.Request, actor: Actor) -> web.StreamResponse:
    """Create an intent; without both answers the form comes back with the service's reason."""
    service = _service(request)
    fields = await request_fields(request)
    form = IntentForm(
        name=_one(fields, "name").strip(), km=_one(fields, "km"), en=_one(fields, "en")
    )
    try:
        await service.define_intent(actor, form.name, km=form.km, en=form.en)
    except InvalidAnnotation as exc:
        if wants_json(request):
            return web.json_response({"error": str(exc)}, status=400)
        answers = await asyncio.to_thread(service.workspace.answers)
        page = intents_page(page_context(request), answers, form, error=str(exc))
        return html_response(page, status=400)
    location = f"{PREFIX}/intents?{urlencode({'saved': form.name})}"
    return _done(request, location, {"intent": form.name})


# ----- training jobs -------------------------------------------------------------------------


async def _job(service: TrainingService, actor: Actor, job_id: int) -> TrainingJob:
    try:
        return await service.job(actor, job_id)
    except TrainingFailed as exc:  # job() says so only when the job does not exist
        raise NotFound(f"no training job {job_id}") from exc


@admin_only
async def jobs(request: web.Request, actor: Actor) -> web.StreamResponse:
    """Every training job, newest first, and the button that starts one."""
    found = await _service(request).jobs(actor)
    if wants_json(request):
        return web.json_response({"jobs": [job_json(j) for j in found]})
    return html_response(jobs_page(page_context(request), found))


@admin_only
async def start_job(request: web.Request, actor: Actor) -> web.StreamResponse:
    """Queue a job and run it in this process (one at a time: TrainingBusy otherwise)."""
    service = _service(request)
    job = await service.create_job(actor)
    service.start_job(job)
    return _done(request, f"{PREFIX}/jobs/{job.id}", {"job": job_json(job)})


@admin_only
async def job(request: web.Request, actor: Actor) -> web.StreamResponse:
    """One job: progress, and its report when finished."""
    service = _service(request)
    found = await _job(service, actor, _id(request, "training job"))
    model = None
    if found.model_id is not None:
        async with service.sessions() as session:
            model = await session.get(ModelEntry, found.model_id)
    return html_response(job_page(page_context(request), found, model))


@admin_only
async def job_api(request: web.Request, actor: Actor) -> web.StreamResponse:
    """GET /console/api/training/jobs/{id}: what the job page polls."""
    found = await _job(_service(request), actor, _id(request, "training job"))
    return web.json_response(job_json(found))


@admin_only
async def cancel_job(request: web.Request, actor: Actor) -> web.StreamResponse:
    """Ask a running job to stop."""
    job_id = _id(request, "training job")
    await _service(request).cancel_job(actor, job_id)
    return _done(request, f"{PREFIX}/jobs/{job_id}", {"ok": True})


# ----- models and audit ----------------------------------------------------------------------


@admin_only
async def models(request: web.Request, actor: Actor) -> web.StreamResponse:
    """The registry."""
    found = await _service(request).models(actor)
    if wants_json(request):
        return web.json_response(
            {"models": [{"id": m.id, "status": m.status, "path": m.path} for m in found]}
        )
    return html_response(models_page(page_context(request), found))


@admin_only
async def activate(request: web.Request, actor: Actor) -> web.StreamResponse:
    """Load a model into every Rasa instance."""
    model = await _service(request).activate(actor, _id(request, "model"))
    return _done(request, f"{PREFIX}/models", {"model": model.id, "status": model.status})


@admin_only
async def rollback(request: web.Request, actor: Actor) -> web.StreamResponse:
    """Put back the model that was live before."""
    model = await _service(request).rollback(actor)
    return _done(request, f"{PREFIX}/models", {"model": model.id, "status": model.status})


@admin_only
async def audit(request: web.Request, actor: Actor) -> web.StreamResponse:
    """The audit log, newest first."""
    rows = await _service(request).audit(actor)
    return html_response(audit_page(page_context(request), rows))


# ----- wiring --------------------------------------------------------------------------------


def add_training_routes(app: web.Application) -> None:
    """The pages under /console/training; needs the console (login, CSRF) and
    ``keys.TRAINING`` (opened and closed by the app's cleanup_ctx)."""
    r = app.router
    r.add_get(PREFIX, review)
    r.add_post(f"{PREFIX}/annotate", annotate)
    r.add_get(f"{PREFIX}/annotations", annotations_list)
    r.add_post(f"{PREFIX}/annotations/remove", remove_annotation)
    r.add_get(f"{PREFIX}/intents", intents)
    r.add_post(f"{PREFIX}/intents", define_intent)
    r.add_get(f"{PREFIX}/jobs", jobs)
    r.add_post(f"{PREFIX}/jobs", start_job)
    r.add_get(f"{PREFIX}/jobs/{{id}}", job)
    r.add_post(f"{PREFIX}/jobs/{{id}}/cancel", cancel_job)
    r.add_get(f"{API_PREFIX}/jobs/{{id}}", job_api)
    r.add_get(f"{PREFIX}/models", models)
    r.add_post(f"{PREFIX}/models/rollback", rollback)
    r.add_post(f"{PREFIX}/models/{{id}}/activate", activate)
    r.add_get(f"{PREFIX}/audit", audit)
