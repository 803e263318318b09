"""The sleep ending's mix: the session gain without the music after, softer words, the fade."""

from __future__ import annotations

import functools
import hashlib
import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import FakeEngine, fake_measure
from voiceguide.audio import levels
from voiceguide.audio.analysis import AnalysisCache
from voiceguide.audio.format import SAMPLE_RATE, ms_to_frames
from voiceguide.audio.mix import TARGET_LUFS, Mix, plan_mix
from voiceguide.audio.music import SLEEP_FADE_DB, SLEEP_FADE_MS, load_bed, resolve
from voiceguide.audio.render import render
from voiceguide.files import CacheFolder
from voiceguide.pipeline import load_chime
from voiceguide.routine.library import load_builtin
from voiceguide.routine.model import Variant
from voiceguide.timeline.compile import compile_timeline
from voiceguide.timeline.model import Kind, Timeline
from voiceguide.timeline.script import SLEEP_SOFTER_DB

_ANALYSES = AnalysisCache(CacheFolder(Path(tempfile.mkdtemp(prefix="voiceguide-analyses-"))))


@functools.cache
def _planned(sleep_ms: int | None, music: str = "drone") -> tuple[Timeline, Mix]:
    chime = load_chime()
    timeline = compile_timeline(
        load_builtin("lower-back"),
        Variant.SHORT,
        fake_measure,
        chime_ms=chime.duration_ms,
        sleep_ms=sleep_ms,
    )
    mix = plan_mix(
        timeline,
        FakeEngine().synthesize,
        chime,
        bed_loop=load_bed(resolve(music)),  # type: ignore[arg-type]
        cache_key=lambda text: hashlib.sha256(text.encode()).hexdigest(),
        analyses=_ANALYSES,
    )
    return timeline, mix


def _rms_db(samples: np.ndarray) -> float:
    return levels.to_db(float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))))


def test_the_music_after_the_words_does_not_change_the_session_gain() -> None:
    _, short_tail = _planned(60_000)
    _, long_tail = _planned(1_800_000)
    assert short_tail.session_db == long_tail.session_db
    assert abs(short_tail.predicted_lufs - TARGET_LUFS) < 0.05


def test_the_session_before_the_music_meets_the_target() -> None:
    timeline, mix = _planned(150_000)
    audio = np.concatenate(list(render(timeline, mix))).astype(np.float64) / 32768
    session = audio[: ms_to_frames(timeline.session_ms)]
    measured = levels.loudness(session.astype(np.float32), SAMPLE_RATE)
    assert abs(measured - TARGET_LUFS) < 0.5, measured
    assert len(audio) == ms_to_frames(timeline.total_ms)


def test_the_closing_words_are_softer_by_the_stated_amount() -> None:
    timeline, mix = _planned(150_000)
    closing = [s for s in timeline.segments if s.kind is Kind.SPEECH and s.gain_db]
    assert closing
    for segment in closing:
        drop = _rms_db(mix.sound(segment)) - _rms_db(mix.voice(segment.text))
        assert drop == pytest.approx(-SLEEP_SOFTER_DB, abs=0.01)
    # Every other line comes out at its usual level.
    step_line = next(s for s in timeline.segments if s.kind is Kind.SPEECH and s.step == 1)
    assert np.array_equal(mix.sound(step_line), mix.voice(step_line.text))


def test_the_bed_plays_on_at_its_hold_level_then_fades_evenly_to_silence() -> None:
    timeline, mix = _planned(300_000)
    bed = mix.bed
    assert bed is not None
    gain = bed.envelope.gain
    total = ms_to_frames(timeline.total_ms)
    fade_start = total - ms_to_frames(SLEEP_FADE_MS)
    # In a step's hold, clear of the ducking: the bed's usual level.
    hold = next(s for s in timeline.segments if s.kind is Kind.SILENCE and s.duration_ms > 8000)
    usual = gain(np.array([float(ms_to_frames(hold.start_ms + 3000))]))[0]
    after_words = np.linspace(ms_to_frames(timeline.session_ms + 1000), fade_start, 50)
    assert np.allclose(gain(after_words), usual, rtol=1e-6)
    # The fade falls evenly in dB: a third of the way, a third of the fall.
    fade = np.linspace(fade_start, total - ms_to_frames(5000), 40)
    fall_db = 20 * np.log10(gain(fade) / usual)
    expected = -SLEEP_FADE_DB * (fade - fade_start) / ms_to_frames(SLEEP_FADE_MS)
    assert np.max(np.abs(fall_db - expected)) < 0.1
    assert gain(np.array([float(total)]))[0] == 0.0
    # And so does the rendered bed, 20-s window by 20-s window.
    tail = np.concatenate(
        list(render(timeline, mix, start_frame=fade_start - ms_to_frames(20_000)))
    )
    windows = tail[: len(tail) // ms_to_frames(20_000) * ms_to_frames(20_000)]
    rms = [_rms_db(w / 32768) for w in np.split(windows, len(windows) // ms_to_frames(20_000))]
    assert all(b < a - 4 for a, b in itertools.pairwise(rms[1:])), rms
    assert _rms_db(tail[-ms_to_frames(1000) :] / 32768) < rms[0] - 40
