"""The retraining tool as a console feature (administrators): review queue, annotations,
new intents, training jobs with their report, the model registry and the audit log, under
/console/training (JSON under /console/api/training).

The console's middleware checks the login, the administrator role (the feature's roles),
the CSRF token and the origin, and maps refusals to statuses; the pages are templates in
bot/training/templates/training, in the console's layout. Forms get a 303 back to a page;
JSON requests get JSON.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from .. import keys
from .._exceptions import InvalidAnnotation, NotAllowed, NotFound, TrainingFailed
from ..accounts import Role
from ..console import (
    ConsoleFeature,
    FeatureRoutes,
    done,
    fields,
    label,
    path_id,
    render,
    state,
    ui_language,
    viewer,
    wants_json,
    word,
)
from ..storage._db import Agent, AnnotationLabel, ModelEntry, ModelStatus, TrainingJob
from ..storage._db import TrainingJobStatus as JobStatus
from ._service import Actor, TrainingService
from ._settings import TrainingSettings
from ._text import normalise

__all__ = ["TRAINING", "TRAINING_FEATURE", "TRAINING_SETTINGS", "IntentForm", "job_json"]

log = logging.getLogger("bot.training.web")

TRAINING_SETTINGS = web.AppKey("training_settings", TrainingSettings)
TRAINING = web.AppKey("training", TrainingService)
SECTIONS = (  # (route name, label): the tool's own navigation
    ("review", "review"),
    ("annotations", "annotations"),
    ("intents", "intents"),
    ("jobs", "jobs"),
    ("models", "models"),
    ("audit", "audit"),
)
CHANGED_F1 = 1e-9  # an intent whose F1 moved less than this did not change
MAX_SHOWN_INTENTS = 3  # predicted intents shown per queue row
SHA_SHOWN = 12
AUDIT_DETAIL_CHARS = 400


@dataclass(frozen=True)
class IntentForm:
    """What the admin typed into the new-intent form (kept when the service refuses it)."""

    name: str = ""
    km: str = ""
    en: str = ""


def _gate_passed(job: TrainingJob) -> bool | None:
    gate = (job.report or {}).get("gate")
    return bool(gate["passed"]) if isinstance(gate, dict) and "passed" in gate else None


def job_json(job: TrainingJob) -> dict[str, Any]:
    """A job's state for the page's live progress (and scripts)."""
    return {
        "id": job.id,
        "status": job.status,
        "stage": job.stage,
        "progress": job.progress,
        "active": job.status in JobStatus.ACTIVE,
        "error": job.error,
        "created_by": job.created_by,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "model_id": job.model_id,
        "gate_passed": _gate_passed(job),
    }


# ----- helpers -------------------------------------------------------------------------------


def _service(request: web.Request) -> TrainingService:
    return request.config_dict[TRAINING]


async def _actor(request: web.Request) -> Actor:
    """The logged-in admin as the service knows them (the audit log records the username)."""
    who = viewer(request)
    async with request.config_dict[keys.STORE].reading() as session:
        username = await session.scalar(select(Agent.username).where(Agent.id == who.agent_id))
    if username is None:
        raise NotAllowed("this console user no longer exists")
    return Actor(username, who.role)


def _url(request: web.Request, name: str, **parts: str | int) -> str:
    return state(request).registry.url(f"training:{name}", **parts)


def _id(request: web.Request, what: str) -> int:
    return path_id(request, what)


def _one(values: dict[str, list[str]], name: str) -> str:
    found = values.get(name) or [""]
    return found[-1]


def _page(
    request: web.Request, template: str, section: str, status: int = 200, **values: Any
) -> web.Response:
    return render(
        request,
        f"training/{template}",
        status,
        page=f"training-{template.removesuffix('.html')}",
        section=section,
        sections=SECTIONS,
        **values,
    )


# ----- review queue and annotations ----------------------------------------------------------


async def review(request: web.Request) -> web.StreamResponse:
    """The review queue, optionally filtered (``?q=``, matched on the normalised text)."""
    service = _service(request)
    query = request.query.get("q", "").strip()
    items = await service.queue(await _actor(request))
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
    shown = {
        i.key: sorted(i.intents.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_SHOWN_INTENTS]
        for i in items
    }
    return _page(
        request,
        "review.html",
        "review",
        items=items,
        predicted=shown,
        intents=await service.intents(),
        query=query,
        labels=AnnotationLabel,
    )


async def annotate(request: web.Request) -> web.StreamResponse:
    """Bulk: the checked messages get an intent, or are out of scope, or spam."""
    actor = await _actor(request)
    values = await fields(request)
    texts = [t for t in values.get("text", []) + values.get("texts", []) if t.strip()]
    intent = _one(values, "intent") or None
    saved = await _service(request).annotate(
        actor, texts, label=_one(values, "label"), intent=intent
    )
    query = _one(values, "q")
    location = _url(request, "review") + (f"?{urlencode({'q': query})}" if query else "")
    return done(request, location, {"annotated": len(saved)})


async def annotations_list(request: web.Request) -> web.StreamResponse:
    """Every annotation, newest first."""
    rows = await _service(request).annotations(await _actor(request))
    if wants_json(request):
        return web.json_response(
            {
                "annotations": [
                    {"text": a.text, "label": a.label, "intent": a.intent, "by": a.annotator}
                    for a in rows
                ]
            }
        )
    return _page(request, "annotations.html", "annotations", annotations=rows)


async def remove_annotation(request: web.Request) -> web.StreamResponse:
    """Forget one annotation: the message may come back to the queue."""
    actor = await _actor(request)
    text = _one(await fields(request), "text")
    await _service(request).remove_annotation(actor, text)
    return done(request, _url(request, "annotations"), {"ok": True})


# ----- new intents ---------------------------------------------------------------------------


async def intents(request: web.Request) -> web.StreamResponse:
    """The intents created here, and the form for a new one."""
    await _actor(request)
    answers = await asyncio.to_thread(_service(request).workspace.answers)
    saved = request.query.get("saved", "")
    notice = label("intent_saved", ui_language(request), intent=saved) if saved in answers else ""
    return _page(
        request,
        "intents.html",
        "intents",
        answers=answers,
        form=IntentForm(),
        error="",
        notice=notice,
    )


async def define_intent(request: web.Request) -> web.StreamResponse:
    """Create an intent; without both answers the form comes back with the service's reason."""
    actor = await _actor(request)
    service = _service(request)
    values = await fields(request)
    form = IntentForm(
        name=_one(values, "name").strip(), km=_one(values, "km"), en=_one(values, "en")
    )
    try:
        await service.define_intent(actor, form.name, km=form.km, en=form.en)
    except InvalidAnnotation as exc:
        if wants_json(request):
            return web.json_response({"error": str(exc)}, status=400)
        answers = await asyncio.to_thread(service.workspace.answers)
        return _page(
            request,
            "intents.html",
            "intents",
            400,
            answers=answers,
            form=form,
            error=str(exc),
            notice="",
        )
    location = f"{_url(request, 'intents')}?{urlencode({'saved': form.name})}"
    return done(request, location, {"intent": form.name})


