"""Khmer language support for the assistant's NLU.

- normalize: one spelling for zero-width spaces, Khmer digits and variant sequences
- segment: Khmer word segmentation with offsets into the original text
- language: which language a message is in (km / en / no signal)
- graphemes: cut text only between grapheme clusters (stdlib only; the gateway uses it)
- match: keywords and phrases on word boundaries
- Rasa pipeline components (config.yml): KhmerTokenizer, KhmerWordCountsFeaturizer,
  MultilingualEmbeddingFeaturizer, LinearIntentClassifier

Only the components need Rasa; the other modules are plain Python, also used by actions/.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from khmer_nlu.classifier import LinearIntentClassifier
    from khmer_nlu.embedding import MultilingualEmbeddingFeaturizer
    from khmer_nlu.featurizer import KhmerWordCountsFeaturizer
    from khmer_nlu.language import ENGLISH, KHMER, detect_language
    from khmer_nlu.normalize import normalize
    from khmer_nlu.segment import split_words
    from khmer_nlu.tokenizer import KhmerTokenizer

__all__ = [
    "ENGLISH",
    "KHMER",
    "KhmerTokenizer",
    "KhmerWordCountsFeaturizer",
    "LinearIntentClassifier",
    "MultilingualEmbeddingFeaturizer",
    "detect_language",
    "normalize",
    "split_words",
]

# Imported when first asked for: the components need Rasa (the actions must not load it),
# and the gateway (another Python, without `regex` or khmercut) imports khmer_nlu.graphemes.
_COMPONENTS = {
    "KhmerTokenizer": "khmer_nlu.tokenizer",
    "MultilingualEmbeddingFeaturizer": "khmer_nlu.embedding",
    "KhmerWordCountsFeaturizer": "khmer_nlu.featurizer",
    "LinearIntentClassifier": "khmer_nlu.classifier",
    "ENGLISH": "khmer_nlu.language",
    "KHMER": "khmer_nlu.language",
    "detect_language": "khmer_nlu.language",
    "normalize": "khmer_nlu.normalize",
    "split_words": "khmer_nlu.segment",
}


def __getattr__(name: str) -> Any:
    """Import a module's names only when asked for (see _COMPONENTS)."""
    if name in _COMPONENTS:
        module = importlib.import_module(_COMPONENTS[name])
        return getattr(module, name)
    raise AttributeError(name)
