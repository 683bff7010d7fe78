"""The retraining tool's console pages through the real gateway app (aiohttp test server) on
SQLite and PostgreSQL: admins only, CSRF, the review queue (grouped, masked, escaped), bulk
labels, new intents, jobs and their report, activation and rollback in the fake Rasa model
API, the audit log."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import Settings, create_app
from bot.storage._db import (
    Annotation,
    AnnotationLabel,
    ModelEntry,
    ModelStatus,
    TrainingJob,
    TrainingJobStatus,
    utcnow,
)
from bot.training import TRAINING, GatePolicy, TrainingSettings, build_report
from tests.bot.console_helpers import ConsoleUser, logged_in, make_team
from tests.bot.gateway_fixtures import FIXTURES
from tests.training.helpers import ZWSP, FakeModelApi, TrackerRows, write_sqlite_tracker

NOW = time.time()
PENSION = "ខ្ញុំចង់ដឹងពីប្រាក់សោធននិវត្តន៍"  # "I want to know about the retirement pension"
PENSION_INTENT = "ask_nssf_pension"
GOLD = "តម្លៃមាសថ្ងៃនេះប៉ុន្មាន"  # "what is the price of gold today" (out of scope)
SPAM = "ទិញលុយគ្រីបតូចំណេញ១០០ដង"  # an advert
PERSONAL = "ខ្ញុំឈ្មោះ សុខ ដារា លេខ 012 345 678 ជួយផង"
SCRIPT = "<script>alert('x')</script> help"
KM = "សំបុត្រកំណើតកូន សូមសុំនៅសាលាឃុំ/សង្កាត់ ដោយឥតគិតថ្លៃ។"
EN = "Ask for a birth certificate at the commune/sangkat office; it is free."
NEW_INTENT = "ask_birth_certificate"
ADMIN_USER, SUPERVISOR_USER, AGENT_USER = "root", "srey", "sokha"
PAGES = (
    "/console/training",
    "/console/training/annotations",
    "/console/training/intents",
    "/console/training/jobs",
    "/console/training/models",
    "/console/training/audit",
)
JOB_WAIT_S = 30.0
_ROW_TEXT = re.compile(r'name="text" value="([^"]*)"')
_COUNT = re.compile(r'<span class="count"[^>]*><b>(\d+)</b>')

Client = TestClient[Any, Any]


def conversations() -> TrackerRows:
    """Rasa's tracker rows: the pension question from three citizens (one typed zero-width
    spaces), gold once, spam once, personal data, a script, and one well understood."""
    events = TrackerRows()
    events.user("telegram:1", PENSION, NOW - 300, "ask_nssf", 0.41)
    events.user("telegram:2", PENSION + "?", NOW - 200, "ask_nssf", 0.38)
    events.user("webchat:a", PENSION.replace("ដឹង", f"ដឹង{ZWSP}"), NOW - 100, "nlu_fallback", 0.3)
    events.user("telegram:3", GOLD, NOW - 90, "nlu_fallback", 0.2)
    events.action("telegram:3", "action_handoff", NOW - 89)
    events.user("telegram:4", SPAM, NOW - 80, "greet", 0.35)
    events.user("telegram:5", PERSONAL, NOW - 70, "report_problem", 0.3)
    events.user("telegram:6", SCRIPT, NOW - 60, "greet", 0.2)
    events.user("telegram:7", "សួស្តី", NOW - 50, "greet", 0.99)
    return events


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[Client]],
    database_url: str,
    training_settings: TrainingSettings,
    rasa_api: list[FakeModelApi],
    tmp_path: Path,
) -> Client:
    """The whole gateway on one of both databases, with the tool's settings injected."""
    await write_sqlite_tracker(tmp_path / "trackers.db", conversations())
    settings = Settings(
        database_url=database_url,
        rasa_urls=("http://127.0.0.1:9",),  # the citizens' Rasa: not used by these tests
        gazetteer_path=FIXTURES / "communes.yml",
        log_json=False,
    )
    training = dataclasses.replace(
        training_settings,
        rasa_urls=tuple(fake.url for fake in rasa_api),
        rasa_bin=training_settings.workspace / "no-rasa-here",  # a started job fails at once
    )
    test_client = await aiohttp_client(create_app(settings, training=training))
    await make_team(test_client)
    return test_client