# ----- training jobs -------------------------------------------------------------------------


async def _job(service: TrainingService, actor: Actor, job_id: int) -> TrainingJob:
    try:
        return await service.job(actor, job_id)
    except TrainingFailed as exc:  # job() says so only when the job does not exist
        raise NotFound(f"no training job {job_id}") from exc


async def jobs(request: web.Request) -> web.StreamResponse:
    """Every training job, newest first, and the button that starts one."""
    found = await _service(request).jobs(await _actor(request))
    if wants_json(request):
        return web.json_response({"jobs": [job_json(j) for j in found]})
    passed = {j.id: _gate_passed(j) for j in found}
    return _page(request, "jobs.html", "jobs", jobs=found, passed=passed)


async def start_job(request: web.Request) -> web.StreamResponse:
    """Queue a job and run it in this process (one at a time: TrainingBusy otherwise)."""
    service = _service(request)
    job = await service.create_job(await _actor(request))
    service.start_job(job)
    return done(request, _url(request, "job", id=job.id), {"job": job_json(job)})


def _changed_intents(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in report.get("intents", []) if abs(r["delta"]) > CHANGED_F1]


async def job(request: web.Request) -> web.StreamResponse:
    """One job: progress, and its report when finished."""
    service = _service(request)
    found = await _job(service, await _actor(request), _id(request, "training job"))
    model = None
    if found.model_id is not None:
        async with service.sessions() as session:
            model = await session.get(ModelEntry, found.model_id)
    report = found.report or {}
    gate = report.get("gate") or {}
    return _page(
        request,
        "job.html",
        "jobs",
        title_words=f"{label('job', ui_language(request))} #{found.id}",
        job=found,
        model=model,
        active=found.status in JobStatus.ACTIVE,
        report=report,
        gate=gate,
        may_activate=bool(gate.get("passed"))
        and model is not None
        and model.status == ModelStatus.CANDIDATE,
        changed=_changed_intents(report) if report else [],
        changed_min=CHANGED_F1,
    )


