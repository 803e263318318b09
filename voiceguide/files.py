"""Writing files so that no one ever sees half of one: a temp file beside it, then a rename."""

from __future__ import annotations

import os
import tempfile
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


def publish(tmp: Path, target: Path) -> None:
    """Give a finished temp file normal permissions and move it into place."""
    tmp.chmod(normal_mode())
    tmp.replace(target)


def atomic_write(target: Path, data: bytes, *, make_parents: bool = False) -> None:
    """Write data to target all at once or not at all (raises OSError)."""
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(target, ".tmp")
    try:
        tmp.write_bytes(data)
        publish(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
