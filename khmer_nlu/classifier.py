"""Rasa intent classifier: logistic regression over word and character n-grams + an embedding.

Measured on our held-out chat messages (bench/nlu_bench.py), this beats DIET by more than 10
points in both languages and trains in seconds: with ~40 examples per intent, a linear model
over TF-IDF n-grams (exact wording, misspellings) joined with a multilingual sentence
embedding (meaning across wordings and languages) generalises better than a network trained
from scratch. The embedding's weight and C were chosen by 5-fold cross-validation on the
training data only. It gives real probabilities, so the FallbackClassifier's threshold means
what it says.

The fitted model is saved as plain arrays (no pickle): IDF weights, coefficients, intercepts.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

ARRAYS_FILE = "linear_intent_classifier.npz"


def _sparse_block(messages: list[Message]) -> sp.csr_matrix:
    """Sentence-level n-gram counts of each message (all sparse featurizers, side by side)."""
    rows = []
    for message in messages:
        _, sentence = message.get_sparse_features(TEXT)
        rows.append(sp.csr_matrix(sentence.features) if sentence is not None else None)
    width = max((r.shape[1] for r in rows if r is not None), default=0)
    return sp.vstack([r if r is not None else sp.csr_matrix((1, width)) for r in rows]).tocsr()


def _dense_block(messages: list[Message]) -> np.ndarray:
    """Sentence embeddings of each message (zeros where a message has none)."""
    rows = []
    for message in messages:
        _, sentence = message.get_dense_features(TEXT)
        rows.append(None if sentence is None else np.asarray(sentence.features).reshape(-1))
    width = max((len(r) for r in rows if r is not None), default=0)
    return np.vstack([r if r is not None else np.zeros(width) for r in rows])


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    """Multinomial logistic regression on TF-IDF n-grams joined with a weighted embedding."""

    @classmethod
    def required_components(cls) -> list[type]:
        """Components that should be included in the pipeline before this component."""
        return [Featurizer]

    @staticmethod
    def required_packages() -> list[str]:
        """Any extra python dependencies required for this component to run."""
        return ["sklearn"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The component's default config (see parent class for full docstring)."""
        return {
            "C": 30.0,  # inverse regularisation strength
            "dense_weight": 4.0,  # scale of the embedding next to the unit-length n-grams
            "max_iter": 3000,
            "ranking_length": 10,
        }

    def __init__(
        self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource
    ) -> None:
        """Keeps the fitted arrays; all None until trained or loaded."""
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.idf: np.ndarray | None = None
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None
        self.intents: list[str] = []

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearIntentClassifier:
        """Creates a new untrained component (see parent class for full docstring)."""
        return cls(config, model_storage, resource)

    def _features(self, messages: list[Message]) -> sp.csr_matrix:
        """TF-IDF (sublinear, unit length) n-grams, then the weighted embedding."""
        if self.idf is None:
            raise RuntimeError("LinearIntentClassifier is not trained")
        counts = _sparse_block(messages)
        counts.sum_duplicates()
        counts.eliminate_zeros()
        counts.data = 1.0 + np.log(counts.data)  # sublinear term frequency
        tfidf = counts.multiply(self.idf[np.newaxis, :]).tocsr()
        norms = np.sqrt(np.asarray(tfidf.multiply(tfidf).sum(axis=1))).reshape(-1)
        norms[norms == 0] = 1.0
        tfidf = sp.diags(1.0 / norms) @ tfidf
        dense = _dense_block(messages) * float(self.config["dense_weight"])
        return sp.hstack([tfidf, sp.csr_matrix(dense)]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        """Fits IDF weights and the logistic regression on the intent examples."""
        from sklearn.linear_model import LogisticRegression

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if len({e.get(INTENT) for e in examples}) < 2:
            logger.warning("LinearIntentClassifier needs at least two intents; not trained.")
            return self._resource
        counts = _sparse_block(examples)
        counts.sum_duplicates()
        counts.eliminate_zeros()
        document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf = np.log((1 + counts.shape[0]) / (1 + document_frequency)) + 1.0
        model = LogisticRegression(
            C=float(self.config["C"]), max_iter=int(self.config["max_iter"])
        ).fit(self._features(examples), [e.get(INTENT) for e in examples])
        self.coef, self.intercept = model.coef_, model.intercept_
        self.intents = [str(label) for label in model.classes_]
        self.persist()
        return self._resource

    def predict_probabilities(self, messages: list[Message]) -> np.ndarray:
        """Probability of every intent (columns follow `self.intents`) for each message."""
        if self.coef is None or self.intercept is None:
            raise RuntimeError("LinearIntentClassifier is not trained")
        scores = np.asarray(self._features(messages) @ self.coef.T) + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        probabilities = np.exp(scores)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def process(self, messages: list[Message]) -> list[Message]:
        """Sets the most likely intent and the ranking on each message with text."""
        with_text = [m for m in messages if m.get(TEXT)]
        if self.coef is None or not with_text:
            return messages
        for message, row in zip(with_text, self.predict_probabilities(with_text), strict=True):
            ranking = [
                {"name": self.intents[i], "confidence": float(row[i])}
                for i in np.argsort(-row)[: int(self.config["ranking_length"])]
            ]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def persist(self) -> None:
        """Saves the fitted arrays (no pickled objects)."""
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(
                directory / ARRAYS_FILE,
                idf=self.idf, coef=self.coef, intercept=self.intercept,
                intents=np.array(self.intents, dtype=str),
            )

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearIntentClassifier:
        """Loads the fitted arrays; an untrained component if there are none."""
        component = cls(config, model_storage, resource)
        try:
            with (
                model_storage.read_from(resource) as directory,
                np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays,
            ):
                component.idf = arrays["idf"]
                component.coef = arrays["coef"]
                component.intercept = arrays["intercept"]
                component.intents = [str(i) for i in arrays["intents"]]
        except (ValueError, FileNotFoundError):
            logger.warning("LinearIntentClassifier found no trained model; it will not classify.")
        return component