async def job_api(request: web.Request) -> web.StreamResponse:
    """GET /console/api/training/jobs/{id}: what the job page polls."""
    found = await _job(_service(request), await _actor(request), _id(request, "training job"))
    language = ui_language(request)
    words = {
        "status": word("job_status", found.status, language),
        "stage": word("job_stage", found.stage, language),
    }
    return web.json_response({**job_json(found), "words": words})


async def cancel_job(request: web.Request) -> web.StreamResponse:
    """Ask a running job to stop."""
    actor = await _actor(request)
    job_id = _id(request, "training job")
    await _service(request).cancel_job(actor, job_id)
    return done(request, _url(request, "job", id=job_id), {"ok": True})


# ----- models and audit ----------------------------------------------------------------------


def _metric(model: ModelEntry, language: str | None) -> float | None:
    metrics = model.metrics or {}
    scores = (
        metrics.get("overall")
        if language is None
        else (metrics.get("languages") or {}).get(language)
    )
    value = (scores or {}).get("accuracy")
    return value if isinstance(value, int | float) else None


async def models(request: web.Request) -> web.StreamResponse:
    """The registry."""
    found = await _service(request).models(await _actor(request))
    if wants_json(request):
        return web.json_response(
            {"models": [{"id": m.id, "status": m.status, "path": m.path} for m in found]}
        )
    rows = [
        {
            "model": m,
            "file": Path(m.path).name,
            "sha": m.sha256[:SHA_SHOWN],
            "overall": _metric(m, None),
            "km": _metric(m, "km"),
            "en": _metric(m, "en"),
            "may_activate": m.status in (ModelStatus.CANDIDATE, ModelStatus.RETIRED),
        }
        for m in found
    ]
    return _page(request, "models.html", "models", rows=rows)


async def activate(request: web.Request) -> web.StreamResponse:
    """Load a model into every Rasa instance."""
    actor = await _actor(request)
    model = await _service(request).activate(actor, _id(request, "model"))
    return done(request, _url(request, "models"), {"model": model.id, "status": model.status})


async def rollback(request: web.Request) -> web.StreamResponse:
    """Put back the model that was live before."""
    model = await _service(request).rollback(await _actor(request))
    return done(request, _url(request, "models"), {"model": model.id, "status": model.status})


async def audit(request: web.Request) -> web.StreamResponse:
    """The audit log, newest first."""
    rows = await _service(request).audit(await _actor(request))
    return _page(request, "audit.html", "audit", entries=rows, detail_chars=AUDIT_DETAIL_CHARS)


# ----- the feature ---------------------------------------------------------------------------


def _routes(routes: FeatureRoutes) -> None:
    routes.get("", review, name="review")
    routes.post("/annotate", annotate, name="annotate")
    routes.get("/annotations", annotations_list, name="annotations")
    routes.post("/annotations/remove", remove_annotation, name="remove_annotation")
    routes.get("/intents", intents, name="intents")
    routes.post("/intents", define_intent, name="intents")
    routes.get("/jobs", jobs, name="jobs")
    routes.post("/jobs", start_job, name="jobs")
    routes.get("/jobs/{id}", job, name="job")
    routes.post("/jobs/{id}/cancel", cancel_job, name="cancel_job")
    routes.api_get("/jobs/{id}", job_api, name="job_api")
    routes.get("/models", models, name="models")
    routes.post("/models/rollback", rollback, name="rollback")
    routes.post("/models/{id}/activate", activate, name="activate")
    routes.get("/audit", audit, name="audit")


def _back(request: web.Request) -> str:
    """The section a refused request came from, for the error page's way back."""
    home = _url(request, "review")
    rest = request.path.removeprefix(home)
    for name, _label in SECTIONS[1:]:
        if rest.startswith(f"/{name}"):
            return _url(request, name)
    return home


async def _training_ctx(app: web.Application) -> AsyncIterator[None]:
    """The retraining tool on the gateway's database; closing cancels a running job."""
    sessions = async_sessionmaker(app[keys.ENGINE], expire_on_commit=False)
    app[TRAINING] = TrainingService(app[TRAINING_SETTINGS], sessions)
    yield
    await app[TRAINING].aclose()


TRAINING_FEATURE = ConsoleFeature(
    name="training",
    label_km="បង្ហាត់",
    label_en="Training",
    roles=frozenset({Role.ADMIN}),
    setup=_routes,
    prefix="/training",
    home="review",
    context=_training_ctx,
    templates="bot.training",
    back=_back,
)