@pytest.fixture
async def admin(client: Client) -> AsyncIterator[ConsoleUser]:
    user = await logged_in(client, ADMIN_USER)
    yield user
    await user.close()


async def labels(client: Client) -> dict[str, tuple[str, str | None]]:
    """Annotated texts -> (label, intent), read from the database."""
    service = client.app[TRAINING]
    async with service.sessions() as session:
        rows = (await session.scalars(select(Annotation))).all()
    return {row.text: (row.label, row.intent) for row in rows}


def queue_texts(page: str) -> list[str]:
    return [html.unescape(t) for t in _ROW_TEXT.findall(page)]


async def get_json(user: ConsoleUser, path: str) -> tuple[int, Any]:
    async with user.http.get(user.url(path), headers={"Accept": "application/json"}) as resp:
        return resp.status, await resp.json()


# ----- who may use it ------------------------------------------------------------------------


async def test_logged_out_people_are_sent_to_the_login(client: Client) -> None:
    for path in PAGES:
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303, path
        assert resp.headers["Location"].startswith("/console/login?next=/console/training")
    resp = await client.get("/console/api/training/jobs/1", allow_redirects=False)
    assert resp.status == 401
    resp = await client.post(
        "/console/training/annotate", data={"text": GOLD, "label": "spam"}, allow_redirects=False
    )
    assert resp.status == 401
    assert await labels(client) == {}


@pytest.mark.parametrize("username", [AGENT_USER, SUPERVISOR_USER])
async def test_agents_and_supervisors_are_refused(client: Client, username: str) -> None:
    user = await logged_in(client, username)
    try:
        status, page = await user.get("/console/")
        assert status == 200
        assert 'href="/console/training"' not in page  # not in their navigation
        for path in PAGES:
            status, page = await user.get(path)
            assert status == 403, path
            assert "this needs the admin role" in page
        status, body = await get_json(user, "/console/api/training/jobs/1")
        assert status == 403
        status, page, _ = await user.form(
            "/console/training/annotate", {"text": GOLD, "label": AnnotationLabel.SPAM}
        )
        assert status == 403
        status, body = await user.act("/console/training/jobs")
        assert status == 403
        assert body == {"error": "this needs the admin role"}
        status, body = await user.act("/console/training/models/rollback")
        assert status == 403
    finally:
        await user.close()
    assert await labels(client) == {}
    async with client.app[TRAINING].sessions() as session:
        assert (await session.scalars(select(TrainingJob))).all() == []


async def test_admins_see_the_tool_in_their_navigation(admin: ConsoleUser) -> None:
    status, page = await admin.get("/console/")
    assert status == 200
    assert '<a href="/console/training">Training</a>' in page


