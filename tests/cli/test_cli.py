from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voiceguide import __version__, cli
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.errors import ExitCode
from voiceguide.units import format_clock


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"voiceguide {__version__}\n"


def test_list_shows_lengths_of_both_versions(runner: CliRunner, fake_env: Environment) -> None:
    result = runner.invoke(app, ["list"], obj=fake_env)
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["name", "short", "full"]
    (row,) = [r for r in rows if r.startswith("lower-back ")]
    _, short, full, *title = row.split()
    assert " ".join(title) == "Lower-back self-massage"
    # Nothing synthesized yet: the lengths are estimates, and say so.
    assert short.startswith("~") and full.startswith("~")
    short, full = short[1:], full[1:]
    short_s = int(short.split(":")[0]) * 60 + int(short.split(":")[1])
    full_s = int(full.split(":")[0]) * 60 + int(full.split(":")[1])
    assert 4 * 60 <= short_s <= 7 * 60
    assert 12 * 60 <= full_s <= 20 * 60


def test_list_is_exact_once_the_clips_are_cached(runner: CliRunner, fake_env: Environment) -> None:
    totals = []
    for flag in ("--short", "--full"):
        shown = runner.invoke(app, ["show", "lower-back", flag, "--json"], obj=fake_env)
        totals.append(json.loads(shown.stdout)["total_ms"])
    listed = runner.invoke(app, ["list"], obj=fake_env)
    row = next(r for r in listed.stdout.splitlines() if r.startswith("lower-back "))
    _, short, full, *_ = row.split()
    assert [short, full] == [format_clock(t) for t in totals]


def test_show_json_has_the_documented_shape(runner: CliRunner, fake_env: Environment) -> None:
    result = runner.invoke(app, ["show", "lower-back", "--short", "--json"], obj=fake_env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"title", "variant", "total_ms", "steps", "segments"} <= doc.keys()
    assert doc["variant"] == "short"
    assert {"index", "title", "start_ms", "duration_ms"} <= doc["steps"][0].keys()
    assert set(doc["segments"][0]) == {"kind", "start_ms", "duration_ms", "step", "text"}
    assert doc["segments"][-1]["start_ms"] + doc["segments"][-1]["duration_ms"] == doc["total_ms"]


def test_full_is_the_default(runner: CliRunner, fake_env: Environment) -> None:
    plain = runner.invoke(app, ["show", "lower-back", "--json"], obj=fake_env)
    full = runner.invoke(app, ["show", "lower-back", "--full", "--json"], obj=fake_env)
    assert json.loads(plain.stdout)["variant"] == "full"
    assert plain.stdout == full.stdout


def test_show_minutes(runner: CliRunner, fake_env: Environment) -> None:
    result = runner.invoke(app, ["show", "lower-back", "--minutes", "20", "--json"], obj=fake_env)
    assert result.exit_code == 0, result.output
    assert abs(json.loads(result.stdout)["total_ms"] - 20 * 60_000) <= 1000


def test_impossible_minutes_is_a_usage_error(runner: CliRunner, fake_env: Environment) -> None:
    result = runner.invoke(app, ["show", "lower-back", "--short", "-m", "1"], obj=fake_env)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith(
        'error: "Lower-back self-massage" (short) cannot fit in 1 minutes'
    )
    assert re.search(r"cannot fit in 1 minutes: .* --minutes \d", result.stderr)
    assert len(result.stderr.splitlines()) == 1


def test_unknown_routine(runner: CliRunner, fake_env: Environment) -> None:
    result = runner.invoke(app, ["show", "nope"], obj=fake_env)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == (
        'error: unknown routine "nope": not a routine name (lower-back, neck-shoulders, '
        "wind-down) and no such file; see `voiceguide list`\n"
    )


def test_routine_file_path_works(tmp_path: Path, runner: CliRunner, fake_env: Environment) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'title = "Mine"\n[variants]\nshort = ["a"]\nfull = ["a"]\n'
        '[[steps]]\nid = "a"\ntitle = "A"\ntext = "Rest."\nduration = "20s"\n'
    )
    result = runner.invoke(app, ["show", str(path)], obj=fake_env)
    assert result.exit_code == 0, result.output
    assert "Mine (full)" in result.stdout


def test_an_interrupt_exits_130(
    runner: CliRunner, fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("voiceguide.pipeline.build_session", interrupted)
    result = runner.invoke(app, ["show", "lower-back"], obj=fake_env)
    assert result.exit_code == ExitCode.INTERRUPTED == 130
    assert result.stderr == "interrupted\n"


def test_a_bug_is_one_line_unless_debug(
    runner: CliRunner, fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr("voiceguide.pipeline.build_session", broken)
    quiet = runner.invoke(app, ["show", "lower-back"], obj=fake_env)
    assert quiet.exit_code == ExitCode.ERROR
    assert quiet.stderr.startswith("error: internal error: ZeroDivisionError: oops")
    assert "Traceback" not in quiet.stderr
    loud = runner.invoke(app, ["--debug", "show", "lower-back"], obj=fake_env)
    assert loud.exit_code == ExitCode.ERROR
    assert "Traceback" in loud.stderr


def test_debug_shows_the_traceback_of_a_user_error(
    runner: CliRunner, fake_env: Environment
) -> None:
    result = runner.invoke(app, ["--debug", "show", "nope"], obj=fake_env)
    assert result.exit_code == ExitCode.USAGE
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().endswith("see `voiceguide list`")


def test_export_defaults_to_an_mp3_named_after_the_routine(
    tmp_path: Path, runner: CliRunner, fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["export", "lower-back", "--short", "-m", "4.5"], obj=fake_env)
    assert result.exit_code == 0, result.output
    assert result.stdout == "wrote lower-back-short.mp3 (4:30)\n"
    assert (tmp_path / "lower-back-short.mp3").stat().st_size > 50_000


def test_python_dash_m_and_help_are_quick_and_light() -> None:
    code = (
        "import sys, runpy; sys.argv = ['voiceguide', '--help'];\n"
        "try:\n    runpy.run_module('voiceguide', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "heavy = [m for m in ('numpy', 'pydub', 'pyttsx3') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: voiceguide" in result.stdout
    for command in ("list", "show", "export"):
        assert command in result.stdout


def test_every_exit_code_is_documented_in_the_readme() -> None:
    readme = (Path(cli.__file__).parents[2] / "README.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} |" in readme, code


@pytest.mark.parametrize("command", ["show", "play", "export", "import", "config", "check"])
def test_help_texts_show_their_defaults_without_a_stray_space(
    runner: CliRunner, command: str
) -> None:
    # Rich reads "[default: 150]" in a help text as markup and drops it, leaving "minute ."
    result = runner.invoke(app, [command, "--help"], env={"TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    assert not re.search(r"\S \.(\s|$)", result.stdout), result.stdout
    if command in ("show", "play", "export"):
        assert "per minute [default: 150]." in result.stdout
        assert "(espeak-ng) [default: piper if installed]." in result.stdout
