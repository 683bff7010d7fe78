"""Word counts keep the segmenter's Khmer words whole (khmer_nlu.KhmerWordCountsFeaturizer)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from khmer_nlu import KhmerTokenizer, KhmerWordCountsFeaturizer
from khmer_nlu.segment import split_words

TEXTS = [
    "ខ្ញុំបាត់ប័ណ្ណសមធម៌",
    "អាហារូបករណ៍សិស្សថ្នាក់ទី៥បានប៉ុន្មាន",
    "ប្រាក់ឧបត្ថម្ភសម្រាប់ស្ត្រីមានផ្ទៃពោះ",
    "I lost my equity card",
]


def _vocabulary(featurizer_class: type[CountVectorsFeaturizer], tmp_path: Path) -> set[str]:
    context = ExecutionContext(GraphSchema({}), node_name=featurizer_class.__name__)
    featurizer = featurizer_class.create(
        featurizer_class.get_default_config(),
        LocalModelStorage(tmp_path),
        Resource(featurizer_class.__name__),
        context,
    )
    messages = [Message.build(text=t, intent="x") for t in TEXTS]
    KhmerTokenizer(KhmerTokenizer.get_default_config()).process(messages)
    featurizer.train(TrainingData(messages))
    featurizer.process(messages)
    assert messages[0].get_sparse_features(TEXT)[0] is not None  # sequence features exist
    return set(featurizer.vectorizers[TEXT].vocabulary_)


def _segmenter_words() -> set[str]:
    """The tokenizer's words (Rasa's featurizers count every number as one token)."""
    words = {w.text.lower() for text in TEXTS for w in split_words(text)}
    return {"__number__" if w.isdigit() else w for w in words}


def test_the_vocabulary_is_the_segmenters_words(tmp_path: Path) -> None:
    assert _vocabulary(KhmerWordCountsFeaturizer, tmp_path) == _segmenter_words()


def test_rasas_own_word_counts_cut_khmer_words_into_fragments(tmp_path: Path) -> None:
    """Why the component exists: the same words through Rasa's class lose their signs."""
    rasa = _vocabulary(CountVectorsFeaturizer, tmp_path)
    assert "ប័ណ្ណ" not in rasa
    assert not rasa <= _segmenter_words()


@pytest.mark.parametrize("word", ["ប័ណ្ណ", "សមធម៌", "ស្ត្រី", "ប្រាក់", "equity"])
def test_whole_words_are_features(word: str, tmp_path: Path) -> None:
    assert word in _vocabulary(KhmerWordCountsFeaturizer, tmp_path)
