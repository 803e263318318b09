from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from tests.helpers import fake_measure
from voiceguide.errors import ExitCode, HungUp, Terminated
from voiceguide.routine.format import parse_routine
from voiceguide.routine.model import Variant
from voiceguide.timeline.compile import compile_timeline

ROOT = Path(__file__).parents[2]


def test_the_complete_example_in_the_format_doc_is_valid() -> None:
    doc = (ROOT / "docs" / "routine-format.md").read_text()
    example = doc.split("## Complete example", 1)[1]
    (toml,) = re.findall(r"```toml\n(.*?)```", example, flags=re.S)
    routine = parse_routine(toml, source="example.toml", name="example")
    for variant in Variant:
        timeline = compile_timeline(routine, variant, fake_measure, chime_ms=1500)
        assert not timeline.warnings


def test_make_assets_reproduces_the_committed_chime(tmp_path: Path) -> None:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_assets.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("chime.wav", "pause.wav", "resume.wav"):
        assert (tmp_path / name).read_bytes() == (ROOT / "assets" / name).read_bytes(), name


def _troubleshooting() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]


def _said_by_voiceguide(folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Run voiceguide into every trouble README describes; return each stderr line's exit code.

    Relative paths are given from `folder`, and the config file lives in a home
    folder shown as ~, so the lines read as README quotes them.
    """
    from mutagen import MutagenError
    from typer.testing import CliRunner

    from tests.absent import (
        WITHOUT_ESPEAK_LIBRARY,
        voiceguide_cli,
        without_ffmpeg,
        without_piper,
    )
    from tests.helpers import FakeEngine, FakeOutput
    from tests.sound import alsa_env
    from voiceguide.cli import app
    from voiceguide.env import Environment

    said: dict[str, int] = {}

    def heard(code: int, stderr: str) -> None:
        for line in stderr.splitlines():
            said[line.replace(str(folder / "home"), "~")] = code

    tiny = ROOT / "tests" / "data" / "routines" / "tiny.toml"
    # Real processes, for what is missing from the machine.
    alsa = alsa_env(folder, "pcm.!default { type hw card 9 }\n")
    python, no_piper = without_piper(folder)
    for args, options in [
        (["play", str(tiny), "--engine", "system"], {"env": alsa}),
        (["show", str(tiny), "--engine", "system"], {"python": ["-c", WITHOUT_ESPEAK_LIBRARY]}),
        (["show", str(tiny), "--engine", "piper"], {"python": python, "env": no_piper}),
        (["export", str(tiny), "--engine", "system"], {"env": without_ffmpeg(folder)}),
    ]:
        result = voiceguide_cli(args, cwd=folder, **options)  # type: ignore[arg-type]
        heard(result.returncode, result.stderr)

    # In this process, with the fake voice, for the rest.
    monkeypatch.chdir(folder)
    runner = CliRunner()
    home = folder / "home"
    env = Environment(
        make_engine=lambda engine, voice, rate: FakeEngine(voice, rate),
        cache_dir=folder / "cache",
        config_path=home / ".config" / "voiceguide" / "config.toml",
        open_output=lambda backend, device: FakeOutput(),
        workers=1,
    )

    def run(*args: str) -> None:
        result = runner.invoke(app, list(args), obj=env)
        heard(result.exit_code, result.stderr)

    routine = Path("mine.toml")
    lines = tiny.read_text().splitlines(keepends=True)

    def with_music(music: str) -> str:
        return "".join([*lines[:3], f'music = "{music}"\n', *lines[3:]])  # on line 4

    routine.write_text(with_music("surf"))
    with monkeypatch.context() as patch:
        patch.setenv("PATH", str(folder / "bin"))
        run("play", str(routine))
    Path("notes.txt").write_text("mine")
    run("export", str(tiny), "-o", "out/session.mp3")
    run("export", str(tiny), "-o", "notes.txt/session.mp3")
    Path("out").mkdir()
    for number in (errno.EACCES, errno.EROFS):

        def refused(*args: object, number: int = number, **kwargs: object) -> Path:
            raise OSError(number, os.strerror(number))

        with monkeypatch.context() as patch:
            patch.setattr("voiceguide.sinks.writing.temp_beside", refused)
            run("export", str(tiny), "-o", "out/session.mp3")

    def full(*args: object, **kwargs: object) -> None:
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as err:
            raise MutagenError(err) from None

    with monkeypatch.context() as patch:
        patch.setattr("voiceguide.sinks.export.write_tags", full)
        run("export", str(tiny), "-o", "out/session.mp3")
    routine.write_text((ROOT / "tests" / "data" / "broken" / "bad-duration.toml").read_text())
    run("show", str(routine))
    routine.write_text(with_music("rain.ogg"))
    run("show", str(routine))
    run("show", "lower-bak")
    assert env.config_path is not None
    env.config_path.parent.mkdir(parents=True)
    env.config_path.write_text('rate = "fast"\n')
    run("show", str(tiny))
    env.config_path.unlink()

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("voiceguide.pipeline.build_session", interrupted)
        run("show", str(tiny))

    def terminated(*args: object, **kwargs: object) -> None:
        raise Terminated

    with monkeypatch.context() as patch:
        patch.setattr("voiceguide.pipeline.build_session", terminated)
        run("show", str(tiny))

    def hung_up(*args: object, **kwargs: object) -> None:
        raise HungUp

    with monkeypatch.context() as patch:
        patch.setattr("voiceguide.pipeline.build_session", hung_up)
        run("show", str(tiny))
    return said


def test_every_message_in_troubleshooting_is_what_voiceguide_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = _troubleshooting()
    quoted = [
        line
        for block in re.findall(r"^```\n(.*?)^```", section, flags=re.S | re.M)
        for line in block.splitlines()
    ]
    assert len(quoted) >= 14
    said = _said_by_voiceguide(tmp_path, monkeypatch)
    for line in quoted:
        assert line in said, f"README quotes a line voiceguide does not say:\n{line}"
        code = said[line]
        where = section.rfind("exit code", 0, section.index(line))
        if line.startswith("error: "):
            assert section[where:].startswith(f"exit code {code}"), (line, code)
    codes = {int(n) for n in re.findall(r"exit code (\d+)", section)}
    assert codes <= {int(c) for c in ExitCode}
    assert codes == {int(c) for c in ExitCode} - {0}
