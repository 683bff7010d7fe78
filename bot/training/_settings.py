"""Settings of the review and retraining tool, from the environment like the gateway's."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .._exceptions import SettingsError
from .._settings import Settings

__all__ = ["GatePolicy", "TrainingSettings"]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LOW_CONFIDENCE = 0.6  # below this a message goes to the review queue
DEFAULT_QUEUE_DAYS = 30.0
DEFAULT_QUEUE_LIMIT = 200
DEFAULT_MARGIN = 0.01
DEFAULT_MIN_SUPPORT = 5
DEFAULT_MAX_INTENT_DROP = 0.10
# An annotation contradicts the live model when it reads the text as another intent with at
# least this confidence; more than DEFAULT_MAX_CONTRADICTIONS of them stop the candidate.
DEFAULT_CONFIDENT = 0.90
DEFAULT_MAX_CONTRADICTIONS = 5
DEFAULT_VALIDATE_TIMEOUT_S = 600.0
DEFAULT_TRAIN_TIMEOUT_S = 3600.0
DEFAULT_EVALUATE_TIMEOUT_S = 1800.0
DEFAULT_ACTIVATE_TIMEOUT_S = 600.0  # Rasa loads a model in its event loop: can take a minute
DEFAULT_TRACKER_DB = f"sqlite+aiosqlite:///{ROOT / 'var' / 'rasa-trackers.db'}"


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True, kw_only=True)
class GatePolicy:
    """When a candidate may replace the live model.

    On the held-out set: overall and per-language accuracy may not drop by more than
    ``margin``; an intent with at least ``min_support`` held-out examples may not lose more
    than ``max_intent_drop`` F1. On the annotations: at most ``max_contradictions`` may give
    another intent to a text the live model reads with at least ``confident`` confidence.
    The held-out set is small (about 11 messages per intent), so a batch that relabels a
    whole family of messages (greetings taught as a programme question) can pass it; such
    a batch contradicts what the live model is sure of, which the second check sees.
    """

    margin: float = DEFAULT_MARGIN
    min_support: int = DEFAULT_MIN_SUPPORT
    max_intent_drop: float = DEFAULT_MAX_INTENT_DROP
    confident: float = DEFAULT_CONFIDENT
    max_contradictions: int = DEFAULT_MAX_CONTRADICTIONS


@dataclass(frozen=True, kw_only=True)
class TrainingSettings:
    """Where the workspace, models and conversations are, and the thresholds.

    The workspace holds config.yml, domain.yml, data/ and knowledge/: the repository root in
    production (so ``git diff`` shows what was taught), a temporary copy in tests.
    """

    workspace: Path = ROOT
    code_root: Path = ROOT  # khmer_nlu (the pipeline's components) and scripts/ live here
    registry_dir: Path = ROOT / "models" / "registry"
    active_file: Path = ROOT / "models" / "ACTIVE"  # read by scripts/supervise.py at start
    bootstrap_model: Path = ROOT / "models" / "sp4all.tar.gz"  # live before any activation
    heldout_dir: Path = ROOT / "tests" / "nlu_heldout"
    eval_cache_dir: Path | None = None  # default: registry_dir / "evaluations"
    rasa_bin: Path = ROOT / ".venv-rasa" / "bin" / "rasa"
    rasa_python: Path = ROOT / ".venv-rasa" / "bin" / "python"
    tracker_db_url: str = DEFAULT_TRACKER_DB
    rasa_urls: tuple[str, ...] = ("http://127.0.0.1:5005",)
    rasa_token: str = ""
    low_confidence: float = DEFAULT_LOW_CONFIDENCE
    queue_days: float = DEFAULT_QUEUE_DAYS
    queue_limit: int = DEFAULT_QUEUE_LIMIT
    gate: GatePolicy = field(default_factory=GatePolicy)
    validate_timeout_s: float = DEFAULT_VALIDATE_TIMEOUT_S
    train_timeout_s: float = DEFAULT_TRAIN_TIMEOUT_S
    evaluate_timeout_s: float = DEFAULT_EVALUATE_TIMEOUT_S
    activate_timeout_s: float = DEFAULT_ACTIVATE_TIMEOUT_S

    @property
    def evaluations_dir(self) -> Path:
        """Evaluations cached per (model sha256, held-out set sha256)."""
        return self.eval_cache_dir or self.registry_dir / "evaluations"

    def for_gateway(self, gateway: Settings) -> TrainingSettings:
        """These settings with the gateway's Rasa instances and token (one source of truth
        when the gateway's settings were not read from the environment)."""
        return replace(self, rasa_urls=gateway.rasa_urls, rasa_token=gateway.rasa_token)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrainingSettings:
        """``TRAINING_*`` variables; Rasa's URLs and token are the gateway's."""
        e = os.environ if env is None else env
        gateway = Settings.from_env(e)
        defaults = cls()

        def path(name: str, default: Path) -> Path:
            return Path(e[name]).resolve() if e.get(name) else default

        registry = path("TRAINING_REGISTRY_DIR", defaults.registry_dir)
        return cls(
            workspace=path("TRAINING_WORKSPACE", defaults.workspace),
            registry_dir=registry,
            active_file=path("TRAINING_ACTIVE_FILE", defaults.active_file),
            bootstrap_model=path("SP4ALL_MODEL", defaults.bootstrap_model),
            heldout_dir=path("TRAINING_HELDOUT_DIR", defaults.heldout_dir),
            tracker_db_url=e.get("TRAINING_TRACKER_DB_URL") or DEFAULT_TRACKER_DB,
            rasa_urls=gateway.rasa_urls,
            rasa_token=e.get("RASA_TOKEN", ""),
            low_confidence=_float(e, "TRAINING_LOW_CONFIDENCE", DEFAULT_LOW_CONFIDENCE),
            queue_days=_float(e, "TRAINING_QUEUE_DAYS", DEFAULT_QUEUE_DAYS),
            queue_limit=int(_float(e, "TRAINING_QUEUE_LIMIT", DEFAULT_QUEUE_LIMIT)),
            gate=GatePolicy(
                margin=_float(e, "TRAINING_GATE_MARGIN", DEFAULT_MARGIN),
                min_support=int(_float(e, "TRAINING_GATE_MIN_SUPPORT", DEFAULT_MIN_SUPPORT)),
                max_intent_drop=_float(
                    e, "TRAINING_GATE_MAX_INTENT_DROP", DEFAULT_MAX_INTENT_DROP
                ),
                confident=_float(e, "TRAINING_GATE_CONFIDENT", DEFAULT_CONFIDENT),
                max_contradictions=int(
                    _float(e, "TRAINING_GATE_MAX_CONTRADICTIONS", DEFAULT_MAX_CONTRADICTIONS)
                ),
            ),
            train_timeout_s=_float(e, "TRAINING_TIMEOUT", DEFAULT_TRAIN_TIMEOUT_S),
        )
