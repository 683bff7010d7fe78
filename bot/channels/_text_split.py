"""Split long replies at natural boundaries, measuring length the way the platform does."""

from __future__ import annotations

from khmer_nlu.graphemes import last_boundary

__all__ = ["split_text", "utf16_len"]

# Preferred cut points, best first: paragraph, line, Khmer zero-width space, sentence, space.
_BREAKS = ("\n\n", "\n", "\u200b", "។ ", "។", ". ", " ")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (Telegram counts these; astral emoji count twice)."""
    return len(text.encode("utf-16-le")) // 2


def _prefix_fitting(text: str, limit: int, measure: bool) -> int:
    """Largest number of code points from the start whose length is <= limit."""
    if not measure:
        return min(len(text), limit)
    total = 0
    for i, ch in enumerate(text):
        total += 2 if ord(ch) > 0xFFFF else 1
        if total > limit:
            return i
    return len(text)


def split_text(text: str, limit: int, *, utf16: bool = False) -> list[str]:
    """Chunks of at most ``limit`` (code points, or UTF-16 units), none empty, order kept."""
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        size = (utf16_len if utf16 else len)(rest)
        if size <= limit:
            chunks.append(rest)
            break
        cut = _prefix_fitting(rest, limit, utf16)
        window = rest[:cut]
        best = -1
        for sep in _BREAKS:
            pos = window.rfind(sep)
            if pos > cut // 2:  # do not produce tiny fragments
                best = pos + len(sep)
                break
        # no natural break: cut between letters, never inside a Khmer cluster (ស្រ្តី)
        end = best if best > 0 else (last_boundary(rest, cut) or cut)
        piece = rest[:end].rstrip("\u200b").strip()
        if piece:
            chunks.append(piece)
        rest = rest[end:].lstrip()
    return chunks
