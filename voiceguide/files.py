"""Writing files so that no one ever sees half of one: a temp file beside it, then a rename.

Also the cache folder built on it, where a failed write is a warning, not an error.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


def normal_mode() -> int:
    """Return the permissions a new file gets under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


TEMP_SUFFIXES = (".part", ".ffmeta", ".tmp")


def _temp_pattern(target: Path) -> re.Pattern[str]:
    """Match the names temp_beside gives target's temp files; group 1 is the owner's pid."""
    suffixes = "|".join(re.escape(s) for s in TEMP_SUFFIXES)
    return re.compile(rf"\.{re.escape(target.name)}\.(\d{{1,10}})\.[0-9a-f]{{8}}(?:{suffixes})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # someone else's process (EPERM), or no pid at all: leave it
    return True


def _lock(fd: int, *, wait: bool = False) -> bool | None:
    """Take fd's file lock: True, False if another holds it (unless wait), None if unknown."""
    try:
        import fcntl
    except ImportError:
        return None  # not a POSIX system
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:
        return None  # a file system without locks
    return True


def sweep_temps(target: Path) -> list[Path]:
    """Remove target's temp files left by processes that died (killed, say); return them.

    A temp file is left alone while its owner lives: its name holds the
    owner's pid, and the owner keeps it locked, so neither a process with
    that pid nor one holding the lock (a process in another pid namespace on
    a shared folder) loses its temp. Temps of other targets are not looked at.
    A temp whose owner died and whose pid was reused stays: a leak, never a loss.
    """
    pattern = _temp_pattern(target)
    removed: list[Path] = []
    try:
        paths = list(target.parent.iterdir())
    except OSError:
        return removed
    for path in paths:
        found = pattern.fullmatch(path.name)
        if found is None or _alive(int(found.group(1))):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue  # gone already, or not a file we can open
        try:
            if _lock(fd) is not False:
                path.unlink()
                removed.append(path)
        except OSError:
            pass  # another run swept it first, or the folder is read-only
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def temp_beside(target: Path, suffix: str = ".part") -> Iterator[Path]:
    """Create an empty hidden temp file in target's folder, for the block (raises OSError).

    It is named `.NAME.PID.RANDOM.SUFFIX`, locked while the block runs, and
    removed when the block ends unless it was published. Temps of the same
    target left by dead processes are removed first (see sweep_temps): a
    process killed outright (SIGKILL, a power cut) cannot clean up after itself.
    """
    if suffix not in TEMP_SUFFIXES:
        raise ValueError(f"temp suffix {suffix!r} is not one of {TEMP_SUFFIXES}")
    sweep_temps(target)
    fd = -1
    try:  # from before it exists: a Ctrl-C just after it is made still removes it
        while fd < 0:
            path = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        _lock(fd)
        yield path
    finally:
        if fd >= 0:
            # Removed before the lock is let go, so no sweep ever sees it unlocked.
            with contextlib.suppress(OSError):
                path.unlink()  # gone already once published
            os.close(fd)


# voiceguide's own folders in the system temp folder: voiceguide-PID-RANDOM.
_TEMP_DIR = re.compile(r"voiceguide-(\d{1,10})-[0-9a-f]{8}")


def sweep_temp_dirs(parent: Path) -> list[Path]:
    """Remove voiceguide's temp folders in parent whose process has died; return them."""
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for path in entries:
        found = _TEMP_DIR.fullmatch(path.name)
        if found is None or _alive(int(found.group(1))) or path.is_symlink():
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed


_swept: set[Path] = set()


@contextlib.contextmanager
def temp_dir() -> Iterator[Path]:
    """Create a private folder in the system temp folder, for the block.

    Its name holds this process's id, so a process killed outright (SIGKILL)
    leaves a folder that the next one recognises and removes: the first
    temp_dir of every process sweeps those (see sweep_temp_dirs).
    """
    parent = Path(tempfile.gettempdir())
    if parent not in _swept:
        _swept.add(parent)
        sweep_temp_dirs(parent)
    while True:
        path = parent / f"voiceguide-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        break
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """Return libc's renameat2 (Linux, glibc 2.28+), or None."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function: Callable[..., int] = libc.renameat2
    except (OSError, AttributeError, TypeError):  # TypeError: Windows wants a name
        return None
    return function


def _rename_noreplace(tmp: Path, target: Path) -> bool:
    """Rename tmp to target in one step unless target exists (FileExistsError).

    Return False where the system or file system cannot (then nothing happened).
    """
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    src, dst = os.fsencode(tmp), os.fsencode(target)
    if renameat2(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(tmp), None, str(target))


def publish(tmp: Path, target: Path, *, replace: bool = True) -> None:
    """Give a finished temp file normal permissions and move it into place.

    Unless replace, an existing target stays and FileExistsError is raised
    (where the file system can rename without replacing, or has hard links;
    elsewhere the target is replaced).
    """
    tmp.chmod(normal_mode())
    if not replace:
        if _rename_noreplace(tmp, target):
            return
        try:
            # Where renameat2 is missing. A process killed between these two
            # steps leaves the temp behind as a second name of the target.
            os.link(tmp, target)  # atomic, and never over an existing file
        except FileExistsError:
            raise
        except OSError:
            pass  # no hard links here (FAT, some network file systems): rename
        else:
            tmp.unlink()
            return
    tmp.replace(target)


def atomic_write(
    target: Path, data: bytes, *, make_parents: bool = False, replace: bool = True
) -> None:
    """Write data to target all at once or not at all (raises OSError; see publish)."""
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    with temp_beside(target, ".tmp") as tmp:
        tmp.write_bytes(data)
        publish(tmp, target, replace=replace)


def checksum(*parts: bytes | memoryview) -> bytes:
    """Return the SHA-256 digest of the parts, in order (32 bytes)."""
    # SHA-256 rather than BLAKE2: with the CPU's SHA instructions it hashes
    # about 1.8 GB/s here, against 0.7 GB/s.
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.digest()


def seal(key: str, text: bytes) -> bytes:
    """Return a cache entry: the SHA-256 checksum of key and text, in hex, on a line of
    its own, then text (see unseal_json)."""
    return checksum(key.encode(), text).hex().encode() + b"\n" + text


def unseal_json(key: str, entry: bytes | None) -> object:
    """Return the JSON values in an entry sealed for key; None if it is missing, fails
    its check or is not JSON."""
    if entry is None:
        return None
    check, _, text = entry.partition(b"\n")
    if check != checksum(key.encode(), text).hex().encode():
        return None
    try:
        return json.loads(text.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None


@dataclass(frozen=True)
class CacheProblem:
    """Why a cache folder stopped saving entries."""

    root: Path
    reason: str

    def __str__(self) -> str:
        return (
            f"cannot write to the clip cache at {self.root} ({self.reason}); "
            "continuing without caching"
        )


class CacheFolder:
    """A folder of cache entries, each written atomically and never over a sound one.

    A cache only saves time, so it never fails the work: an entry that cannot
    be read is a miss, and the first entry that cannot be written stops all
    writing (a read-only or full disk would fail every time) and records why.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problem: CacheProblem | None = None

    def read(self, name: str) -> bytes | None:
        """Return the entry's bytes, or None when it is missing or unreadable."""
        try:
            return (self.root / name).read_bytes()
        except OSError:
            return None

    def put(self, name: str, data: bytes, sound: Callable[[bytes], bool]) -> bytes | None:
        """Save an entry unless one that passes sound() is there; return that one, else None.

        The first sound entry stays, so that processes making the same entry at
        once all go on with one version of it (a voice may not say a line
        twice exactly alike). Whatever else is in the way is replaced.
        """
        if self.problem is not None:
            return None
        target = self.root / name
        try:
            try:
                atomic_write(target, data, make_parents=True, replace=False)
            except FileExistsError:
                # Something unsound is in the way: repair it, one process at a time,
                # so that a repair never replaces the sound entry another just made.
                with self._repairing():
                    existing = self.read(name)
                    if existing is not None and sound(existing):
                        return existing
                    if target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target, ignore_errors=True)  # a rename cannot replace it
                    atomic_write(target, data)
        except OSError as err:
            self.problem = CacheProblem(self.root, err.strerror or str(err))
        return None

    @contextlib.contextmanager
    def _repairing(self) -> Iterator[None]:
        """Hold the folder's repair lock: a file lock on the folder itself, between processes."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            # Repairs are rare and quick: wait our turn. Where the file system has
            # no locks, repair unlocked, as before, rather than stop caching.
            _lock(fd, wait=True)
            yield
        finally:
            os.close(fd)  # closing lets the lock go


class JsonMemo:
    """Small measurements kept between runs in one JSON file, each under a stamp.

    A stamp names what was measured and its state (a file's path, size and
    modification time, say), so a changed input misses. Reading and writing
    are best effort: a memo that cannot be read is empty, one that cannot be
    written is not kept, and neither is ever an error.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _load(self) -> dict[str, object]:
        if self.path is None:
            return {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                return loaded
        return {}

    def get(self, stamp: str) -> object | None:
        """Return the value kept under stamp, or None."""
        return self._load().get(stamp)

    def put(self, stamp: str, value: object) -> None:
        """Keep value under stamp, beside the others."""
        if self.path is None:
            return
        known = self._load()
        known[stamp] = value
        with contextlib.suppress(OSError):
            atomic_write(self.path, json.dumps(known).encode(), make_parents=True)
