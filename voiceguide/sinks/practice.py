"""The practice log: every session played, in an SQLite database in the state folder.

One store for every player (`play`, `serve`'s page). Each write is one short
statement on its own connection in WAL mode, so several processes and threads
record at once, and a process killed mid-session leaves a readable log. The
schema is versioned (`PRAGMA user_version`) and migrated a step at a time; the
JSON log of earlier versions is imported once and renamed aside. A damaged
file is moved aside (never deleted) and a new log started. Recording is best
effort: a full disk or a read-only folder costs one warning, never a session.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

from voiceguide import __version__

FILE = "practice.db"
LEGACY = "practice.json"  # the log before version 1 of the database (serve only)
MIN_RECORDED_MS = 60_000  # a session stopped in its first minute is not recorded
BUSY_TIMEOUT_S = 5.0  # another writer holds the log for milliseconds; wait that long at most
ENDINGS = ("finished", "stopped", "interrupted")  # None: not known (playing, or killed)
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Play:
    """One session played: what, when it started, how much was heard, how it ended."""

    play: str  # an id the player chose, so a play's later reports update it
    routine: str  # a built-in's name, a routine file's path, or serve's id for it
    variant: str  # short or full
    started: str  # ISO 8601; stored in UTC
    listened_ms: int  # time heard: pauses and skipped parts do not count
    finished: bool
    step: int | None = None  # the step it was in when it stopped (or last heard)
    step_count: int | None = None
    ended: str | None = None  # one of ENDINGS, or None: not known
    title: str = ""
    content: str = ""  # the routine's content hash (routine.writing.content_hash)
    player: str = ""  # "play" or "serve"
    version: str = __version__  # voiceguide's
    engine: str = ""
    voice: str = ""

    @property
    def started_at(self) -> datetime.datetime:
        """When it started, as an aware datetime (a time without offset is local time)."""
        moment = datetime.datetime.fromisoformat(self.started)
        return moment if moment.tzinfo is not None else moment.astimezone()


COLUMNS = tuple(f.name for f in fields(Play))

_V1 = """
CREATE TABLE plays (
    play TEXT PRIMARY KEY,
    routine TEXT NOT NULL,
    variant TEXT NOT NULL,
    started TEXT NOT NULL,
    listened_ms INTEGER NOT NULL,
    finished INTEGER NOT NULL,
    step INTEGER,
    step_count INTEGER,
    ended TEXT,
    title TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL DEFAULT '',
    player TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    engine TEXT NOT NULL DEFAULT '',
    voice TEXT NOT NULL DEFAULT ''
);
CREATE INDEX plays_by_start ON plays (started);
"""

# A report adds a play, or updates the one with its id. Reports may arrive out
# of order (serve's page), so the most heard wins, and finished stays finished.
_MERGE = """
    step = CASE WHEN :listened_ms >= listened_ms THEN :step ELSE step END,
    ended = CASE WHEN finished OR :finished THEN 'finished' ELSE coalesce(:ended, ended) END,
    listened_ms = max(listened_ms, :listened_ms),
    finished = finished OR :finished
"""
_UPSERT = f"""
INSERT INTO plays ({", ".join(COLUMNS)}) VALUES ({", ".join(f":{c}" for c in COLUMNS)})
ON CONFLICT (play) DO UPDATE SET {_MERGE}
"""
_UPDATE = f"UPDATE plays SET {_MERGE} WHERE play = :play"


def _kept(play: Play, min_ms: int) -> bool:
    """Return True when a play counts: finished, or heard for min_ms."""
    return play.finished or play.listened_ms >= min_ms


def _row(play: Play) -> dict[str, object]:
    """Return a play's values by column, its start in UTC (so that the log sorts by text)."""
    started = play.started_at.astimezone(datetime.UTC).isoformat(timespec="seconds")
    return {name: getattr(play, name) for name in COLUMNS} | {"started": started}


def _legacy_plays(path: Path) -> list[Play]:
    """Return the plays of a JSON log of earlier versions (an unreadable one has none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        plays = [Play(**item, player="serve") for item in data["plays"]]
        for play in plays:
            play.started_at  # noqa: B018 - a time that cannot be read: the file is not ours
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [replace(play, ended="finished" if play.finished else None) for play in plays]


def _to_v1(con: sqlite3.Connection, folder: Path, min_ms: int) -> None:
    """Create the plays table, with the plays of the JSON log, if there is one."""
    for statement in _V1.split(";"):
        if statement.strip():
            con.execute(statement)
    kept = [p for p in _legacy_plays(folder / LEGACY) if _kept(p, min_ms)]
    con.executemany(_UPSERT, [_row(p) for p in kept])


# One function per schema version: MIGRATIONS[n] takes a log from version n to n + 1.
MIGRATIONS: tuple[Callable[[sqlite3.Connection, Path, int], None], ...] = (_to_v1,)


class DamagedLogError(Exception):
    """The log file is not a database, or fails its check."""


def _is_damage(err: sqlite3.DatabaseError) -> bool:
    code = getattr(err, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold a lock on the folder, so that one process at a time moves a damaged log aside."""
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield  # no locks here: a race between two damaged opens is all that is lost
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return str(err)


