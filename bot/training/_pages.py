"""The retraining tool's console pages (admins): review queue, annotations, new intents,
training jobs with their report, the model registry and the audit log.

Server-rendered with the console's layout, escaping (``h``), labels and one script: every
action is a plain form (the script only adds keyboard shortcuts and live job progress), so
the pages work without JavaScript and on a 360 px phone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..channels._texts import detect_language
from ..console._auth import CSRF_FIELD
from ..console._html import Markup, h, join
from ..console._labels import LANGUAGE_NAMES
from ..console._pages import PageContext, layout
from ..storage._db import (
    Annotation,
    AnnotationLabel,
    AuditEntry,
    ModelEntry,
    ModelStatus,
    TrainingJob,
)
from ..storage._db import TrainingJobStatus as JobStatus
from ._queue import QueueItem
from ._workspace import Answer

__all__ = [
    "API_PREFIX",
    "PREFIX",
    "IntentForm",
    "annotations_page",
    "audit_page",
    "intents_page",
    "job_json",
    "job_page",
    "jobs_page",
    "models_page",
    "review_page",
]

PREFIX = "/console/training"
API_PREFIX = "/console/api/training"
SECTIONS = (  # (path under PREFIX, label): the tool's own navigation
    ("", "review"),
    ("/annotations", "annotations"),
    ("/intents", "intents"),
    ("/jobs", "jobs"),
    ("/models", "models"),
    ("/audit", "audit"),
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


# ----- small pieces ------------------------------------------------------------------------


def _csrf(ctx: PageContext) -> Markup:
    return h('<input type="hidden" name="{f}" value="{t}">', f=CSRF_FIELD, t=ctx.csrf)


def _lang(text: str) -> str:
    return detect_language(text) or "und"


def _time(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "–"


def _score(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "–"


def _delta(before: Any, after: Any) -> Markup:
    if not isinstance(before, int | float) or not isinstance(after, int | float):
        return Markup("–")
    change = after - before
    tone = "up" if change > CHANGED_F1 else "down" if change < -CHANGED_F1 else "same"
    return h('<span class="{tone}">{v}</span>', tone=tone, v=f"{change:+.3f}")


def _notice(message: str) -> Markup:
    return h('<p class="notice" role="status">{m}</p>', m=message) if message else Markup("")


def _error(message: str) -> Markup:
    return h('<p class="error" role="alert">{m}</p>', m=message) if message else Markup("")


def _subnav(ctx: PageContext, current: str) -> Markup:
    links = join(
        h(
            '<a href="{p}{path}"{cur}>{t}</a>',
            p=PREFIX,
            path=path,
            cur=Markup(' aria-current="page"') if name == current else "",
            t=ctx.t(name),
        )
        for path, name in SECTIONS
    )
    return h(
        '<nav class="subnav" aria-label="{t}">{links}</nav>', t=ctx.t("training"), links=links
    )


def _page(ctx: PageContext, current: str, body: Markup, *, page: str, title: str = "") -> str:
    heading = title or ctx.t(current)
    content = h("{nav}<h1>{t}</h1>{body}", nav=_subnav(ctx, current), t=heading, body=body)
    return layout(ctx, heading, content, page=page)


def _table(heads: Sequence[str], rows: Sequence[Markup], cls: str = "") -> Markup:
    return h(
        '<div class="scroll"><table class="{cls}"><thead><tr>{heads}</tr></thead>'
        "<tbody>{rows}</tbody></table></div>",
        cls=cls,
        heads=join(h("<th scope=col>{x}</th>", x=x) for x in heads),
        rows=join(rows),
    )


def _post_button(
    ctx: PageContext,
    action: str,
    label: str,
    *,
    cls: str = "",
    confirm: str = "",
    hidden: Mapping[str, str] | None = None,
) -> Markup:
    """One button in its own form (CSRF included); ``confirm`` asks first (console.js)."""
    fields = join(
        h('<input type="hidden" name="{k}" value="{v}">', k=k, v=v)
        for k, v in (hidden or {}).items()
    )
    return h(
        '<form method="post" action="{action}" class="inline{confirm_cls}"{confirm}>{csrf}'
        '{fields}<button type="submit" class="{cls}">{text}</button></form>',
        action=action,
        confirm_cls=" confirm" if confirm else "",
        confirm=h(' data-confirm="{q}"', q=confirm) if confirm else "",
        csrf=_csrf(ctx),
        fields=fields,
        cls=cls,
        text=label,
    )


# ----- review queue ------------------------------------------------------------------------


def _reasons(ctx: PageContext, reasons: Mapping[str, int]) -> Markup:
    return join(
        h(
            '<span class="tag reason-{r}">{t}{n}</span> ',
            r=reason,
            t=ctx.t(f"reason_{reason}"),
            n=f" ×{count}" if count > 1 else "",
        )
        for reason, count in reasons.items()
    )


def _predicted(ctx: PageContext, item: QueueItem) -> Markup:
    if not item.intents:
        return Markup("")
    top = sorted(item.intents.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_SHOWN_INTENTS]
    return h(
        '<span class="predicted">{label}: <code>{names}</code>{conf}</span>',
        label=ctx.t("predicted"),
        names=", ".join(name for name, _ in top),
        conf=h(" ({c} {v})", c=ctx.t("confidence"), v=_score(item.mean_confidence))
        if item.mean_confidence is not None
        else "",
    )


def _review_row(ctx: PageContext, item: QueueItem, index: int) -> Markup:
    language = detect_language(item.text)
    others = len(item.variants) - 1
    return h(
        '<li class="item" data-key="{key}"><label class="pick">'
        '<input type="checkbox" name="text" value="{text}" id="row-{i}">'
        '<span class="count" title="{count_label}"><b>{conversations}</b>'
        "<small>{count_label}</small></span>"
        '<span class="body"><span class="text" lang="{lang}">{text}</span>'
        '<span class="meta">{reasons}{predicted} · {language} · {messages} {messages_label}'
        "{variants} · {seen_label} {seen}</span></span></label></li>",
        key=item.key,
        text=item.text,
        i=index,
        conversations=item.conversations,
        count_label=ctx.t("count"),
        lang=language or "und",
        reasons=_reasons(ctx, item.reasons),
        predicted=_predicted(ctx, item),
        language=LANGUAGE_NAMES.get(language or "", "?"),
        messages=item.messages,
        messages_label=ctx.t("messages_n"),
        variants=f" · +{others} {ctx.t('variants')}" if others > 0 else "",
        seen_label=ctx.t("last_seen"),
        seen=_time(item.last_seen),
    )


def review_page(
    ctx: PageContext, items: Sequence[QueueItem], intents: Sequence[str], query: str = ""
) -> str:
    """Misunderstood messages grouped and ranked, with bulk labelling and shortcuts."""
    options = join(h('<option value="{n}">{n}</option>', n=name) for name in intents)
    rows = join(_review_row(ctx, item, i) for i, item in enumerate(items))
    listing = (
        h('<ol class="review" id="review">{rows}</ol>', rows=rows)
        if items
        else h('<p class="empty">{t}</p>', t=ctx.t("empty_review"))
    )
    body = h(
        '<form method="get" action="{p}" class="row filter" role="search">'
        '<label>{filter}<input id="filter" name="q" value="{q}" type="search"'
        ' autocomplete="off"></label><button type="submit">{filter}</button></form>'
        '<p class="keys" id="shortcuts"><kbd>j</kbd>/<kbd>k</kbd> <kbd>x</kbd> <kbd>a</kbd>'
        " <kbd>o</kbd> <kbd>s</kbd> <kbd>/</kbd> — {keys}</p>"
        '<form method="post" action="{p}/annotate" id="review-form">{csrf}'
        '<input type="hidden" name="q" value="{q}">'
        '<div class="bulk card"><span class="bulk-title">{selected}</span>'
        '<label class="intent">{choose}<select name="intent" id="intent">'
        '<option value=""></option>{options}</select></label>'
        '<button type="submit" name="label" value="{intent}" id="assign">{assign}</button>'
        '<button type="submit" name="label" value="{oos}" id="out-of-scope" class="secondary">'
        "{oos_t}</button>"
        '<button type="submit" name="label" value="{spam}" id="spam" class="secondary">'
        "{spam_t}</button></div>{listing}</form>",
        p=PREFIX,
        filter=ctx.t("filter"),
        q=query,
        keys=ctx.t("shortcuts"),
        csrf=_csrf(ctx),
        selected=ctx.t("selected_rows"),
        choose=ctx.t("choose_intent"),
        options=options,
        intent=AnnotationLabel.INTENT,
        assign=ctx.t("assign"),
        oos=AnnotationLabel.OUT_OF_SCOPE,
        oos_t=ctx.t("out_of_scope"),
        spam=AnnotationLabel.SPAM,
        spam_t=ctx.t("spam"),
        listing=listing,
    )
    return _page(ctx, "review", body, page="training-review")


# ----- annotations and new intents ---------------------------------------------------------


def _label_name(ctx: PageContext, label: str) -> str:
    names = {
        AnnotationLabel.INTENT: ctx.t("intent"),
        AnnotationLabel.OUT_OF_SCOPE: ctx.t("out_of_scope"),
        AnnotationLabel.SPAM: ctx.t("spam"),
    }
    return names.get(label, label)


def annotations_page(ctx: PageContext, annotations: Sequence[Annotation]) -> str:
    """Every label given, newest first, each with a remove button."""
    rows = [
        h(
            '<tr><td lang="{lang}" class="text">{text}</td><td>{label}</td><td><code>{intent}'
            "</code></td><td>{by}</td><td>{exported}</td><td>{at}</td><td>{remove}</td></tr>",
            lang=_lang(a.text),
            text=a.text,
            label=_label_name(ctx, a.label),
            intent=a.intent or "",
            by=a.annotator,
            exported="✓" if a.exported else "",
            at=_time(a.updated_at),
            remove=_post_button(
                ctx,
                f"{PREFIX}/annotations/remove",
                ctx.t("remove"),
                cls="secondary",
                hidden={"text": a.text},
            ),
        )
        for a in annotations
    ]
    heads = [ctx.t(k) for k in ("message", "label", "intent", "annotator", "exported", "when")]
    body = (
        _table([*heads, ""], rows, "annotations")
        if rows
        else h('<p class="empty">{t}</p>', t=ctx.t("no_annotations"))
    )
    return _page(ctx, "annotations", body, page="training-annotations")


def intents_page(
    ctx: PageContext,
    answers: Mapping[str, Answer],
    form: IntentForm | None = None,
    *,
    error: str = "",
    notice: str = "",
) -> str:
    """The intents created here with their answers, and the form to create one."""
    form = form or IntentForm()
    rows = [
        h(
            '<tr><td><code>{name}</code></td><td lang="km">{km}</td><td lang="en">{en}</td></tr>',
            name=name,
            km=answer.km,
            en=answer.en,
        )
        for name, answer in sorted(answers.items())
    ]
    existing = (
        _table([ctx.t("intent"), ctx.t("answer_km"), ctx.t("answer_en")], rows) if rows else ""
    )
    body = h(
        '{notice}<form method="post" action="{p}/intents" class="card" id="intent-form">{csrf}'
        "{error}"
        '<label>{name_t}<input name="name" id="intent-name" required maxlength="64"'
        ' pattern="[a-z][a-z0-9_]{{2,63}}" autocapitalize="none" spellcheck="false"'
        ' value="{name}"></label>'
        '<label>{km_t}<textarea name="km" id="answer-km" rows="4" required maxlength="1500"'
        ' lang="km">{km}</textarea></label>'
        '<label>{en_t}<textarea name="en" id="answer-en" rows="4" required maxlength="1500"'
        ' lang="en">{en}</textarea></label>'
        '<button type="submit" id="create-intent">{create}</button></form>{existing}',
        notice=_notice(notice),
        p=PREFIX,
        csrf=_csrf(ctx),
        error=_error(error),
        name_t=ctx.t("intent_name"),
        name=form.name,
        km_t=ctx.t("answer_km"),
        km=form.km,
        en_t=ctx.t("answer_en"),
        en=form.en,
        create=ctx.t("create_intent"),
        existing=existing,
    )
    return _page(ctx, "intents", body, page="training-intents")


# ----- training jobs and their report ------------------------------------------------------


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


def _status_tag(status: str) -> Markup:
    return h('<span class="tag status-{s}">{s}</span>', s=status)


def _progress(job: TrainingJob) -> Markup:
    return h(
        '<progress id="progress" max="100" value="{v}">{v}%</progress>'
        ' <span id="percent">{v}%</span>',
        v=job.progress,
    )


def jobs_page(ctx: PageContext, jobs: Sequence[TrainingJob]) -> str:
    """Start a training; every job with its status, stage and progress."""
    rows = [
        h(
            '<tr><td><a href="{p}/jobs/{id}">#{id}</a></td><td>{status}</td><td>{stage}</td>'
            '<td><progress max="100" value="{progress}">{progress}%</progress> {progress}%</td>'
            "<td>{gate}</td><td>{by}</td><td>{created}</td><td>{finished}</td></tr>",
            p=PREFIX,
            id=j.id,
            status=_status_tag(j.status),
            stage=j.stage,
            progress=j.progress,
            gate={True: "✓", False: "✗", None: ""}[_gate_passed(j)],
            by=j.created_by,
            created=_time(j.created_at),
            finished=_time(j.finished_at),
        )
        for j in jobs
    ]
    heads = ["job", "status", "stage", "progress", "gate", "started_by", "created", "finished"]
    start = _post_button(ctx, f"{PREFIX}/jobs", ctx.t("start_training"), cls="primary")
    listing = (
        _table([ctx.t(k) for k in heads], rows, "jobs")
        if rows
        else h('<p class="empty">{t}</p>', t=ctx.t("no_jobs"))
    )
    body = h('<p class="actions" id="start">{start}</p>{listing}', start=start, listing=listing)
    return _page(ctx, "jobs", body, page="training-jobs")


def _accuracy_table(ctx: PageContext, report: Mapping[str, Any]) -> Markup:
    pairs: list[tuple[str, Mapping[str, Any]]] = [(ctx.t("overall"), report["overall"])]
    pairs += [
        (LANGUAGE_NAMES.get(code, code), pair)
        for code, pair in sorted(report["languages"].items())
    ]
    rows = []
    for name, pair in pairs:
        before, after = pair.get("before") or {}, pair.get("after") or {}
        rows.append(
            h(
                "<tr><th scope=row>{name}</th><td>{n}</td><td>{b}</td><td>{a}</td>"
                "<td>{d}</td></tr>",
                name=name,
                n=after.get("messages", before.get("messages", 0)),
                b=_score(before.get("accuracy")),
                a=_score(after.get("accuracy")),
                d=_delta(before.get("accuracy"), after.get("accuracy")),
            )
        )
    heads = ["", ctx.t("held_out"), ctx.t("live_model"), ctx.t("candidate"), ctx.t("change")]
    return _table(heads, rows, "accuracy")


def _intents_table(ctx: PageContext, report: Mapping[str, Any]) -> Markup:
    changed = [r for r in report.get("intents", []) if abs(r["delta"]) > CHANGED_F1]
    if not changed:
        return h('<p class="empty">{t}</p>', t=ctx.t("no_changes"))
    rows = [
        h(
            "<tr><td><code>{intent}</code>{gated}</td><td>{n}</td><td>{b}</td><td>{a}</td>"
            "<td>{d}</td></tr>",
            intent=r["intent"],
            gated=h(' <small title="{hint}">(gate)</small>', hint=ctx.t("gated_hint"))
            if r.get("gated")
            else "",
            n=r["support"],
            b=_score(r["f1_before"]),
            a=_score(r["f1_after"]),
            d=_delta(r["f1_before"], r["f1_after"]),
        )
        for r in changed
    ]
    heads = [ctx.t("intent"), ctx.t("held_out"), ctx.t("live_model"), ctx.t("candidate")]
    return _table([*heads, ctx.t("change")], rows, "intents")


def _confused_table(ctx: PageContext, pairs: Sequence[Mapping[str, Any]], title: str) -> Markup:
    rows = [
        h(
            "<tr><td><code>{t}</code></td><td><code>{p}</code></td><td>{n}</td></tr>",
            t=pair["intent"],
            p=pair["predicted"],
            n=pair["count"],
        )
        for pair in pairs
    ]
    return h(
        '<div class="half"><h3>{title}</h3>{table}</div>',
        title=title,
        table=_table([ctx.t("intent"), ctx.t("predicted"), ctx.t("times")], rows, "confused"),
    )


def _contradictions_table(ctx: PageContext, rows: Sequence[Mapping[str, Any]]) -> Markup:
    """Annotations that overturn what the live model was sure of (the gate counts them)."""
    if not rows:
        return Markup("")
    body = [
        h(
            '<tr><td lang="{lang}">{text}</td><td><code>{live}</code> {conf}</td>'
            "<td><code>{taught}</code></td></tr>",
            lang=_lang(str(r["text"])),
            text=r["text"],
            live=r["live"],
            conf=_score(r["confidence"]),
            taught=r["taught"],
        )
        for r in rows
    ]
    return h(
        "<h3>{title}</h3>{table}",
        title=ctx.t("contradictions"),
        table=_table(
            [ctx.t("message"), ctx.t("live_model"), ctx.t("taught")], body, "contradictions"
        ),
    )


def _gate(ctx: PageContext, gate: Mapping[str, Any]) -> Markup:
    passed = bool(gate.get("passed"))
    reasons = join(h("<li>{r}</li>", r=r) for r in gate.get("reasons", []))
    return h(
        '<section class="card gate {cls}" id="gate"><h2>{title}</h2><p><b>{verdict}</b></p>'
        "<ul>{reasons}</ul></section>",
        cls="passed" if passed else "rejected",
        title=ctx.t("gate"),
        verdict=ctx.t("gate_passed") if passed else ctx.t("gate_rejected"),
        reasons=reasons,
    )


def _report(ctx: PageContext, report: Mapping[str, Any], model: ModelEntry | None) -> Markup:
    activate = Markup("")
    gate = report.get("gate") or {}
    if gate.get("passed") and model is not None and model.status == ModelStatus.CANDIDATE:
        activate = h(
            '<p class="actions">{button}</p>',
            button=_post_button(
                ctx,
                f"{PREFIX}/models/{model.id}/activate",
                ctx.t("activate"),
                cls="primary",
                confirm=ctx.t("activate_confirm"),
            ),
        )
    confused = report.get("confused") or {}
    return h(
        '<section id="report"><h2>{title}</h2>{gate}{activate}{contradictions}'
        "<h3>{accuracy}</h3>{acc}"
        '<h3>{intents}</h3>{f1}<h3>{confused_t}</h3><div class="pair">{before}{after}</div>'
        "</section>",
        title=ctx.t("report"),
        gate=_gate(ctx, gate),
        activate=activate,
        contradictions=_contradictions_table(ctx, report.get("contradictions") or []),
        accuracy=ctx.t("accuracy"),
        acc=_accuracy_table(ctx, report),
        intents=ctx.t("intent_changes"),
        f1=_intents_table(ctx, report),
        confused_t=ctx.t("confused"),
        before=_confused_table(ctx, confused.get("before", []), ctx.t("live_model")),
        after=_confused_table(ctx, confused.get("after", []), ctx.t("candidate")),
    )


def job_page(ctx: PageContext, job: TrainingJob, model: ModelEntry | None) -> str:
    """One job: live progress while it runs; the report and Activate when it is done."""
    active = job.status in JobStatus.ACTIVE
    facts = h(
        '<dl class="facts" id="job-live" data-src="{api}/jobs/{id}" data-active="{active}">'
        '<dt>{status_t}</dt><dd id="status">{status}</dd>'
        '<dt>{stage_t}</dt><dd id="stage">{stage}</dd>'
        "<dt>{progress_t}</dt><dd>{progress}</dd>"
        "<dt>{by_t}</dt><dd>{by}</dd><dt>{created_t}</dt><dd>{created}</dd>"
        "<dt>{finished_t}</dt><dd>{finished}</dd></dl>",
        api=API_PREFIX,
        id=job.id,
        active="1" if active else "0",
        status_t=ctx.t("status"),
        status=job.status,
        stage_t=ctx.t("stage"),
        stage=job.stage,
        progress_t=ctx.t("progress"),
        progress=_progress(job),
        by_t=ctx.t("started_by"),
        by=job.created_by,
        created_t=ctx.t("created"),
        created=_time(job.created_at),
        finished_t=ctx.t("finished"),
        finished=_time(job.finished_at),
    )
    cancel = (
        _post_button(ctx, f"{PREFIX}/jobs/{job.id}/cancel", ctx.t("cancel"), cls="danger")
        if active
        else ""
    )
    error = h('<pre class="error" role="alert">{e}</pre>', e=job.error) if job.error else ""
    report = _report(ctx, job.report, model) if job.report else ""
    log = (
        h('<details><summary>log</summary><pre class="log">{t}</pre></details>', t=job.log_tail)
        if job.log_tail and not job.report
        else ""
    )
    body = h(
        "{facts}{cancel}{error}{report}{log}",
        facts=facts,
        cancel=cancel,
        error=error,
        report=report,
        log=log,
    )
    return _page(ctx, "jobs", body, page="training-job", title=f"{ctx.t('job')} #{job.id}")


# ----- models and audit --------------------------------------------------------------------


def _metric(model: ModelEntry, language: str | None) -> str:
    metrics = model.metrics or {}
    scores = (
        metrics.get("overall")
        if language is None
        else (metrics.get("languages") or {}).get(language)
    )
    return _score((scores or {}).get("accuracy"))


def models_page(ctx: PageContext, models: Sequence[ModelEntry]) -> str:
    """The registry: live, candidates, retired and rejected models; activate, roll back."""
    rows = []
    for m in models:
        may_activate = m.status in (ModelStatus.CANDIDATE, ModelStatus.RETIRED)
        rows.append(
            h(
                '<tr class="model-{status}"><td>#{id}</td><td>{tag}</td><td><code>{file}</code>'
                "<br><small>{sha}</small></td><td>{overall}</td><td>{km}</td><td>{en}</td>"
                "<td>{job}</td><td>{activated}</td><td>{button}</td></tr>",
                status=m.status,
                id=m.id,
                tag=_status_tag(m.status),
                file=Path(m.path).name,
                sha=m.sha256[:SHA_SHOWN],
                overall=_metric(m, None),
                km=_metric(m, "km"),
                en=_metric(m, "en"),
                job=h('<a href="{p}/jobs/{j}">#{j}</a>', p=PREFIX, j=m.job_id) if m.job_id else "",
                activated=f"{_time(m.activated_at)} · {m.activated_by}" if m.activated_at else "",
                button=_post_button(
                    ctx,
                    f"{PREFIX}/models/{m.id}/activate",
                    ctx.t("activate"),
                    confirm=ctx.t("activate_confirm"),
                )
                if may_activate
                else "",
            )
        )
    heads = ["#", ctx.t("status"), ctx.t("file"), ctx.t("overall"), "ខ្មែរ", "English"]
    heads += [ctx.t("job"), ctx.t("activated"), ""]
    rollback = _post_button(
        ctx,
        f"{PREFIX}/models/rollback",
        ctx.t("rollback"),
        cls="danger",
        confirm=ctx.t("rollback_confirm"),
    )
    body = h(
        '<p class="actions" id="rollback">{rollback}</p>{table}',
        rollback=rollback,
        table=_table(heads, rows, "models"),
    )
    return _page(ctx, "models", body, page="training-models")


def audit_page(ctx: PageContext, entries: Sequence[AuditEntry]) -> str:
    """Who labelled, created, trained, activated or rolled back what, newest first."""
    rows = [
        h(
            "<tr><td>{at}</td><td>{actor}</td><td><code>{action}</code></td>"
            '<td lang="{lang}">{target}</td><td><small>{detail}</small></td></tr>',
            at=_time(e.at),
            actor=e.actor,
            action=e.action,
            lang=_lang(e.target),
            target=e.target,
            detail=json.dumps(e.detail, ensure_ascii=False, sort_keys=True)[:AUDIT_DETAIL_CHARS],
        )
        for e in entries
    ]
    heads = [ctx.t(k) for k in ("when", "who", "action", "target", "detail")]
    return _page(ctx, "audit", _table(heads, rows, "audit"), page="training-audit")
