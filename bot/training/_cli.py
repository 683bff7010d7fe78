"""``python -m bot training ...``: the review queue and retraining from a terminal.

Every command acts as a console user (``--as USERNAME``), who must be an active admin, and
is written to the same audit log as the console's pages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

from sqlalchemy import select

from .._exceptions import GatewayError, TrainingForbidden
from .._settings import Settings
from ..storage._db import Agent, AnnotationLabel, TrainingJobStatus, create_engine
from ..storage._migrate import migrate
from ._service import Actor, TrainingService
from ._settings import TrainingSettings

__all__ = ["COMMAND", "add_training_commands", "run_training_command"]

COMMAND = "training"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_REJECTED = 3  # the gate stopped the candidate (scripts can tell it from a failure)
POLL_S = 2.0


def add_training_commands(sub: Any) -> None:
    """Register ``training`` and its subcommands on the main parser."""
    parser = sub.add_parser(COMMAND, help="review misunderstood messages, retrain, deploy")
    parser.add_argument("--as", dest="actor", required=True, help="an admin's username")
    cmds = parser.add_subparsers(dest="training_command", required=True)
    review = cmds.add_parser("review", help="the review queue, most frequent first")
    review.add_argument("--limit", type=int, default=50)
    review.add_argument("--json", action="store_true")
    annotate = cmds.add_parser("annotate", help="label messages (copied from the queue)")
    what = annotate.add_mutually_exclusive_group(required=True)
    what.add_argument("--intent", help="an existing intent, or one created with `intent`")
    what.add_argument("--out-of-scope", action="store_true")
    what.add_argument("--spam", action="store_true")
    annotate.add_argument("--example", help="train on this wording instead (one message)")
    annotate.add_argument("texts", nargs="+")
    remove = cmds.add_parser("unannotate", help="forget the annotation of a message")
    remove.add_argument("text")
    cmds.add_parser("annotations", help="every annotation")
    intent = cmds.add_parser("intent", help="create a new intent with its answers")
    intent.add_argument("name")
    intent.add_argument("--km", required=True, help="the answer in Khmer")
    intent.add_argument("--en", required=True, help="the answer in English")
    train = cmds.add_parser("train", help="export, validate, train, evaluate, gate")
    train.add_argument("--activate", action="store_true", help="activate if the gate passes")
    cmds.add_parser("jobs", help="training jobs")
    report = cmds.add_parser("report", help="the evaluation report of a job")
    report.add_argument("job", type=int)
    report.add_argument("--json", action="store_true")
    cancel = cmds.add_parser("cancel", help="stop a running training job")
    cancel.add_argument("job", type=int)
    cmds.add_parser("models", help="the model registry")
    activate = cmds.add_parser("activate", help="load a model into every Rasa instance")
    activate.add_argument("model", type=int)
    cmds.add_parser("rollback", help="put back the model that was live before")
    audit = cmds.add_parser("audit", help="who annotated, trained, activated, rolled back")
    audit.add_argument("--limit", type=int, default=50)


@contextlib.asynccontextmanager
async def _service(
    settings: Settings, training: TrainingSettings | None
) -> AsyncIterator[TrainingService]:
    engine, sessions = create_engine(settings.database_url)
    if settings.auto_migrate:
        await migrate(engine)
    service = TrainingService(training or TrainingSettings.from_env(), sessions)
    try:
        yield service
    finally:
        await service.aclose()
        await engine.dispose()


async def resolve_actor(service: TrainingService, username: str) -> Actor:
    """The console user behind ``--as`` (must exist and be active)."""
    async with service.sessions() as session:
        agent = await session.scalar(
            select(Agent).where(Agent.username == username, Agent.active.is_(True))
        )
    if agent is None:
        raise TrainingForbidden(f"no active console user {username!r}")
    return Actor(agent.username, agent.role)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_report(report: dict[str, Any], out: TextIO) -> None:
    """The report as text: languages, the intents that moved, confusions, the gate."""
    if not report:
        print("no report yet", file=out)
        return
    gate = report["gate"]
    print(f"gate: {'PASSED' if gate['passed'] else 'REJECTED'}", file=out)
    for reason in gate["reasons"]:
        print(f"  - {reason}", file=out)
    print(f"{'':10}{'messages':>9}{'before':>9}{'after':>9}", file=out)
    rows = [("overall", report["overall"]), *sorted(report["languages"].items())]
    for name, pair in rows:
        before, after = pair["before"] or {}, pair["after"] or {}
        print(
            f"{name:10}{after.get('messages', 0):>9}{_percent(before.get('accuracy')):>9}"
            f"{_percent(after.get('accuracy')):>9}",
            file=out,
        )
    moved = [row for row in report["intents"] if abs(row["delta"]) > 0]
    if moved:
        print("F1 per intent (changed only):", file=out)
        for row in moved:
            print(
                f"  {row['intent']:32}{row['support']:>4}{row['f1_before']:>8.3f}"
                f"{row['f1_after']:>8.3f}{row['delta']:>+8.3f}",
                file=out,
            )
    confused = report["confused"]["after"][:5]
    if confused:
        print("most confused (candidate):", file=out)
        for pair in confused:
            print(f"  {pair['intent']} -> {pair['predicted']}: {pair['count']}", file=out)
    timings = report.get("timings") or {}
    if timings:
        print("timings: " + ", ".join(f"{k} {v}" for k, v in timings.items()), file=out)


async def _train(service: TrainingService, actor: Actor, activate: bool, out: TextIO) -> int:
    job = await service.create_job(actor)
    print(f"training job {job.id} started", file=out, flush=True)
    task = service.start_job(job)
    last = ""
    while not task.done():
        await asyncio.sleep(POLL_S)
        current = await service.job(actor, job.id)
        line = f"[{current.progress:3d}%] {current.stage}"
        if line != last:
            print(line, file=out, flush=True)
            last = line
    done = await task
    if done.status == TrainingJobStatus.FAILED:
        print(f"training job {job.id} failed: {done.error}", file=out)
        return EXIT_ERROR
    print_report(done.report, out)
    if done.status != TrainingJobStatus.PASSED or done.model_id is None:
        return EXIT_REJECTED if done.status == TrainingJobStatus.REJECTED else EXIT_ERROR
    print(f"candidate model {done.model_id} passed the gate", file=out)
    if activate:
        model = await service.activate(actor, done.model_id)
        print(f"model {model.id} is live ({model.path})", file=out)
    return EXIT_OK


async def _review(service: TrainingService, actor: Actor, args: Any, out: TextIO) -> int:
    items = await service.queue(actor, limit=args.limit)
    if args.json:
        print(json.dumps([_item_json(i) for i in items], ensure_ascii=False), file=out)
        return EXIT_OK
    for n, item in enumerate(items, start=1):
        reasons = ",".join(item.reasons)
        hints = " ".join(f"{name}({score:.2f})" for name, score in item.suggestions[:3])
        print(
            f"{n:3}. {item.conversations:3} conv {item.messages:3} msg  {reasons:28}"
            f" {item.text}\n     suggested: {hints or '-'}",
            file=out,
        )
    return EXIT_OK


async def _annotate(service: TrainingService, actor: Actor, args: Any, out: TextIO) -> int:
    label = AnnotationLabel.INTENT
    if args.out_of_scope:
        label = AnnotationLabel.OUT_OF_SCOPE
    elif args.spam:
        label = AnnotationLabel.SPAM
    rows = await service.annotate(
        actor, args.texts, label=label, intent=args.intent, example=args.example
    )
    for row in rows:
        print(f"annotated: {row.text} -> {row.intent or row.label}", file=out)
    return EXIT_OK


async def _unannotate(service: TrainingService, actor: Actor, args: Any, out: TextIO) -> int:
    await service.remove_annotation(actor, args.text)
    print("annotation removed", file=out)
    return EXIT_OK


async def _annotations(service: TrainingService, actor: Actor, _args: Any, out: TextIO) -> int:
    for row in await service.annotations(actor):
        flag = "exported" if row.exported else "new"
        print(f"{row.intent or row.label:32} {flag:9} {row.annotator:16} {row.text}", file=out)
    return EXIT_OK


async def _intent(service: TrainingService, actor: Actor, args: Any, out: TextIO) -> int:
    await service.define_intent(actor, args.name, km=args.km, en=args.en)
    print(f"intent {args.name} created; annotate messages with it, then train", file=out)
    return EXIT_OK


async def _train_command(service: TrainingService, actor: Actor, args: Any, out: TextIO) -> int:
    return await _train(service, actor, args.activate, out)


async def _jobs(service: TrainingService, actor: Actor, _args: Any, out: TextIO) -> int:
    for job in await service.jobs(actor):
        print(
            f"{job.id:4} {job.status:10} {job.stage:9} {job.progress:3d}% "
            f"{job.created_by:16} {job.created_at:%Y-%m-%d %H:%M} {job.error or ''}",
            file=out,
        )
    return EXIT_OK


async def _report(service: TrainingService, actor: Actor, args: Any, out: TextIO) -> int:
    report = await service.report(actor, args.job)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2), file=out)
    else:
        print_report(report, out)
    return EXIT_OK


async def _cancel(service: TrainingService, actor: Actor, args: Any, out: TextIO) -> int:
    await service.cancel_job(actor, args.job)
    print(f"cancel requested for job {args.job}", file=out)
    return EXIT_OK


async def _models(service: TrainingService, actor: Actor, _args: Any, out: TextIO) -> int:
    for model in await service.models(actor):
        overall = (model.metrics.get("overall") or {}).get("accuracy")
        print(
            f"{model.id:4} {model.status:10} acc {_percent(overall)} "
            f"{model.activated_by or '':12} {model.path}",
            file=out,
        )
    return EXIT_OK


async def _activate(service: TrainingService, actor: Actor, args: Any, out: TextIO) -> int:
    model = await service.activate(actor, args.model)
    print(f"model {model.id} is live ({model.path})", file=out)
    return EXIT_OK


async def _rollback(service: TrainingService, actor: Actor, _args: Any, out: TextIO) -> int:
    model = await service.rollback(actor)
    print(f"model {model.id} is live again ({model.path})", file=out)
    return EXIT_OK


async def _audit(service: TrainingService, actor: Actor, args: Any, out: TextIO) -> int:
    for row in await service.audit(actor, args.limit):
        detail = json.dumps(row.detail, ensure_ascii=False)
        print(
            f"{row.at:%Y-%m-%d %H:%M:%S} {row.actor:16} {row.action:18} {row.target} {detail}",
            file=out,
        )
    return EXIT_OK


_HANDLERS = {
    "review": _review,
    "annotate": _annotate,
    "unannotate": _unannotate,
    "annotations": _annotations,
    "intent": _intent,
    "train": _train_command,
    "jobs": _jobs,
    "report": _report,
    "cancel": _cancel,
    "models": _models,
    "activate": _activate,
    "rollback": _rollback,
    "audit": _audit,
}


def _item_json(item: Any) -> dict[str, Any]:
    return {
        "text": item.text,
        "key": item.key,
        "conversations": item.conversations,
        "messages": item.messages,
        "reasons": item.reasons,
        "suggestions": item.suggestions,
        "intents": item.intents,
        "last_seen": item.last_seen.isoformat(),
    }


async def run_training_command(
    settings: Settings,
    args: argparse.Namespace,
    out: TextIO | None = None,
    training: TrainingSettings | None = None,
) -> int:
    """Run one ``training`` subcommand; errors are printed, not raised."""
    stream = out or sys.stdout
    try:
        async with _service(settings, training) as service:
            actor = await resolve_actor(service, args.actor)
            return await _HANDLERS[args.training_command](service, actor, args, stream)
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr if out is None else stream)
        return EXIT_ERROR
