"""Input stays data: nothing in a routine is run, and text is spoken as plain words.

External programs get argument lists, never a shell; music paths resolve from
the routine's folder; and text an engine could read as markup (SSML tags,
espeak's embedded commands, Piper's [[ phonemes ]]) is spoken as it is written,
which the real engines are measured to do.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import voiceguide
from voiceguide.speech.clip import Clip, plain_text
from voiceguide.speech.piper import PiperEngine, length_scale
from voiceguide.speech.system import SystemEngine

SOURCES = sorted(Path(voiceguide.__file__).parent.rglob("*.py"))

# -- nothing is executed ------------------------------------------------------------

RUNS_A_SHELL = {("os", "system"), ("os", "popen"), ("pty", "spawn")}
RUNS_PROGRAMS = {"run", "Popen", "call", "check_call", "check_output"}


def _problems(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        where = f"{path.name}:{node.lineno}"
        if isinstance(func, ast.Name) and func.id in {"eval", "exec", "compile", "__import__"}:
            found.append(f"{where}: {func.id}()")
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            pair = (func.value.id, func.attr)
            if pair in RUNS_A_SHELL or (
                func.value.id == "os" and func.attr.startswith(("exec", "spawn"))
            ):
                found.append(f"{where}: {'.'.join(pair)}()")
            if func.value.id == "subprocess" and func.attr in RUNS_PROGRAMS:
                command = node.args[0] if node.args else None
                if not isinstance(command, ast.List | ast.Name):
                    found.append(f"{where}: subprocess.{func.attr} without an argument list")
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            ):
                found.append(f"{where}: shell=")
    return found


def test_sources_never_use_a_shell_or_evaluate_text() -> None:
    assert len(SOURCES) > 20
    problems = [problem for path in SOURCES for problem in _problems(path)]
    assert problems == []


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os, subprocess\n"
        "os.system('ls')\n"
        "subprocess.run('ls', shell=True)\n"
        "subprocess.run(f'ffmpeg {x}')\n"
        "eval('1')\n"
        "os.execvp('ls', ['ls'])\n"
    )
    assert len(_problems(bad)) == 6


EVIL = """\
title = "Evil $(touch {mark}/title) `touch {mark}/backticks`; touch {mark}/semicolon"
category = "breathing"
music = "$(touch {mark}/music).ogg"
intro = "Say $(touch {mark}/intro) | tee {mark}/pipe && touch {mark}/and > {mark}/redirect"

[variants]
short = ["a"]
full = ["a"]

