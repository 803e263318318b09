"""A gentle compressor before the limiter: measured on generated tones and on real Piper lines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from voiceguide.audio import levels
from voiceguide.audio.analysis import VOICE_REFERENCE_LUFS, prepare, prepare_line
from voiceguide.audio.format import SAMPLE_RATE
from voiceguide.config import Overrides
from voiceguide.env import Environment
from voiceguide.pipeline import SessionOptions, build_session
from voiceguide.routine.library import load_builtin
from voiceguide.routine.model import Variant
from voiceguide.speech.clip import Clip


def tone(db: float, seconds: float) -> np.ndarray:
    t = np.arange(round(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return levels.from_db(db) * np.sin(2 * math.pi * 1000 * t)


def rms_db(samples: np.ndarray) -> float:
    return 20 * math.log10(float(np.sqrt(np.mean(samples**2))))


def test_the_compressor_is_two_to_one_above_its_threshold_and_still_below() -> None:
    quiet, loud = tone(-30, 1.0), tone(-10, 1.0)  # peaks at -30 and -10 dBFS
    signal = np.concatenate([quiet, loud, quiet])
    threshold = levels.from_db(-20)
    peaks = np.abs(signal)
    gain = levels.compressor_gain(peaks, SAMPLE_RATE, threshold=threshold, ratio=2.0)
    out = signal * gain
    second = SAMPLE_RATE
    # Below the threshold: untouched, before the loud part and once it has been released.
    assert np.allclose(gain[: second - SAMPLE_RATE // 50], 1.0)
    assert np.allclose(gain[-SAMPLE_RATE // 4 :], 1.0, atol=0.01)
    # Above it: the peak is 10 dB over, so the output peak is 5 dB over (2:1).
    steady = out[second + SAMPLE_RATE // 10 : 2 * second - SAMPLE_RATE // 10]
    peak_over = 20 * math.log10(float(np.max(np.abs(steady))) / threshold)
    assert abs(peak_over - 5.0) < 0.1
    # Planned: the reduction is complete when the loud part begins (attack before it)...
    assert 20 * math.log10(gain[second]) < -4.9
    # ...and fades over the release after it: about 1/e of it remains after 150 ms.
    remaining = -20 * math.log10(gain[2 * second + SAMPLE_RATE * 150 // 1000]) / 5.0
    assert 0.25 < remaining < 0.5


def test_the_chime_and_tones_are_not_compressed() -> None:
    # A quiet tone with a loud burst: the burst is far above the clip's loudness.
    burst = np.concatenate([tone(-20, 1.0), tone(-6, 0.05), tone(-20, 0.5)])
    clip = Clip(np.round(burst * 32767).astype(np.int16), SAMPLE_RATE)
    assert not np.array_equal(prepare_line(clip), prepare(clip))  # a line is compressed
    assert np.max(np.abs(prepare_line(clip))) < 0.85 * np.max(np.abs(prepare(clip)))
    # prepare, which the chime and the pause and resume tones go through, leaves the level.
    assert abs(float(np.max(np.abs(prepare(clip)))) - levels.from_db(-6)) < 0.01


def largest_reductions(session: object, *, compressed: bool) -> list[float]:
    """Return each line's largest limiter gain reduction (dB) in the planned mix."""
    from voiceguide.audio.analysis import analyse

    mix = session.mix  # type: ignore[attr-defined]
    planner = session._planner  # type: ignore[attr-defined]
    ceiling = planner.ceiling_at(mix.session_db)
    found = []
    for text in session.timeline.spoken_texts():  # type: ignore[attr-defined]
        clip = planner.speech(text)
        audio = prepare_line(clip) if compressed else prepare(clip)
        analysis = planner.found[text] if compressed else analyse(audio)
        gain = levels.from_db(VOICE_REFERENCE_LUFS - analysis.loudness_lufs + mix.session_db)
        curve = levels.limiter_gain(levels.peak_envelope(audio) * gain, ceiling, SAMPLE_RATE)
        found.append(float(-20 * np.log10(curve.min())))
    return found


@pytest.mark.slow
def test_the_limiter_only_catches_rare_peaks_of_real_piper_lines(tmp_path: object) -> None:
    env = Environment(cache_dir=tmp_path / "cache")  # type: ignore[operator]
    speech = env.speech(env.settings(Overrides(engine="piper")))
    session = build_session(load_builtin("lower-back"), speech, SessionOptions(Variant.SHORT))
    before = largest_reductions(session, compressed=False)
    after = largest_reductions(session, compressed=True)
    assert len(after) > 15
    # Without the compressor the limiter works on most lines, by a few dB...
    assert np.median(before) > 2.0
    # ...with it, on few, and by little.
    assert np.percentile(after, 95) <= 1.0
    assert np.median(after) < 0.5


def test_the_peak_envelope_is_the_4x_upsampled_signal_phase_by_phase() -> None:
    """peak_envelope works one phase at a time; its result is the whole 4x signal's."""
    rng = np.random.default_rng(7)
    assert len(levels.peak_envelope(np.zeros(0))) == 0
    for frames in (1, 30, 44_100):
        signal = rng.uniform(-1, 1, frames)
        whole = np.abs(levels.upsample(signal, levels.OVERSAMPLE)).reshape(frames, -1)
        expected = np.maximum(whole.max(axis=1), np.abs(signal))
        assert np.array_equal(levels.peak_envelope(signal), expected)
