"""The file sink: encode rendered blocks with ffmpeg and write them atomically."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from voiceguide.audio import CHANNELS, SAMPLE_RATE, Block
from voiceguide.errors import AudioError, OutputError, UsageError

FFMPEG_HINT = "install ffmpeg (sudo apt-get install ffmpeg), or run scripts/run"
DEFAULT_BITRATE = "128k"

# Encoder arguments by file extension.
# Encoder and container by file extension.
CODECS: dict[str, list[str]] = {
    ".mp3": ["-c:a", "libmp3lame", "-f", "mp3"],
    ".wav": ["-c:a", "pcm_s16le", "-f", "wav"],
}
# Extra arguments when writing a file (tags and the header players use for duration).
FILE_EXTRAS: dict[str, list[str]] = {
    ".mp3": ["-id3v2_version", "3", "-write_xing", "1"],
    ".wav": [],
}
FORMATS = CODECS


@functools.cache
def codec_gain_db(suffix: str, bitrate: str = DEFAULT_BITRATE) -> float:
    """Return how much the encoder changes the level, in dB (0 for lossless formats).

    LAME at 160 kbps and below plays back about 0.44 dB quieter than its input
    (measured: the same loss for a tone and for speech, at every frequency), so
    a session aimed at -16 LUFS would measure -16.5. Measured here once per run
    by encoding a second of tone, so it holds for whatever LAME is installed.
    """
    if suffix == ".wav":
        return 0.0
    ffmpeg = find_ffmpeg()
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = np.round(3277 * np.sin(2 * np.pi * 1000 * t)).astype("<i2")
    pcm = np.repeat(tone[:, None], CHANNELS, axis=1).tobytes()
    encoded = subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-f",
            "s16le",
            "-ar",
            str(SAMPLE_RATE),
            "-ac",
            str(CHANNELS),
            "-i",
            "pipe:0",
            "-b:a",
            bitrate,
            *CODECS[suffix],
            "pipe:1",
        ],
        input=pcm,
        capture_output=True,
        check=False,
    ).stdout
    decoded = subprocess.run(
        [ffmpeg, "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "pipe:1"],
        input=encoded,
        capture_output=True,
        check=False,
    ).stdout
    out = np.frombuffer(decoded, dtype="<i2").astype(np.float64)
    middle = out[len(out) // 4 : 3 * len(out) // 4]
    if middle.size == 0:
        return 0.0
    reference = float(np.sqrt(np.mean(tone.astype(np.float64) ** 2)))
    return 20 * math.log10(max(float(np.sqrt(np.mean(middle**2))), 1e-9) / reference)


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


def check_target(target: Path) -> str:
    """Check an output path before any work: a known extension, an existing folder."""
    suffix = format_of(target)
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"{folder}: no such folder; create it or choose another -o path")
    if target.is_dir():
        raise OutputError(f"{target}: is a folder; give a file name such as session.mp3")
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
    command += [*CODECS[suffix], *FILE_EXTRAS[suffix], str(tmp)]
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
