from __future__ import annotations

import dataclasses
from itertools import pairwise

import pytest

from tests.conftest import DATA
from tests.helpers import fake_measure
from voiceguide.errors import DoesNotFitError, UsageError
from voiceguide.routine.format import parse_routine
from voiceguide.routine.library import load_builtin, load_routine_file
from voiceguide.routine.model import Routine, Variant
from voiceguide.timeline.compile import compile_timeline
from voiceguide.timeline.model import Kind, Timeline
from voiceguide.timeline.script import (
    CUE_GAP_MS,
    MIN_HOLD_MS,
    PARAGRAPH_GAP_MS,
    SENTENCE_GAP_MS,
    announcement,
    split_lines,
    spoken_texts,
)

CHIME_MS = 1500


def routines() -> list[Routine]:
    found = [load_builtin("lower-back")]
    found += [load_routine_file(p) for p in sorted((DATA / "golden").glob("*.toml"))]
    return found


def compiled(minutes: float | None = None) -> list[Timeline]:
    return [
        compile_timeline(r, v, fake_measure, chime_ms=CHIME_MS, minutes=minutes)
        for r in routines()
        for v in Variant
    ]


@pytest.mark.parametrize("minutes", [None, 7.5, 30])
def test_segments_tile_the_session_without_gaps_or_overlaps(minutes: float | None) -> None:
    for timeline in compiled(minutes):
        cursor = 0
        for segment in timeline.segments:
            assert segment.start_ms == cursor, segment
            assert segment.duration_ms > 0
            cursor = segment.end_ms
        assert cursor == timeline.total_ms


def test_steps_are_contiguous_and_hold_their_segments() -> None:
    for timeline in compiled():
        for before, after in pairwise(timeline.steps):
            assert before.end_ms == after.start_ms
        for span in timeline.steps:
            inside = [s for s in timeline.segments if s.step == span.index]
            assert inside[0].start_ms == span.start_ms
            assert inside[-1].end_ms == span.end_ms


def test_each_step_opens_with_a_chime_and_its_announcement() -> None:
    for timeline in compiled():
        count = len(timeline.steps)
        for span in timeline.steps:
            sounding = [
                s for s in timeline.segments if s.step == span.index and s.kind is not Kind.SILENCE
            ]
            assert sounding[0].kind is Kind.CHIME
            assert sounding[0].start_ms == span.start_ms
            assert sounding[1].kind is Kind.SPEECH
            assert sounding[1].text == announcement(span.index, count, span.title)
            assert sounding[1].text.startswith(f"Step {span.index} of {count}. ")


def test_cues_never_overlap_narration_or_each_other() -> None:
    for timeline in compiled():
        for span in timeline.steps:
            sounding = [
                s for s in timeline.segments if s.step == span.index and s.kind is not Kind.SILENCE
            ]
            for before, after in pairwise(sounding):
                assert after.start_ms >= before.end_ms
                if after.kind is Kind.CUE:
                    assert after.start_ms - before.end_ms >= CUE_GAP_MS
            # Every step ends with at least a short hold.
            assert span.end_ms - sounding[-1].end_ms >= MIN_HOLD_MS


def test_cues_sit_at_their_planned_offsets_when_free() -> None:
    routine = load_routine_file(DATA / "golden" / "cues.toml")
    timeline = compile_timeline(routine, Variant.FULL, fake_measure, chime_ms=CHIME_MS)
    reach = timeline.steps[0]
    cues = {s.text: s.start_ms - reach.start_ms for s in timeline.segments if s.kind is Kind.CUE}
    assert cues["Switch sides."] == 45_000
    assert cues["Ten more seconds."] == 80_000
    assert (
        cues["Now let the knees fall to the right."]
        == 30_000 + timeline.steps[1].start_ms - reach.start_ms
    )


