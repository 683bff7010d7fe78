"""Permissions, the audit log, new intents, the registry: activation in every Rasa instance,
partial failure, rollback; one training job at a time."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot._exceptions import (
    ActivationFailed,
    InvalidAnnotation,
    TrainingBusy,
    TrainingForbidden,
)
from bot.storage._db import (
    AnnotationLabel,
    AuditEntry,
    ModelEntry,
    ModelStatus,
    TrainingJob,
    utcnow,
)
from bot.training import TrainingService, TrainingSettings
from tests.training.helpers import ADMIN, AGENT, SUPERVISOR, FakeModelApi

KM = "សំបុត្រកំណើតកូន សូមសុំនៅសាលាឃុំ/សង្កាត់ ដោយឥតគិតថ្លៃ។"
EN = "Ask for a birth certificate at the commune/sangkat office; it is free."


@pytest.fixture
async def service(
    sessions: async_sessionmaker[AsyncSession],
    training_settings: TrainingSettings,
    rasa_api: list[FakeModelApi],
) -> AsyncIterator[TrainingService]:
    settings = dataclasses.replace(
        training_settings, rasa_urls=tuple(fake.url for fake in rasa_api)
    )
    service = TrainingService(settings, sessions)
    yield service
    await service.aclose()


async def audit_actions(service: TrainingService) -> list[tuple[str, str]]:
    return [(row.actor, row.action) for row in reversed(await service.audit(ADMIN))]


@pytest.mark.parametrize("actor", [AGENT, SUPERVISOR], ids=["agent", "supervisor"])
async def test_only_admins_may_use_any_of_it(service: TrainingService, actor) -> None:
    calls = [
        service.queue(actor),
        service.annotate(actor, ["ហាយ"], label=AnnotationLabel.SPAM),
        service.remove_annotation(actor, "ហាយ"),
        service.annotations(actor),
        service.define_intent(actor, "ask_birth_certificate", km=KM, en=EN),
        service.create_job(actor),
        service.jobs(actor),
        service.models(actor),
        service.activate(actor, 1),
        service.rollback(actor),
        service.audit(actor),
    ]
    for call in calls:
        with pytest.raises(TrainingForbidden):
            await call
    async with service.sessions() as session:
        assert (await session.scalars(select(AuditEntry))).all() == []


async def test_annotations_and_new_intents_are_audited(service: TrainingService) -> None:
    with pytest.raises(InvalidAnnotation, match="unknown intent 'ask_birth_certificate'"):
        await service.annotate(
            ADMIN, ["សុំសំបុត្រកំណើតកូននៅណា"], label="intent", intent="ask_birth_certificate"
        )
    with pytest.raises(InvalidAnnotation, match="both Khmer and English"):
        await service.define_intent(ADMIN, "ask_birth_certificate", km=KM, en="")
    with pytest.raises(InvalidAnnotation, match="already exists"):
        await service.define_intent(ADMIN, "ask_nssf", km=KM, en=EN)
    await service.define_intent(ADMIN, "ask_birth_certificate", km=KM, en=EN)
    rows = await service.annotate(
        ADMIN,
        ["សុំសំបុត្រកំណើតកូននៅណា", "where do i get a birth certificate"],
        label=AnnotationLabel.INTENT,
        intent="ask_birth_certificate",
    )
    assert [r.intent for r in rows] == ["ask_birth_certificate"] * 2
    await service.annotate(ADMIN, ["តម្លៃមាសថ្ងៃនេះ"], label=AnnotationLabel.OUT_OF_SCOPE)
    await service.remove_annotation(ADMIN, "where do i get a birth certificate")
    assert len(await service.annotations(ADMIN)) == 2
    assert await audit_actions(service) == [
        ("dara.admin", "define_intent"),
        ("dara.admin", "annotate"),
        ("dara.admin", "annotate"),
        ("dara.admin", "annotate"),
        ("dara.admin", "remove_annotation"),
    ]
    answers = (service.settings.workspace / "knowledge/learned_answers.yml").read_text("utf-8")
    assert KM in answers
    assert EN in answers


async def test_activation_rollback_and_the_registry(
    service: TrainingService, rasa_api: list[FakeModelApi], tmp_path: Path
) -> None:
    settings = service.settings
    live = await service.live_model()
    assert live.status == ModelStatus.ACTIVE
    assert live.path == str(settings.bootstrap_model)
    candidate = settings.registry_dir / "candidate-1.tar.gz"
    candidate.parent.mkdir(parents=True)
    candidate.write_bytes(b"candidate")
    async with service.sessions() as session, session.begin():
        entry = ModelEntry(path=str(candidate), sha256="c" * 64, status=ModelStatus.CANDIDATE)
        rejected = ModelEntry(path=str(candidate), sha256="r" * 64, status=ModelStatus.REJECTED)
        session.add_all([entry, rejected])
    with pytest.raises(ActivationFailed, match="rejected"):
        await service.activate(ADMIN, rejected.id)

    active = await service.activate(ADMIN, entry.id)
    assert active.status == ModelStatus.ACTIVE
    assert active.activated_by == "dara.admin"
    assert [fake.loaded for fake in rasa_api] == ["candidate-1.tar.gz"] * 2
    assert settings.active_file.read_text().strip() == str(candidate.resolve())
    statuses = {m.id: m.status for m in await service.models(ADMIN)}
    assert statuses[live.id] == ModelStatus.RETIRED

    back = await service.rollback(ADMIN)
    assert back.id == live.id
    assert back.status == ModelStatus.ACTIVE
    assert [fake.loaded for fake in rasa_api] == ["sp4all.tar.gz"] * 2
    assert settings.active_file.read_text().strip() == str(settings.bootstrap_model.resolve())
    with pytest.raises(ActivationFailed, match="no earlier model"):
        await service.rollback(ADMIN)  # the rolled-back candidate is not "earlier"
    actions = await audit_actions(service)
    assert ("dara.admin", "activate") in actions
    assert actions[-1] == ("dara.admin", "rollback")


async def test_a_failing_instance_leaves_every_instance_on_the_live_model(
    service: TrainingService, rasa_api: list[FakeModelApi]
) -> None:
    live = await service.live_model()
    candidate = service.settings.registry_dir / "candidate-2.tar.gz"
    candidate.parent.mkdir(parents=True)
    candidate.write_bytes(b"candidate")
    async with service.sessions() as session, session.begin():
        entry = ModelEntry(path=str(candidate), sha256="c" * 64, status=ModelStatus.CANDIDATE)
        session.add(entry)
    rasa_api[1].refuse = True
    with pytest.raises(ActivationFailed, match="HTTP 500"):
        await service.activate(ADMIN, entry.id)
    assert rasa_api[0].loads == [str(candidate), str(service.settings.bootstrap_model)]
    assert rasa_api[0].loaded == "sp4all.tar.gz"
    assert (await service.live_model()).id == live.id
    assert not service.settings.active_file.exists()


async def test_one_training_job_at_a_time(service: TrainingService) -> None:
    first = await service.create_job(ADMIN)
    with pytest.raises(TrainingBusy, match=f"training job {first.id} is queued"):
        await service.create_job(ADMIN)
    # a job whose process died long ago does not block forever
    async with service.sessions() as session, session.begin():
        await session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == first.id)
            .values(status="running", updated_at=utcnow() - timedelta(hours=4))
        )
    second = await service.create_job(ADMIN)
    assert (await service.job(ADMIN, first.id)).status == "failed"
    assert second.id != first.id
