"""The review-and-retrain workflow: queue, annotate, train, evaluate, gate, activate, roll back.

One object per process (the gateway app or a CLI command) holds the settings, the gateway's
database, a read-only engine on Rasa's tracker store and an HTTP session for Rasa's API.
Every operation takes the person doing it (``Actor``): only admins may use any of it, and
every change is written to the audit log. Files change only in the workspace.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .._exceptions import (
    ActivationFailed,
    InvalidAnnotation,
    TrainingBusy,
    TrainingError,
    TrainingFailed,
    TrainingForbidden,
)
from ..storage._db import (
    AgentRole,
    Annotation,
    AnnotationLabel,
    AuditEntry,
    ModelEntry,
    ModelStatus,
    TrainingJob,
    TrainingJobStatus,
    utcnow,
)
from . import _rasa_api
from ._queue import (
    QueueItem,
    annotated_hashes,
    build_queue,
    gateway_occurrences,
    open_tracker_engine,
    since_days,
    tracker_occurrences,
)
from ._report import build_report, score, scores_by_language
from ._runner import ProcessResult, rasa_env, run_process
from ._settings import TrainingSettings
from ._text import group_key, key_hash, mask
from ._workspace import NLU_FILE, Workspace, check_intent_name, clean_example

__all__ = ["Actor", "AuditAction", "JobStage", "TrainingService"]

log = logging.getLogger("bot.training")

PROGRESS_WRITE_S = 1.0  # at most one progress write per second
CANCEL_CHECK_S = 2.0
STALE_AFTER = timedelta(hours=3)  # a "running" job not updated for this long is dead
CANDIDATE_PREFIX = "candidate-"
SYSTEM_ACTOR = "system"
ERROR_LINES = 12
TAIL_LINES = 40
_VALIDATOR_PROBLEM = ("UserWarning", "Error", "error", "ERROR", "Invalid", "not ")


class JobStage:
    """Where a running job is."""

    EXPORT = "export"
    VALIDATE = "validate"
    TRAIN = "train"
    EVALUATE = "evaluate"
    GATE = "gate"
    DONE = "done"
    ORDER = (EXPORT, VALIDATE, TRAIN, EVALUATE, GATE, DONE)


STAGE_START = {  # the progress (percent) at which each stage starts
    JobStage.EXPORT: 1,
    JobStage.VALIDATE: 4,
    JobStage.TRAIN: 10,
    JobStage.EVALUATE: 70,
    JobStage.GATE: 97,
    JobStage.DONE: 100,
}


class AuditAction:
    """What the audit log records."""

    ANNOTATE = "annotate"
    REMOVE_ANNOTATION = "remove_annotation"
    DEFINE_INTENT = "define_intent"
    TRAIN = "train"
    CANCEL = "cancel_training"
    GATE = "gate"
    ACTIVATE = "activate"
    ROLLBACK = "rollback"
    REGISTER = "register_model"


@dataclass(frozen=True)
class Actor:
    """The person asking: a console user (username and role)."""

    username: str
    role: str


class _Cancelled(Exception):
    """A cancel was requested (possibly from another process): stop the job."""


def heldout_sha256(directory: Path) -> str:
    """Identifies the held-out set: evaluations are cached per model and per this."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.yml")):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _validator_message(result: ProcessResult) -> str:
    problems = [line for line in result.tail if any(m in line for m in _VALIDATOR_PROBLEM)]
    return "\n".join((problems or result.tail)[-ERROR_LINES:])


