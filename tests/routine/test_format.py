from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.errors import ExitCode, RoutineError, UsageError
from voiceguide.routine.format import parse_routine
from voiceguide.routine.library import RoutineLibrary, builtin_names, load_builtin
from voiceguide.routine.model import CueAnchor, Variant

BROKEN = sorted((DATA / "broken").glob("*.toml"))


def expectations(path: Path) -> list[tuple[int, str]]:
    """Read the '# expect LINE: text' lines at the top of a broken routine."""
    head = path.read_bytes().split(b"\n")
    found = []
    for raw in head:
        match = re.match(rb"# expect (\d+): (.*)", raw)
        if match:
            found.append((int(match.group(1)), match.group(2).decode()))
    return found


def test_there_are_at_least_ten_broken_files() -> None:
    assert len(BROKEN) >= 10


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_routine_reports_every_fault_with_its_line(
    path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    result = runner.invoke(app, ["show", str(path)], obj=fake_env)
    assert result.exit_code == ExitCode.ROUTINE == 3
    assert result.stdout == ""
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    expected = expectations(path)
    assert expected, f"{path.name} has no '# expect' lines"
    assert len(lines) == len(expected), result.stderr
    for line_no, text in expected:
        prefix = f"error: {path}:{line_no}: "
        assert any(line.startswith(prefix) and text in line for line in lines), (
            f"no error at line {line_no} containing {text!r} in:\n{result.stderr}"
        )


def test_builtin_routines_load() -> None:
    assert "lower-back" in builtin_names()
    for name in builtin_names():
        routine = load_builtin(name)
        assert routine.steps_of(Variant.SHORT)
        assert routine.steps_of(Variant.FULL)


def test_lower_back_has_eight_full_steps_and_speaks_safety() -> None:
    routine = load_builtin("lower-back")
    assert len(routine.steps_of(Variant.FULL)) == 8
    assert 3 <= len(routine.steps_of(Variant.SHORT)) < 8
    assert routine.category == "massage"
    safety = routine.safety.lower()
    for phrase in ("spine", "injur", "health professional", "gentle", "stop"):
        assert phrase in safety


def test_durations_per_variant_and_cues() -> None:
    text = """
title = "T"
[variants]
short = ["a"]
full = ["a"]
[[steps]]
id = "a"
title = "A"
text = "Go."
duration = { short = "30s", full = "1m30s" }
[[steps.cues]]
at = "half"
say = "Switch sides."
[[steps.cues]]
at = "-10s"
say = "Ten more seconds."
[[steps.cues]]
at = "20s"
say = "Twenty."
"""
    routine = parse_routine(text, source="t.toml", name="t")
    (step,) = routine.steps
    assert (step.short_ms, step.full_ms) == (30_000, 90_000)
    assert [(c.anchor, c.offset_ms) for c in step.cues] == [
        (CueAnchor.HALF, 0),
        (CueAnchor.END, 10_000),
        (CueAnchor.START, 20_000),
    ]
    assert [c.offset_in(60_000) for c in step.cues] == [30_000, 50_000, 20_000]


def test_find_routine_unknown_name_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown routine"):
        RoutineLibrary(tmp_path).find("no-such-routine")


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such routine file"):
        RoutineLibrary(tmp_path).find(str(tmp_path / "missing.toml"))


def test_routine_error_sorts_problems_by_line() -> None:
    with pytest.raises(RoutineError) as caught:
        parse_routine("title = 1\n[variants]\nshort = 3\n", source="x.toml", name="x")
    lines = [p.line or 0 for p in caught.value.problems]
    assert lines == sorted(lines)
    assert len(lines) >= 3


def test_a_duration_is_one_line() -> None:
    """Spaces and tabs may stand around a duration's parts; a line break may not."""
    from voiceguide.spoken import parse_pause
    from voiceguide.units import parse_duration

    assert [parse_duration(t) for t in (" 45 s ", "\t2m\t", "1m 30s")] == [45_000, 120_000, 90_000]
    for text in ("45s\n", "\n45s", "4\n5s", "1m\n30s"):
        with pytest.raises(ValueError, match="is not a duration"):
            parse_duration(text)
    assert parse_pause("3s\n") == 3000  # a [pause] marker may break across lines
    with pytest.raises(RoutineError) as caught:
        parse_routine(
            'title = "T"\n[variants]\nshort = ["a"]\nfull = ["a"]\n'
            '[[steps]]\nid = "a"\ntitle = "A"\ntext = "Go."\nduration = "45s\\n"\n',
            source="t.toml",
            name="t",
        )
    assert [p.line for p in caught.value.problems] == [9]


_SLEEPY = (
    'title = "T"\n{sleep}\n[variants]\nshort = ["a"]\nfull = ["a"]\n'
    '[[steps]]\nid = "a"\ntitle = "A"\ntext = "Rest."\nduration = "45s"\n'
)


@pytest.mark.parametrize(
    ("line", "sleep_ms"),
    [
        ("", None),
        ("sleep = false", None),
        ("sleep = true", 600_000),
        ("sleep = 15", 900_000),
        ("sleep = 2.5", 150_000),
        ("sleep = 180", 10_800_000),
    ],
)
def test_sleep_is_true_false_or_minutes_and_round_trips(line: str, sleep_ms: int | None) -> None:
    from voiceguide.routine.writing import to_toml

    routine = parse_routine(_SLEEPY.format(sleep=line), source="t.toml", name="t")
    assert routine.sleep_ms == sleep_ms
    written = to_toml(routine)
    assert parse_routine(written, source="w.toml", name="t").sleep_ms == sleep_ms
    if line == "sleep = true":
        assert "\nsleep = true\n" in written  # the default is written as the key says it


@pytest.mark.parametrize("value", ["0", "-1", "181", "nan", '"10m"', "[10]"])
def test_a_wrong_sleep_is_an_error_on_its_line(value: str) -> None:
    with pytest.raises(RoutineError) as caught:
        parse_routine(_SLEEPY.format(sleep=f"sleep = {value}"), source="t.toml", name="t")
    (problem,) = caught.value.problems
    assert problem.line == 2
    assert problem.message.startswith(
        "sleep must be true, false or the minutes of music after the last words "
        "(more than 0, at most 180), not "
    )
