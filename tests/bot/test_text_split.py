"""Platform length limits cut long replies between Khmer clusters, never after a coeng."""

from __future__ import annotations

import pytest

from bot.channels._text_split import split_text, utf16_len

COENG = "\u17d2"
# One long Khmer line with no space, sentence end or zero-width space to break at.
KHMER = "ប្រាក់ឧបត្ថម្ភសម្រាប់ស្ត្រីមានផ្ទៃពោះនិងកុមារអាយុក្រោមពីរឆ្នាំ" * 12


@pytest.mark.parametrize("limit", [7, 20, 33, 100, 640])
@pytest.mark.parametrize("utf16", [False, True])
def test_khmer_without_break_points_is_cut_between_clusters(limit: int, utf16: bool) -> None:
    chunks = split_text(KHMER, limit, utf16=utf16)
    assert "".join(chunks) == KHMER  # nothing lost, nothing added
    for chunk in chunks:
        assert (utf16_len(chunk) if utf16 else len(chunk)) <= limit
        assert not chunk.endswith(COENG)
        assert chunk[0] not in "\u17b6\u17b7\u17b8\u17b9\u17ba\u17c1\u17c2\u17c3\u17c4\u17c5\u17d2"


def test_text_with_spaces_still_breaks_at_spaces() -> None:
    text = "ការសិក្សា " * 50
    assert all(c == "ការសិក្សា " * (len(c.split()) - 1) + "ការសិក្សា" for c in split_text(text, 40))
