"""Khmer language support for the assistant's NLU.

- normalize: one spelling for zero-width spaces, Khmer digits and variant sequences
- segment: Khmer word segmentation with offsets into the original text
- language: which language a message is in (km / en / no signal)
- KhmerTokenizer: the Rasa pipeline component (config.yml: khmer_nlu.KhmerTokenizer)

Only the component needs Rasa; the other modules are plain Python, also used by actions/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from khmer_nlu.language import ENGLISH, KHMER, detect_language
from khmer_nlu.normalize import normalize
from khmer_nlu.segment import split_words

if TYPE_CHECKING:
    from khmer_nlu.tokenizer import KhmerTokenizer

__all__ = ["ENGLISH", "KHMER", "KhmerTokenizer", "detect_language", "normalize", "split_words"]


def __getattr__(name: str) -> Any:
    """Import the Rasa component only when asked for, so actions don't load Rasa."""
    if name == "KhmerTokenizer":
        from khmer_nlu.tokenizer import KhmerTokenizer

        return KhmerTokenizer
    raise AttributeError(name)
