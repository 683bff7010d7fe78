"""Retraining for real (issue #5): real Rasa instances, real training, real evaluation.

1. A Khmer question about a topic the live model does not know reaches the review queue
   through the web chat; an admin creates the intent with its Khmer and English answers and
   annotates it; the job validates, trains, evaluates on the held-out set and passes the
   gate; activation loads the model into both Rasa instances while the web chat keeps
   answering; the same question is now answered in Khmer (and in English); rollback puts
   the previous model back everywhere.
2. A harmful batch (greetings taught as an NSSF question) is stopped by the gate and the
   live model stays.

Each training takes one to three minutes on 2 cores; the figures are printed (``-s``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot._exceptions import ActivationFailed, InvalidAnnotation
from bot.channels._texts import gateway_text
from bot.storage._db import ModelStatus, TrainingJobStatus, create_engine
from bot.storage._migrate import migrate
from bot.training import TrainingService, TrainingSettings, Workspace
from tests.e2e.conftest import MODEL, RasaStack, rasa_stack
from tests.training.helpers import ADMIN, REPO, copy_workspace

NEW_INTENT = "ask_birth_certificate"
KM_ANSWER = "សំបុត្រកំណើតកូន សូមសុំនៅសាលាឃុំ/សង្កាត់ ដែលកូនកើត។ សូមសួរស្មៀនឃុំថាត្រូវយកឯកសារអ្វីខ្លះ។"
EN_ANSWER = (
    "Birth certificates are issued by the commune/sangkat office where the child was born."
    " Ask the commune clerk which documents to bring."
)
# What citizens wrote that the live model does not understand (it has no such topic).
QUESTION_KM = "ខ្ញុំចង់ធ្វើសំបុត្រកំណើតឲ្យកូន"
QUESTION_EN = "how do i get a birth certificate for my baby"
# What the admin adds as more examples of the new intent while annotating.
MORE_EXAMPLES = [
    "សុំសំបុត្រកំណើតកូននៅឯណា",
    "កូនទើបកើត ចង់សុំសំបុត្រកំណើត",
    "ធ្វើសំបុត្រកំណើតយឺតពេល ត្រូវធ្វើយ៉ាងម៉េច",
    "សុំសំបុត្រកំណើតត្រូវការឯកសារអ្វីខ្លះ",
    "where to register my child's birth",
    "birth certificate for my newborn",
    "how to apply for a late birth registration",
]
# A harmful batch: greetings (many of each language) taught as a programme question.
GREETINGS_KM = ["សួស្តី", "ជម្រាបសួរ", "សួស្ដី", "សួស្តីបាទ", "សួស្តីចាស"]
GREETINGS_EN = ["hello", "hi", "good morning", "hey", "hi hi"]
ADDRESSED = ["បង", "អ្នកគ្រូ", "លោកពូ", "មីង", "ប្អូន", "លោក", "bong", "sir", "teacher", "friend"]
HARMFUL_INTENT = "ask_nssf"

ARTEFACTS = REPO / "results" / "retraining"  # each job's figures (git-ignored test artefacts)
ANSWER_TIMEOUT_S = 120.0
QUIET_S = 1.5  # a reply is complete when nothing more arrived for this long


@dataclasses.dataclass
class Stack:
    rasa: RasaStack
    workspace: Path  # the action server reads its knowledge/ (the learned answers)
    eval_cache: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Two Rasa instances and an action server of their own: activation changes their model,
    and the action server must read the learned answers of the test's workspace."""
    root = tmp_path_factory.mktemp("retraining")
    workspace = copy_workspace(root / "workspace")
    shutil.rmtree(workspace / "knowledge")
    shutil.copytree(REPO / "knowledge", workspace / "knowledge")
    with rasa_stack(
        root,
        extra_env={"SP4ALL_KNOWLEDGE_DIR": str(workspace / "knowledge")},
    ) as rasa:
        yield Stack(rasa=rasa, workspace=workspace, eval_cache=root / "evaluations")


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine, factory = create_engine(sqlite_url)
    await migrate(engine)
    yield factory
    await engine.dispose()


def settings_for(stack: Stack, workspace: Path, models: Path) -> TrainingSettings:
    return TrainingSettings(
        workspace=workspace,
        registry_dir=models / "registry",
        active_file=models / "ACTIVE",
        bootstrap_model=MODEL,
        eval_cache_dir=stack.eval_cache,  # the live model is evaluated once for both tests
        tracker_db_url=stack.rasa.tracker_db_url,
        rasa_urls=stack.rasa.urls,
    )


async def ask(client: TestClient[Any, Any], session: str, text: str, n: int) -> list[str]:
    """Send one web chat message (a new session each time) and return every reply's text."""
    sent = await client.post(
        "/webchat/messages", json={"session": session, "id": f"m{n:08d}", "text": text}
    )
    assert sent.status == 202
    texts: list[str] = []
    after = 0
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while time.monotonic() < deadline:
        wait = QUIET_S if texts else 5.0
        resp = await client.get(
            "/webchat/messages", params={"session": session, "after": after, "wait": wait}
        )
        batch = (await resp.json())["messages"]
        if texts and not batch:
            return texts
        for message in batch:
            after = max(after, int(message["id"]))
            texts.append(message["text"])
    raise AssertionError(f"no complete answer to {text!r} within {ANSWER_TIMEOUT_S}s: {texts}")


async def loaded_models(urls: tuple[str, ...]) -> set[str]:
    async with httpx.AsyncClient(timeout=30) as http:
        return {(await http.get(f"{url}/status")).json()["model_file"] for url in urls}


