from __future__ import annotations

import numpy as np

from tests.conftest import DATA
from tests.helpers import FakeEngine, fake_measure
from voiceguide.audio.analysis import prepare
from voiceguide.audio.format import CHANNELS, SAMPLE_RATE, ms_to_frames
from voiceguide.audio.mix import plan_mix
from voiceguide.audio.render import BLOCK_MS, render, total_frames
from voiceguide.pipeline import load_chime
from voiceguide.routine.library import load_routine_file
from voiceguide.routine.model import Variant
from voiceguide.speech.clip import Clip
from voiceguide.timeline.compile import compile_timeline
from voiceguide.timeline.model import Kind


def _session(block_ms: int = BLOCK_MS) -> tuple[object, np.ndarray]:
    routine = load_routine_file(DATA / "golden" / "cues.toml")
    chime = load_chime()
    timeline = compile_timeline(routine, Variant.SHORT, fake_measure, chime_ms=chime.duration_ms)
    engine = FakeEngine()
    mix = plan_mix(timeline, engine.synthesize, chime)
    blocks = list(render(timeline, mix, block_ms=block_ms))
    return timeline, blocks


def test_blocks_are_bounded_and_add_up_to_the_session() -> None:
    timeline, blocks = _session()
    assert all(b.dtype == np.int16 and b.shape[1] == CHANNELS for b in blocks)
    assert max(len(b) for b in blocks) <= ms_to_frames(BLOCK_MS)
    assert sum(len(b) for b in blocks) == total_frames(timeline)  # type: ignore[arg-type]


def test_block_size_does_not_change_a_single_sample() -> None:
    _, small = _session(block_ms=333)
    _, large = _session(block_ms=7000)
    assert np.array_equal(np.concatenate(small), np.concatenate(large))


def test_audio_sounds_exactly_where_the_timeline_says() -> None:
    timeline, blocks = _session()
    audio = np.concatenate(blocks)[:, 0].astype(np.float64) / 32768
    for segment in timeline.segments:  # type: ignore[attr-defined]
        lo = ms_to_frames(segment.start_ms)
        hi = ms_to_frames(segment.end_ms)
        level = np.sqrt(np.mean(audio[lo:hi] ** 2))
        if segment.kind is Kind.SILENCE:
            assert level == 0.0, segment
        else:  # the fake voice is a -15 dBFS tone; the chime a decaying -14 dBFS bell
            assert level > 0.03, segment
    # The first sound is where the first speech segment starts (the fade-in
    # makes its very first sample zero).
    first = next(s for s in timeline.segments if s.kind is Kind.SPEECH)  # type: ignore[attr-defined]
    assert 0 <= np.flatnonzero(audio)[0] - ms_to_frames(first.start_ms) <= 2


def test_clips_fade_in_and_out() -> None:
    samples = np.full(22_050, 16_000, dtype=np.int16)  # a DC step would click without fades
    audio = prepare(Clip(samples, 22_050))
    assert abs(len(audio) - SAMPLE_RATE) <= 1  # pydub's resampler may drop the last frame
    assert abs(audio[0]) < 0.01
    assert abs(audio[-1]) < 0.01
    assert np.max(np.abs(np.diff(audio))) < 0.01


def test_channels_carry_the_same_mono_mix() -> None:
    _, blocks = _session()
    audio = np.concatenate(blocks)
    assert np.array_equal(audio[:, 0], audio[:, 1])


def test_rendering_from_any_frame_gives_the_same_samples() -> None:
    timeline, blocks = _session()
    whole = np.concatenate(blocks)
    routine = load_routine_file(DATA / "golden" / "cues.toml")
    chime = load_chime()
    for start in (1, 35_280, 123_457, len(whole) - 10):
        tail = np.concatenate(
            list(
                render(
                    timeline, plan_mix(timeline, FakeEngine().synthesize, chime), start_frame=start
                )
            )  # type: ignore[arg-type]
        )
        assert np.array_equal(tail, whole[start:]), start
    assert routine.title
