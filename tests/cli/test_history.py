"""voiceguide history: the table, minutes per week, the streak, JSON and CSV."""

from __future__ import annotations

import csv
import datetime
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voiceguide.cli import app
from voiceguide.cli.history import EMPTY, ending, minutes_per_week, streak_days
from voiceguide.env import Environment
from voiceguide.errors import ExitCode
from voiceguide.sinks.practice import Play

DAY = datetime.timedelta(days=1)


def at(day: datetime.date, hour: int = 21) -> str:
    """An ISO time on a day, in local time (as the table shows it)."""
    return datetime.datetime(day.year, day.month, day.day, hour).astimezone().isoformat()


def a_play(n: int, day: datetime.date, minutes: float, **kw: object) -> Play:
    values: dict[str, object] = {"title": "Lower-back self-massage", "step_count": 5}
    values.update(kw)
    return Play(
        f"play-{n:04d}",
        "lower-back",
        "short",
        at(day),
        round(minutes * 60_000),
        bool(values.get("ended") == "finished"),
        **values,  # type: ignore[arg-type]
    )


@pytest.fixture
def env(tmp_path: Path) -> Environment:
    return Environment(state_dir=tmp_path / "state")


def fill(env: Environment, plays: list[Play]) -> None:
    log = env.practice_log()
    for play in plays:
        log.record(play)
    log.close()


TODAY = datetime.date.today()


def some_plays() -> list[Play]:
    return [
        a_play(1, TODAY - 15 * DAY, 15.8, ended="finished"),
        a_play(2, TODAY - 2 * DAY, 2.5, ended="stopped", step=3, title="Evening wind-down"),
        a_play(3, TODAY - DAY, 5.2, ended="finished"),
        a_play(4, TODAY, 4.0, ended="interrupted", step=2),
    ]


def test_an_empty_log_says_so_in_one_line(runner: CliRunner, env: Environment) -> None:
    result = runner.invoke(app, ["history"], obj=env)
    assert result.exit_code == 0, result.output
    assert result.stdout == EMPTY + "\n"
    assert not (env.state_folder() / "practice.db").exists()  # nothing made to say so


