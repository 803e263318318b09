"""Exports a podcast app understands: chapters, tags, transcript, every format."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from tests.helpers import ffprobe_duration_ms
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.errors import ExitCode
from voiceguide.sinks.formats import FORMATS

TINY = DATA / "routines" / "tiny.toml"
SAFETY = "Breathe gently, and stop if you feel dizzy."


def shown(runner: CliRunner, env: Environment, *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["show", *args, "--json"], obj=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def probe_chapters(path: Path) -> list[tuple[int, str]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    chapters = json.loads(out)["chapters"]
    found = []
    for chapter in chapters:
        base = chapter["time_base"].split("/")
        start_ms = round(int(chapter["start"]) * int(base[0]) / int(base[1]) * 1000)
        found.append((start_ms, chapter["tags"]["title"]))
    return sorted(found)


def read_tags(path: Path) -> dict[str, str]:
    import mutagen

    audio = mutagen.File(str(path))
    assert audio is not None and audio.tags is not None
    suffix = path.suffix
    if suffix in (".mp3", ".wav"):
        tags = audio.tags
        return {
            "title": str(tags["TIT2"]),
            "artist": str(tags["TPE1"]),
            "album": str(tags["TALB"]),
            "genre": str(tags["TCON"]),
            "year": str(tags["TDRC"]),
            "comment": str(tags.getall("COMM")[0]),
        }
    if suffix in (".m4a", ".m4b"):
        tags = audio.tags
        return {
            "title": tags["\xa9nam"][0],
            "artist": tags["\xa9ART"][0],
            "album": tags["\xa9alb"][0],
            "genre": tags["\xa9gen"][0],
            "year": tags["\xa9day"][0],
            "comment": tags["\xa9cmt"][0],
        }
    tags = audio.tags
    return {
        key: tags[key.upper() if key != "year" else "DATE"][0]
        for key in ("title", "artist", "album", "genre", "year", "comment")
    }


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_every_format_has_a_chapter_per_step_and_tags(
    suffix: str, tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    target = tmp_path / f"tiny{suffix}"
    result = runner.invoke(app, ["export", str(TINY), "-o", str(target)], obj=fake_env)
    assert result.exit_code == 0, result.output
    timeline = shown(runner, fake_env, str(TINY))
    steps = timeline["steps"]
    assert isinstance(steps, list)
    expected = [(0, "Introduction")] + [(s["start_ms"], s["title"]) for s in steps]
    expected.append((steps[-1]["start_ms"] + steps[-1]["duration_ms"], "Closing"))
    chapters = probe_chapters(target)
    assert [title for _, title in chapters] == [title for _, title in expected]
    tolerance = 1 if suffix in (".mp3", ".wav") else 25
    for (start, _), (planned, title) in zip(chapters, expected, strict=True):
        assert abs(start - planned) <= tolerance, (title, start, planned)
    assert abs(ffprobe_duration_ms(target) - timeline["total_ms"]) < 120  # type: ignore[operator]
    assert read_tags(target) == {
        "title": "Tiny (full)",
        "artist": "voiceguide",
        "album": "voiceguide",
        "genre": "Speech",
        "year": str(datetime.date.today().year),
        "comment": SAFETY,
    }
    # Nothing else beside it: no temp files left behind.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == [target.name]


def test_mp3_chapters_have_a_table_of_contents(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    from mutagen.id3 import ID3

    target = tmp_path / "s.mp3"
    assert runner.invoke(app, ["export", str(TINY), "-o", str(target)], obj=fake_env).exit_code == 0
    id3 = ID3(str(target))
    (toc,) = id3.getall("CTOC")
    chaps = {c.element_id: c for c in id3.getall("CHAP")}
    assert list(toc.child_element_ids) == sorted(chaps)
    starts = [chaps[i].start_time for i in toc.child_element_ids]
    assert starts == sorted(starts)


def test_transcript_and_chapter_list(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    target = tmp_path / "back.mp3"
    result = runner.invoke(
        app,
        [
            "export",
            "lower-back",
            "--short",
            "--music",
            "none",
            "-o",
            str(target),
            "--transcript",
            "--chapters",
        ],
        obj=fake_env,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("with back.vtt and back.chapters.txt")
    timeline = shown(runner, fake_env, "lower-back", "--short")
    spoken = [s for s in timeline["segments"] if s["kind"] in ("speech", "cue")]  # type: ignore[union-attr]

    vtt = (tmp_path / "back.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n")
    blocks = [b for b in vtt.split("\n\n")[1:] if b.strip()]
    assert len(blocks) == len(spoken)
    stamp = r"(\d\d):(\d\d):(\d\d)\.(\d{3})"
    previous = -1
    for block, segment in zip(blocks, spoken, strict=True):
        timing, text = block.split("\n", 1)
        match = re.fullmatch(f"{stamp} --> {stamp}", timing)
        assert match, timing
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
        start = ((h1 * 60 + m1) * 60 + s1) * 1000 + ms1
        end = ((h2 * 60 + m2) * 60 + s2) * 1000 + ms2
        assert previous <= start < end
        previous = start
        assert (start, end - start) == (segment["start_ms"], segment["duration_ms"])
        assert text.rstrip("\n") == segment["text"]

    lines = (tmp_path / "back.chapters.txt").read_text().splitlines()
    steps = timeline["steps"]
    assert lines[0] == "0:00 Introduction"
    for line, step in zip(lines[1:], steps, strict=False):  # type: ignore[call-overload]
        minutes, seconds = divmod(step["start_ms"] // 1000, 60)
        assert line == f"{minutes}:{seconds:02d} {step['title']}"
    assert lines[-1].endswith(" Closing")
    assert len(lines) == len(steps) + 2  # type: ignore[arg-type]


def test_all_variants_of_several_routines_in_one_call(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    folder = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "export",
            str(TINY),
            "lower-back",
            "--all-variants",
            "--music",
            "none",
            "--format",
            "opus",
            "-o",
            f"{folder}/",
        ],
        obj=fake_env,
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "lower-back-full.opus",
        "lower-back-short.opus",
        "tiny-full.opus",
        "tiny-short.opus",
    ]
    for name in names:
        routine, variant = name.removesuffix(".opus").rsplit("-", 1)
        spec = str(TINY) if routine == "tiny" else routine
        total = shown(runner, fake_env, spec, f"--{variant}")["total_ms"]
        assert abs(ffprobe_duration_ms(folder / name) - total) < 120  # type: ignore[operator]
    assert len(result.stdout.splitlines()) == 4


def test_bitrate_option(tmp_path: Path, runner: CliRunner, fake_env: Environment) -> None:
    sizes = []
    for bitrate in ("64k", "192k"):
        target = tmp_path / f"{bitrate}.mp3"
        result = runner.invoke(
            app, ["export", str(TINY), "--bitrate", bitrate, "-o", str(target)], obj=fake_env
        )
        assert result.exit_code == 0, result.output
        sizes.append(target.stat().st_size)
    assert 2.5 < sizes[1] / sizes[0] < 3.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "x.mp3", "--format", "flac"], '"x.mp3" does not end in .flac'),
        (["--format", "aiff"], 'unknown format "aiff"'),
        (["--all-variants", "-o", "one.mp3"], "give a folder (ending in /)"),
        (["-o", "x.aiff"], 'cannot export to "x.aiff"'),
    ],
)
def test_export_usage_errors(
    args: list[str],
    message: str,
    tmp_path: Path,
    runner: CliRunner,
    fake_env: Environment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["export", str(TINY), *args], obj=fake_env)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".mp3", ".wav"])
def test_id3_chapters_are_stored_in_time_order(
    suffix: str, tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    """A player that ignores the table of contents lists chapters in the order stored."""
    target = tmp_path / f"lower-back{suffix}"
    args = ["export", "lower-back", "--short", "-o", str(target)]
    assert runner.invoke(app, args, obj=fake_env).exit_code == 0
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(target)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    stored = [(float(c["start_time"]), c["tags"]["title"]) for c in json.loads(out)["chapters"]]
    assert len(stored) == 7  # the introduction, the short version's 5 steps, the closing
    assert stored == sorted(stored), stored
    assert stored[0][1] == "Introduction" and stored[-1][1] == "Closing"
