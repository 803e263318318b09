"""The file sink: encode rendered blocks with ffmpeg and write them atomically."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from voiceguide.audio import CHANNELS, SAMPLE_RATE, Block
from voiceguide.errors import AudioError, OutputError, UsageError

FFMPEG_HINT = "install ffmpeg (sudo apt-get install ffmpeg), or run scripts/run"
DEFAULT_BITRATE = "128k"

# Encoder arguments by file extension.
FORMATS: dict[str, list[str]] = {
    ".mp3": ["-c:a", "libmp3lame", "-f", "mp3", "-id3v2_version", "3", "-write_xing", "1"],
    ".wav": ["-c:a", "pcm_s16le", "-f", "wav"],
}


def find_ffmpeg() -> str:
    """Return the path of ffmpeg, or raise a clear error naming the fix."""
    path = shutil.which("ffmpeg")
    if path is None:
        raise AudioError(f"ffmpeg is not installed; {FFMPEG_HINT}")
    return path


def format_of(target: Path) -> str:
    """Return the format (extension) of an output file, or raise a usage error."""
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        raise UsageError(f'cannot export to "{target.name}": use a file name ending in {known}')
    return suffix


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export(
    blocks: Iterable[Block],
    target: Path,
    *,
    metadata: Mapping[str, str] | None = None,
    bitrate: str = DEFAULT_BITRATE,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Encode blocks into target; the file appears only once it is complete.

    progress(frames) is called after each block with the number of frames written.
    """
    suffix = format_of(target)
    ffmpeg = find_ffmpeg()
    folder = target.parent if str(target.parent) else Path()
    if not folder.is_dir():
        raise OutputError(f"{folder}: no such folder; create it or choose another -o path")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")
    except OSError as err:
        raise OutputError(
            f"{folder}: cannot write here ({err.strerror}); choose another -o path"
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    command = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "s16le",
        "-ar",
        str(SAMPLE_RATE),
        "-ac",
        str(CHANNELS),
        "-i",
        "pipe:0",
    ]
    if suffix == ".mp3":
        command += ["-b:a", bitrate]
    for key, value in (metadata or {}).items():
        command += ["-metadata", f"{key}={value}"]
    command += [*FORMATS[suffix], str(tmp)]
    try:
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=errors)
            assert process.stdin is not None
            try:
                written = 0
                for block in blocks:
                    process.stdin.write(block.astype("<i2", copy=False).tobytes())
                    written += len(block)
                    if progress is not None:
                        progress(written)
                process.stdin.close()
                code = process.wait()
            except BrokenPipeError:
                code = process.wait()
            except BaseException:
                process.kill()
                process.wait()
                raise
            finally:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            if code != 0:
                errors.seek(0)
                detail = errors.read().decode(errors="replace").strip().splitlines()
                last = detail[-1] if detail else f"exit status {code}"
                if "No space left" in last:
                    raise OutputError(f"{target}: disk full while writing ({last})")
                raise AudioError(f"ffmpeg could not encode {target.name}: {last}")
        tmp.chmod(0o666 & ~_current_umask())
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