def test_a_step_longer_than_its_duration_is_stretched_with_a_warning() -> None:
    routine = load_routine_file(DATA / "golden" / "stretched.toml")
    timeline = compile_timeline(routine, Variant.SHORT, fake_measure, chime_ms=CHIME_MS)
    assert timeline.steps[0].duration_ms > 10_000
    (warning,) = timeline.warnings
    assert warning.line == 17
    assert "stretched" in warning.message


@pytest.mark.parametrize("minutes", [3, 6.5, 10, 25, 60])
def test_minutes_fits_the_session_to_the_second(minutes: float) -> None:
    for routine in routines():
        for variant in Variant:
            try:
                timeline = compile_timeline(
                    routine, variant, fake_measure, chime_ms=CHIME_MS, minutes=minutes
                )
            except UsageError as err:
                assert "cannot fit" in str(err)
                natural = compile_timeline(routine, variant, fake_measure, chime_ms=CHIME_MS)
                assert natural.total_ms > minutes * 60_000
                continue
            assert abs(timeline.total_ms - minutes * 60_000) <= 1000
            assert not timeline.warnings


def test_minutes_scales_holds_not_narration() -> None:
    routine = load_builtin("lower-back")
    normal = compile_timeline(routine, Variant.FULL, fake_measure, chime_ms=CHIME_MS)
    longer = compile_timeline(routine, Variant.FULL, fake_measure, chime_ms=CHIME_MS, minutes=30)
    spoken = [
        (s.kind, s.duration_ms, s.text) for s in normal.segments if s.kind is not Kind.SILENCE
    ]
    assert spoken == [
        (s.kind, s.duration_ms, s.text) for s in longer.segments if s.kind is not Kind.SILENCE
    ]
    # Every step grows by about the same factor.
    ratios = [
        b.duration_ms / a.duration_ms for a, b in zip(normal.steps, longer.steps, strict=True)
    ]
    assert min(ratios) > 1.5


def test_an_impossible_target_is_a_clear_error() -> None:
    routine = load_builtin("lower-back")
    # The core says what does not fit and why; the CLI names --minutes (tests/cli/test_cli.py).
    with pytest.raises(DoesNotFitError, match=r"cannot fit in 1 minutes: .* takes \d") as caught:
        compile_timeline(routine, Variant.SHORT, fake_measure, chime_ms=CHIME_MS, minutes=1)
    natural = compile_timeline(routine, Variant.SHORT, fake_measure, chime_ms=CHIME_MS)
    assert caught.value.need_ms is not None and 60_000 < caught.value.need_ms < natural.total_ms


def test_timeline_is_immutable() -> None:
    (timeline, *_) = compiled()
    with pytest.raises(dataclasses.FrozenInstanceError):
        timeline.total_ms = 1  # type: ignore[misc]
    assert isinstance(timeline.segments, tuple)


def test_spoken_texts_cover_everything_the_timeline_says() -> None:
    for routine in routines():
        for variant in Variant:
            timeline = compile_timeline(routine, variant, fake_measure, chime_ms=CHIME_MS)
            assert set(timeline.spoken_texts()) <= set(spoken_texts(routine, variant))


def test_safety_notes_are_spoken_first() -> None:
    routine = load_builtin("lower-back")
    timeline = compile_timeline(routine, Variant.SHORT, fake_measure, chime_ms=CHIME_MS)
    intro = [s.text for s in timeline.segments if s.step == 0 and s.kind is Kind.SPEECH]
    safety = [line.text for line in split_lines(routine.safety)]
    assert intro[1 : 1 + len(safety)] == safety


def test_split_lines_pauses_between_sentences_and_paragraphs() -> None:
    lines = split_lines("One. Two?\n\nThree!  Four\nstill four.")
    assert [(line.text, line.gap_before_ms) for line in lines] == [
        ("One.", 0),
        ("Two?", SENTENCE_GAP_MS),
        ("Three!", PARAGRAPH_GAP_MS),
        ("Four still four.", SENTENCE_GAP_MS),
    ]


