"""The trained model's word features are whole Khmer words, not fragments of them.

Rasa's own word-level CountVectorsFeaturizer re-split the tokenizer's words on ``\\w``, and
Khmer vowel signs and the coeng are not ``\\w``: its vocabulary was pieces such as ទ, ងណ,
រទ, none with a vowel sign. config.yml uses khmer_nlu.KhmerWordCountsFeaturizer instead;
this reads the word vocabulary out of a trained model (`make test` runs it on
models/sp4all.tar.gz) and fails (exit 1) if that component is missing or its Khmer entries
look like fragments: too few of them, or too few carrying a vowel sign, diacritic or coeng
(whole Khmer words nearly all do; fragments never do).
"""

from __future__ import annotations

import json
import sys
import tarfile
import unicodedata
from pathlib import Path

COMPONENT = "KhmerWordCountsFeaturizer"
MIN_KHMER_WORDS = 500
MIN_SHARE_WITH_SIGNS = 0.7
_KHMER = range(0x1780, 0x1800)


def vocabulary(model: Path) -> list[str]:
    """The text vocabulary of the word-count component in a trained Rasa model."""
    with tarfile.open(model) as archive:
        for member in archive.getmembers():
            path = member.name
            if COMPONENT in path and path.endswith("vocabularies.json"):
                extracted = archive.extractfile(member)
                if extracted is not None:
                    data = json.loads(extracted.read().decode("utf-8"))
                    text = data.get("text") if isinstance(data, dict) else None
                    return list(text or [])
    raise SystemExit(f"{model}: no {COMPONENT} vocabulary (is it in config.yml's pipeline?)")


def is_khmer(word: str) -> bool:
    return any(ord(c) in _KHMER for c in word)


def has_sign(word: str) -> bool:
    return any(unicodedata.category(c) in ("Mn", "Mc") for c in word)


def main(model: Path) -> int:
    khmer = [w for w in vocabulary(model) if is_khmer(w)]
    share = sum(map(has_sign, khmer)) / len(khmer) if khmer else 0.0
    print(f"{len(khmer)} Khmer words in the word vocabulary, {share:.0%} with a sign")
    print("e.g. " + " ".join(khmer[:12]))
    if len(khmer) < MIN_KHMER_WORDS or share < MIN_SHARE_WITH_SIGNS:
        print(f"fragments, not words (need {MIN_KHMER_WORDS}+, {MIN_SHARE_WITH_SIGNS:.0%}+)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "models/sp4all.tar.gz")))
