"""--sleep [MINUTES] and --no-sleep on show, export and play."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from voiceguide.cli import app
from voiceguide.cli.options import with_sleep_value
from voiceguide.env import Environment
from voiceguide.errors import ExitCode

NIGHT = str(DATA / "sleep" / "night.toml")
BEDTIME = str(DATA / "golden" / "sleep.toml")  # sleep = 12, music = "drone"


def _sleep_ms(runner: CliRunner, env: Environment, *args: str) -> int | None:
    """Return the length of the music after the last words that `show --json` gives."""
    result = runner.invoke(app, ["show", *args, "--json"], obj=env)
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout)["segments"][-1]
    return last["duration_ms"] if last["kind"] == "sleep" else None


@pytest.mark.parametrize(
    ("args", "expected_ms"),
    [
        ([NIGHT, "--music", "surf"], None),
        ([NIGHT, "--music", "surf", "--sleep"], 600_000),  # bare: the default 10 minutes
        ([NIGHT, "--sleep", "--music", "surf"], 600_000),
        (["--sleep", NIGHT, "--music", "surf"], 600_000),  # a routine is not its value
        ([NIGHT, "--music", "surf", "--sleep", "20"], 1_200_000),
        ([NIGHT, "--music", "surf", "--sleep=2.5"], 150_000),
        ([NIGHT, "--sleep", "0.5", "--music", "surf"], 30_000),
        ([BEDTIME], 720_000),  # the routine's sleep = 12
        ([BEDTIME, "--sleep", "3"], 180_000),  # the command line wins
        ([BEDTIME, "--no-sleep"], None),
    ],
)
def test_sleep_minutes_come_from_the_option_then_the_routine(
    args: list[str], expected_ms: int | None, runner: CliRunner, fake_env: Environment
) -> None:
    assert _sleep_ms(runner, fake_env, *args) == expected_ms


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sleep", "0"], "error: --sleep 0 is out of range; give the minutes of music after"),
        (["--sleep", "181"], "error: --sleep 181 is out of range;"),
        (["--sleep", "-5"], "error: --sleep -5 is out of range;"),
        (["--sleep", "--no-sleep"], "error: --sleep and --no-sleep contradict each other"),
    ],
)
@pytest.mark.parametrize("command", ["show", "export", "play"])
def test_a_wrong_sleep_is_one_line_and_exit_code_2(
    command: str, args: list[str], message: str, runner: CliRunner, fake_env: Environment
) -> None:
    result = runner.invoke(app, [command, NIGHT, *args], obj=fake_env)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_without_music_there_is_no_music_after_but_still_no_chime(
    runner: CliRunner, fake_env: Environment
) -> None:
    result = runner.invoke(app, ["show", BEDTIME, "--music", "none", "--json"], obj=fake_env)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: a sleep ending lets the music bed play on")
    segments = json.loads(result.stdout)["segments"]
    closing = [s for s in segments if s["step"] == segments[-1]["step"]]
    assert [s["kind"] for s in closing if s["kind"] != "silence"] == ["speech", "speech"]
    assert all(s["gain_db"] < 0 for s in closing if s["kind"] == "speech")


def test_show_export_chapters_and_transcript_agree(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    args = [NIGHT, "--music", "drone", "--sleep", "0.5"]
    shown = runner.invoke(app, ["show", *args], obj=fake_env)
    assert shown.exit_code == 0, shown.output
    rows = shown.stdout.splitlines()
    assert rows[-2].split()[0] == "Sleep" and rows[-2].split()[-1] == "0:30"
    target = tmp_path / "night.mp3"
    exported = runner.invoke(
        app, ["export", *args, "-o", str(target), "--chapters", "--transcript"], obj=fake_env
    )
    assert exported.exit_code == 0, exported.output
    total = rows[-1].split()[-1]
    assert exported.stdout.startswith(f"wrote {target} ({total})")
    timeline = json.loads(runner.invoke(app, ["show", *args, "--json"], obj=fake_env).stdout)
    tail = timeline["segments"][-1]
    chapters = target.with_suffix(".chapters.txt").read_text().splitlines()
    assert chapters[-1].endswith(" Sleep") and chapters[-2].endswith(" Closing")
    minutes, seconds = chapters[-1].split()[0].split(":")
    assert int(minutes) * 60 + int(seconds) == tail["start_ms"] // 1000
    transcript = target.with_suffix(".vtt").read_text()
    assert "That is all for tonight." in transcript  # no cue falls in the music after
    assert transcript.rstrip().endswith("Let your breath slow down, and rest.")


def test_help_shows_the_optional_minutes(runner: CliRunner) -> None:
    for command in ("play", "export", "show"):
        result = runner.invoke(app, [command, "--help"], env={"TERMINAL_WIDTH": "200"})
        assert "--sleep" in result.stdout and "[MINUTES]" in result.stdout
        assert "--no-sleep" in result.stdout
        assert "[default: 10]." in result.stdout


def test_a_bare_sleep_is_given_its_default_and_nothing_after_double_dash_is_touched() -> None:
    assert with_sleep_value(["x", "--sleep"]) == ["x", "--sleep=10"]
    assert with_sleep_value(["--sleep", "x"]) == ["--sleep=10", "x"]
    assert with_sleep_value(["x", "--sleep", "7"]) == ["x", "--sleep", "7"]
    assert with_sleep_value(["--sleep", "--", "--sleep"]) == ["--sleep=10", "--", "--sleep"]
