"""Writing files so that no one ever sees half of one: a temp file beside it, then a rename.

Also the cache folder built on it, where a failed write is a warning, not an error.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def normal_mode() -> int:
    """Return the permissions a new file gets under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_beside(target: Path, suffix: str = ".part") -> Path:
    """Create an empty hidden temp file in target's folder (raises OSError)."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    return Path(name)


def publish(tmp: Path, target: Path, *, replace: bool = True) -> None:
    """Give a finished temp file normal permissions and move it into place.

    Unless replace, an existing target stays and FileExistsError is raised
    (where the file system has hard links; elsewhere the target is replaced).
    """
    tmp.chmod(normal_mode())
    if not replace:
        try:
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
    tmp = temp_beside(target, ".tmp")
    try:
        tmp.write_bytes(data)
        publish(tmp, target, replace=replace)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def checksum(*parts: bytes | memoryview) -> bytes:
    """Return the SHA-256 digest of the parts, in order (32 bytes)."""
    # SHA-256 rather than BLAKE2: with the CPU's SHA instructions it hashes
    # about 1.8 GB/s here, against 0.7 GB/s.
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.digest()


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
                existing = self.read(name)
                if existing is not None and sound(existing):
                    return existing
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target, ignore_errors=True)  # debris; a rename cannot replace it
                atomic_write(target, data)
        except OSError as err:
            self.problem = CacheProblem(self.root, err.strerror or str(err))
        return None
