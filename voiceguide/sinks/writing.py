"""Writing output files and folders: checked before any work, written atomically.

Every failure becomes an OutputError that says what is in the way and what to do.
"""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path

from voiceguide.errors import OutputError
from voiceguide.files import atomic_write, temp_beside
from voiceguide.sinks.formats import format_of


def check_target(target: Path, chosen: str | None = None) -> str:
    """Check an output path before any work: a known format, a folder that can be written."""
    suffix = format_of(target, chosen)
    check_folder(target.parent)
    if target.is_dir():
        raise OutputError(
            f"{target}: is a folder", "give a file name such as session.mp3", elsewhere=False
        )
    try:  # a read-only or full disk, or no permission: say so before synthesizing anything
        with temp_beside(target, ".tmp"):
            pass
    except OSError as err:
        raise cannot_write(target.parent, err) from None
    return suffix


def check_folder(folder: Path) -> None:
    """Raise an OutputError unless folder is an existing folder, saying what is in the way."""
    if folder.is_dir():
        return
    for above in (folder, *folder.parents):
        if above.is_dir():
            break
        if above.exists():
            raise OutputError(f"{above}: is a file, not a folder")
    raise OutputError(f"{folder}: no such folder", "create it")


def make_folder(folder: Path, *, parents: bool = False) -> None:
    """Create folder unless it exists, or raise an OutputError saying what is in the way."""
    try:
        folder.mkdir(parents=parents, exist_ok=True)
    except OSError as err:
        for above in (folder, *folder.parents):
            if above.exists() and not above.is_dir():
                raise OutputError(f"{above}: is a file, not a folder") from None
        raise cannot_write(folder, err) from None


def cannot_write(where: Path, err: OSError) -> OutputError:
    """Return the error for an OSError met while writing in (or to) `where`."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return disk_full(where, err.strerror or "No space left on device")
    if isinstance(err, FileNotFoundError):
        return OutputError(f"{where}: no such folder", "create it")
    if isinstance(err, NotADirectoryError):
        return OutputError(f"{where}: is not a folder ({err.strerror})")
    return OutputError(f"{where}: cannot write here ({err.strerror})")


def disk_full(where: Path, detail: str) -> OutputError:
    """Return the error for a full disk (or quota) met while writing in (or to) `where`."""
    return OutputError(f"{where}: the disk is full ({detail})", "free some space")


def os_error_in(err: BaseException) -> OSError | None:
    """Return the OSError err is or wraps (mutagen wraps them in its own errors), if any."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def temp_in(temps: contextlib.ExitStack, target: Path, suffix: str = ".part") -> Path:
    """Make a temp file beside target that lasts as long as temps (see files.temp_beside)."""
    try:
        return temps.enter_context(temp_beside(target, suffix))
    except OSError as err:
        raise cannot_write(target.parent, err) from None


def write_text(target: Path, text: str) -> None:
    """Write a text file (a transcript, a chapter list, a routine) atomically."""
    try:
        atomic_write(target, text.encode("utf-8"))
    except OSError as err:
        raise cannot_write(target.parent, err) from None
