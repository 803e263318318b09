"""The file sink: encode rendered blocks with ffmpeg, tag them, and write atomically."""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from voiceguide.audio.format import Block, find_ffmpeg
from voiceguide.errors import AudioError, ExportCancelledError
from voiceguide.files import publish
from voiceguide.sinks.formats import FORMATS, PCM_INPUT, bitrate_args, format_of
from voiceguide.sinks.spawn import signals_deferred
from voiceguide.sinks.tags import Tags, ffmetadata, write_tags
from voiceguide.sinks.writing import cannot_write, disk_full, os_error_in, temp_in


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
        tmp = temp_in(temps, target)
        if callable(tags) and suffix in (".m4a", ".m4b"):
            tags = tags()
        if tags is not None and not callable(tags) and suffix in (".m4a", ".m4b"):
            extra = temp_in(temps, target, ".ffmeta")
            extra.write_text(ffmetadata(tags), encoding="utf-8")
            command += ["-i", str(extra), "-map", "0:a", "-map_chapters", "1"]
        command += [*bitrate_args(fmt, bitrate), *fmt.codec, *fmt.extras]
        _encode(command, blocks, tmp, target, progress, cancel=cancel)
        if tags is not None:
            final = tags() if callable(tags) else tags
            try:
                write_tags(tmp, suffix, final)
            except Exception as err:  # mutagen raises its own kinds
                cause = os_error_in(err)
                if cause is not None:  # a full disk, most likely: the file is fine
                    raise cannot_write(target, cause) from None
                raise AudioError(f"could not tag {target.name}: {err}") from None
        try:
            publish(tmp, target)
        except OSError as err:
            raise cannot_write(target, err) from None


PIPE_BYTES = 1 << 20  # ffmpeg's input pipe: about 6 s of audio, so neither side waits


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
            with signals_deferred():  # a Ctrl-C now is raised once process is known
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
                    raise disk_full(target, full)
            raise AudioError(f"ffmpeg could not encode {target.name}: {last}")