class TrainingService:
    """See the module docstring; close with ``aclose()``."""

    def __init__(
        self,
        settings: TrainingSettings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        tracker: AsyncEngine | None = None,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.workspace = Workspace(settings.workspace)
        self._tracker = tracker
        self._own_tracker = tracker is None
        self._http = http
        self._own_http = http is None
        self._job_lock = asyncio.Lock()  # one job at a time in this process
        self._switch_lock = asyncio.Lock()  # one activation or rollback at a time
        self._tasks: dict[int, asyncio.Task[TrainingJob]] = {}

    async def aclose(self) -> None:
        """Cancel this process's running job (it is marked cancelled), close connections."""
        for task in list(self._tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TrainingError):
                await task
        if self._tracker is not None and self._own_tracker:
            await self._tracker.dispose()
        if self._http is not None and self._own_http:
            await self._http.close()

    @property
    def tracker(self) -> AsyncEngine:
        """Read-only engine on Rasa's tracker store (opened on first use)."""
        if self._tracker is None:
            self._tracker = open_tracker_engine(self.settings.tracker_db_url)
        return self._tracker

    @property
    def http(self) -> aiohttp.ClientSession:
        """HTTP session for Rasa's API (timeouts are set per request)."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    # --- permissions and audit ------------------------------------------------------------

    @staticmethod
    def require_admin(actor: Actor) -> None:
        """Only admins review, teach, train and deploy: a wrong label harms every citizen."""
        if actor.role != AgentRole.ADMIN:
            raise TrainingForbidden(f"{actor.username} is not an admin")

    @staticmethod
    def _audit(session: AsyncSession, actor: str, action: str, target: str, **detail: Any) -> None:
        session.add(AuditEntry(actor=actor, action=action, target=target[:200], detail=detail))

    async def audit(self, actor: Actor, limit: int = 200) -> list[AuditEntry]:
        """The newest audit rows first."""
        self.require_admin(actor)
        async with self.sessions() as session:
            rows = await session.scalars(
                select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            )
            return list(rows.all())

    # --- review queue and annotations -----------------------------------------------------

    async def queue(self, actor: Actor, *, limit: int | None = None) -> list[QueueItem]:
        """What to review, most frequent first (see bot/training/_queue.py)."""
        self.require_admin(actor)
        since = since_days(self.settings.queue_days)
        found = await tracker_occurrences(
            self.tracker, since=since, threshold=self.settings.low_confidence
        )
        found += await gateway_occurrences(self.sessions, since=since)
        return build_queue(
            found,
            exclude=await annotated_hashes(self.sessions),
            limit=limit or self.settings.queue_limit,
        )

    def _check_label(
        self,
        label: str,
        intent: str | None,
        example: str,
        known: set[str],
        base: dict[str, str],
    ) -> str | None:
        if label not in AnnotationLabel.ALL:
            raise InvalidAnnotation(f"unknown label {label!r}: one of {AnnotationLabel.ALL}")
        if label != AnnotationLabel.INTENT:
            return None
        if not intent:
            raise InvalidAnnotation("an intent is needed for this label")
        if intent not in known:
            raise InvalidAnnotation(
                f"unknown intent {intent!r}: create it first, with its answer in Khmer and English"
            )
        self.workspace.check_example(example, intent, base)
        return intent

    async def annotate(
        self,
        actor: Actor,
        texts: Sequence[str],
        *,
        label: str,
        intent: str | None = None,
        example: str | None = None,
    ) -> list[Annotation]:
        """Label messages (bulk); ``example`` replaces the (masked) text of a single one."""
        self.require_admin(actor)
        if not texts:
            raise InvalidAnnotation("nothing to annotate")
        if example is not None and len(texts) != 1:
            raise InvalidAnnotation("an edited example applies to one message only")
        known = await asyncio.to_thread(self.workspace.known_intents)
        base = await asyncio.to_thread(self.workspace.base_examples)
        prepared = []
        for raw in texts:
            key = group_key(raw)
            if not key:
                raise InvalidAnnotation("an empty message cannot be annotated")
            chosen = clean_example(mask(example if example is not None else raw))
            prepared.append((key, chosen, self._check_label(label, intent, chosen, known, base)))
        saved = []
        async with self.sessions() as session, session.begin():
            for key, chosen, checked in prepared:
                row = await session.scalar(
                    select(Annotation).where(Annotation.key_hash == key_hash(key))
                )
                if row is None:
                    row = Annotation(key_hash=key_hash(key), normalised=key)
                    session.add(row)
                row.text, row.label, row.intent = chosen, label, checked
                row.annotator, row.exported = actor.username, False
                self._audit(
                    session,
                    actor.username,
                    AuditAction.ANNOTATE,
                    chosen,
                    label=label,
                    intent=checked,
                )
                saved.append(row)
        return saved

    async def remove_annotation(self, actor: Actor, text: str) -> None:
        """Forget an annotation (its example leaves learned.yml at the next training)."""
        self.require_admin(actor)
        key = group_key(text)
        async with self.sessions() as session, session.begin():
            row = await session.scalar(
                select(Annotation).where(Annotation.key_hash == key_hash(key))
            )
            if row is None:
                raise InvalidAnnotation(f"no annotation for {text!r}")
            self._audit(
                session,
                actor.username,
                AuditAction.REMOVE_ANNOTATION,
                row.text,
                label=row.label,
                intent=row.intent,
            )
            await session.delete(row)

    async def annotations(self, actor: Actor) -> list[Annotation]:
        """Every annotation, newest first."""
        self.require_admin(actor)
        async with self.sessions() as session:
            rows = await session.scalars(select(Annotation).order_by(Annotation.id.desc()))
            return list(rows.all())

    async def define_intent(self, actor: Actor, name: str, *, km: str, en: str) -> None:
        """Create (or re-word) a new intent; refused without both answers."""
        self.require_admin(actor)
        check_intent_name(name)
        if name in await asyncio.to_thread(self.workspace.base_intents):
            raise InvalidAnnotation(f"{name!r} already exists: assign it instead")
        answer = self.workspace.check_answer(name, km, en)
        await asyncio.to_thread(self.workspace.save_answer, name, answer)
        async with self.sessions() as session, session.begin():
            self._audit(session, actor.username, AuditAction.DEFINE_INTENT, name, km=km, en=en)

    async def intents(self) -> list[str]:
        """Every intent an annotation may use, sorted."""
        return sorted(await asyncio.to_thread(self.workspace.known_intents))

    # --- the model registry ----------------------------------------------------------------

    async def models(self, actor: Actor) -> list[ModelEntry]:
        """Registry, newest first (the live model registered on first use)."""
        self.require_admin(actor)
        await self.live_model()
        async with self.sessions() as session:
            rows = await session.scalars(select(ModelEntry).order_by(ModelEntry.id.desc()))
            return list(rows.all())

    async def live_model(self) -> ModelEntry:
        """The model Rasa runs: the registry's active one, or the one on disk at first use."""
        on_disk = _rasa_api.read_active_file(self.settings.active_file)
        path = (on_disk or self.settings.bootstrap_model).resolve()
        async with self.sessions() as session, session.begin():
            active = await session.scalar(
                select(ModelEntry)
                .where(ModelEntry.status == ModelStatus.ACTIVE)
                .order_by(ModelEntry.id.desc())
            )
            if active is not None and active.path == str(path):
                return active
            if not path.is_file():
                raise TrainingFailed(f"no live model: {path} does not exist (make train)")
            sha = await asyncio.to_thread(_rasa_api.file_sha256, path)
            if active is not None:  # the file on disk changed (e.g. make train): record it
                active.status = ModelStatus.RETIRED
            entry = ModelEntry(
                path=str(path),
                sha256=sha,
                status=ModelStatus.ACTIVE,
                activated_at=utcnow(),
                activated_by=SYSTEM_ACTOR,
            )
            session.add(entry)
            await session.flush()
            self._audit(session, SYSTEM_ACTOR, AuditAction.REGISTER, path.name, model=entry.id)
            return entry

    async def activate(self, actor: Actor, model_id: int) -> ModelEntry:
        """Load a gated candidate into every Rasa; the registry and models/ACTIVE follow."""
        self.require_admin(actor)
        async with self._switch_lock:
            live = await self.live_model()
            async with self.sessions() as session:
                model = await session.get(ModelEntry, model_id)
            if model is None:
                raise ActivationFailed(f"no model {model_id}")
            if model.status not in (ModelStatus.CANDIDATE, ModelStatus.RETIRED):
                raise ActivationFailed(
                    f"model {model_id} is {model.status}: only a candidate that passed the"
                    " gate (or a model that was live before) can be activated"
                )
            return await self._switch(actor, model, live, AuditAction.ACTIVATE)

    async def rollback(self, actor: Actor) -> ModelEntry:
        """Put back the model that was live before the current one."""
        self.require_admin(actor)
        async with self._switch_lock:
            live = await self.live_model()
            async with self.sessions() as session:
                previous = await session.scalar(
                    select(ModelEntry)
                    .where(
                        ModelEntry.status == ModelStatus.RETIRED,
                        ModelEntry.id != live.id,
                        ModelEntry.activated_at.is_not(None),
                    )
                    .order_by(ModelEntry.activated_at.desc(), ModelEntry.id.desc())
                )
                rolled_back = [
                    m.id
                    for m in (await session.scalars(select(ModelEntry))).all()
                    if m.metrics.get("rolled_back")
                ]
                if previous is not None and previous.id in rolled_back:
                    previous = None
            if previous is None:
                raise ActivationFailed("there is no earlier model to roll back to")
            return await self._switch(actor, previous, live, AuditAction.ROLLBACK)

    async def _switch(
        self, actor: Actor, model: ModelEntry, live: ModelEntry, action: str
    ) -> ModelEntry:
        path = Path(model.path)
        if not await asyncio.to_thread(path.is_file):
            raise ActivationFailed(f"{path} is missing")
        started = time.monotonic()
        await _rasa_api.load_everywhere(
            self.http,
            self.settings.rasa_urls,
            path,
            previous=Path(live.path),
            token=self.settings.rasa_token,
            timeout_s=self.settings.activate_timeout_s,
        )
        seconds = round(time.monotonic() - started, 1)
        await asyncio.to_thread(_rasa_api.write_active_file, self.settings.active_file, path)
        async with self.sessions() as session, session.begin():
            old = await session.get(ModelEntry, live.id)
            new = await session.get(ModelEntry, model.id)
            if old is None or new is None:
                raise ActivationFailed("the registry changed during the activation")
            if old.id != new.id:
                old.status = ModelStatus.RETIRED
                if action == AuditAction.ROLLBACK:
                    old.metrics = {**old.metrics, "rolled_back": True}
            new.status = ModelStatus.ACTIVE
            new.activated_at, new.activated_by = utcnow(), actor.username
            self._audit(
                session,
                actor.username,
                action,
                path.name,
                model=new.id,
                previous=old.id,
                urls=list(self.settings.rasa_urls),
                seconds=seconds,
            )
        log.info("training.%s", action, extra={"model": path.name, "seconds": seconds})
        async with self.sessions() as session:
            refreshed = await session.get(ModelEntry, model.id)
        if refreshed is None:
            raise ActivationFailed("the model left the registry")
        return refreshed

    # --- training jobs ---------------------------------------------------------------------

    async def jobs(self, actor: Actor, limit: int = 50) -> list[TrainingJob]:
        """Newest first."""
        self.require_admin(actor)
        async with self.sessions() as session:
            rows = await session.scalars(
                select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit)
            )
            return list(rows.all())

    async def job(self, actor: Actor, job_id: int) -> TrainingJob:
        """One job (progress, log tail, report)."""
        self.require_admin(actor)
        async with self.sessions() as session:
            job = await session.get(TrainingJob, job_id)
        if job is None:
            raise TrainingFailed(f"no training job {job_id}")
        return job

    async def create_job(self, actor: Actor) -> TrainingJob:
        """A queued job; TrainingBusy while another one is queued or running."""
        self.require_admin(actor)
        async with self.sessions() as session, session.begin():
            busy = (
                await session.scalars(
                    select(TrainingJob).where(TrainingJob.status.in_(TrainingJobStatus.ACTIVE))
                )
            ).all()
            for other in busy:
                updated = other.updated_at
                if updated.tzinfo is None:
                    updated = updated.replace(tzinfo=utcnow().tzinfo)
                if utcnow() - updated > STALE_AFTER:  # its process died: free the slot
                    other.status, other.error = TrainingJobStatus.FAILED, "interrupted"
                    other.finished_at = utcnow()
                else:
                    raise TrainingBusy(f"training job {other.id} is {other.status}")
            job = TrainingJob(created_by=actor.username)
            session.add(job)
            await session.flush()
            self._audit(session, actor.username, AuditAction.TRAIN, f"job {job.id}", job=job.id)
            return job

    def start_job(self, job: TrainingJob) -> asyncio.Task[TrainingJob]:
        """Run a created job in the background of this process (the console's way)."""
        task = asyncio.create_task(self.run_job(job.id), name=f"training-job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job.id, None))
        return task

    async def cancel_job(self, actor: Actor, job_id: int) -> None:
        """Ask a job to stop (works across processes: the job polls the flag)."""
        self.require_admin(actor)
        async with self.sessions() as session, session.begin():
            job = await session.get(TrainingJob, job_id)
            if job is None or job.status not in TrainingJobStatus.ACTIVE:
                raise TrainingFailed(f"training job {job_id} is not running")
            job.cancel_requested = True
            self._audit(session, actor.username, AuditAction.CANCEL, f"job {job_id}")
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()

    async def _update(self, job_id: int, **values: Any) -> bool:
        """Write job fields; True if a cancel was requested meanwhile."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(TrainingJob).where(TrainingJob.id == job_id).values(**values)
            )
            flag = await session.scalar(
                select(TrainingJob.cancel_requested).where(TrainingJob.id == job_id)
            )
        return bool(flag)

    def _progress(
        self, job_id: int, stage: str, low: int, high: int, expected: int
    ) -> Callable[[str], Awaitable[None]]:
        """A line handler moving the job from ``low`` to ``high`` percent as steps finish."""
        tail: list[str] = []
        state = {"done": 0, "written": 0.0, "checked": time.monotonic()}

        async def on_line(line: str) -> None:
            tail.append(line)
            del tail[:-TAIL_LINES]
            if "Finished training component" in line or "Restored component" in line:
                state["done"] += 1
            if line.startswith("evaluated "):
                state["done"] += 1
            now = time.monotonic()
            if now - state["written"] < PROGRESS_WRITE_S:
                return
            state["written"] = now
            share = min(1.0, state["done"] / max(expected, 1))
            cancel = await self._update(
                job_id,
                stage=stage,
                progress=int(low + (high - low) * share),
                log_tail="\n".join(tail),
            )
            if cancel:
                raise _Cancelled

        return on_line

    def _expected_components(self) -> int:
        """Trainable graph nodes (pipeline + policies): the train stage's progress unit."""
        try:
            config = yaml.safe_load((self.settings.workspace / "config.yml").read_text("utf-8"))
            return len(config.get("pipeline") or []) + len(config.get("policies") or [])
        except (OSError, yaml.YAMLError, AttributeError):
            return 10

    async def _rasa(
        self, job_id: int, stage: str, args: list[str], timeout_s: float, expected: int
    ) -> ProcessResult:
        low = STAGE_START[stage]
        high = STAGE_START[JobStage.ORDER[JobStage.ORDER.index(stage) + 1]]
        await self._update(job_id, stage=stage, progress=low)
        return await run_process(
            args,
            cwd=self.settings.workspace,
            env=rasa_env(self.settings.code_root),
            timeout_s=timeout_s,
            on_line=self._progress(job_id, stage, low, high, expected),
        )

    async def run_job(self, job_id: int) -> TrainingJob:
        """Export, validate, train, evaluate against the live model, gate. Never raises for a
        failed stage: the job row says what happened (TrainingFailed only if it is gone)."""
        async with self.sessions() as session:
            job = await session.get(TrainingJob, job_id)
        if job is None:
            raise TrainingFailed(f"no training job {job_id}")
        await self._update(job_id, status=TrainingJobStatus.RUNNING, started_at=utcnow())
        try:
            async with self._job_lock:
                values = await self._pipeline(job)
        except (_Cancelled, asyncio.CancelledError) as exc:
            await asyncio.shield(
                self._update(
                    job_id,
                    status=TrainingJobStatus.CANCELLED,
                    finished_at=utcnow(),
                    error="cancelled",
                )
            )
            if isinstance(exc, asyncio.CancelledError):
                raise
        except TrainingError as exc:
            await self._update(
                job_id, status=TrainingJobStatus.FAILED, finished_at=utcnow(), error=str(exc)
            )
        except Exception as exc:  # a bug must not leave the job "running" forever
            log.exception("training.job_crashed", extra={"job": job_id})
            await self._update(
                job_id,
                status=TrainingJobStatus.FAILED,
                finished_at=utcnow(),
                error=f"{type(exc).__name__}: {exc}",
            )
        else:
            await self._update(job_id, **values)
        async with self.sessions() as session:
            done = await session.get(TrainingJob, job_id)
        if done is None:
            raise TrainingFailed(f"training job {job_id} disappeared")
        return done

    async def _pipeline(self, job: TrainingJob) -> dict[str, Any]:
        settings = self.settings
        timings: dict[str, float] = {}
        # 1. export the annotations into the workspace's Rasa files
        await self._update(job.id, stage=JobStage.EXPORT, progress=STAGE_START[JobStage.EXPORT])
        async with self.sessions() as session:
            rows = (await session.scalars(select(Annotation).order_by(Annotation.id))).all()
        exported = await asyncio.to_thread(
            self.workspace.export, [(r.label, r.intent, r.text) for r in rows]
        )
        async with self.sessions() as session, session.begin():
            await session.execute(update(Annotation).values(exported=True))
        # 2. the validator must pass
        result = await self._rasa(
            job.id,
            JobStage.VALIDATE,
            [str(settings.rasa_bin), "data", "validate", "--fail-on-warnings"],
            settings.validate_timeout_s,
            expected=1,
        )
        timings["validate_s"] = round(result.seconds, 1)
        if result.returncode != 0:
            raise TrainingFailed("rasa data validate failed:\n" + _validator_message(result))
        # 3. train the candidate into the registry
        name = f"{CANDIDATE_PREFIX}{job.id}"
        candidate = settings.registry_dir / f"{name}.tar.gz"
        settings.registry_dir.mkdir(parents=True, exist_ok=True)
        result = await self._rasa(
            job.id,
            JobStage.TRAIN,
            [
                str(settings.rasa_bin),
                "train",
                "--out",
                str(settings.registry_dir),
                "--fixed-model-name",
                name,
            ],
            settings.train_timeout_s,
            expected=self._expected_components(),
        )
        timings["train_s"] = round(result.seconds, 1)
        if result.returncode != 0 or not candidate.is_file():
            raise TrainingFailed("rasa train failed:\n" + "\n".join(result.tail[-ERROR_LINES:]))
        await self._update(job.id, candidate_path=str(candidate))
        # 4. evaluate the candidate and the live model on the held-out set
        live = await self.live_model()
        started = time.monotonic()
        before, after, taught = await self._evaluate(job.id, live, candidate)
        timings["evaluate_s"] = round(time.monotonic() - started, 1)
        # 5. the gate
        await self._update(job.id, stage=JobStage.GATE, progress=STAGE_START[JobStage.GATE])
        report = build_report(before, after, settings.gate, taught)
        passed = bool(report["gate"]["passed"])
        sha = await asyncio.to_thread(_rasa_api.file_sha256, candidate)
        report.update(
            {
                "live": {"id": live.id, "path": live.path, "sha256": live.sha256},
                "candidate": {"path": str(candidate), "sha256": sha},
                "export": exported.as_dict(),
                "timings": timings,
                "heldout_messages": len(after),
            }
        )
        async with self.sessions() as session, session.begin():
            entry = ModelEntry(
                path=str(candidate),
                sha256=sha,
                status=ModelStatus.CANDIDATE if passed else ModelStatus.REJECTED,
                metrics=_summary(after),
                job_id=job.id,
            )
            session.add(entry)
            await session.flush()
            report["candidate"]["id"] = entry.id
            self._audit(
                session,
                job.created_by,
                AuditAction.GATE,
                name,
                job=job.id,
                model=entry.id,
                passed=passed,
                reasons=report["gate"]["reasons"],
            )
        return {
            "status": TrainingJobStatus.PASSED if passed else TrainingJobStatus.REJECTED,
            "stage": JobStage.DONE,
            "progress": STAGE_START[JobStage.DONE],
            "model_id": entry.id,
            "report": report,
            "finished_at": utcnow(),
        }

    async def _evaluate(
        self, job_id: int, live_entry: ModelEntry, candidate: Path
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """The live model and the candidate on the held-out set, and the live model on the
        annotations (how it read what the admins taught), in one evaluator process."""
        live, live_sha = Path(live_entry.path), live_entry.sha256
        settings = self.settings
        heldout = await asyncio.to_thread(heldout_sha256, settings.heldout_dir)
        cache = settings.evaluations_dir
        cache.mkdir(parents=True, exist_ok=True)
        live_file = cache / f"{live_sha}-{heldout[:16]}.json"
        candidate_file = cache / f"{candidate.stem}-{job_id}-{heldout[:16]}.json"
        taught_file = cache / f"{candidate.stem}-{job_id}-taught.json"
        runs = [(settings.heldout_dir, candidate, candidate_file)]
        if not live_file.is_file():  # cached per model: the live model is evaluated once
            runs.append((settings.heldout_dir, live, live_file))
        runs.append((settings.workspace / NLU_FILE, live, taught_file))
        args = [str(settings.rasa_python), str(settings.code_root / "scripts" / "evaluate_nlu.py")]
        for nlu, model, out in runs:
            args += ["--nlu", str(nlu), "--model", str(model), "--out", str(out)]
        result = await self._rasa(
            job_id, JobStage.EVALUATE, args, settings.evaluate_timeout_s, expected=len(runs)
        )
        outputs = (candidate_file, live_file, taught_file)
        if result.returncode != 0 or not all(f.is_file() for f in outputs):
            raise TrainingFailed(
                "the evaluation failed:\n" + "\n".join(result.tail[-ERROR_LINES:])
            )
        before = json.loads(live_file.read_text(encoding="utf-8"))
        after = json.loads(candidate_file.read_text(encoding="utf-8"))
        taught = json.loads(taught_file.read_text(encoding="utf-8"))
        async with self.sessions() as session, session.begin():
            entry = await session.get(ModelEntry, live_entry.id)
            if entry is not None:
                entry.metrics = {**entry.metrics, **_summary(before)}
        return before, after, taught

    async def report(self, actor: Actor, job_id: int) -> dict[str, Any]:
        """The report of a finished job (empty while it runs)."""
        return dict((await self.job(actor, job_id)).report or {})


def _summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Held-out scores stored with a model in the registry."""
    return {
        "overall": score(items).as_dict(),
        "languages": {k: v.as_dict() for k, v in scores_by_language(items).items()},
    }
