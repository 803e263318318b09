"""Engines: selection, rate mapping, the neural voice, pause markers, voices, config."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers import ParallelFakeEngine, ffprobe_duration_ms, make_parallel_fake
from voiceguide.cli import app
from voiceguide.config import Overrides
from voiceguide.env import Environment
from voiceguide.errors import ConfigError, ExitCode, SpeechError
from voiceguide.speech import piper as piper_module
from voiceguide.speech.cache import ClipCache
from voiceguide.speech.engine import EngineRecipe
from voiceguide.speech.engines import create_engine, default_engine
from voiceguide.speech.library import SpeechLibrary
from voiceguide.speech.piper import NATURAL_WPM, PACE_EXPONENT, PiperEngine, length_scale
from voiceguide.speech.system import SystemEngine, espeak_rate
from voiceguide.timeline.script import PARAGRAPH_GAP_MS, SENTENCE_GAP_MS, split_lines

SENTENCES = [
    "Let your shoulders soften as you breathe out slowly.",
    "Press in with your fingertips, then squeeze and release.",
    "Keep the strokes slow and even, and let your back sink into your hands.",
    "Start on your right side, low down near the hips, and move slowly upward.",
]
WORDS = sum(len(s.split()) for s in SENTENCES)


def measured_wpm(engine: SystemEngine | PiperEngine) -> float:
    seconds = sum(engine.synthesize(s).trimmed().duration_ms for s in SENTENCES) / 1000
    return WORDS / seconds * 60


# -- engine selection ---------------------------------------------------------


def test_piper_is_the_default_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert piper_module.installed()
    assert default_engine() == "piper"
    monkeypatch.setattr(piper_module, "installed", lambda: False)
    assert default_engine() == "system"


def test_config_says_why_the_engine_was_chosen(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = runner.invoke(app, ["config"])
    engine_line = shown.stdout.splitlines()[1]
    assert engine_line.split()[:2] == ["engine", "piper"]
    assert engine_line.endswith("default (piper-tts is installed)")
    monkeypatch.setattr(piper_module, "installed", lambda: False)
    shown = runner.invoke(app, ["config"])
    engine_line = shown.stdout.splitlines()[1]
    assert engine_line.split()[:2] == ["engine", "system"]
    assert engine_line.endswith("default (piper-tts is not installed)")


def test_unknown_engine_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["show", "lower-back", "--engine", "festival"])
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == 'error: unknown engine "festival"; use one of: piper, system\n'


def test_missing_piper_voice_file_is_a_speech_error(tmp_path: Path) -> None:
    with pytest.raises(SpeechError, match="no such Piper voice file"):
        create_engine("piper", str(tmp_path / "nope.onnx"), 150)
    with pytest.raises(SpeechError, match=r"piper voices are \.onnx files"):
        create_engine("piper", "en-gb", 150)


# -- rate mapping -------------------------------------------------------------


def test_rate_mapping_formulas() -> None:
    assert espeak_rate(150) == 136
    assert length_scale(150) == pytest.approx((NATURAL_WPM / 150) ** (1 / PACE_EXPONENT))
    assert length_scale(204) == pytest.approx(1.0)
    assert length_scale(300) < 1 < length_scale(120)


@pytest.mark.parametrize("rate", [120, 180])
def test_system_voice_speaks_at_the_asked_rate(rate: int) -> None:
    assert measured_wpm(SystemEngine(rate_wpm=rate)) == pytest.approx(rate, rel=0.12)


@pytest.mark.slow
@pytest.mark.parametrize("rate", [120, 180])
def test_piper_voice_speaks_at_the_asked_rate(rate: int) -> None:
    assert measured_wpm(PiperEngine(rate_wpm=rate)) == pytest.approx(rate, rel=0.12)


@pytest.mark.slow
def test_piper_levels_are_not_peak_normalised_per_sentence() -> None:
    engine = PiperEngine()
    peaks = [np.abs(engine.synthesize(s).samples.astype(np.int32)).max() for s in SENTENCES]
    # Piper's default would scale every sentence to full scale (32767).
    assert max(peaks) < 32_000
    assert len(set(peaks)) > 1


# -- cache keys -----------------------------------------------------------------


def test_piper_cache_key_covers_voice_file_and_rate(tmp_path: Path) -> None:
    default = PiperEngine()
    other = tmp_path / "other.onnx"
    other.write_bytes(b"not the same model")
    shutil.copy(f"{default.model}.json", f"{other}.json")
    identities = {
        default.identity,
        PiperEngine(rate_wpm=160).identity,
        PiperEngine(str(other)).identity,
    }
    assert len(identities) == 3
    assert all(i.startswith("piper|") for i in identities)
    assert PiperEngine().identity == default.identity


def test_pool_synthesizes_in_worker_processes_and_fills_the_cache(tmp_path: Path) -> None:
    texts = [f"Line number {n} of the session." for n in range(8)]
    recipe = EngineRecipe(make_parallel_fake, "fake", None, 150)
    engine = ParallelFakeEngine()
    library = SpeechLibrary(engine, ClipCache(tmp_path), recipe=recipe, workers=2)
    library.prepare(texts)
    assert library.synthesized == 8
    assert engine.calls == []  # all of it happened in the workers
    again = SpeechLibrary(ParallelFakeEngine(), ClipCache(tmp_path), recipe=recipe, workers=2)
    again.prepare(texts)
    assert again.synthesized == 0
    alone = ParallelFakeEngine()
    for text in texts:
        assert np.array_equal(again.clip(text).samples, alone.synthesize(text).trimmed().samples)


# -- pause markers --------------------------------------------------------------


def test_pause_markers_set_the_silence_before_the_next_sentence() -> None:
    lines = split_lines("One. [pause 3s] Two. Three.\n\nFour. [pause] Five. [pause 1.5s]")
    assert [(line.text, line.gap_before_ms) for line in lines] == [
        ("One.", 0),
        ("Two.", 3000),
        ("Three.", SENTENCE_GAP_MS),
        ("Four.", PARAGRAPH_GAP_MS),
        ("Five.", 2000),
        ("", 1500),  # a pause at the end leaves silence after the last sentence
    ]


def test_pause_marker_is_silence_in_the_rendered_timeline(
    runner: CliRunner, fake_env: Environment, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["show", "lower-back", "--short", "--json"], obj=fake_env)
    doc = json.loads(result.stdout)
    segments = doc["segments"]
    hold = next(i for i, s in enumerate(segments) if s["text"].startswith("Press into it gently"))
    assert segments[hold + 1]["kind"] == "silence"
    assert segments[hold + 1]["duration_ms"] == 6000
    assert segments[hold + 2]["text"] == "And release."


# -- voices and config ------------------------------------------------------------


def test_voices_lists_both_engines_and_marks_the_default(runner: CliRunner) -> None:
    result = runner.invoke(app, ["voices"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["engine", "name", "language", "voice"]
    marked = [line for line in lines if line.startswith("*")]
    assert len(marked) == 1
    assert marked[0].split()[1:4] == ["piper", "en_US-joe-medium", "en_US"]
    assert any(line.split()[:1] == ["system"] and "gmw/en-us" in line for line in lines)


def test_voices_marks_the_system_default_without_piper(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(piper_module, "installed", lambda: False)
    result = runner.invoke(app, ["voices"])
    (marked,) = [line for line in result.stdout.splitlines() if line.startswith("*")]
    assert marked.split()[1] == "system"
    assert marked.endswith("gmw/en-us")
    assert "piper" not in result.stdout


def test_config_precedence(tmp_path: Path, runner: CliRunner) -> None:
    config = tmp_path / "config.toml"
    config.write_text('# my defaults\nengine = "system"\nvoice = "en-gb"\nrate = 130\n')
    env = Environment(config_path=config)
    shown = runner.invoke(app, ["config"], obj=env)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == f"config file: {config}"
    assert lines[1].split()[:2] == ["engine", "system"] and lines[1].endswith(f"{config}:2")
    assert lines[2].split()[:2] == ["voice", "en-gb"] and lines[2].endswith(f"{config}:3")
    assert lines[3].split()[:2] == ["rate", "130"] and lines[3].endswith(f"{config}:4")
    overridden = runner.invoke(app, ["config", "--rate", "170", "--engine", "piper"], obj=env)
    lines = overridden.stdout.splitlines()
    assert lines[1].split()[:2] == ["engine", "piper"] and lines[1].endswith("command line")
    # The configured voice belongs to the configured engine, not to piper.
    assert lines[2].split()[:3] == ["voice", "(engine", "default)"]
    assert lines[3].split()[:2] == ["rate", "170"] and lines[3].endswith("command line")


def test_config_values_reach_the_engine(tmp_path: Path, runner: CliRunner) -> None:
    config = tmp_path / "config.toml"
    config.write_text("rate = 170\n")
    made: list[tuple[str, str | None, int]] = []

    def make(engine: str, voice: str | None, rate: int) -> ParallelFakeEngine:
        made.append((engine, voice, rate))
        return ParallelFakeEngine(voice, rate)

    env = Environment(make_engine=make, config_path=config, cache_dir=tmp_path, workers=1)
    runner.invoke(app, ["show", "lower-back", "--engine", "system"], obj=env)
    runner.invoke(app, ["show", "lower-back", "--engine", "system", "--rate", "120"], obj=env)
    assert made == [("system", None, 170), ("system", None, 120)]


def test_a_broken_config_names_the_file_and_line(tmp_path: Path, runner: CliRunner) -> None:
    config = tmp_path / "config.toml"
    config.write_text('engine = "festival"\nrate = "fast"\ncolour = 1\n')
    result = runner.invoke(app, ["show", "lower-back"], obj=Environment(config_path=config))
    assert result.exit_code == ExitCode.CONFIG == 8
    assert result.stderr.splitlines() == [
        f"error: {config}:1: engine must be one of: piper, system",
        f"error: {config}:2: rate must be a whole number of words per minute, 60 to 400",
        f'error: {config}:3: unknown key "colour"; expected one of: '
        "engine, voice, rate, music, music_volume",
    ]
    config.write_text("rate = [\n")
    result = runner.invoke(app, ["config"], obj=Environment(config_path=config))
    assert result.exit_code == ExitCode.CONFIG
    assert result.stderr.startswith(f"error: {config}:")
    assert isinstance(ConfigError([]), Exception)


# -- the real neural voice, end to end ------------------------------------------------


@pytest.fixture(scope="module")
def piper_env(tmp_path_factory: pytest.TempPathFactory) -> Environment:
    return Environment(cache_dir=tmp_path_factory.mktemp("piper-cache"))


@pytest.mark.slow
def test_export_with_each_engine_differs_only_in_speech_lengths(
    piper_env: Environment, tmp_path: Path
) -> None:
    runner = CliRunner()
    docs = {}
    for engine in ("piper", "system"):
        shown = runner.invoke(
            app, ["show", "lower-back", "--short", "--engine", engine, "--json"], obj=piper_env
        )
        assert shown.exit_code == 0, shown.output
        assert shown.stderr == ""  # no step stretched
        docs[engine] = json.loads(shown.stdout)
    piper_doc, system_doc = docs["piper"], docs["system"]

    def sounding(doc: dict[str, list[dict[str, object]]]) -> list[tuple[object, ...]]:
        return [
            (s["kind"], s["step"], s["text"]) for s in doc["segments"] if s["kind"] != "silence"
        ]

    assert sounding(piper_doc) == sounding(system_doc)
    assert [s["duration_ms"] for s in piper_doc["steps"]] == [
        s["duration_ms"] for s in system_doc["steps"]
    ]
    speech_lengths = {
        engine: [s["duration_ms"] for s in doc["segments"] if s["kind"] == "speech"]
        for engine, doc in docs.items()
    }
    assert speech_lengths["piper"] != speech_lengths["system"]

    target = tmp_path / "piper.mp3"
    exported = runner.invoke(
        app,
        ["export", "lower-back", "--short", "--engine", "piper", "-o", str(target)],
        obj=piper_env,
    )
    assert exported.exit_code == 0, exported.output
    assert abs(ffprobe_duration_ms(target) - piper_doc["total_ms"]) <= 100


def test_environment_uses_every_core_for_synthesis() -> None:
    library = Environment(workers=0).speech(Environment().settings(Overrides(engine="system")))
    assert library.workers >= 1
    assert replace(Environment(), workers=3).workers == 3


def test_two_system_voices_in_one_process_keep_their_rates() -> None:
    """pyttsx3 shares one espeak-ng engine in a process: each SystemEngine still speaks
    at its own rate, whichever spoke before it (before: a 240 wpm engine spoke at 120
    after a 120 wpm one)."""
    text = "Breathe in slowly, and let your shoulders soften as you breathe out."
    slow, fast = SystemEngine(rate_wpm=120), SystemEngine(rate_wpm=240)
    lengths: dict[int, list[int]] = {120: [], 240: []}
    for engine in (fast, slow, slow, fast, slow, fast):
        lengths[engine.rate_wpm].append(engine.synthesize(text).trimmed().duration_ms)
    assert max(lengths[240]) * 1.5 < min(lengths[120])
    assert max(lengths[120]) - min(lengths[120]) < 100
    assert max(lengths[240]) - min(lengths[240]) < 100
