"""The spoken answer to "where am I?"."""

from __future__ import annotations

import pytest

from voiceguide.timeline.script import where_text


@pytest.mark.parametrize(
    ("section", "title", "here_ms", "left_ms", "said"),
    [
        (
            4,
            "Kneading",
            41_000,
            360_000,
            "Step 4 of 8, Kneading. About 40 seconds left in this step, 6 minutes in all.",
        ),
        (
            2,
            "Rest.",
            4_000,
            50_000,
            "Step 2 of 8, Rest. A few seconds left in this step, less than a minute in all.",
        ),
        (
            0,
            "",
            20_000,
            400_000,
            "The introduction, before step 1 of 8. About 20 seconds left in the "
            "introduction, 7 minutes in all.",
        ),
        (8, "Rest", 70_000, 75_000, "Step 8 of 8, Rest. About a minute left."),
        (9, "", 20_000, 20_000, "The closing words. About 20 seconds left."),
        (
            3,
            "Hold",
            150_000,
            900_000,
            "Step 3 of 8, Hold. About 2 minutes left in this step, 15 minutes in all.",
        ),
    ],
)
def test_where_am_i(section: int, title: str, here_ms: int, left_ms: int, said: str) -> None:
    assert where_text(section, 8, title, here_ms, left_ms) == said