def keep_figures(name: str, job: Any, seconds: float) -> None:
    """Timings, accuracy before/after and the gate of a real job, for the resolving note."""
    report = job.report or {}
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    figures = {
        "status": job.status,
        "seconds": round(seconds, 1),
        "timings": report.get("timings"),
        "overall": report.get("overall"),
        "languages": report.get("languages"),
        "gate": report.get("gate"),
        "contradictions": len(report.get("contradictions") or []),
    }
    (ARTEFACTS / f"{name}.json").write_text(
        json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8"
    )


def real_answer(texts: list[str]) -> bool:
    """Not one of the gateway's own notices (no reply, answer delayed)."""
    notices = {gateway_text(name, lang) for name in ("no_reply", "delayed") for lang in "km en"}
    return bool(texts) and not any(t in notices for t in texts)


async def test_a_misunderstood_khmer_question_is_taught_gated_activated_and_rolled_back(
    stack: Stack,
    gateway,
    sqlite_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    client = await gateway(
        rasa_urls=stack.rasa.urls, database_url=sqlite_url, rasa_timeout_s=120.0
    )
    service = TrainingService(settings_for(stack, stack.workspace, tmp_path), sessions)
    try:
        # the live model does not know the topic: it answers something, and the question
        # lands in the review queue (low confidence or fallback)
        before = await ask(client, "citizen-before-1", QUESTION_KM, 1)
        assert real_answer(before)

        queue = await service.queue(ADMIN)
        item = next((i for i in queue if i.text == QUESTION_KM), None)
        assert item is not None, [i.text for i in queue]
        assert item.reasons  # why it is there: low confidence or fallback

        await service.define_intent(ADMIN, NEW_INTENT, km=KM_ANSWER, en=EN_ANSWER)
        await service.annotate(
            ADMIN, [item.text, QUESTION_EN, *MORE_EXAMPLES], label="intent", intent=NEW_INTENT
        )
        assert item.text not in [i.text for i in await service.queue(ADMIN)]

        started = time.monotonic()
        job = await service.run_job((await service.create_job(ADMIN)).id)
        seconds = time.monotonic() - started
        keep_figures("taught", job, seconds)
        report = job.report or {}
        print(f"\ntraining job: {seconds:.0f} s, stages {report.get('timings')}")
        print(f"gate: {report.get('gate')}")
        assert job.status == TrainingJobStatus.PASSED, (job.error, report.get("gate"))
        assert job.model_id is not None
        # the taught examples are in git-friendly Rasa files in the workspace
        learned = (stack.workspace / "data" / "nlu" / "learned.yml").read_text("utf-8")
        assert f"intent: {NEW_INTENT}" in learned
        assert QUESTION_KM in learned

        # activation with the web chat in use: every message still gets a real answer
        live_before = await loaded_models(stack.rasa.urls)
        assert live_before == {MODEL.name}
        during = asyncio.create_task(ask(client, "citizen-during-1", "សួស្តី", 2))
        activated = await service.activate(ADMIN, job.model_id)
        assert real_answer(await during)
        candidate = Path(activated.path).name
        assert await loaded_models(stack.rasa.urls) == {candidate}

        after_km = await ask(client, "citizen-after-km", QUESTION_KM, 3)
        assert KM_ANSWER in after_km, after_km
        after_en = await ask(client, "citizen-after-en", QUESTION_EN, 4)
        assert EN_ANSWER in after_en, after_en

        # one-step rollback: every instance back on the previous model, the answer gone
        await service.rollback(ADMIN)
        assert await loaded_models(stack.rasa.urls) == {MODEL.name}
        rolled = await ask(client, "citizen-rolled-back", QUESTION_KM, 5)
        assert KM_ANSWER not in rolled
        actions = [e.action for e in await service.audit(ADMIN)]
        for expected in ("define_intent", "annotate", "train", "gate", "activate", "rollback"):
            assert expected in actions, actions
    finally:
        await service.aclose()


def harmful_batch(workspace: Path) -> list[str]:
    """Greetings that the hand-written data does not already have (those would be refused)."""
    ws = Workspace(workspace)
    base = ws.base_examples()
    kept = []
    for hello, who in itertools.product(GREETINGS_KM + GREETINGS_EN, ADDRESSED):
        text = f"{hello} {who}"
        try:
            ws.check_example(text, HARMFUL_INTENT, base)
        except InvalidAnnotation:
            continue
        kept.append(text)
    return kept


async def test_a_harmful_batch_is_stopped_by_the_gate_and_the_live_model_stays(
    stack: Stack,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    workspace = copy_workspace(tmp_path / "workspace")
    service = TrainingService(settings_for(stack, workspace, tmp_path / "models"), sessions)
    try:
        live_before = await loaded_models(stack.rasa.urls)
        batch = harmful_batch(workspace)
        assert len(batch) >= 80
        await service.annotate(ADMIN, batch, label="intent", intent=HARMFUL_INTENT)
        started = time.monotonic()
        job = await service.run_job((await service.create_job(ADMIN)).id)
        report = job.report or {}
        keep_figures("harmful", job, time.monotonic() - started)
        print(f"\nharmful job: {time.monotonic() - started:.0f} s, gate {report.get('gate')}")
        assert job.status == TrainingJobStatus.REJECTED, (job.error, report.get("gate"))
        reasons = " ".join(report["gate"]["reasons"])
        assert "greet" in reasons, reasons
        # the rejected model stays out: not loaded, and it cannot be activated
        assert await loaded_models(stack.rasa.urls) == live_before
        entry = next(m for m in await service.models(ADMIN) if m.id == job.model_id)
        assert entry.status == ModelStatus.REJECTED
        with pytest.raises(ActivationFailed):
            await service.activate(ADMIN, entry.id)
        assert await loaded_models(stack.rasa.urls) == live_before
    finally:
        await service.aclose()
