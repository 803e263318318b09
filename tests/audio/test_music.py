"""The music bed, ducking and fades, and the session's loudness (measured with ffmpeg)."""

from __future__ import annotations

import copy
import functools
import hashlib
import re
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers import FakeEngine, fake_measure
from voiceguide.audio import levels
from voiceguide.audio.analysis import AnalysisCache
from voiceguide.audio.format import ms_to_frames
from voiceguide.audio.mix import plan_mix
from voiceguide.audio.music import BUILTIN, DUCK_DB, load_bed, make_loop, resolve
from voiceguide.audio.render import render
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.errors import AudioError, ExitCode
from voiceguide.files import CacheFolder
from voiceguide.pipeline import load_chime
from voiceguide.routine.library import load_builtin
from voiceguide.routine.model import Variant
from voiceguide.timeline.compile import compile_timeline
from voiceguide.timeline.model import Kind, Timeline

RATE = 44_100


def ebur128(path: Path) -> tuple[float, float]:
    """Return (integrated loudness in LUFS, true peak in dBTP) as ffmpeg's EBU R128 meter says."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    summary = out[out.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))  # type: ignore[union-attr]
    return integrated, peak


@pytest.fixture(scope="module")
def real_env(tmp_path_factory: pytest.TempPathFactory) -> Environment:
    return Environment(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("engine", "music"),
    [
        ("system", "none"),
        ("system", "surf"),
        ("system", "drone"),
        ("system", "bowls"),
        ("piper", "bowls"),
    ],
)
def test_exported_sessions_meet_the_loudness_spec(
    engine: str, music: str, real_env: Environment, tmp_path: Path
) -> None:
    target = tmp_path / "session.mp3"
    result = CliRunner().invoke(
        app,
        [
            "export",
            "lower-back",
            "--short",
            "--engine",
            engine,
            "--music",
            music,
            "-o",
            str(target),
        ],
        obj=real_env,
    )
    assert result.exit_code == 0, result.output
    integrated, peak = ebur128(target)
    assert -17.0 <= integrated <= -15.0, integrated
    assert peak <= -1.0, peak


# Measured clips, shared by the tests in this module (the fake voice is deterministic).
_ANALYSES = AnalysisCache(CacheFolder(Path(tempfile.mkdtemp(prefix="voiceguide-analyses-"))))


@functools.cache
def _session(
    music: str | None = "surf", block_ms: int = 2000
) -> tuple[Timeline, object, np.ndarray]:
    routine = load_builtin("lower-back")
    chime = load_chime()
    timeline = compile_timeline(routine, Variant.SHORT, fake_measure, chime_ms=chime.duration_ms)
    bed = load_bed(resolve(music)) if music else None  # type: ignore[arg-type]
    mix = plan_mix(
        timeline,
        FakeEngine().synthesize,
        chime,
        bed_loop=bed,
        cache_key=lambda text: hashlib.sha256(text.encode()).hexdigest(),
        analyses=_ANALYSES,
    )
    audio = np.concatenate(list(render(timeline, mix, block_ms=block_ms))).astype(np.float64)
    return timeline, mix, audio / 32768


def _rms_db(samples: np.ndarray) -> float:
    return levels.to_db(float(np.sqrt(np.mean(samples**2))))


def test_the_bed_ducks_under_speech_and_comes_back_in_holds() -> None:
    timeline, mix, _ = _session("surf")
    bed = mix.bed  # type: ignore[attr-defined]
    under, holds = [], []
    for segment in timeline.segments:
        lo, hi = ms_to_frames(segment.start_ms), ms_to_frames(segment.end_ms)
        if segment.kind is Kind.SPEECH and segment.duration_ms > 1000:
            under.append(bed.block(lo + 2205, hi - lo - 4410))
        elif segment.kind is Kind.SILENCE and segment.duration_ms > 5000:
            # Inside the hold, clear of the 600 ms recovery and the next 150 ms duck.
            holds.append(bed.block(lo + ms_to_frames(1000), hi - lo - ms_to_frames(1500)))
    assert len(under) > 10 and len(holds) > 3
    drop = _rms_db(np.concatenate(holds)) - _rms_db(np.concatenate(under))
    assert 12.0 <= drop <= 18.0, drop
    assert abs(drop - DUCK_DB) < 1.0


def test_the_rendered_session_is_voice_plus_bed() -> None:
    timeline, mix, with_bed = _session("drone")
    dry = copy.copy(mix)
    dry.bed = None  # type: ignore[attr-defined]
    voice = np.concatenate(list(render(timeline, dry))).astype(np.float64) / 32768  # type: ignore[arg-type]
    bed = mix.bed.block(0, len(with_bed))  # type: ignore[attr-defined]
    assert np.max(np.abs(with_bed - voice - bed)) < 2 / 32768  # rounding only


def test_fade_in_and_fade_out() -> None:
    _, mix, _ = _session("surf")
    bed = mix.bed  # type: ignore[attr-defined]
    total = bed.envelope.points[-1]
    gain = bed.envelope.gain
    assert gain(np.array([0.0]))[0] == 0.0
    assert gain(np.array([total]))[0] == 0.0
    # Half-way through the 3 s fade-in and the 8 s fade-out, the bed is about half as loud.
    assert (
        0.3
        < gain(np.array([ms_to_frames(1500)]))[0] / gain(np.array([ms_to_frames(3500)]))[0]
        < 0.7
    )
    last = bed.block(int(total) - ms_to_frames(1000), ms_to_frames(1000))
    hold = bed.block(int(total) - ms_to_frames(9000), ms_to_frames(1000))
    assert _rms_db(last) < _rms_db(hold) - 20


def test_the_last_chime_stands_clear_of_the_bed() -> None:
    timeline, mix, audio = _session("bowls")
    last_chime = [s for s in timeline.segments if s.kind is Kind.CHIME][-1]
    lo, hi = ms_to_frames(last_chime.start_ms), ms_to_frames(last_chime.end_ms)
    chime_level = _rms_db(audio[lo:hi] - mix.bed.block(lo, hi - lo))  # type: ignore[attr-defined]
    bed_level = _rms_db(mix.bed.block(lo, hi - lo))  # type: ignore[attr-defined]
    assert chime_level - bed_level > 15


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_built_in_loops_have_no_seam(name: str) -> None:
    loop = load_bed(resolve(name))  # type: ignore[arg-type]
    assert len(loop) == 30 * RATE
    jumps = np.abs(np.diff(loop, axis=0)).max(axis=1)
    seam = np.abs(loop[0] - loop[-1]).max()
    assert seam <= np.percentile(jumps, 99.9), (seam, np.percentile(jumps, 99.9))


def test_a_users_file_is_crossfaded_into_a_seamless_loop(tmp_path: Path) -> None:
    # A tone that stops dead: looped as it is, it would click at every repeat.
    t = np.arange(round(3.3 * RATE)) / RATE
    tone = 0.4 * np.sin(2 * np.pi * 523.25 * t)
    path = tmp_path / "mine.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.round(tone * 32767).astype("<i2").tobytes())
    raw_seam = abs(tone[-1] - tone[0])
    loop = load_bed(path)
    assert len(loop) == len(tone) - ms_to_frames(2000) // 3 * 3 or len(loop) < len(tone)
    seam = np.abs(loop[0] - loop[-1]).max()
    inside = np.abs(np.diff(loop, axis=0)).max()
    assert seam <= inside * 1.05
    assert raw_seam > seam
    assert make_loop(loop, 0) is loop


def test_block_joins_and_loop_points_change_nothing() -> None:
    _, _, small = _session("surf", block_ms=333)
    _, _, large = _session("surf", block_ms=7000)
    assert np.array_equal(small, large)
    jumps = np.abs(np.diff(small, axis=0)).max()
    assert jumps < 0.5  # no sample-to-sample jump anywhere near a click


def test_music_lists_the_built_ins(runner: CliRunner) -> None:
    result = runner.invoke(app, ["music"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["surf", "drone", "bowls", "none"]


def test_missing_or_broken_music_fails_before_any_work(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    target = tmp_path / "out.mp3"
    missing = runner.invoke(
        app,
        ["export", "lower-back", "--music", str(tmp_path / "nope.mp3"), "-o", str(target)],
        obj=fake_env,
    )
    assert missing.exit_code == ExitCode.AUDIO
    assert missing.stderr.startswith("error: music ") and "no such file" in missing.stderr
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3 this is not audio at all" * 50)
    bad = runner.invoke(
        app, ["export", "lower-back", "--music", str(broken), "-o", str(target)], obj=fake_env
    )
    assert bad.exit_code == ExitCode.AUDIO
    assert f"error: {broken}: cannot read this music file" in bad.stderr
    assert len(bad.stderr.splitlines()) == 1
    assert not target.exists()
    assert not (fake_env.cache_dir or tmp_path).exists()  # nothing was synthesized
    with pytest.raises(AudioError):
        resolve("no-such-ambience")


def test_routine_music_is_relative_to_the_routine_and_options_override_it(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    folder = tmp_path / "routines"
    folder.mkdir()
    t = np.arange(5 * RATE) / RATE
    with wave.open(str(folder / "bed.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.round(0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes())
    routine = folder / "mine.toml"
    routine.write_text(
        'title = "Mine"\nmusic = "bed.wav"\n[variants]\nshort = ["a"]\nfull = ["a"]\n'
        '[[steps]]\nid = "a"\ntitle = "A"\ntext = "Rest."\nduration = "20s"\n'
    )

    def hold_level(args: list[str]) -> float:
        wav = tmp_path / "out.wav"
        result = runner.invoke(app, ["export", str(routine), *args, "-o", str(wav)], obj=fake_env)
        assert result.exit_code == 0, result.output
        with wave.open(str(wav)) as data:
            frames = np.frombuffer(data.readframes(data.getnframes()), dtype="<i2")
        middle = frames.reshape(-1, 2)[ms_to_frames(12_000) : ms_to_frames(15_000), 0]
        return _rms_db(middle.astype(np.float64) / 32768)

    assert hold_level([]) > -50  # the routine's own bed, found beside the routine
    assert hold_level(["--music", "none"]) == -np.inf  # the command line wins


def test_config_music_applies_when_the_routine_has_none(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    from dataclasses import replace

    config = tmp_path / "config.toml"
    config.write_text('music = "drone"\nmusic_volume = -20\n')
    env = replace(fake_env, config_path=config)
    shown = runner.invoke(app, ["config"], obj=env)
    assert any(line.split()[:2] == ["music", "drone"] for line in shown.stdout.splitlines())
    assert any(line.split()[:2] == ["music_volume", "-20"] for line in shown.stdout.splitlines())


def test_every_step_speaks_at_the_same_loudness(real_env: Environment) -> None:
    from voiceguide.config import Overrides
    from voiceguide.pipeline import SessionOptions, build_session

    routine = load_builtin("lower-back")
    speech = real_env.speech(real_env.settings(Overrides(engine="system")))
    session = build_session(routine, speech, SessionOptions(Variant.SHORT))
    audio = np.concatenate(list(session.blocks())).astype(np.float64) / 32768
    per_step: dict[int, list[np.ndarray]] = {}
    for segment in session.timeline.segments:
        if segment.kind is Kind.SPEECH:
            lo, hi = ms_to_frames(segment.start_ms), ms_to_frames(segment.end_ms)
            per_step.setdefault(segment.step, []).append(audio[lo:hi])
    loudness = [levels.loudness(np.concatenate(parts), RATE) for parts in per_step.values()]
    assert max(loudness) - min(loudness) < 2.0, loudness
