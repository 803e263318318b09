"""The sleep ending through the real pipeline: espeak-ng, the mix, ffmpeg, measured in the file."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from tests.helpers import decode, ffprobe_duration_ms, rms_dbfs
from voiceguide.audio import levels
from voiceguide.audio.assets import asset_path
from voiceguide.audio.music import SLEEP_FADE_DB, SLEEP_FADE_MS
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.timeline.script import SLEEP_SOFTER_DB

NIGHT = DATA / "sleep" / "night.toml"
RATE = 44_100
SLEEP_MINUTES = 2.5
Doc = dict[str, object]
Exported = tuple[Path, Doc]
_METER = ["-af", "ebur128", "-f", "null", "-"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Exported]:
    """Export the night routine with a sleep ending and without, with the show --json of each."""
    folder = tmp_path_factory.mktemp("sleep")
    env = Environment(cache_dir=folder / "cache")
    runner = CliRunner()
    done = {}
    for name, extra in (("sleep", ["--sleep", f"{SLEEP_MINUTES:g}"]), ("usual", [])):
        args = [str(NIGHT), "--engine", "system", "--music", "drone", *extra]
        target = folder / f"{name}.mp3"
        result = runner.invoke(app, ["export", *args, "-o", str(target)], obj=env)
        assert result.exit_code == 0, result.output
        shown = runner.invoke(app, ["show", *args, "--json"], obj=env)
        assert shown.exit_code == 0, shown.output
        done[name] = (target, json.loads(shown.stdout))
    return done


def _segments(doc: Doc) -> list[dict[str, object]]:
    segments = doc["segments"]
    assert isinstance(segments, list)
    return segments


def _ms(segment: dict[str, object], key: str = "start_ms") -> int:
    value = segment[key]
    assert isinstance(value, int)
    return value


def _end(segment: dict[str, object]) -> int:
    return _ms(segment) + _ms(segment, "duration_ms")


def _frames(ms: int) -> int:
    return ms * RATE // 1000


def _session_ms(doc: Doc) -> int:
    last = _segments(doc)[-1]
    return _ms(last) if last["kind"] == "sleep" else _ms(doc, "total_ms")  # type: ignore[arg-type]


def _after_the_steps_words(doc: Doc) -> int:
    """Where the last step's last word ends: the closing, and any sleep music, come after."""
    steps = doc["steps"]
    assert isinstance(steps, list)
    last_step = len(steps)
    return max(_end(s) for s in _segments(doc) if s["kind"] == "speech" and s["step"] == last_step)


def _chime_gain(audio: npt.NDArray[np.float64]) -> float:
    """Return the largest gain at which the chime fits any stretch of audio (a matched filter)."""
    chime = decode(asset_path("chime.wav"), RATE)
    size = 1 << (len(audio) + len(chime)).bit_length()
    correlation = np.fft.irfft(np.fft.rfft(audio, size) * np.conj(np.fft.rfft(chime, size)), size)
    return float(np.max(np.abs(correlation[: len(audio)])) / np.dot(chime, chime))


def _ebur128(path: Path, seconds: float | None = None) -> float:
    """Return the integrated loudness ffmpeg's EBU R128 meter gives the file (or its start)."""
    limit = ["-t", f"{seconds:.3f}"] if seconds is not None else []
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", *limit, "-i", str(path), *_METER],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    found = re.search(r"I:\s+(-?[\d.]+) LUFS", out[out.rindex("Summary:") :])
    assert found is not None, out
    return float(found.group(1))


@pytest.mark.slow
def test_the_file_is_the_session_then_the_minutes_of_music(exports: dict[str, Exported]) -> None:
    target, doc = exports["sleep"]
    session_ms = _session_ms(doc)
    assert _segments(doc)[-1]["kind"] == "sleep"
    assert _ms(doc, "total_ms") == session_ms + SLEEP_MINUTES * 60_000  # type: ignore[arg-type]
    measured = ffprobe_duration_ms(target)
    print(f"\nduration {measured / 1000:.3f} s = session {session_ms / 1000:.3f} s + 150 s")
    assert abs(measured - (session_ms + SLEEP_MINUTES * 60_000)) <= 100


