"""Quick commands: options parsed without Pydantic, and no audio stack before it is needed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import voiceguide.cli.quick
from tests.conftest import DATA
from voiceguide.cli import app
from voiceguide.env import Environment

HEAVY = ("numpy", "pydantic", "scipy", "pydub", "onnxruntime", "alsaaudio", "asyncio")

PROBE = """
import json, sys
from voiceguide.cli import main
heavy = json.loads(sys.argv[2])
sys.argv = ["voiceguide", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def heavy_modules_loaded(args: list[str]) -> list[str]:
    """Run the CLI with args in a process of its own; return the heavy modules it loaded."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return list(json.loads(out.splitlines()[-1]))


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["check", "lower-back"], ["play", "--help"], ["list"]]
)
def test_quick_commands_load_no_audio_stack(args: list[str]) -> None:
    from voiceguide.speech import piper

    if args == ["list"] and not piper.installed():
        pytest.skip("the default voice is then the system one, which starts espeak-ng")
    assert heavy_modules_loaded(args) == []


@pytest.mark.slow
def test_show_on_a_warm_cache_loads_no_audio_stack() -> None:
    from voiceguide.speech import piper

    if not piper.installed():  # the system voice's driver (pyttsx3's) imports numpy itself
        pytest.skip("the neural voice is not installed")
    args = ["show", str(DATA / "routines" / "tiny.toml"), "--engine", "piper"]
    assert "numpy" in heavy_modules_loaded(args)  # cold: the lines are synthesized
    assert heavy_modules_loaded(args) == []  # warm: lengths from the session manifest


BAD_AND_GOOD = [
    ["show", "lower-back", "--minutes", "abc"],
    ["show", "lower-back", "--minutes", "0.05"],
    ["show", "lower-back", "--minutes", "-3"],
    ["show", "lower-back", "--minutes", "1e1"],
    ["show", "lower-back", "--minutes", " 12 "],
    ["show", "lower-back", "--minutes", "12.5", "--rate", "160", "--json"],
    ["show", "lower-back", "--rate", "20"],
    ["show", "lower-back", "--rate", "401"],
    ["show", "lower-back", "--rate", "150.0"],
    ["show", "lower-back", "--rate", "0150"],
    ["show", "lower-back", "--sleep", "--music", "surf"],
    ["show", "lower-back", "--sleep", "x"],
    ["export", "lower-back", "--music-volume", "-50", "-o", "x.mp3"],
    ["check"],
    ["new"],
]


@pytest.mark.parametrize("args", BAD_AND_GOOD)
def test_quick_coercion_reads_and_words_everything_as_typer_does(
    args: list[str], fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick = CliRunner().invoke(app, args, obj=fake_env)
    monkeypatch.setattr(voiceguide.cli.quick, "make_quick", lambda params: None)
    typers_own = CliRunner().invoke(app, args, obj=fake_env)
    assert (quick.exit_code, quick.output) == (typers_own.exit_code, typers_own.output)
