"""Temp files beside a target: named for their owner, locked, and swept once their owner is dead."""

from __future__ import annotations

import fcntl
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from voiceguide import files
from voiceguide.files import atomic_write, publish, sweep_temps, temp_beside


def dead_pid() -> int:
    """Return the pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_temp_is_named_for_its_owner_and_removed_unless_published(tmp_path: Path) -> None:
    target = tmp_path / "session.mp3"
    with temp_beside(target) as tmp:
        assert re.fullmatch(rf"\.session\.mp3\.{os.getpid()}\.[0-9a-f]{{8}}\.part", tmp.name)
        assert tmp.parent == tmp_path and tmp.read_bytes() == b""
        assert stat.S_IMODE(tmp.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == []

    with temp_beside(target, ".tmp") as tmp:
        tmp.write_bytes(b"done")
        publish(tmp, target)
    assert list(tmp_path.iterdir()) == [target]
    assert target.read_bytes() == b"done"

    with pytest.raises(KeyboardInterrupt), temp_beside(target) as tmp:
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == [target]


def test_temps_left_by_dead_processes_go_when_the_same_target_is_written(tmp_path: Path) -> None:
    pid = dead_pid()
    stale = [tmp_path / f".a.mp3.{pid}.0123abcd{suffix}" for suffix in (".part", ".ffmeta")]
    stale.append(tmp_path / f".a.mp3.vtt.{pid}.0123abcd.tmp")  # another target: a.mp3.vtt
    kept = [
        tmp_path / f".b.mp3.{pid}.0123abcd.part",  # another target's
        tmp_path / f".a.mp3.{pid}.0123abcd.bak",  # not a temp suffix
        tmp_path / f"a.mp3.{pid}.0123abcd.part",  # not hidden
        tmp_path / f".a.mp3.{pid}.0123abcd.part.part",
        tmp_path / ".a.mp3.x1y2z3w4.part",  # the old names, without a pid
    ]
    for path in [*stale, *kept]:
        path.write_bytes(b"partial")
    with temp_beside(tmp_path / "a.mp3") as tmp:
        left = set(tmp_path.iterdir())
    assert left == {tmp, *kept, stale[2]}
    atomic_write(tmp_path / "a.mp3.vtt", b"WEBVTT\n")
    assert set(tmp_path.iterdir()) == {*kept, tmp_path / "a.mp3.vtt"}


def test_a_temp_whose_owner_lives_is_never_swept(tmp_path: Path) -> None:
    target = tmp_path / "a.mp3"
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from voiceguide.files import temp_beside\n"
            "with temp_beside(Path(sys.argv[1])) as tmp:\n"
            "    print(tmp, flush=True); sys.stdin.read()\n",
            str(target),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None and owner.stdin is not None
    held = Path(owner.stdout.readline().strip())
    # Alive and unlocked (as just before its owner locks it): the pid says it is in use.
    unlocked = tmp_path / f".a.mp3.{owner.pid}.0123abcd.part"
    unlocked.touch()
    # A dead pid but locked: its owner is alive in another pid namespace (a shared folder).
    foreign = tmp_path / f".a.mp3.{dead_pid()}.0123abcd.part"
    foreign.touch()
    lock = os.open(foreign, os.O_RDONLY)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        assert sweep_temps(target) == []
        with temp_beside(target):
            assert {held, unlocked, foreign} < set(tmp_path.iterdir())
    finally:
        os.close(lock)
    owner.kill()  # killed outright: it cannot remove its temp
    owner.wait()
    owner.stdin.close()
    owner.stdout.close()
    assert held.exists()
    assert sorted(sweep_temps(target)) == sorted([held, unlocked, foreign])
    assert list(tmp_path.iterdir()) == []


def test_publishing_without_replacing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "entry"
    for rename_in_one_step in (True, False):
        if not rename_in_one_step:  # a system without renameat2: a hard link, then unlink
            monkeypatch.setattr(files, "_renameat2", lambda: None)
        target.unlink(missing_ok=True)
        with temp_beside(target, ".tmp") as tmp:
            tmp.write_bytes(b"first")
            publish(tmp, target, replace=False)
            assert not tmp.exists()
        with temp_beside(target, ".tmp") as tmp:
            tmp.write_bytes(b"second")
            with pytest.raises(FileExistsError):
                publish(tmp, target, replace=False)
        assert target.read_bytes() == b"first"
        assert list(tmp_path.iterdir()) == [target]


def test_temp_folders_of_killed_processes_are_swept(tmp_path: Path) -> None:
    """A process killed outright leaves its temp folder; the next run's first one removes it."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    code = (
        "import sys, time; from voiceguide.files import temp_dir\n"
        "with temp_dir() as folder:\n"
        "    (folder / 'clip.wav').write_bytes(b'x')\n"
        "    print(folder, flush=True)\n"
        "    time.sleep(60)\n"
    )

    def start() -> tuple[subprocess.Popen[str], Path]:
        process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        return process, Path(process.stdout.readline().strip())

    def stop(process: subprocess.Popen[str]) -> None:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()

    killed, left = start()
    stop(killed)
    assert left.is_dir()  # SIGKILL: nothing could clean up
    alive, kept = start()  # its first temp folder sweeps the dead process's
    try:
        assert not left.exists()
        assert kept.is_dir()
        mine = subprocess.run(
            [
                sys.executable,
                "-c",
                "from voiceguide.files import temp_dir\nwith temp_dir() as f: print(f)",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert kept.is_dir()  # its process lives: left alone
        assert mine and not Path(mine).exists()  # removed when its block ended
    finally:
        stop(alive)
    other = tmp_path / "voiceguide-not-ours"
    other.mkdir()
    files.sweep_temp_dirs(tmp_path)
    assert other.is_dir()  # only voiceguide-PID-RANDOM folders are touched


def test_a_repair_waits_for_another_and_keeps_the_entry_it_made(tmp_path: Path) -> None:
    """Two processes repairing one damaged entry: the second keeps the first's, never its own."""
    import threading

    folder = files.CacheFolder(tmp_path)
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "entry").write_bytes(b"damaged")

    def sound(data: bytes) -> bool:
        return data.startswith(b"sound")

    results: list[bytes | None] = []
    # Another process is repairing: it holds the folder's lock (flock, on its own descriptor).
    other = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(other, fcntl.LOCK_EX)
    repair = threading.Thread(
        target=lambda: results.append(folder.put("ab/entry", b"sound: mine", sound))
    )
    repair.start()
    repair.join(0.3)
    assert repair.is_alive()  # it waits for the other repair
    atomic_write(tmp_path / "ab" / "entry", b"sound: theirs")  # the other's repair lands
    os.close(other)
    repair.join(5)
    assert results == [b"sound: theirs"]  # it goes on with that version
    assert (tmp_path / "ab" / "entry").read_bytes() == b"sound: theirs"
    assert folder.problem is None
