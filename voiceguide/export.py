"""The file sink: encode rendered blocks with ffmpeg, tag them, and write atomically."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceguide.audio import CHANNELS, SAMPLE_RATE, Block, find_ffmpeg
from voiceguide.errors import AudioError, OutputError, UsageError
from voiceguide.files import atomic_write, publish, temp_beside
from voiceguide.tags import Tags, ffmetadata, write_tags


@dataclass(frozen=True)
class Format:
    """How to encode one kind of file."""

    codec: tuple[str, ...]  # ffmpeg arguments: codec, container, rate
    bitrate: str | None  # default bitrate; None for lossless formats
    extras: tuple[str, ...] = ()  # only when writing the real file


FORMATS: dict[str, Format] = {
    ".mp3": Format(("-c:a", "libmp3lame", "-f", "mp3"), "128k", ("-write_xing", "1")),
    ".m4a": Format(("-c:a", "aac", "-f", "mp4"), "128k", ("-movflags", "+faststart")),
    ".m4b": Format(("-c:a", "aac", "-f", "ipod"), "128k", ("-movflags", "+faststart")),
    ".ogg": Format(("-c:a", "libvorbis", "-f", "ogg"), "128k"),
    ".opus": Format(("-c:a", "libopus", "-ar", "48000", "-f", "opus"), "96k"),
    ".flac": Format(("-c:a", "flac", "-f", "flac"), None),
    ".wav": Format(("-c:a", "pcm_s16le", "-f", "wav"), None),
}


# Raw PCM in the session's format, read from stdin.
PCM_INPUT = ("-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS), "-i", "pipe:0")


def format_of(target: Path, chosen: str | None = None) -> str:
    """Return the format (as an extension) for an output file, or raise a usage error."""
    known = ", ".join(FORMATS)
    if chosen is not None:
        suffix = "." + chosen.lower().lstrip(".")
        if suffix not in FORMATS:
            raise UsageError(f'unknown format "{chosen}"; use one of: {known}')
        if target.suffix and target.suffix.lower() != suffix:
            raise UsageError(
                f'"{target.name}" does not end in {suffix}; drop --format or fix the name'
            )
        return suffix
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f'cannot export to "{target.name}": use a file name ending in {known}')
    return suffix


def check_target(target: Path, chosen: str | None = None) -> str:
    """Check an output path before any work: a known format, a folder that can be written."""
    suffix = format_of(target, chosen)
    check_folder(target.parent)
    if target.is_dir():
        raise OutputError(f"{target}: is a folder; give a file name such as session.mp3")
    try:  # a read-only or full disk, or no permission: say so before synthesizing anything
        with temp_beside(target, ".tmp"):
            pass
    except OSError as err:
        raise _cannot_write(target.parent, err) from None
    return suffix


def check_folder(folder: Path) -> None:
    """Raise an OutputError unless folder is an existing folder, saying what is in the way."""
    if folder.is_dir():
        return
    for above in (folder, *folder.parents):
        if above.is_dir():
            break
        if above.exists():
            raise OutputError(f"{above}: is a file, not a folder; choose another -o path")
    raise OutputError(f"{folder}: no such folder; create it or choose another -o path")


def _bitrate_args(fmt: Format, bitrate: str | None) -> list[str]:
    chosen = bitrate or fmt.bitrate
    return ["-b:a", chosen] if chosen and fmt.bitrate else []


@functools.cache
def codec_gain_db(suffix: str, bitrate: str | None = None, memo: Path | None = None) -> float:
    """Return how much the encoder changes the level, in dB (0 for lossless formats).

    LAME at 160 kbps and below plays back about 0.44 dB quieter than its input
    (measured: the same loss for a tone and for speech, at every frequency), so
    a session aimed at -16 LUFS would measure -16.5. Measured by encoding a
    second of tone, so it holds for whatever encoder is installed, and
    remembered in memo (a JSON file) for that ffmpeg binary and these settings.
    """
    fmt = FORMATS[suffix]
    if fmt.bitrate is None:
        return 0.0
    ffmpeg = find_ffmpeg()
    known: dict[str, float] = {}
    stamp = ""
    if memo is not None:
        with contextlib.suppress(OSError, ValueError):
            binary = Path(ffmpeg).resolve().stat()
            stamp = json.dumps([ffmpeg, binary.st_size, binary.st_mtime_ns, fmt.codec, bitrate])
            loaded = json.loads(memo.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                known = {k: v for k, v in loaded.items() if isinstance(v, float)}
        if stamp in known and abs(known[stamp]) < 6:
            return known[stamp]
    gain = _measure_codec_gain(ffmpeg, fmt, bitrate, suffix)
    if memo is not None and stamp:
        known[stamp] = gain
        with contextlib.suppress(OSError):
            atomic_write(memo, json.dumps(known).encode(), make_parents=True)
    return gain


def _measure_codec_gain(ffmpeg: str, fmt: Format, bitrate: str | None, suffix: str) -> float:
    """Encode a second of 1 kHz tone and decode it again; return the level change in dB."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = np.round(3277 * np.sin(2 * np.pi * 1000 * t)).astype("<i2")
    pcm = np.repeat(tone[:, None], CHANNELS, axis=1).tobytes()
    with tempfile.TemporaryDirectory(prefix="voiceguide-") as folder:
        encoded = Path(folder) / f"probe{suffix}"
        subprocess.run(
            [
                ffmpeg,
                "-v",
                "error",
                *PCM_INPUT,
                *_bitrate_args(fmt, bitrate),
                *fmt.codec,
                str(encoded),
            ],
            input=pcm,
            capture_output=True,
            check=False,
        )
        decoded = subprocess.run(
            [
                ffmpeg,
                "-v",
                "error",
                "-i",
                str(encoded),
                "-f",
                "s16le",
                "-ac",
                "1",
                "-ar",
                str(SAMPLE_RATE),
                "pipe:1",
            ],
            capture_output=True,
            check=False,
        ).stdout
    out = np.frombuffer(decoded, dtype="<i2").astype(np.float64)
    middle = out[len(out) // 4 : 3 * len(out) // 4]
    if middle.size == 0:
        return 0.0
    reference = float(np.sqrt(np.mean(tone.astype(np.float64) ** 2)))
    return 20 * math.log10(max(float(np.sqrt(np.mean(middle**2))), 1e-9) / reference)


def make_folder(folder: Path, *, parents: bool = False) -> None:
    """Create folder unless it exists, or raise an OutputError saying what is in the way."""
    try:
        folder.mkdir(parents=parents, exist_ok=True)
    except OSError as err:
        for above in (folder, *folder.parents):
            if above.exists() and not above.is_dir():
                raise OutputError(
                    f"{above}: is a file, not a folder; choose another -o path"
                ) from None
        raise _cannot_write(folder, err) from None


def _cannot_write(where: Path, err: OSError) -> OutputError:
    """Return the error for an OSError met while writing in (or to) `where`."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return _disk_full(where, err.strerror or "No space left on device")
    if isinstance(err, FileNotFoundError):
        return OutputError(f"{where}: no such folder; create it or choose another -o path")
    if isinstance(err, NotADirectoryError):
        return OutputError(f"{where}: is not a folder ({err.strerror}); choose another -o path")
    return OutputError(f"{where}: cannot write here ({err.strerror}); choose another -o path")


def _disk_full(where: Path, detail: str) -> OutputError:
    return OutputError(
        f"{where}: the disk is full ({detail}); free some space or choose another -o path"
    )


def _os_error_in(err: BaseException) -> OSError | None:
    """Return the OSError err is or wraps (mutagen wraps them in its own errors), if any."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _temp_beside(temps: contextlib.ExitStack, target: Path, suffix: str = ".part") -> Path:
    """Make a temp file beside target that lasts as long as temps (see files.temp_beside)."""
    try:
        return temps.enter_context(temp_beside(target, suffix))
    except OSError as err:
        raise _cannot_write(target.parent, err) from None


def write_text(target: Path, text: str) -> None:
    """Write a text file beside the audio, atomically."""
    try:
        atomic_write(target, text.encode("utf-8"))
    except OSError as err:
        raise _cannot_write(target.parent, err) from None


def export(
    blocks: Iterable[Block],
    target: Path,
    *,
    tags: Tags | Callable[[], Tags] | None = None,
    suffix: str | None = None,
    bitrate: str | None = None,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Encode blocks into target; the file appears only once it is complete and tagged.

    progress(frames) is called after each block with the number of frames written.
    Setting cancel (from another thread) stops the export with ExportCancelledError.
    tags may be a function, asked once the blocks are encoded (a session still
    being synthesized knows its chapters only then); MP4 files need their
    chapters up front, so for them it is asked first.
    """
    suffix = suffix or format_of(target)
    fmt = FORMATS[suffix]
    ffmpeg = find_ffmpeg()
    command = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        *PCM_INPUT,
    ]
    # The temps go when this ends, however it ends; one left by a killed run
    # is removed by the next export to the same file (see files.temp_beside).
    with contextlib.ExitStack() as temps:
        tmp = _temp_beside(temps, target)
        if callable(tags) and suffix in (".m4a", ".m4b"):
            tags = tags()
        if tags is not None and not callable(tags) and suffix in (".m4a", ".m4b"):
            extra = _temp_beside(temps, target, ".ffmeta")
            extra.write_text(ffmetadata(tags), encoding="utf-8")
            command += ["-i", str(extra), "-map", "0:a", "-map_chapters", "1"]
        command += [*_bitrate_args(fmt, bitrate), *fmt.codec, *fmt.extras]
        _encode(command, blocks, tmp, target, progress, cancel=cancel)
        if tags is not None:
            final = tags() if callable(tags) else tags
            try:
                write_tags(tmp, suffix, final)
            except Exception as err:  # mutagen raises its own kinds
                cause = _os_error_in(err)
                if cause is not None:  # a full disk, most likely: the file is fine
                    raise _cannot_write(target, cause) from None
                raise AudioError(f"could not tag {target.name}: {err}") from None
        try:
            publish(tmp, target)
        except OSError as err:
            raise _cannot_write(target, err) from None


PIPE_BYTES = 1 << 20  # ffmpeg's input pipe: about 6 s of audio, so neither side waits


class ExportCancelledError(Exception):
    """An export's cancel event was set (the command was interrupted)."""


def ahead(
    blocks: Iterable[Block], depth: int = 4, *, cancel: threading.Event | None = None
) -> Iterator[Block]:
    """Yield blocks rendered by a background thread, up to `depth` blocks ahead.

    Rendering (numpy) and writing to the encoder then overlap on two cores.
    An error in the renderer is raised here, in the consumer. Once cancel is
    set, ExportCancelledError is raised here within 50 ms, even while the
    renderer is busy (planning the mix before the first block takes seconds).
    """
    box: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for block in blocks:
                while not stop.is_set():
                    try:
                        box.put(("block", block), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(("end", None))
        except BaseException as err:  # handed to the consumer
            box.put(("error", err))

    worker = threading.Thread(target=produce, name="voiceguide-render", daemon=True)
    worker.start()
    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise ExportCancelledError
            try:
                kind, item = box.get(timeout=None if cancel is None else 0.05)
            except queue.Empty:
                continue
            if kind == "end":
                return
            if kind == "error":
                assert isinstance(item, BaseException)
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()


def _encode(
    command: list[str],
    blocks: Iterable[Block],
    tmp: Path,
    target: Path,
    progress: Callable[[int], None] | None,
    *,
    cancel: threading.Event | None = None,
) -> None:
    """Run the encoder command, writing into tmp, with the blocks on its input."""
    with tempfile.TemporaryFile() as errors:
        # ffmpeg writes through a descriptor, never by name: an encoder still
        # starting when we give up (or are killed) cannot make the temp file
        # again once it is removed; it writes into the removed file and is gone.
        output = os.open(tmp, os.O_WRONLY | os.O_CLOEXEC)
        process: subprocess.Popen[bytes] | None = None
        try:
            # In a process group of its own, so that a Ctrl-C at the terminal
            # reaches only us: we stop it (below), and if we are killed, it
            # stops at the end of its input.
            process = subprocess.Popen(
                [*command, f"/dev/fd/{output}"],
                stdin=subprocess.PIPE,
                stderr=errors,
                pass_fds=(output,),
                process_group=0,
            )
            os.close(output)
            output = -1
            assert process.stdin is not None
            with contextlib.suppress(OSError, AttributeError):
                import fcntl

                fcntl.fcntl(process.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            written = 0
            for block in ahead(blocks, cancel=cancel):
                process.stdin.write(block.astype("<i2", copy=False).tobytes())
                written += len(block)
                if progress is not None:
                    progress(written)
            process.stdin.close()
            code = process.wait()
        except BrokenPipeError:
            assert process is not None
            code = process.wait()
        except BaseException:
            if process is not None:
                process.kill()
                process.wait()
            raise
        finally:
            if output >= 0:
                os.close(output)
            if process is not None and process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
        if code != 0:
            errors.seek(0)
            detail = errors.read().decode(errors="replace").strip().splitlines()
            last = detail[-1] if detail else f"exit status {code}"
            for full in ("No space left on device", "Disk quota exceeded"):
                if full in last:  # ffmpeg names its temp file: name the target instead
                    raise _disk_full(target, full)
            raise AudioError(f"ffmpeg could not encode {target.name}: {last}")
