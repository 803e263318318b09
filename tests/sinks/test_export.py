"""Export: the real pipeline (espeak-ng + ffmpeg) and the file sink's guarantees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers import decode, ffprobe_duration_ms, read_wav_frames, rms_dbfs
from voiceguide.audio.format import CHANNELS, Block, ms_to_frames
from voiceguide.audio.mix import TARGET_LUFS
from voiceguide.audio.music import resolve
from voiceguide.audio.render import render
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.errors import AudioError, ExitCode, OutputError
from voiceguide.pipeline import SessionOptions, build_session
from voiceguide.routine.library import load_builtin
from voiceguide.routine.model import Variant
from voiceguide.sinks.export import export
from voiceguide.sinks.formats import codec_gain_db
from voiceguide.sinks.tags import Chapter, Tags
from voiceguide.timeline.model import Kind


@pytest.fixture(scope="module")
def real_short(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """Export the short lower-back session through real espeak-ng and ffmpeg, once."""
    folder = tmp_path_factory.mktemp("real")
    env = Environment(cache_dir=folder / "cache")
    runner = CliRunner()
    target = folder / "s.mp3"
    result = runner.invoke(
        app,
        [
            "export",
            "lower-back",
            "--short",
            "--engine",
            "system",
            "--music",
            "none",
            "-o",
            str(target),
        ],
        obj=env,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {target} (")
    shown = runner.invoke(
        app, ["show", "lower-back", "--short", "--engine", "system", "--json"], obj=env
    )
    assert shown.exit_code == 0, shown.output
    return target, json.loads(shown.stdout)


@pytest.mark.slow
def test_mp3_duration_matches_the_timeline(real_short: tuple[Path, dict[str, object]]) -> None:
    target, timeline = real_short
    total_ms = timeline["total_ms"]
    assert isinstance(total_ms, int)
    assert abs(ffprobe_duration_ms(target) - total_ms) <= 100
    assert 4 * 60_000 <= total_ms <= 7 * 60_000


@pytest.mark.slow
def test_full_version_lasts_twelve_to_twenty_minutes(tmp_path: Path, runner: CliRunner) -> None:
    env = Environment(cache_dir=tmp_path / "cache")
    shown = runner.invoke(
        app, ["show", "lower-back", "--full", "--engine", "system", "--json"], obj=env
    )
    assert shown.exit_code == 0, shown.output
    assert 12 * 60_000 <= json.loads(shown.stdout)["total_ms"] <= 20 * 60_000


@pytest.mark.slow
def test_speech_where_the_timeline_says_and_near_silence_in_holds(
    real_short: tuple[Path, dict[str, object]],
) -> None:
    target, timeline = real_short
    audio = decode(target)
    segments = timeline["segments"]
    assert isinstance(segments, list)
    edge = 40  # ms: keep clear of fades and the codec's smearing at the edges
    checked = {"speech": 0, "cue": 0, "silence": 0, "chime": 0}
    for segment in segments:
        start, length = segment["start_ms"], segment["duration_ms"]
        if length <= 2 * edge + 20:
            continue
        window = audio[ms_to_frames(start + edge) : ms_to_frames(start + length - edge)]
        level = rms_dbfs(window)
        kind = segment["kind"]
        if kind == Kind.SILENCE:
            assert level < -60, (segment, level)
        else:
            assert level > -35, (segment, level)
        checked[kind] += 1
    assert checked["speech"] > 20 and checked["cue"] >= 3 and checked["silence"] > 20


def test_wav_export_holds_exactly_the_rendered_samples(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    target = tmp_path / "session.wav"
    result = runner.invoke(
        app, ["export", "lower-back", "--short", "-o", str(target)], obj=fake_env
    )
    assert result.exit_code == 0, result.output
    routine = load_builtin("lower-back")
    options = SessionOptions(
        Variant.SHORT, music=resolve("surf"), target_lufs=TARGET_LUFS - codec_gain_db(".wav")
    )
    session = build_session(routine, fake_env.speech(fake_env.settings()), options)
    expected = np.concatenate(list(render(session.timeline, session.mix)))
    written = read_wav_frames(target)
    assert np.array_equal(written, expected)


def _blocks_then_fail(count: int) -> Iterator[Block]:
    for _ in range(count):
        yield np.full((44_100, CHANNELS), 1000, dtype=np.int16)
    raise RuntimeError("render failed half-way")


@pytest.mark.parametrize("suffix", [".mp3", ".wav"])
def test_a_failed_export_leaves_the_old_file_untouched(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"session{suffix}"
    target.write_bytes(b"the user's earlier export")
    with pytest.raises(RuntimeError):
        export(_blocks_then_fail(3), target)
    assert target.read_bytes() == b"the user's earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_an_interrupted_export_leaves_nothing_behind(tmp_path: Path) -> None:
    def interrupted() -> Iterator[Block]:
        yield np.zeros((44_100, CHANNELS), dtype=np.int16)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(interrupted(), tmp_path / "s.mp3")
    assert list(tmp_path.iterdir()) == []


def test_export_writes_a_readable_file_with_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "tone.mp3"
    tags = Tags("T", "voiceguide", "voiceguide", "Speech", 2026, "", (Chapter("All", 0, 1000),))
    export(iter([np.zeros((44_100, CHANNELS), dtype=np.int16)]), target, tags=tags)
    assert target.stat().st_mode & 0o644 == 0o644
    assert abs(ffprobe_duration_ms(target) - 1000) < 60


def test_missing_ffmpeg_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AudioError, match=r"ffmpeg is not installed; install it with: sudo apt "):
        export(iter([]), tmp_path / "x.mp3")


def test_missing_output_folder_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="no such folder"):
        export(iter([]), tmp_path / "nowhere" / "x.mp3")


def test_cli_reports_export_errors_with_exit_codes(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    bad_ext = runner.invoke(
        app, ["export", "lower-back", "-o", str(tmp_path / "x.ogv")], obj=fake_env
    )
    assert bad_ext.exit_code == ExitCode.USAGE
    assert bad_ext.stderr.startswith('error: cannot export to "x.ogv"')
    no_dir = runner.invoke(
        app, ["export", "lower-back", "-o", str(tmp_path / "no" / "x.mp3")], obj=fake_env
    )
    assert no_dir.exit_code == ExitCode.OUTPUT
    assert "no such folder" in no_dir.stderr
    assert "Traceback" not in bad_ext.output + no_dir.output


def test_rms_of_silence_and_tone() -> None:
    assert rms_dbfs(np.zeros(100)) == -np.inf
    tone = np.sin(np.linspace(0, 200 * np.pi, 44_100))
    assert abs(rms_dbfs(tone) + 3.01) < 0.05
    assert decode  # imported for the real-pipeline tests


def test_the_codec_calibration_is_measured_once_and_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import voiceguide.sinks.formats as export_module

    measured: list[str] = []
    real = export_module._measure_codec_gain

    def counting(*args: object) -> float:
        measured.append(str(args[-1]))
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(export_module, "_measure_codec_gain", counting)
    memo = tmp_path / "codec-gains.json"
    first = codec_gain_db(".mp3", "96k", memo)
    codec_gain_db.cache_clear()
    assert codec_gain_db(".mp3", "96k", memo) == first
    assert measured == [".mp3"]  # the second run read it from the memo
    assert -1.0 < first < 0.0  # LAME below 160 kbps plays back a little quieter
    memo.write_text("{not json")  # a damaged memo is measured again and rewritten
    codec_gain_db.cache_clear()
    assert codec_gain_db(".mp3", "96k", memo) == pytest.approx(first, abs=0.01)
    assert measured == [".mp3", ".mp3"]
    assert json.loads(memo.read_text())
    codec_gain_db.cache_clear()
