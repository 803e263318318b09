"""The practice log through real `play` processes, and SIGHUP (the terminal closed) during play.

The sound goes to ALSA's `null` device, which takes frames as fast as they
come: a session of minutes plays in a second or two, so the one-minute rule
is passed at once. `--minutes 1440` makes a session that plays long enough
to be stopped, killed or hung up on.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.absent import voiceguide_cli
from tests.conftest import DATA
from tests.sinks.test_playback import _read_until as read_until
from tests.sinks.test_playback import _spawn_in_pty as spawn_in_pty
from tests.sound import alsa_env
from tests.system.test_interrupt import run_env
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.errors import ExitCode
from voiceguide.sinks.practice import Play, PracticeLog

TINY = DATA / "routines" / "tiny.toml"
PLAY = [sys.executable, "-m", "voiceguide", "play", str(TINY), "--engine", "system"]
LONG = "1440"  # minutes: a day-long session, stopped long before its end


def null_env(folder: Path) -> dict[str, str]:
    """A real run's environment: ALSA's null device, its folders in `folder`."""
    env = run_env(folder)
    env["ALSA_CONFIG_PATH"] = alsa_env(folder, "pcm.!default { type null }\n")["ALSA_CONFIG_PATH"]
    env["COLUMNS"] = "120"
    return env


def state(folder: Path) -> Path:
    return folder / "state" / "voiceguide"


def play(
    env: dict[str, str], *args: str, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return voiceguide_cli([*PLAY[3:], *args], env=env, preexec_fn=preexec_fn)


def wait_for_row(log: PracticeLog, process: subprocess.Popen[bytes], at_least_ms: int) -> Play:
    """Wait until the playing process has recorded at_least_ms of listening."""
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "the session ended before it could be stopped"
        assert time.monotonic() < deadline, "no row in the practice log"
        plays = log.plays()
        if plays and plays[0].listened_ms >= at_least_ms:
            return plays[0]
        time.sleep(0.05)


def history(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return voiceguide_cli(["history", *args], env=env)


def test_a_finished_session_is_recorded(tmp_path: Path) -> None:
    env = null_env(tmp_path)
    done = play(env, "--minutes", "2")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    (row,) = PracticeLog(state(tmp_path)).plays()
    assert row.finished and row.ended == "finished" and row.player == "play"
    assert (row.routine, row.variant, row.title) == (str(TINY.resolve()), "full", "Tiny")
    assert (row.step_count, row.engine, row.version) == (2, "system", "0.1.0")
    assert len(row.content) == 16
    assert abs(row.listened_ms - 120_000) <= 100  # heard, not wall time (it took a second)
    shown = history(env)
    assert shown.returncode == 0, shown.stderr
    assert "Tiny" in shown.stdout and "2.0  finished" in shown.stdout


def test_a_session_under_a_minute_is_recorded_only_if_finished(tmp_path: Path) -> None:
    env = null_env(tmp_path)
    assert play(env).returncode == 0  # 27 s, to the end
    (row,) = PracticeLog(state(tmp_path)).plays()
    assert row.finished and 26_000 < row.listened_ms < 29_000


def test_a_session_quit_with_q_is_recorded_where_it_stopped(tmp_path: Path) -> None:
    env = null_env(tmp_path)
    process, master, slave = spawn_in_pty([*PLAY[3:], "--minutes", LONG], env)
    seen = bytearray()
    try:
        wait_for_row(PracticeLog(state(tmp_path)), process, 90_000)
        os.write(master, b"q")
        assert process.wait(timeout=20) == 0
        read_until(master, b"--resume` continues", seen)
    finally:
        process.kill()
        os.close(master)
        os.close(slave)
    (row,) = PracticeLog(state(tmp_path)).plays()
    assert (row.finished, row.ended, row.step, row.step_count) == (False, "stopped", 1, 2)
    assert b"stopped at step 1 of 2" in seen
    assert "stopped at step 1 of 2" in history(env).stdout


def test_after_sigkill_the_log_is_readable_and_has_the_session(tmp_path: Path) -> None:
    env = null_env(tmp_path)
    with (tmp_path / "log").open("wb") as out:
        process = subprocess.Popen(
            [*PLAY, "--minutes", LONG], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    log = PracticeLog(state(tmp_path))
    try:
        before = wait_for_row(log, process, 3 * 60_000)
        process.kill()
        assert process.wait(timeout=20) == -signal.SIGKILL
    finally:
        process.kill()
    # Killed with its writes still in the write-ahead log, which the next reader recovers.
    assert (state(tmp_path) / "practice.db-wal").stat().st_size > 0
    with sqlite3.connect(state(tmp_path) / "practice.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    (row,) = PracticeLog(state(tmp_path)).plays()
    assert row.play == before.play and row.ended is None and not row.finished
    assert row.listened_ms >= before.listened_ms >= 3 * 60_000
    shown = history(env, "--json")
    assert shown.returncode == 0, shown.stderr
    (session,) = json.loads(shown.stdout)["sessions"]
    assert session["ended"] is None and session["listened_ms"] == row.listened_ms


def test_two_sessions_at_once_both_record(tmp_path: Path) -> None:
    env = null_env(tmp_path)
    logs = [tmp_path / f"log{n}" for n in range(2)]
    processes = []
    for log in logs:
        with log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    [*PLAY, "--minutes", "20"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                )
            )
    for process, log in zip(processes, logs, strict=True):
        assert process.wait(timeout=120) == 0, log.read_text()
        assert log.read_text().startswith("finished Tiny"), log.read_text()
    plays = PracticeLog(state(tmp_path)).plays()
    assert len(plays) == 2 and len({p.play for p in plays}) == 2
    assert all(p.finished and abs(p.listened_ms - 20 * 60_000) <= 100 for p in plays)


def test_a_damaged_log_is_moved_aside_with_one_line(tmp_path: Path) -> None:
    env = null_env(tmp_path)
    folder = state(tmp_path)
    folder.mkdir(parents=True)
    (folder / "practice.db").write_bytes(b"\x00garbage\xff" * 1000)
    done = play(env, "--minutes", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    (aside,) = folder.glob("practice.db.damaged-*")
    assert lines[0] == (
        f"warning: the practice log {folder / 'practice.db'} was damaged "
        f"(file is not a database); moved it to {aside.name} and started a new one"
    )
    assert aside.read_bytes() == b"\x00garbage\xff" * 1000
    (row,) = PracticeLog(folder).plays()
    assert row.finished


@pytest.mark.parametrize("how", ["kill -HUP", "terminal closed"])
def test_sighup_saves_the_resume_point_and_restores_the_terminal(tmp_path: Path, how: str) -> None:
    env = null_env(tmp_path)
    folder = state(tmp_path)
    process, master, slave = spawn_in_pty([*PLAY[3:], "--minutes", LONG], env)
    before = termios.tcgetattr(slave)
    seen = bytearray()
    try:
        read_until(master, b"step 1/2", seen)  # playing, the terminal in cbreak mode
        assert termios.tcgetattr(slave) != before
        wait_for_row(PracticeLog(folder), process, 90_000)
        if how == "kill -HUP":
            process.send_signal(signal.SIGHUP)
            code = process.wait(timeout=20)
            read_until(master, b"hung up", seen)
            after = termios.tcgetattr(slave)
        else:
            os.close(master)  # the kernel sends SIGHUP to the terminal's session
            master = -1
            code = process.wait(timeout=20)
            after = before  # the terminal is gone: nothing left to restore or to look at
    finally:
        process.kill()
        if master >= 0:
            os.close(master)
        os.close(slave)
    assert code == 129, bytes(seen)
    assert after == before, "the terminal was not restored"
    resume = json.loads((folder / "resume.json").read_text())
    assert resume == {f"{TINY.resolve()}|full": 1}
    (row,) = PracticeLog(folder).plays()
    assert (row.ended, row.step) == ("interrupted", 1)


def test_a_log_that_cannot_be_written_never_stops_the_session(tmp_path: Path) -> None:
    """Under a 4 KB file size limit the log cannot be written (EFBIG, as ENOSPC on a full disk)."""
    import resource

    env = null_env(tmp_path)
    assert play(env, "--minutes", "2").returncode == 0  # the clips cached, the log made
    limit = 4096  # the log's write-ahead files need more

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = play(env, "--minutes", "3", preexec_fn=limited)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("finished Tiny (full, 3:00)")
    # One line from voiceguide (a C library may add its own about the limit).
    (line,) = [line for line in done.stderr.splitlines() if line.startswith(("warning", "error"))]
    assert line.startswith(f"warning: cannot open the practice log {state(tmp_path)}")
    (row,) = PracticeLog(state(tmp_path)).plays()  # the first session only, and readable
    assert abs(row.listened_ms - 120_000) <= 100


def test_a_sighup_ignored_under_nohup_stays_ignored(
    runner: CliRunner, fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        during: list[object] = []

        def look(*args: object, **kwargs: object) -> None:
            during.append(signal.getsignal(signal.SIGHUP))
            os.kill(os.getpid(), signal.SIGHUP)  # ignored: the command goes on
            raise KeyboardInterrupt

        monkeypatch.setattr("voiceguide.pipeline.build_session", look)
        result = runner.invoke(app, ["show", "lower-back"], obj=fake_env)
        assert during == [signal.SIG_IGN]
        assert result.exit_code == ExitCode.INTERRUPTED
    finally:
        signal.signal(signal.SIGHUP, previous)
