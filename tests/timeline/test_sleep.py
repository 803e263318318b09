"""The sleep ending in the timeline: no closing chime, softer closing words, the music after."""

from __future__ import annotations

import pytest

from tests.helpers import fake_measure
from voiceguide.routine.library import load_builtin
from voiceguide.routine.model import Variant
from voiceguide.timeline.compile import compile_timeline
from voiceguide.timeline.model import Kind, Timeline
from voiceguide.timeline.script import SLEEP_SOFTER_DB, TAIL_MS

CHIME_MS = 1500
TEN_MINUTES = 600_000


def _compile(sleep_ms: int | None, minutes: float | None = None) -> Timeline:
    return compile_timeline(
        load_builtin("lower-back"),
        Variant.SHORT,
        fake_measure,
        chime_ms=CHIME_MS,
        minutes=minutes,
        sleep_ms=sleep_ms,
    )


def _closing(timeline: Timeline) -> list[Kind]:
    last = timeline.step_count + 1
    return [s.kind for s in timeline.segments if s.step == last]


def test_the_sleep_ending_has_no_closing_chime_and_softer_words_then_the_music() -> None:
    usual, sleep = _compile(None), _compile(TEN_MINUTES)
    assert _closing(usual)[0] is Kind.CHIME
    assert Kind.CHIME not in _closing(sleep)
    # The steps are the same; only the closing changes.
    assert sleep.steps == usual.steps
    closing = [s for s in sleep.segments if s.step == sleep.step_count + 1]
    spoken = [s for s in closing if s.kind is Kind.SPEECH]
    assert spoken and all(s.gain_db == -SLEEP_SOFTER_DB for s in spoken)
    assert all(s.gain_db == 0 for s in sleep.segments if s not in closing)
    # The music begins as the last word ends and lasts the minutes asked for.
    tail = sleep.segments[-1]
    assert tail.kind is Kind.SLEEP and tail.start_ms == spoken[-1].end_ms
    assert tail.duration_ms == sleep.sleep_ms == TEN_MINUTES
    assert sleep.session_ms == tail.start_ms and sleep.total_ms == tail.end_ms
    assert usual.sleep_ms == 0 and usual.session_ms == usual.total_ms


def test_segments_still_tile_the_session() -> None:
    timeline = _compile(90_000)
    cursor = 0
    for segment in timeline.segments:
        assert segment.start_ms == cursor, segment
        cursor = segment.end_ms
    assert cursor == timeline.total_ms


def test_a_sleep_ending_without_music_keeps_the_usual_quiet_after_the_words() -> None:
    timeline = _compile(0)
    assert timeline.sleep_ms == 0
    assert Kind.CHIME not in _closing(timeline)
    last = timeline.segments[-1]
    assert last.kind is Kind.SILENCE and last.duration_ms == TAIL_MS


@pytest.mark.parametrize("minutes", [7.0, 12.5])
def test_minutes_fit_the_session_and_the_music_follows(minutes: float) -> None:
    timeline = _compile(TEN_MINUTES, minutes=minutes)
    assert timeline.session_ms == round(minutes * 60_000)
    assert timeline.total_ms == timeline.session_ms + TEN_MINUTES


def test_json_gives_the_level_of_softer_lines_only() -> None:
    doc = _compile(TEN_MINUTES).to_json()
    segments = doc["segments"]
    assert isinstance(segments, list)
    soft = [s for s in segments if "gain_db" in s]
    assert soft and all(s["gain_db"] == -SLEEP_SOFTER_DB for s in soft)
    assert segments[-1]["kind"] == "sleep"
    assert segments[-1]["duration_ms"] == TEN_MINUTES
    assert "gain_db" not in segments[0]