def test_the_table_shows_the_last_sessions_and_minutes_per_week(
    runner: CliRunner, env: Environment
) -> None:
    fill(env, some_plays())
    result = runner.invoke(app, ["history"], obj=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["date", "routine", "version", "min", "how", "it", "ended"]
    rows = lines[1:5]
    assert [row[:10] for row in rows] == [
        f"{TODAY - n * DAY:%Y-%m-%d}" for n in (15, 2, 1, 0)
    ]  # oldest first: the newest is next to the prompt
    assert rows[0].endswith(" 15.8  finished")
    assert "Evening wind-down" in rows[1] and rows[1].endswith("2.5  stopped at step 3 of 5")
    assert rows[3].endswith("4.0  stopped at step 2 of 5")
    assert lines[5:7] == ["", "week of      minutes"]
    weeks = lines[7:]
    assert len(weeks) == 8
    monday = TODAY - datetime.timedelta(days=TODAY.weekday())
    assert weeks[-1].startswith(f"{monday:%Y-%m-%d}")
    assert sum(float(w.split()[1]) for w in weeks) == pytest.approx(15.8 + 2.5 + 5.2 + 4.0)
    assert "run" not in result.stdout  # no streak unless asked for

    limited = runner.invoke(app, ["history", "--limit", "2", "--weeks", "3"], obj=env)
    lines = limited.stdout.splitlines()
    assert [row[:10] for row in lines[1:3]] == [f"{TODAY - n * DAY:%Y-%m-%d}" for n in (1, 0)]
    assert len(lines) == 1 + 2 + 2 + 3


def test_streak_is_shown_only_when_asked(runner: CliRunner, env: Environment) -> None:
    fill(env, some_plays())
    result = runner.invoke(app, ["history", "--streak"], obj=env)
    assert result.stdout.splitlines()[-1] == "current run: 3 days in a row"


def test_json_has_the_documented_fields(runner: CliRunner, env: Environment) -> None:
    fill(env, some_plays())
    result = runner.invoke(app, ["history", "--json", "--streak"], obj=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"sessions", "weeks", "streak_days"}
    assert doc["streak_days"] == 3
    newest = doc["sessions"][0]
    assert set(newest) == {
        "id",
        "started",
        "routine",
        "title",
        "content_hash",
        "variant",
        "listened_ms",
        "minutes",
        "finished",
        "ended",
        "step",
        "step_count",
        "player",
        "voiceguide",
        "engine",
        "voice",
    }
    assert (newest["id"], newest["ended"], newest["step"], newest["minutes"]) == (
        "play-0004",
        "interrupted",
        2,
        4.0,
    )
    assert newest["started"].endswith("+00:00")
    assert [s["id"] for s in doc["sessions"]] == [f"play-{n:04d}" for n in (4, 3, 2, 1)]
    monday = TODAY - datetime.timedelta(days=TODAY.weekday())
    this_week = [p for p in some_plays() if p.started_at.astimezone().date() >= monday]
    assert doc["weeks"][-1]["week"] == f"{monday:%Y-%m-%d}"
    minutes = sum(p.listened_ms for p in this_week) / 60_000
    assert doc["weeks"][-1]["minutes"] == pytest.approx(minutes, abs=0.06)
    assert "streak_days" not in json.loads(
        runner.invoke(app, ["history", "--json"], obj=env).stdout
    )


def test_csv_to_stdout_and_to_a_file(runner: CliRunner, env: Environment, tmp_path: Path) -> None:
    fill(env, some_plays())
    result = runner.invoke(app, ["history", "--csv"], obj=env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 4
    assert rows[0]["id"] == "play-0004" and rows[0]["finished"] == "false"
    assert rows[1]["finished"] == "true" and rows[1]["step"] == ""
    target = tmp_path / "log.csv"
    target.write_text("an earlier export\n")
    written = runner.invoke(app, ["history", "--csv", "--limit", "1", "-o", str(target)], obj=env)
    assert written.exit_code == 0, written.output
    assert written.stdout == f"wrote {target} (1 session)\n"
    assert [r["id"] for r in csv.DictReader(io.StringIO(target.read_text()))] == ["play-0004"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    missing = runner.invoke(
        app, ["history", "--csv", "-o", str(tmp_path / "no" / "x.csv")], obj=env
    )
    assert missing.exit_code == ExitCode.OUTPUT
    assert missing.stderr.startswith(f"error: {tmp_path / 'no'}: no such folder")


def test_an_empty_csv_has_its_header(runner: CliRunner, env: Environment) -> None:
    result = runner.invoke(app, ["history", "--csv"], obj=env)
    assert result.stdout.startswith("id,started,routine,title,content_hash,variant,")
    assert result.stdout.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--json", "--csv"], "--json and --csv cannot be given together"),
        (["-o", "x.csv"], "-o writes --json or --csv"),
    ],
)
def test_options_that_do_not_go_together(
    runner: CliRunner, env: Environment, args: list[str], says: str
) -> None:
    result = runner.invoke(app, ["history", *args], obj=env)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith(f"error: {says}")


def test_a_damaged_log_is_one_warning_and_the_history_starts_anew(
    runner: CliRunner, env: Environment
) -> None:
    folder = env.state_folder()
    folder.mkdir(parents=True)
    (folder / "practice.db").write_text("not a database")
    result = runner.invoke(app, ["history"], obj=env)
    assert result.exit_code == 0
    (line,) = result.stderr.splitlines()
    assert (
        line.startswith("warning: the practice log") and "moved it to practice.db.damaged-" in line
    )
    assert result.stdout == EMPTY + "\n"


def test_minutes_per_week_start_on_monday() -> None:
    monday = datetime.date(2026, 11, 30)
    plays = [
        a_play(1, monday - DAY, 10),  # Sunday: the week before
        a_play(2, monday, 5),
        a_play(3, monday + 6 * DAY, 1),  # Sunday: the same week
        a_play(4, monday - 30 * DAY, 99),  # before the weeks shown
    ]
    weeks = minutes_per_week(plays, monday + 3 * DAY, weeks=2)
    assert weeks == [(monday - 7 * DAY, 10.0), (monday, 6.0)]


def test_a_streak_is_alive_until_a_day_is_missed() -> None:
    today = datetime.date(2026, 12, 4)
    days = [today - n * DAY for n in (1, 2, 3, 5)]
    plays = [a_play(n, day, 5) for n, day in enumerate(days)]
    assert streak_days(plays, today) == 3  # yesterday and the two before: not broken yet
    assert streak_days([*plays, a_play(9, today, 5)], today) == 4
    assert streak_days(plays, today + DAY) == 0
    assert streak_days([], today) == 0


def test_how_a_session_ended_in_words() -> None:
    base = a_play(1, TODAY, 5)
    assert ending(replace(base, finished=True, ended="finished")) == "finished"
    assert ending(replace(base, ended="stopped", step=3)) == "stopped at step 3 of 5"
    assert ending(replace(base, ended="stopped", step=None)) == "stopped in the closing"
    assert ending(replace(base, ended=None, step=2, step_count=None)) == "stopped at step 2"