[[steps]]
id = "a"
title = "A; rm -rf {mark} #"
text = "Breathe $(id) in, `id`, ${{HOME}} and %PATH% and \\\\x41."
duration = "12s"
"""


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voiceguide", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_shell_text_in_a_routine_is_only_spoken(tmp_path: Path) -> None:
    mark = tmp_path / "marks"
    mark.mkdir()
    folder = tmp_path / "routines"
    folder.mkdir()
    routine = folder / "evil.toml"
    routine.write_text(EVIL.format(mark=mark))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    # The music path is a file name, looked for beside the routine, not in the current folder.
    shown = _cli(["show", str(routine), "--engine", "system"], cwd=elsewhere)
    assert shown.returncode == 5
    music = f"$(touch {mark}/music).ogg"
    assert shown.stderr == (
        f"error: {routine}:3: music {music!r}: no such file ({folder / music}), "
        "and not a built-in (surf, drone, bowls, none)\n"
    )

    checked = _cli(["check", str(routine)], cwd=elsewhere)
    assert checked.returncode == 0, checked.stderr
    target = tmp_path / "evil.wav"
    options = ["--engine", "system", "--music", "none", "--transcript", "--chapters"]
    exported = _cli(["export", str(routine), *options, "-o", str(target)], cwd=elsewhere)
    assert exported.returncode == 0, exported.stderr
    assert list(mark.iterdir()) == []  # nothing ran
    assert sorted(p.name for p in elsewhere.iterdir()) == []
    transcript = target.with_suffix(".vtt").read_text()
    assert f"Evil $(touch {mark}/title) `touch {mark}/backticks`; touch {mark}/semicolon" in (
        transcript
    )
    assert "Breathe $(id) in, `id`, ${HOME} and %PATH% and \\x41." in transcript
    assert f"A; rm -rf {mark} #" in target.with_suffix(".chapters.txt").read_text()


# -- markup is spoken as text ---------------------------------------------------------


def test_plain_text_neutralises_controls_and_phoneme_brackets_only() -> None:
    assert plain_text("[[h@'loU]]") == "[ [h@'loU] ]"
    assert plain_text("a [[[b]]] c") == "a [ [ [b] ] ] c"
    assert plain_text("x\x01400S y\x00z\x1b[0m") == "x 400S y z [0m"
    kept = 'Breathe <break time="10s"/> in & [once] {twice}\n\tthrice'
    assert plain_text(kept) == kept


def _seconds(clip: Clip) -> float:
    return clip.trimmed().duration_ms / 1000


def _longest_silence_s(clip: Clip) -> float:
    """Return the longest run of near-silence inside the clip (10 ms windows under -50 dBFS)."""
    samples = clip.trimmed().samples.astype(np.float64) / 32768
    size = clip.sample_rate // 100
    windows = samples[: len(samples) // size * size].reshape(-1, size)
    quiet = np.sqrt(np.mean(windows**2, axis=1)) < 10 ** (-50 / 20)
    longest = run = 0
    for still in quiet:
        run = run + 1 if still else 0
        longest = max(longest, run)
    return longest / 100


BREAK = 'Breathe in. <break time="10s"/> Breathe out.'
SSML_BREAK = '<speak>Breathe in. <break time="10s"/> Breathe out.</speak>'


@pytest.fixture(scope="module")
def system() -> SystemEngine:
    return SystemEngine()


@pytest.fixture(scope="module")
def piper() -> PiperEngine:
    return PiperEngine()


@pytest.mark.parametrize("text", [BREAK, SSML_BREAK])
@pytest.mark.parametrize("engine", ["system", "piper"])
def test_a_break_tag_is_not_ten_seconds_of_silence(
    engine: str, text: str, request: pytest.FixtureRequest
) -> None:
    clip = request.getfixturevalue(engine).synthesize(text)
    # Read as words ("break time equals 10 s"): no long pause, and under 10 s in all.
    assert _longest_silence_s(clip) < 1.0
    assert _seconds(clip) < 9.0


@pytest.mark.parametrize("engine", ["system", "piper"])
def test_tags_and_entities_are_read_not_obeyed(engine: str, request: pytest.FixtureRequest) -> None:
    voice = request.getfixturevalue(engine)

    def seconds(text: str) -> float:
        return _seconds(voice.synthesize(text))

    # Obeyed, each would sound like the plain text on its right; read, each is longer.
    assert seconds("Breathe <emphasis>in</emphasis>.") > seconds("Breathe in.") + 1.0
    assert seconds('<audio src="x.wav"/> Breathe in.') > seconds("Breathe in.") + 1.5
    assert seconds("Tom &amp; Jerry.") > seconds("Tom & Jerry.") + 0.3


def test_espeak_phoneme_brackets_are_read_not_obeyed(system: SystemEngine) -> None:
    # As phonemes [[h@'loU]] is "hello"; read as characters it takes much longer.
    assert _seconds(system.synthesize("[[h@'loU]]")) > 2 * _seconds(system.synthesize("hello"))


def test_piper_phoneme_brackets_are_read_not_obeyed(piper: PiperEngine) -> None:
    from piper import SynthesisConfig

    text = "[[h@'loU]]"
    # Piper itself takes [[ ]] as raw phonemes (and logs a warning for each it lacks).
    voice = piper._load()
    config = SynthesisConfig(length_scale=length_scale(150), normalize_audio=False)
    raw = np.concatenate([c.audio_float_array for c in voice.synthesize(text, config)])
    obeyed = Clip(np.round(raw * 32767).astype(np.int16), voice.config.sample_rate)
    ours = piper.synthesize(text)
    spelled = piper.synthesize("[ [h@'loU] ]")
    assert _seconds(ours) > 2 * _seconds(obeyed)
    assert abs(_seconds(ours) - _seconds(spelled)) < 0.25 * _seconds(spelled)


def test_espeak_embedded_commands_are_not_obeyed(system: SystemEngine) -> None:
    plain = "Breathe in slowly and deeply."
    before = _seconds(system.synthesize(plain))
    # U+0001 then "400S" is espeak's command for 400 words a minute, for this line
    # and every line after it; "80S" for 80. Both are read as "400 S" instead.
    for speed in ("400S", "80S"):
        commanded = system.synthesize(f"Breathe in \x01{speed} slowly and deeply.")
        spoken = system.synthesize(f"Breathe in  {speed} slowly and deeply.")
        assert abs(_seconds(commanded) - _seconds(spoken)) < 0.02 * _seconds(spoken)
        assert abs(_seconds(system.synthesize(plain)) - before) < 0.02 * before
    # A NUL no longer cuts the line short.
    cut = system.synthesize("Breathe in\x00 slowly and deeply.")
    assert abs(_seconds(cut) - before) < 0.05 * before
