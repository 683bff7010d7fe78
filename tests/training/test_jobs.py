"""Training jobs that stop early, with the real ``rasa data validate``: a validator warning
fails the job with the validator's words; a cancel stops it; a new intent whose answer lost
its English is refused before anything runs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage._db import AnnotationLabel, TrainingJobStatus
from bot.training import TrainingService, TrainingSettings
from tests.training.helpers import ADMIN

KM = "សំបុត្រកំណើតកូន សូមសុំនៅសាលាឃុំ/សង្កាត់ ដោយឥតគិតថ្លៃ។"
EN = "Ask for a birth certificate at the commune/sangkat office; it is free."
# A hand-written data file with an intent the domain does not list: the validator warns.
STRAY = """\
version: "3.1"
nlu:
- intent: ask_lottery
  examples: |
    - ឆ្នោតចេញលេខអី
    - lottery results today
"""


@pytest.fixture
async def service(
    sqlite_url: str,
    sessions: async_sessionmaker[AsyncSession],
    training_settings: TrainingSettings,
) -> AsyncIterator[TrainingService]:
    service = TrainingService(training_settings, sessions)
    yield service
    await service.aclose()


async def test_a_validator_warning_fails_the_job_with_its_message(
    service: TrainingService,
) -> None:
    (service.settings.workspace / "data/nlu/stray.yml").write_text(STRAY, encoding="utf-8")
    await service.annotate(
        ADMIN, ["ជើងខ្ញុំកំបុតមួយ មានជំនួយអត់"], label="intent", intent="ask_disability_allowance"
    )
    job = await service.create_job(ADMIN)
    done = await service.run_job(job.id)
    assert done.status == TrainingJobStatus.FAILED
    assert done.error is not None
    assert done.error.startswith("rasa data validate failed:")
    assert (
        "UserWarning: There is a message in the training data labeled with intent"
        " 'ask_lottery'. This intent is not listed in your domain." in done.error
    )
    assert "\x1b" not in done.error
    assert ".py:" not in done.error
    assert done.candidate_path is None
    # the export happened: the example is in the workspace's learned.yml
    learned = (service.settings.workspace / "data/nlu/learned.yml").read_text(encoding="utf-8")
    assert "    - ជើងខ្ញុំកំបុតមួយ មានជំនួយអត់\n" in learned
    assert all(a.exported for a in await service.annotations(ADMIN))


async def test_a_job_can_be_cancelled_while_it_runs(service: TrainingService) -> None:
    job = await service.create_job(ADMIN)
    task = service.start_job(job)
    for _ in range(200):
        if (await service.job(ADMIN, job.id)).stage == "validate":
            break
        await asyncio.sleep(0.05)
    await service.cancel_job(ADMIN, job.id)
    with pytest.raises(asyncio.CancelledError):
        await task
    done = await service.job(ADMIN, job.id)
    assert done.status == TrainingJobStatus.CANCELLED
    assert ("dara.admin", "cancel_training") in [
        (r.actor, r.action) for r in await service.audit(ADMIN)
    ]
    # the slot is free again
    assert (await service.create_job(ADMIN)).id == job.id + 1


async def test_a_new_intent_that_lost_its_english_answer_is_refused(
    service: TrainingService,
) -> None:
    await service.define_intent(ADMIN, "ask_birth_certificate", km=KM, en=EN)
    await service.annotate(
        ADMIN,
        ["សុំសំបុត្រកំណើតកូននៅណា"],
        label=AnnotationLabel.INTENT,
        intent="ask_birth_certificate",
    )
    answers = service.settings.workspace / "knowledge/learned_answers.yml"
    answers.write_text(answers.read_text(encoding="utf-8").replace(EN, "''"), encoding="utf-8")
    job = await service.create_job(ADMIN)
    done = await service.run_job(job.id)
    assert done.status == TrainingJobStatus.FAILED
    assert done.error == (
        "intent 'ask_birth_certificate' needs its answer in both Khmer and English before it"
        " can be trained"
    )
    assert done.stage == "export"


async def test_a_missing_rasa_fails_the_job_cleanly(service: TrainingService) -> None:
    service.settings = dataclasses.replace(
        service.settings, rasa_bin=service.settings.workspace / "no-rasa-here"
    )
    job = await service.create_job(ADMIN)
    done = await service.run_job(job.id)
    assert done.status == TrainingJobStatus.FAILED
    assert done.error is not None
    assert "cannot start" in done.error