class PracticeLog:
    """The plays, kept in STATE/practice.db. Writes never raise; problems go to `warn`."""

    def __init__(
        self,
        folder: Path,
        *,
        warn: Callable[[str], None] | None = None,
        min_ms: int = MIN_RECORDED_MS,
        now: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        """warn gets each problem as one line (a damaged log, a write that failed: once each)."""
        self.folder = folder
        self.path = folder / FILE
        self.min_ms = min_ms
        self.warn = warn
        self._now = now or (lambda: datetime.datetime.now(datetime.UTC))
        self._lock = threading.Lock()
        self._local = threading.local()  # each thread's connection (serve reports from many)
        self._open: list[sqlite3.Connection] = []
        self._ready = False
        self._newer = False
        self._warned: set[str] = set()

    def _say(self, kind: str, line: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            if self.warn is not None:
                self.warn(line)

    def _connect(self) -> sqlite3.Connection:
        # Each connection is used by one thread at a time; close() may close it from another.
        con = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        con.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
        return con

    @contextlib.contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        """Give this thread's connection, kept open between writes (no checkpoint on each).

        A connection that failed is closed, and the next call makes a new one.
        """
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._connect()
            with self._lock:
                self._open.append(con)
        try:
            yield con
        except BaseException:
            self._local.con = None
            with contextlib.suppress(sqlite3.Error):
                con.close()
            raise

    def close(self) -> None:
        """Close the connections kept for writing (the log can still be used: it reopens)."""
        with self._lock:
            kept, self._open = self._open, []
        self._local = threading.local()
        for con in kept:
            with contextlib.suppress(sqlite3.Error):
                con.close()

    def _check_and_migrate(self) -> None:
        """Check the log and bring it up to date; DamagedLogError if the file is damaged."""
        try:
            self._checked_and_migrated()
        except sqlite3.DatabaseError as err:
            if _is_damage(err):
                raise DamagedLogError(str(err)) from err
            raise

    def _checked_and_migrated(self) -> None:
        with contextlib.closing(self._connect()) as con:
            found = con.execute("PRAGMA quick_check").fetchall()
            if found != [("ok",)]:
                raise DamagedLogError("; ".join(str(row[0]) for row in found[:3]))
            version = con.execute("PRAGMA user_version").fetchone()[0]
            self._newer = version > SCHEMA_VERSION
            if version >= SCHEMA_VERSION:
                return  # up to date: reading needs no lock
            with contextlib.suppress(sqlite3.OperationalError):  # a file system without WAL
                con.execute("PRAGMA journal_mode = WAL")
            con.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it
            try:
                version = con.execute("PRAGMA user_version").fetchone()[0]
                for step in range(version, SCHEMA_VERSION):
                    MIGRATIONS[step](con, self.folder, self.min_ms)
                con.execute(f"PRAGMA user_version = {max(version, SCHEMA_VERSION)}")
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise
        legacy = self.folder / LEGACY
        if version == 0 and legacy.exists():  # imported: kept beside the log, never deleted
            with contextlib.suppress(OSError):
                legacy.replace(self._aside(legacy, "imported"))

    def _aside(self, path: Path, why: str) -> Path:
        stamp = self._now().astimezone().strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.name}.{why}-{stamp}")
        n = 2
        while aside.exists():
            aside, n = path.with_name(f"{path.name}.{why}-{stamp}-{n}"), n + 1
        return aside

    def _move_damaged_aside(self) -> Path:
        aside = self._aside(self.path, "damaged")
        self.path.replace(aside)
        for suffix in ("-wal", "-shm"):  # a new log must not read the old one's journal
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").replace(f"{aside}{suffix}")
        return aside

    def _prepare(self) -> bool:
        """Open the log once: check it, migrate it, or move a damaged one aside."""
        with self._lock:
            if self._ready:
                return True
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                try:
                    self._check_and_migrate()
                except DamagedLogError as err:
                    with _folder_lock(self.folder):
                        try:  # another process may have moved it aside meanwhile
                            self._check_and_migrate()
                            aside = None
                        except DamagedLogError:
                            aside = self._move_damaged_aside()
                            self._check_and_migrate()
                    if aside is not None:
                        self._say(
                            "damaged",
                            f"the practice log {self.path} was damaged ({_reason(err)}); "
                            f"moved it to {aside.name} and started a new one",
                        )
            except (sqlite3.Error, OSError) as err:
                self._say("open", f"cannot open the practice log {self.path} ({_reason(err)})")
                return False
            if self._newer:
                self._say(
                    "newer",
                    f"the practice log {self.path} is from a newer voiceguide; "
                    "sessions are not recorded",
                )
            self._ready = True
            return True

    def open(self) -> bool:
        """Open the log now (before a session plays); False if it cannot be written."""
        return self._prepare() and not self._newer

    def record(self, play: Play) -> None:
        """Add a play, or update the one with its id (a play reports as it goes). Best effort.

        A play is added once it has been heard for min_ms, or has finished;
        before that, a report only updates a play already recorded.
        """
        if not self.open():
            return
        try:
            with self._writer() as con:
                con.execute(_UPSERT if _kept(play, self.min_ms) else _UPDATE, _row(play))
        except (sqlite3.Error, OSError, ValueError) as err:
            self._say(
                "write",
                f"cannot write the practice log {self.path} ({_reason(err)}); "
                "sessions are not recorded until that is fixed",
            )

    def plays(self, limit: int | None = None) -> list[Play]:
        """Return the plays recorded, newest first (none if there is no log or it is unreadable)."""
        if not self.path.exists() and not (self.folder / LEGACY).exists():
            return []  # nothing recorded: no need to make a log to say so
        if not self._prepare():
            return []
        query = f"SELECT {', '.join(COLUMNS)} FROM plays ORDER BY started DESC, play"
        try:
            with contextlib.closing(self._connect()) as con:
                if limit is not None:
                    rows = con.execute(query + " LIMIT ?", (limit,)).fetchall()
                else:
                    rows = con.execute(query).fetchall()
        except (sqlite3.Error, OSError) as err:
            self._say("read", f"cannot read the practice log {self.path} ({_reason(err)})")
            return []
        plays = []
        for row in rows:
            values = dict(zip(COLUMNS, row, strict=True))
            values["finished"] = bool(values["finished"])
            plays.append(Play(**values))
        return plays