@pytest.mark.slow
def test_no_chime_sounds_after_the_last_steps_words(exports: dict[str, Exported]) -> None:
    gains = {}
    for name, (target, doc) in exports.items():
        audio = decode(target, RATE)
        gains[name] = _chime_gain(audio[_frames(_after_the_steps_words(doc)) :])
    below = levels.to_db(gains["sleep"] / gains["usual"])
    print(f"\nchime after the last step's words: {gains}, {below:.1f} dB")
    assert gains["usual"] > 0.5  # the closing chime, found where it is
    # Nothing like it (a word sharing its pitch fits it a little).
    assert below < -15


@pytest.mark.slow
def test_the_speech_still_meets_the_loudness_target(exports: dict[str, Exported]) -> None:
    target, doc = exports["sleep"]
    speech = _ebur128(target, _session_ms(doc) / 1000)
    whole = _ebur128(target)
    print(f"\nspeech part {speech:.1f} LUFS; the whole file, music after included, {whole:.1f}")
    assert abs(speech - (-16.0)) <= 1.0


def _speech_loudness(audio: npt.NDArray[np.float32], doc: Doc, step: int) -> float:
    """Return the loudness of the lines spoken in one section of the timeline."""
    parts = [
        audio[_frames(_ms(s)) : _frames(_end(s))]
        for s in _segments(doc)
        if s["kind"] == "speech" and s["step"] == step and _ms(s, "duration_ms")
    ]
    return levels.loudness(np.concatenate(parts), RATE)


@pytest.mark.slow
def test_the_closing_words_are_softer(exports: dict[str, Exported]) -> None:
    drops = {}
    for name, (target, doc) in exports.items():
        audio = decode(target, RATE).astype(np.float32)
        closing_step = len(doc["steps"]) + 1  # type: ignore[arg-type]
        drops[name] = _speech_loudness(audio, doc, closing_step) - _speech_loudness(audio, doc, 1)
    softer = drops["sleep"] - drops["usual"]
    print(f"\nclosing words against step 1: {drops}; softer by {-softer:.1f} dB")
    assert abs(softer + SLEEP_SOFTER_DB) <= 1.0


@pytest.mark.slow
def test_the_music_fades_to_silence_over_the_last_two_minutes(
    exports: dict[str, Exported],
) -> None:
    target, doc = exports["sleep"]
    audio = decode(target, RATE)[: _frames(_ms(doc, "total_ms"))]
    window = _frames(20_000)
    fade = audio[len(audio) - _frames(SLEEP_FADE_MS) :]
    before = audio[len(audio) - _frames(SLEEP_FADE_MS) - window : len(audio) - len(fade)]
    rms = [rms_dbfs(before)] + [rms_dbfs(w) for w in np.split(fade, len(fade) // window)]
    last = rms_dbfs(audio[-_frames(1000) :])
    print(f"\nmusic after the words, 20 s windows (dBFS): {[round(r, 1) for r in rms]}")
    print(f"the last second: {last:.1f} dBFS")
    assert -45 < rms[0] < -20  # the bed at its level in holds
    # Falling evenly in dB: each window's mean power is that of its stretch of the fall.
    fall = SLEEP_FADE_DB * window / _frames(SLEEP_FADE_MS)
    mean_power = (1 - levels.from_db(-fall) ** 2) / (fall / 10 * math.log(10))
    mean = levels.to_db(math.sqrt(mean_power))
    expected = [rms[0] - k * fall + mean for k in range(len(rms) - 1)]
    print(f"expected: {[round(e, 1) for e in expected]}")
    assert np.allclose(rms[1:], expected, atol=2.0), rms
    assert last < -80
