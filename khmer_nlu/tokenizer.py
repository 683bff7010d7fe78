"""Rasa tokenizer component for Khmer and English chat messages."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from khmer_nlu.segment import get_segmenter, split_words


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False
)
class KhmerTokenizer(Tokenizer):
    """Splits Khmer into words and normalises text before Rasa featurises it.

    Token texts are normalised (no zero-width spaces, Arabic digits, canonical spelling);
    token offsets point into the text as the citizen wrote it.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config."""
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
            # khmercut (CRF, default), icu (dictionary) or none (one token per Khmer run)
            "segmenter": "khmercut",
        }

    def __init__(self, config: dict[str, Any]) -> None:
        """Checks the segmenter is installed now rather than on the first message."""
        super().__init__(config)
        self.segmenter = config["segmenter"]
        get_segmenter(self.segmenter)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> KhmerTokenizer:
        """Creates a new component (see parent class for full docstring)."""
        return cls(config)

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Tokenizes the text of the provided attribute of the incoming message."""
        text = message.get(attribute)
        words = split_words(text, self.segmenter)
        if not words:  # only emoji or punctuation: keep one token so features exist
            return [Token(text, 0)]
        tokens = [Token(word.text, word.start, word.end) for word in words]
        return self._apply_token_pattern(tokens)
