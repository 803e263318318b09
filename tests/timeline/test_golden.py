"""Golden timelines: routine files in, `voiceguide show` output out (fake speech).

Set VOICEGUIDE_UPDATE_GOLDEN=1 to rewrite the expected files after a deliberate change.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from voiceguide.cli import app
from voiceguide.env import Environment

GOLDEN = DATA / "golden"
CASES = [*sorted(p.stem for p in GOLDEN.glob("*.toml")), "lower-back"]
UPDATE = os.environ.get("VOICEGUIDE_UPDATE_GOLDEN") == "1"


def _invocations(case: str) -> list[list[str]]:
    target = f"{case}.toml" if (GOLDEN / f"{case}.toml").exists() else case
    runs = [["show", target, "--short"], ["show", target, "--full"]]
    source = GOLDEN / f"{case}.toml"
    if source.exists():
        for line in source.read_text().splitlines():
            if line.startswith("# golden-args:"):
                runs.append(["show", target, *shlex.split(line.split(":", 1)[1])])
    return runs


def _check(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual)
    assert path.exists(), f"{path.name} is missing; run with VOICEGUIDE_UPDATE_GOLDEN=1"
    assert actual == path.read_text()


@pytest.mark.parametrize("case", CASES)
def test_show_matches_golden(
    case: str, runner: CliRunner, fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(GOLDEN)
    parts = []
    for args in _invocations(case):
        result = runner.invoke(app, args, obj=fake_env)
        assert result.exit_code == 0, result.output
        parts.append(f"$ voiceguide {shlex.join(args)}\n{result.stdout}")
        if result.stderr:
            parts.append(f"[stderr]\n{result.stderr}")
    _check(GOLDEN / f"{case}.txt", "".join(parts))


@pytest.mark.parametrize("case", CASES)
def test_show_json_matches_golden(
    case: str, runner: CliRunner, fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(GOLDEN)
    target = f"{case}.toml" if (GOLDEN / f"{case}.toml").exists() else case
    result = runner.invoke(app, ["show", target, "--json"], obj=fake_env)
    assert result.exit_code == 0, result.output
    _check(GOLDEN / f"{case}.full.json", result.stdout)
