"""Admins retrain the assistant's intents from real conversations, gated (issue #5).

Review queue (low confidence, fallbacks, handoffs, poor ratings; grouped, masked) ->
annotations -> data/nlu/learned.yml (+ new intents with Khmer and English answers) ->
``rasa data validate`` -> ``rasa train`` -> held-out evaluation against the live model ->
gate -> activation in every Rasa instance, with a registry, rollback and an audit log.

Public surface::

    from bot.training import TrainingService, TrainingSettings, Actor
    service = TrainingService(TrainingSettings.from_env(), sessions)

``python -m bot training --as ADMIN review|annotate|intent|train|report|activate|rollback|
audit`` is the command line; ``TRAINING_FEATURE`` is its console feature (pages, menu entry,
roles, the service's context), and ``TRAINING`` the service's AppKey.
"""

from __future__ import annotations

from ._cli import add_training_commands, run_training_command
from ._queue import QueueItem
from ._report import GateResult, build_report, gate
from ._service import Actor, AuditAction, TrainingService
from ._settings import GatePolicy, TrainingSettings
from ._text import group_key, mask, normalise
from ._web import TRAINING, TRAINING_FEATURE, TRAINING_SETTINGS
from ._workspace import Workspace

__all__ = [
    "TRAINING",
    "TRAINING_FEATURE",
    "TRAINING_SETTINGS",
    "Actor",
    "AuditAction",
    "GatePolicy",
    "GateResult",
    "QueueItem",
    "TrainingService",
    "TrainingSettings",
    "Workspace",
    "add_training_commands",
    "build_report",
    "gate",
    "group_key",
    "mask",
    "normalise",
    "run_training_command",
]