def test_announcement_adds_a_full_stop_once() -> None:
    assert announcement(3, 8, "Kneading") == "Step 3 of 8. Kneading."
    assert announcement(1, 2, "Rest!") == "Step 1 of 2. Rest!"


def test_step_order_follows_the_variant() -> None:
    text = """
title = "Order"
[variants]
short = ["b", "a"]
full = ["a", "b"]
[[steps]]
id = "a"
title = "A"
text = "Do a."
duration = "20s"
[[steps]]
id = "b"
title = "B"
text = "Do b."
duration = "20s"
"""
    routine = parse_routine(text, source="o.toml", name="o")
    short = compile_timeline(routine, Variant.SHORT, fake_measure, chime_ms=CHIME_MS)
    assert [s.id for s in short.steps] == ["b", "a"]


def test_lead_in_speaks_an_invitation_then_waits() -> None:
    routine = load_builtin("lower-back")
    plain = compile_timeline(routine, Variant.SHORT, fake_measure, chime_ms=CHIME_MS)
    led = compile_timeline(
        routine, Variant.SHORT, fake_measure, chime_ms=CHIME_MS, lead_in_ms=10_000
    )
    first = next(s for s in led.segments if s.kind is Kind.SPEECH)
    assert first.text == "Get comfortable. We will begin in ten seconds."
    title = next(s for s in led.segments if s.text == "Lower-back self-massage.")
    plain_title = next(s for s in plain.segments if s.text == "Lower-back self-massage.")
    assert title.start_ms - plain_title.start_ms == 10_000
    assert led.total_ms - plain.total_ms == 10_000


def test_lead_in_with_minutes_keeps_the_session_proper_at_that_length() -> None:
    routine = load_builtin("lower-back")
    led = compile_timeline(
        routine, Variant.SHORT, fake_measure, chime_ms=CHIME_MS, lead_in_ms=15_000, minutes=8
    )
    assert abs(led.total_ms - (8 * 60_000 + 15_000)) <= 1000


def test_skip_intro_keeps_the_safety_notes() -> None:
    routine = load_builtin("lower-back")
    skipped = compile_timeline(
        routine, Variant.SHORT, fake_measure, chime_ms=CHIME_MS, skip_intro=True
    )
    said = [s.text for s in skipped.segments if s.step == 0 and s.kind is Kind.SPEECH]
    safety = [line.text for line in split_lines(routine.safety)]
    intro = [line.text for line in split_lines(routine.intro)]
    assert said == ["Lower-back self-massage.", *safety]
    assert not set(intro) & set(said)


def test_start_step_resumes_with_original_numbers_and_lengths() -> None:
    routine = load_builtin("lower-back")
    whole = compile_timeline(routine, Variant.FULL, fake_measure, chime_ms=CHIME_MS)
    resumed = compile_timeline(routine, Variant.FULL, fake_measure, chime_ms=CHIME_MS, start_step=4)
    assert [s.index for s in resumed.steps] == [4, 5, 6, 7, 8]
    assert [s.duration_ms for s in resumed.steps] == [s.duration_ms for s in whole.steps[3:]]
    announcement_4 = next(s for s in resumed.segments if s.text.startswith("Step 4 of 8."))
    assert announcement_4.start_ms > resumed.steps[0].start_ms
    said = {s.text for s in resumed.segments if s.step == 0}
    assert {line.text for line in split_lines(routine.safety)} <= said


def test_number_words() -> None:
    from voiceguide.timeline.script import lead_in_text, number_words

    assert [number_words(n) for n in (0, 7, 15, 20, 42, 99, 100)] == [
        "zero",
        "seven",
        "fifteen",
        "twenty",
        "forty-two",
        "ninety-nine",
        "100",
    ]
    assert lead_in_text(1000) == "Get comfortable. We will begin in one second."
    assert lead_in_text(120_000) == "Get comfortable. We will begin in two minutes."
