"""The embedding featurizer and the linear intent classifier, run as Rasa runs them."""

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from khmer_nlu import (
    KhmerTokenizer,
    LinearIntentClassifier,
    MultilingualEmbeddingFeaturizer,
    embedding,
)

TRAINING = [
    ("ខ្ញុំបាត់ប័ណ្ណសមធម៌", "ask_lost_card"),
    ("ប័ណ្ណក្រីក្របាត់ហើយ", "ask_lost_card"),
    ("I lost my equity card", "ask_lost_card"),
    ("my idpoor card is gone", "ask_lost_card"),
    ("អាហារូបករណ៍សិស្សបានប៉ុន្មាន", "ask_scholarship"),
    ("លុយកូនរៀនថ្នាក់ទី៤", "ask_scholarship"),
    ("how much is the scholarship", "ask_scholarship"),
    ("school money for my son", "ask_scholarship"),
    ("សួស្តីបង", "greet"),
    ("ជម្រាបសួរ", "greet"),
    ("hello", "greet"),
    ("good morning", "greet"),
]


@pytest.fixture(name="context")
def context_fixture() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), node_name="test_node")


class Featurizers:
    """Tokenizer, character n-gram counts and the embedding, as in config.yml."""

    def __init__(self, storage: LocalModelStorage, context: ExecutionContext) -> None:
        self.counts = CountVectorsFeaturizer.create(
            {**CountVectorsFeaturizer.get_default_config(), "analyzer": "char_wb",
             "min_ngram": 1, "max_ngram": 4},
            storage, Resource("counts"), context,
        )
        self.embedder = MultilingualEmbeddingFeaturizer.create(
            MultilingualEmbeddingFeaturizer.get_default_config(), storage,
            Resource("embed"), context,
        )

    def __call__(self, messages: list[Message], train: bool = False) -> list[Message]:
        KhmerTokenizer(KhmerTokenizer.get_default_config()).process(messages)
        if train:
            self.counts.train(TrainingData(messages))
        self.counts.process(messages)
        return self.embedder.process(messages)


def trained(storage: LocalModelStorage, context: ExecutionContext) -> tuple[Featurizers, Resource]:
    """Featurizers fitted on TRAINING and a classifier trained and saved in `storage`."""
    featurize = Featurizers(storage, context)
    examples = featurize([Message.build(text=t, intent=i) for t, i in TRAINING], train=True)
    resource = Resource("classifier")
    LinearIntentClassifier.create(
        LinearIntentClassifier.get_default_config(), storage, resource, context
    ).train(TrainingData(examples))
    return featurize, resource


def test_embedding_places_khmer_near_its_english_meaning(
    tmp_path: Path, context: ExecutionContext
) -> None:
    storage = LocalModelStorage(tmp_path)
    embedder = MultilingualEmbeddingFeaturizer.create(
        MultilingualEmbeddingFeaturizer.get_default_config(), storage, Resource("e"), context
    )
    texts = ["ខ្ញុំ\u200bបាត់\u200bប័ណ្ណ\u200bសមធម៌", "I lost my equity card", "what is the weather"]
    messages = embedder.process([Message.build(text=t) for t in texts])
    vectors = [m.get_dense_features(TEXT)[1].features.reshape(-1) for m in messages]
    assert vectors[0].shape == (384,)
    same_meaning = float(vectors[0] @ vectors[1])
    other_meaning = float(vectors[1] @ vectors[2])
    assert same_meaning > other_meaning


def test_classifier_learns_persists_and_loads(tmp_path: Path, context: ExecutionContext) -> None:
    storage = LocalModelStorage(tmp_path)
    featurize, resource = trained(storage, context)
    config = LinearIntentClassifier.get_default_config()
    loaded = LinearIntentClassifier.load(config, storage, resource, context)
    queries = [Message.build(text=t) for t in ("ប័ណ្ណ​សមធម៌​បាត់", "lost my card", "សួស្តី")]
    loaded.process(featurize(queries))
    assert [q.get(INTENT)["name"] for q in queries] == ["ask_lost_card", "ask_lost_card", "greet"]
    for query in queries:
        ranking = query.get(INTENT_RANKING_KEY)
        assert ranking[0] == query.get(INTENT)
        confidences = [r["confidence"] for r in ranking]
        assert confidences == sorted(confidences, reverse=True)
        assert sum(confidences) == pytest.approx(1.0)  # all three intents are ranked


def test_untrained_classifier_leaves_messages_alone(
    tmp_path: Path, context: ExecutionContext
) -> None:
    storage = LocalModelStorage(tmp_path)
    config = LinearIntentClassifier.get_default_config()
    classifier = LinearIntentClassifier.load(config, storage, Resource("missing"), context)
    message = Message.build(text="hello")
    classifier.process([message])
    assert message.get(INTENT) is None


def test_saved_model_contains_no_pickled_objects(
    tmp_path: Path, context: ExecutionContext
) -> None:
    storage = LocalModelStorage(tmp_path)
    _, resource = trained(storage, context)
    with storage.read_from(resource) as directory:
        saved = list(Path(directory).glob("*.npz"))
        assert len(saved) == 1
        with np.load(saved[0], allow_pickle=False) as arrays:  # raises if anything is pickled
            assert set(arrays.files) == {"idf", "coef", "intercept", "intents"}


def test_embedding_runs_on_one_openmp_thread_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two busy-waiting OpenMP threads made one utterance cost ~1.2 s of CPU beside another
    busy process (22 ms on one). The setting must reach the libgomp the engine really uses,
    which scikit-learn has already loaded, so it is read back from the engine itself while
    it embeds; afterwards scikit-learn's loops get their own setting back."""
    model = embedding._model()
    engine = model._lib
    seen: list[int] = []
    query = model.query

    def recording_query(texts: list[str]) -> np.ndarray:
        seen.append(engine.omp_get_max_threads())
        return query(texts)

    monkeypatch.setattr(model, "query", recording_query)
    before = engine.omp_get_max_threads()
    monkeypatch.delenv(embedding.THREADS_ENV, raising=False)
    embedding.embed(["សួស្តី"])
    monkeypatch.setenv(embedding.THREADS_ENV, "2")
    vectors = embedding.embed(["សួស្តី", "hello"])
    assert seen == [1, 2]
    assert vectors.shape == (2, 384)
    assert engine.omp_get_max_threads() == before