async def test_posts_without_the_right_csrf_token_are_refused(
    client: Client, admin: ConsoleUser
) -> None:
    fields = {"text": GOLD, "label": AnnotationLabel.OUT_OF_SCOPE}
    status, page, _ = await admin.form("/console/training/annotate", fields, with_csrf=False)
    assert status == 403
    assert "CSRF" in page
    forged = {**fields, "csrf_token": "forged-" + admin.csrf[7:]}
    status, page, _ = await admin.form("/console/training/annotate", forged, with_csrf=False)
    assert status == 403
    status, _body = await admin.act("/console/training/jobs", csrf="wrong")
    assert status == 403
    async with admin.http.post(
        admin.url("/console/training/models/rollback"),
        data={"csrf_token": admin.csrf},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 403
    assert await labels(client) == {}
    # the same form with the session's token is accepted
    status, _page, location = await admin.form("/console/training/annotate", fields)
    assert (status, location) == (303, "/console/training")
    assert await labels(client) == {GOLD: (AnnotationLabel.OUT_OF_SCOPE, None)}


# ----- the review queue --------------------------------------------------------------------------


async def test_the_queue_is_grouped_ranked_masked_and_escaped(admin: ConsoleUser) -> None:
    status, page = await admin.get("/console/training")
    assert status == 200
    texts = queue_texts(page)
    assert texts[0] == PENSION  # three conversations: first
    assert sum(1 for t in texts if "សោធន" in t) == 1  # grouped, zero-width spaces included
    assert _COUNT.findall(page)[0] == "3"
    assert set(texts[1:]) == {
        GOLD,
        SPAM,
        "ខ្ញុំឈ្មោះ [name] លេខ [redacted] ជួយផង",
        SCRIPT,
    }
    assert "សុខ ដារា" not in page
    assert "012 345 678" not in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; help" in page
    assert "សួស្តី" not in page  # understood well: not in the queue
    for shown in ("not understood", "low confidence", "handed to a person", "ask_nssf"):
        assert shown in page
    assert 'lang="km"' in page
    assert " · Khmer · " in page  # the language in words, in the console's language
    for key in ("j", "k", "x", "a", "o", "s", "/"):
        assert f"<kbd>{key}</kbd>" in page
    assert f'<option value="{PENSION_INTENT}">' in page
    status, page = await admin.get("/console/training?q=" + "មាស")
    assert queue_texts(page) == [GOLD]


async def test_bulk_labels_take_messages_out_of_the_queue(
    client: Client, admin: ConsoleUser
) -> None:
    _, page = await admin.get("/console/training")
    personal = next(t for t in queue_texts(page) if "[name]" in t)
    status, _page, location = await admin.form(
        "/console/training/annotate",
        {"label": AnnotationLabel.INTENT, "intent": PENSION_INTENT, "text": PENSION},
    )
    assert (status, location) == (303, "/console/training")
    async with admin.http.post(  # two checkboxes: two values of the same field
        admin.url("/console/training/annotate"),
        data=[
            ("csrf_token", admin.csrf),
            ("label", AnnotationLabel.INTENT),
            ("intent", "report_problem"),
            ("text", personal),
            ("text", SCRIPT),
        ],
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303
    status, body = await admin.act(
        "/console/training/annotate", {"texts": [GOLD], "label": AnnotationLabel.OUT_OF_SCOPE}
    )
    assert (status, body) == (200, {"annotated": 1})
    status, _page, _ = await admin.form(
        "/console/training/annotate", {"label": AnnotationLabel.SPAM, "text": SPAM}
    )
    assert status == 303
    assert await labels(client) == {
        PENSION: (AnnotationLabel.INTENT, PENSION_INTENT),
        personal: (AnnotationLabel.INTENT, "report_problem"),
        SCRIPT: (AnnotationLabel.INTENT, "report_problem"),
        GOLD: (AnnotationLabel.OUT_OF_SCOPE, None),
        SPAM: (AnnotationLabel.SPAM, None),
    }
    _, page = await admin.get("/console/training")
    assert queue_texts(page) == []
    assert "Nothing to review" in page

    _, page = await admin.get("/console/training/annotations")
    assert PENSION in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;" in page
    status, _page, location = await admin.form(
        "/console/training/annotations/remove", {"text": GOLD}
    )
    assert (status, location) == (303, "/console/training/annotations")
    _, page = await admin.get("/console/training")
    assert queue_texts(page) == [GOLD]  # back in the queue


async def test_refused_labels_say_why(client: Client, admin: ConsoleUser) -> None:
    status, page, _ = await admin.form(
        "/console/training/annotate",
        {"label": AnnotationLabel.INTENT, "intent": "ask_lottery", "text": GOLD},
    )
    assert status == 400
    assert "unknown intent &#39;ask_lottery&#39;: create it first" in page
    assert '<a href="/console/training">Back</a>' in page  # the way back
    status, page, _ = await admin.form(
        "/console/training/annotate", {"label": AnnotationLabel.INTENT, "text": GOLD}
    )
    assert status == 400
    assert "an intent is needed for this label" in page
    status, body = await admin.act(
        "/console/training/annotate", {"texts": [], "label": AnnotationLabel.SPAM}
    )
    assert (status, body) == (400, {"error": "nothing to annotate"})
    assert await labels(client) == {}


# ----- new intents ---------------------------------------------------------------------------


async def test_a_new_intent_needs_both_answers(client: Client, admin: ConsoleUser) -> None:
    status, page, _ = await admin.form(
        "/console/training/intents", {"name": NEW_INTENT, "km": KM, "en": "  "}
    )
    assert status == 400
    assert (
        "intent &#39;ask_birth_certificate&#39; needs its answer in both Khmer and English"
        " before it can be trained" in page
    )
    assert 'role="alert"' in page
    assert KM in page  # what was typed is kept
    status, page, _ = await admin.form(
        "/console/training/intents", {"name": "Ask Birth", "km": KM, "en": EN}
    )
    assert status == 400
    assert "3-64 characters of a-z, 0-9 and _" in page
    status, body = await admin.act(
        "/console/training/intents", {"name": "ask_nssf", "km": KM, "en": EN}
    )
    assert (status, body) == (400, {"error": "'ask_nssf' already exists: assign it instead"})
    _, page = await admin.get("/console/training")
    assert f'<option value="{NEW_INTENT}">' not in page

    status, _page, location = await admin.form(
        "/console/training/intents", {"name": NEW_INTENT, "km": KM, "en": EN + " <b>free</b>"}
    )
    assert (status, location) == (303, f"/console/training/intents?saved={NEW_INTENT}")
    _, page = await admin.get(location)
    assert f"Intent {NEW_INTENT} saved" in page
    assert KM in page
    assert "&lt;b&gt;free&lt;/b&gt;" in page
    _, page = await admin.get("/console/training")
    assert f'<option value="{NEW_INTENT}">' in page
    status, _page, _ = await admin.form(
        "/console/training/annotate",
        {"label": AnnotationLabel.INTENT, "intent": NEW_INTENT, "text": PENSION},
    )
    assert status == 303
    assert await labels(client) == {PENSION: (AnnotationLabel.INTENT, NEW_INTENT)}


# ----- training jobs and the report ----------------------------------------------------------


def evaluation(right: int, wrong: int, language: str, intent: str, confused: str) -> list[Any]:
    """Held-out predictions: ``right`` correct, ``wrong`` predicted as ``confused``."""
    return [
        {"text": f"{language}-{intent}-{n}", "intent": intent, "language": language,
         "predicted": intent if n < right else confused, "confidence": 0.9}
        for n in range(right + wrong)
    ]  # fmt: skip


def report(passed: bool) -> dict[str, Any]:
    """A report as a finished job stores it (scores of two small evaluations)."""
    before = evaluation(8, 2, "km", "ask_nssf_pension", "ask_nssf")
    before += evaluation(9, 1, "en", "ask_scholarship", "ask_equity_card")
    right = 10 if passed else 5
    after = evaluation(right, 10 - right, "km", "ask_nssf_pension", "ask_nssf")
    after += evaluation(9, 1, "en", "ask_scholarship", "ask_equity_card")
    # the rejected batch also relabelled greetings the live model was sure of
    taught = (
        []
        if passed
        else [
            {
                "text": f"សួស្តី <b>{n}</b>",
                "intent": "ask_nssf",
                "predicted": "greet",
                "confidence": 0.99,
                "language": "km",
            }
            for n in range(6)
        ]
    )
    return build_report(before, after, GatePolicy(), taught)


async def finished_job(client: Client, passed: bool) -> tuple[TrainingJob, ModelEntry]:
    """A job as run_job leaves it, with its candidate in the registry (no real training)."""
    service = client.app[TRAINING]
    candidate = service.settings.registry_dir / f"candidate-{int(passed)}.tar.gz"
    candidate.parent.mkdir(parents=True, exist_ok=True)
    candidate.write_bytes(b"a candidate model")
    async with service.sessions() as session, session.begin():
        job = TrainingJob(
            created_by=ADMIN_USER,
            status=TrainingJobStatus.PASSED if passed else TrainingJobStatus.REJECTED,
            stage="done",
            progress=100,
            report=report(passed),
            started_at=utcnow(),
            finished_at=utcnow(),
        )
        session.add(job)
        await session.flush()
        model = ModelEntry(
            path=str(candidate),
            sha256=("a" if passed else "b") * 64,
            status=ModelStatus.CANDIDATE if passed else ModelStatus.REJECTED,
            metrics={"overall": {"accuracy": 1.0}, "languages": {"km": {"accuracy": 1.0}}},
            job_id=job.id,
        )
        session.add(model)
        await session.flush()
        job.model_id = model.id
    return job, model


async def test_the_report_of_a_job_that_passed(client: Client, admin: ConsoleUser) -> None:
    job, model = await finished_job(client, passed=True)
    status, page = await admin.get("/console/training/jobs")
    assert status == 200
    assert f'<a href="/console/training/jobs/{job.id}">#{job.id}</a>' in page
    assert 'value="100"' in page
    status, page = await admin.get(f"/console/training/jobs/{job.id}")
    assert status == 200
    assert "Passed: the candidate may replace the live model." in page
    assert 'data-active="0"' in page
    # overall 0.850 -> 0.950; Khmer 0.800 -> 1.000; English unchanged
    assert re.search(r"overall</th><td>20</td><td>0\.850</td><td>0\.950</td>.*\+0\.100", page)
    assert re.search(r"Khmer</th><td>10</td><td>0\.800</td><td>1\.000</td>", page)
    assert re.search(r"English</th><td>10</td><td>0\.900</td><td>0\.900</td>", page)
    # per-intent F1: the pension intent improved, the confusion with ask_nssf is gone
    assert re.search(r"<code>ask_nssf_pension</code>.*?\+0\.111", page, re.S)
    assert "<code>ask_nssf</code></td><td>2</td>" in page  # the live model's confusion
    action = f"/console/training/models/{model.id}/activate"
    assert f'action="{action}"' in page
    status, body = await get_json(admin, f"/console/api/training/jobs/{job.id}")
    assert status == 200
    assert body["status"] == "passed"
    assert body["progress"] == 100
    assert body["gate_passed"] is True
    assert body["active"] is False


async def test_a_rejected_job_shows_why_and_cannot_be_activated(
    client: Client, admin: ConsoleUser
) -> None:
    job, model = await finished_job(client, passed=False)
    _, page = await admin.get(f"/console/training/jobs/{job.id}")
    assert "Rejected: the live model stays." in page
    assert "km accuracy 0.800 -&gt; 0.500 (-0.300; the allowed drop is 0.010)" in page
    assert "F1 of ask_nssf_pension (10 held-out examples)" in page
    assert "6 annotations relabel messages the live model reads" in page
    assert "Annotations that overturn what the live model was sure of" in page
    assert '<td lang="km">សួស្តី &lt;b&gt;0&lt;/b&gt;</td><td><code>greet</code> 0.990' in page
    assert "/activate" not in page
    status, page, _ = await admin.form(f"/console/training/models/{model.id}/activate", {})
    assert status == 409
    assert "is rejected: only a candidate that passed the gate" in page
    status, page = await admin.get("/console/training/jobs/999")
    assert status == 404
    assert "no training job 999" in page
    status, page = await admin.get("/console/training/jobs/abc")
    assert status == 404


async def test_start_a_training_from_the_page(client: Client, admin: ConsoleUser) -> None:
    _, page = await admin.get("/console/training/jobs")
    assert "No training yet." in page
    assert 'action="/console/training/jobs"' in page
    status, _page, location = await admin.form("/console/training/jobs", {})
    assert status == 303
    job_id = int(location.rsplit("/", 1)[1])
    assert location == f"/console/training/jobs/{job_id}"
    deadline = time.monotonic() + JOB_WAIT_S
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        _, body = await get_json(admin, f"/console/api/training/jobs/{job_id}")
        if not body["active"]:
            break
        await asyncio.sleep(0.1)
    assert body["status"] == TrainingJobStatus.FAILED  # settings point at no Rasa binary
    _, page = await admin.get(location)
    assert "cannot start" in page
    assert 'role="alert"' in page


async def test_one_training_at_a_time(client: Client, admin: ConsoleUser) -> None:
    service = client.app[TRAINING]
    async with service.sessions() as session, session.begin():
        running = TrainingJob(
            created_by=ADMIN_USER, status=TrainingJobStatus.RUNNING, stage="train", progress=42
        )
        session.add(running)
    status, page, _ = await admin.form("/console/training/jobs", {})
    assert status == 409
    assert f"training job {running.id} is running" in page
    _, page = await admin.get(f"/console/training/jobs/{running.id}")
    assert 'data-active="1"' in page
    assert '<progress id="progress" max="100" value="42">' in page
    assert f'action="/console/training/jobs/{running.id}/cancel"' in page
    status, _page, location = await admin.form(f"/console/training/jobs/{running.id}/cancel", {})
    assert (status, location) == (303, f"/console/training/jobs/{running.id}")
    async with service.sessions() as session:
        flagged = await session.get(TrainingJob, running.id)
    assert flagged is not None
    assert flagged.cancel_requested


# ----- models, activation, rollback, audit ---------------------------------------------------


async def test_activate_and_roll_back_from_the_registry(
    client: Client, admin: ConsoleUser, rasa_api: list[FakeModelApi]
) -> None:
    job, model = await finished_job(client, passed=True)
    status, page = await admin.get("/console/training/models")
    assert status == 200
    assert "sp4all.tar.gz" in page  # the live model, registered on first look
    assert f'action="/console/training/models/{model.id}/activate"' in page
    status, _page, location = await admin.form(f"/console/training/models/{model.id}/activate", {})
    assert (status, location) == (303, "/console/training/models")
    assert [fake.loaded for fake in rasa_api] == ["candidate-1.tar.gz"] * 2
    _, page = await admin.get(f"/console/training/jobs/{job.id}")
    assert "/activate" not in page  # live now: nothing to activate
    _, page = await admin.get("/console/training/models")
    assert '<tr class="model-active"><td>#' + str(model.id) in page

    status, _page, location = await admin.form("/console/training/models/rollback", {})
    assert (status, location) == (303, "/console/training/models")
    assert [fake.loaded for fake in rasa_api] == ["sp4all.tar.gz"] * 2
    status, page, _ = await admin.form("/console/training/models/rollback", {})
    assert status == 409
    assert "there is no earlier model to roll back to" in page

    rasa_api[1].refuse = True
    status, body = await admin.act(f"/console/training/models/{model.id}/activate")
    assert status == 409
    assert "HTTP 500" in body["error"]
    assert [fake.loaded for fake in rasa_api] == ["sp4all.tar.gz"] * 2

    _, page = await admin.get("/console/training/audit")
    for action in ("register_model", "activate", "rollback"):
        assert f"<code>{action}</code>" in page
    assert f"<td>{ADMIN_USER}</td>" in page
