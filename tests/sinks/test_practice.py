"""The practice log's store and recorder, on real SQLite files."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import FakeOutput, TerminatedOutput
from voiceguide.audio.format import ms_to_frames
from voiceguide.env import Environment
from voiceguide.pipeline import Session, SessionOptions, build_session
from voiceguide.routine.library import load_builtin
from voiceguide.routine.model import Variant
from voiceguide.sinks.player import Interrupted, Player
from voiceguide.sinks.practice import LEGACY, SCHEMA_VERSION, Play, PracticeLog
from voiceguide.sinks.recorder import SessionRecorder

MINUTE = 60_000


def play(ident: str = "p1", listened_ms: int = 2 * MINUTE, **kw: object) -> Play:
    values: dict[str, object] = {
        "routine": "lower-back",
        "variant": "short",
        "started": "2026-12-01T21:00:00+01:00",
        "listened_ms": listened_ms,
        "finished": False,
    }
    values.update(kw)
    return Play(ident, **values)  # type: ignore[arg-type]


def warnings_of(log: PracticeLog) -> list[str]:
    seen: list[str] = []
    log.warn = seen.append
    return seen


def test_a_play_is_added_then_updated_by_its_id(tmp_path: Path) -> None:
    log = PracticeLog(tmp_path)
    said = warnings_of(log)
    log.record(play(listened_ms=70_000, step=2, step_count=5))
    log.record(play(listened_ms=95_000, step=3, step_count=5))
    log.record(play(listened_ms=80_000, step=2, step_count=5))  # a late report: the most heard wins
    (only,) = log.plays()
    assert (only.listened_ms, only.step, only.finished, only.ended) == (95_000, 3, False, None)
    assert only.started == "2026-12-01T20:00:00+00:00"  # kept in UTC: sorts as text
    log.record(play(listened_ms=300_000, finished=True, ended="finished"))
    log.record(play(listened_ms=310_000, finished=False, step=4))  # finished stays finished
    (only,) = log.plays()
    assert only.finished and only.ended == "finished" and only.listened_ms == 310_000
    assert said == []
    with sqlite3.connect(log.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert con.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_a_session_stopped_in_its_first_minute_is_not_recorded(tmp_path: Path) -> None:
    log = PracticeLog(tmp_path)
    log.record(play("short-stop", listened_ms=59_000, ended="stopped", step=1))
    log.record(play("short-finished", listened_ms=27_000, finished=True, ended="finished"))
    log.record(play("long", listened_ms=60_000))
    assert sorted(p.play for p in log.plays()) == ["long", "short-finished"]


def test_plays_are_newest_first_and_nothing_is_made_to_say_so(tmp_path: Path) -> None:
    log = PracticeLog(tmp_path / "state")
    assert log.plays() == []
    assert not (tmp_path / "state").exists()
    for n, day in enumerate((3, 1, 2)):
        log.record(play(f"p{n}", started=f"2026-12-0{day}T08:00:00+00:00"))
    assert [p.started[:10] for p in log.plays()] == ["2026-12-03", "2026-12-02", "2026-12-01"]
    assert len(log.plays(limit=2)) == 2


def test_the_json_log_is_imported_once_and_renamed_aside(tmp_path: Path) -> None:
    old = [
        {
            "play": "web-0001",
            "routine": "tiny",
            "variant": "full",
            "started": "2026-11-02T22:00:00.000Z",
            "listened_ms": 125_000,
            "finished": True,
        },
        {
            "play": "web-0002",
            "routine": "tiny",
            "variant": "short",
            "started": "2026-11-03T22:00:00+00:00",
            "listened_ms": 5_000,  # under a minute, not finished: not kept
            "finished": False,
        },
    ]
    (tmp_path / LEGACY).write_text(json.dumps({"plays": old}))
    log = PracticeLog(tmp_path)
    (imported,) = log.plays()
    assert imported.play == "web-0001" and imported.finished and imported.player == "serve"
    assert imported.started == "2026-11-02T22:00:00+00:00"
    assert not (tmp_path / LEGACY).exists()
    (aside,) = tmp_path.glob(f"{LEGACY}.imported-*")
    assert json.loads(aside.read_text())["plays"] == old  # never deleted
    # Once: a practice.json appearing later is not read again.
    (tmp_path / LEGACY).write_text(json.dumps({"plays": old}))
    assert [p.play for p in PracticeLog(tmp_path).plays()] == ["web-0001"]


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    damaged = tmp_path / "practice.db"
    damaged.write_bytes(b"this is not a database\n" * 200)
    log = PracticeLog(tmp_path)
    said = warnings_of(log)
    log.record(play())
    assert len(said) == 1, said
    (aside,) = tmp_path.glob("practice.db.damaged-*")
    assert said[0].startswith(f"the practice log {damaged} was damaged (file is not a database)")
    assert said[0].endswith(f"moved it to {aside.name} and started a new one")
    assert aside.read_bytes() == b"this is not a database\n" * 200
    assert [p.play for p in log.plays()] == ["p1"]  # a new log
    assert len(said) == 1


def test_a_database_with_damaged_pages_is_moved_aside(tmp_path: Path) -> None:
    log = PracticeLog(tmp_path)
    for n in range(300):
        log.record(play(f"p{n}", title="x" * 200))
    with sqlite3.connect(log.path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(log.path.read_bytes())
    assert len(data) > 8 * 4096
    data[3 * 4096 : 6 * 4096] = b"\xa5" * (3 * 4096)  # garble pages in the middle
    log.path.write_bytes(bytes(data))
    again = PracticeLog(tmp_path)
    said = warnings_of(again)
    assert again.plays() == []
    assert len(said) == 1 and "was damaged" in said[0]
    (aside,) = (
        p for p in tmp_path.glob("practice.db.damaged-*") if p.name[-4:] not in ("-wal", "-shm")
    )
    assert aside.read_bytes() == bytes(data)


def test_a_newer_schema_is_left_alone(tmp_path: Path) -> None:
    log = PracticeLog(tmp_path)
    log.record(play())
    with sqlite3.connect(log.path) as con:
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    newer = PracticeLog(tmp_path)
    said = warnings_of(newer)
    newer.record(play("p2"))
    assert [p.play for p in newer.plays()] == ["p1"]
    assert len(said) == 1 and "newer voiceguide" in said[0]


def test_threads_record_at_once(tmp_path: Path) -> None:
    """As serve's threads do: each report its own short write; none lost."""
    log = PracticeLog(tmp_path)
    said = warnings_of(log)

    def report(n: int) -> None:
        for listened in range(MINUTE, 3 * MINUTE, 10_000):
            log.record(play(f"t{n}", listened_ms=listened))

    threads = [threading.Thread(target=report, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(p.play for p in log.plays()) == [f"t{n}" for n in range(8)]
    assert {p.listened_ms for p in log.plays()} == {3 * MINUTE - 10_000}
    assert said == []


def test_a_write_that_fails_never_raises_and_warns_once(tmp_path: Path) -> None:
    """A file size limit makes every write fail as a full disk does (EFBIG instead of ENOSPC)."""
    PracticeLog(tmp_path).record(play("before"))
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from voiceguide.sinks.practice import Play, PracticeLog
        log = PracticeLog(Path({str(tmp_path)!r}), warn=lambda line: print("warn:", line))
        log.open()
        size = log.path.stat().st_size
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        for n in range(200):
            log.record(Play(f"p{{n}}", "r", "full", "2026-12-01T08:00:00+00:00",
                            90_000, False, title="x" * 3000))
        print("played on")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "played on"
    warns = [line for line in lines if line.startswith("warn:")]
    assert len(warns) == 1, done.stdout
    assert "cannot write the practice log" in warns[0]
    assert "before" in {p.play for p in PracticeLog(tmp_path).plays()}  # still readable


# The recorder: a real player with a fake output; a session of the fake voice.


class CountingLog(PracticeLog):
    """A real log that also keeps the time heard of each report."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.saved: list[int] = []

    def record(self, play: Play) -> None:
        self.saved.append(play.listened_ms)
        super().record(play)


@pytest.fixture
def session(fake_env: Environment) -> Session:
    speech = fake_env.speech(fake_env.settings())
    return build_session(load_builtin("lower-back"), speech, SessionOptions(Variant.SHORT))


def recorder_of(log: PracticeLog) -> SessionRecorder:
    template = Play("", "lower-back", "short", "", 0, False, step_count=5, player="play")
    return SessionRecorder(log, template, save_every_ms=5_000)


def ticks() -> Callable[[], float]:
    """A clock that moves a second at every look, so every block reports its status."""
    return iter(range(10**9)).__next__


def test_a_finished_session_is_recorded_with_the_time_heard(
    tmp_path: Path, session: Session
) -> None:
    log = CountingLog(tmp_path)
    recorder = recorder_of(log)
    player = Player(
        session.timeline,
        session.blocks,
        recorder.output(FakeOutput()),
        on_status=recorder.on_status(),
        clock=ticks(),
    )
    assert player.play().finished
    recorder.finished()
    (row,) = log.plays()
    total = session.timeline.total_ms
    assert total > 4 * MINUTE
    assert row.finished and row.ended == "finished" and row.step is None
    assert abs(row.listened_ms - total) <= 50
    # Saved as it went: first once a minute was heard, then every 5 s of listening.
    *progress, last = log.saved
    assert MINUTE <= progress[0] < MINUTE + 100
    assert all(5_000 <= b - a < 5_100 for a, b in itertools.pairwise(progress))
    assert len(progress) >= (total - MINUTE) // 5_100
    assert last == row.listened_ms


def test_a_stopped_session_says_where(tmp_path: Path, session: Session) -> None:
    timeline = session.timeline
    third = timeline.steps[2]
    stop_at = ms_to_frames(third.start_ms + 5_000)

    log = PracticeLog(tmp_path)
    recorder = recorder_of(log)
    player = Player(
        timeline,
        session.blocks,
        recorder.output(TerminatedOutput(stop_at)),
        on_status=recorder.on_status(),
        clock=ticks(),
    )
    with pytest.raises(Interrupted):
        player.play()
    (row,) = log.plays()  # saved as it played
    assert (row.ended, row.step) == (None, 3)
    recorder.stopped(3, interrupted=True)
    (row,) = log.plays()
    assert (row.finished, row.ended, row.step, row.step_count) == (False, "interrupted", 3, 5)
    # Heard up to the stop, less what the device still held (about 46 ms).
    assert third.start_ms + 5_000 - 100 <= row.listened_ms <= third.start_ms + 5_000


def test_a_session_stopped_early_leaves_no_row(tmp_path: Path, session: Session) -> None:
    log = PracticeLog(tmp_path)
    recorder = recorder_of(log)
    output = recorder.output(FakeOutput())
    blocks = session.blocks(0)
    while recorder.heard_ms() < 2_000:  # over two seconds heard, well under a minute
        output.write(next(blocks))
        output.finish()
    recorder.stopped(1)
    assert recorder.heard_ms() == 2_250  # 250 ms, then a 2-second block
    assert log.plays() == []


RACER = """
import sys, time
from pathlib import Path
from voiceguide.sinks.practice import Play, PracticeLog
folder, name, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
while time.time() < start:
    pass
log = PracticeLog(folder, warn=lambda line: print("warn:", line))
log.record(Play(name, "r", "full", "2026-12-01T08:00:00+00:00", 90_000, False))
"""


@pytest.mark.parametrize("before", ["no log", "a damaged log"])
def test_processes_opening_the_log_at_once_all_record(tmp_path: Path, before: str) -> None:
    """They make (or replace) the log at the same moment: one migrates, one moves aside."""
    if before == "a damaged log":
        (tmp_path / "practice.db").write_bytes(b"garbage" * 1000)
    start = f"{time.time() + 1.5:.3f}"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path), f"r{n}", start],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    said = [racer.communicate(timeout=60)[0] for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    assert sorted(p.play for p in PracticeLog(tmp_path).plays()) == ["r0", "r1", "r2", "r3"]
    aside = [
        p for p in tmp_path.glob("practice.db.damaged-*") if p.name[-4:] not in ("-wal", "-shm")
    ]
    warned = [line for out in said for line in out.splitlines()]
    if before == "a damaged log":
        assert len(aside) == 1 and len(warned) == 1, warned  # one moved it; the rest used the new
    else:
        assert aside == [] and warned == []
    with sqlite3.connect(tmp_path / "practice.db") as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
