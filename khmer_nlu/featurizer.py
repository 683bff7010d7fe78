"""Word counts over the tokenizer's words, whole: Rasa's CountVectorsFeaturizer, re-split less.

Rasa's word-level CountVectorsFeaturizer joins the tokenizer's words with spaces and splits
them again with scikit-learn's ``token_pattern`` ``\\b\\w+\\b``. Khmer vowel signs and the
coeng are combining marks, not ``\\w``, so every Khmer word fell apart into fragments (on an
outside Khmer topic set the vocabulary was 1,461 pieces such as ទ, ងណ, រទ instead of 4,225 of
the segmenter's words). Here the pattern is "anything but white space": each token of
khmer_nlu.KhmerTokenizer (a Khmer word from the segmenter, an English word) is one feature.
Character n-grams (``analyzer: char_wb``) are unaffected and keep using Rasa's own class.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from sklearn.feature_extraction.text import CountVectorizer

__all__ = ["WHOLE_TOKENS", "KhmerWordCountsFeaturizer"]

WHOLE_TOKENS = r"(?u)\S+"  # the tokenizer already split the words; spaces only separate them


def _whole_tokens(vectorizers: dict[str, CountVectorizer]) -> dict[str, CountVectorizer]:
    for vectorizer in vectorizers.values():
        if vectorizer.analyzer == "word":
            vectorizer.token_pattern = WHOLE_TOKENS
    return vectorizers


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True
)
class KhmerWordCountsFeaturizer(CountVectorsFeaturizer):
    """Bag of words whose Khmer words are the segmenter's, not ``\\w`` fragments of them."""

    @classmethod
    def _create_shared_vocab_vectorizers(
        cls, parameters: dict[str, Any], vocabulary: Any | None = None
    ) -> dict[str, CountVectorizer]:
        return _whole_tokens(super()._create_shared_vocab_vectorizers(parameters, vocabulary))

    @classmethod
    def _create_independent_vocab_vectorizers(
        cls, parameters: dict[str, Any], vocabulary: Any | None = None
    ) -> dict[str, CountVectorizer]:
        return _whole_tokens(
            super()._create_independent_vocab_vectorizers(parameters, vocabulary)
        )
