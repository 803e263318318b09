"""Sound outputs for the player: a streaming ALSA output and the legacy simpleaudio one.

Both sit behind the small AudioOutput interface, so the player and its
tests do not care which is in use. Device libraries are imported only when
an output is opened.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voiceguide.audio.format import CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH, Block
from voiceguide.errors import DeviceError, UsageError

EXPORT_HINT = "to listen elsewhere, make a file with `voiceguide export`"
BACKENDS = ("alsa", "simpleaudio")


class AudioOutput(Protocol):
    """Somewhere to play the session's frames (44.1 kHz, 16-bit, stereo)."""

    def write(self, frames: Block) -> None:
        """Queue frames for playback, blocking while the queue is full."""
        ...

    def queued_frames(self) -> int:
        """Return how many written frames have not been heard yet."""
        ...

    def discard(self) -> None:
        """Silence the output at once, dropping every queued frame."""
        ...

    def finish(self) -> None:
        """Wait until every queued frame has been heard."""
        ...

    def close(self) -> None:
        """Release the device."""
        ...


@contextlib.contextmanager
def _quiet_c_stderr() -> Iterator[None]:
    """Hide what C libraries print on stderr (ALSA's own error lines) for a moment."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with Path(os.devnull).open("wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _device_problem(device: str, detail: str) -> DeviceError:
    lowered = detail.lower()
    if "busy" in lowered:
        what = f"the sound device {device!r} is busy (another program is using it)"
    elif "unknown pcm" in lowered or "no such file" in lowered or "cannot find card" in lowered:
        what = f"no sound device found (ALSA device {device!r}: {detail})"
    else:
        what = f"the sound device {device!r} cannot play ({detail})"
    return DeviceError(f"{what}; {EXPORT_HINT}")


class AlsaOutput:
    """Streams frames to an ALSA device (which may be PulseAudio or PipeWire behind ALSA)."""

    def __init__(
        self, device: str = "default", *, period_frames: int = 1024, periods: int = 8
    ) -> None:
        try:
            import alsaaudio
        except ImportError:
            raise DeviceError(
                "the ALSA output needs pyalsaaudio (pip install pyalsaaudio, with "
                f"libasound2-dev installed); {EXPORT_HINT}"
            ) from None
        self._alsa: Any = alsaaudio
        self.device = device
        try:
            with _quiet_c_stderr():
                self._pcm: Any = alsaaudio.PCM(
                    alsaaudio.PCM_PLAYBACK,
                    alsaaudio.PCM_NORMAL,
                    rate=SAMPLE_RATE,
                    channels=CHANNELS,
                    format=alsaaudio.PCM_FORMAT_S16_LE,
                    periodsize=period_frames,
                    periods=periods,
                    device=device,
                )
        except alsaaudio.ALSAAudioError as err:
            raise _device_problem(device, str(err)) from None
        self._buffer_frames = int(self._pcm.info()["buffer_size"])

    def write(self, frames: Block) -> None:
        try:
            self._pcm.write(frames.astype("<i2", copy=False).tobytes())
        except self._alsa.ALSAAudioError as err:
            raise _device_problem(self.device, str(err)) from None

    def queued_frames(self) -> int:
        try:
            avail = int(self._pcm.avail())
        except self._alsa.ALSAAudioError:
            return 0
        return max(0, min(self._buffer_frames - avail, self._buffer_frames))

    def discard(self) -> None:
        with contextlib.suppress(self._alsa.ALSAAudioError):
            self._pcm.drop()

    def finish(self) -> None:
        with contextlib.suppress(self._alsa.ALSAAudioError):
            self._pcm.drain()

    def close(self) -> None:
        with contextlib.suppress(self._alsa.ALSAAudioError):
            self._pcm.close()


class SimpleaudioOutput:
    """Plays through simpleaudio, the design's original choice.

    simpleaudio cannot queue buffers: each buffer is a separate playback, so
    there is a short gap where buffers meet. Kept for `--backend simpleaudio`.
    """

    BUFFER_FRAMES = SAMPLE_RATE  # one second per playback

    def __init__(self) -> None:
        try:
            import simpleaudio
        except ImportError:
            raise DeviceError(
                "simpleaudio is not installed (it does not build on Python 3.12+); "
                f"use --backend alsa, or {EXPORT_HINT}"
            ) from None
        self._sa: Any = simpleaudio
        self._pending: list[Block] = []
        self._playing: Any = None
        self._started = 0.0
        self._playing_frames = 0

    def _pending_frames(self) -> int:
        return sum(len(b) for b in self._pending)

    def _start_pending(self) -> None:
        if self._playing is not None:
            self._playing.wait_done()
        if not self._pending:
            self._playing = None
            return
        data = np.concatenate(self._pending).astype("<i2", copy=False)
        self._pending = []
        try:
            self._playing = self._sa.play_buffer(
                data.tobytes(), CHANNELS, SAMPLE_WIDTH, SAMPLE_RATE
            )
        except Exception as err:  # simpleaudio raises its own bare exception types
            raise _device_problem("default", str(err)) from None
        self._started = time.monotonic()
        self._playing_frames = len(data)

    def write(self, frames: Block) -> None:
        self._pending.append(frames)
        if self._pending_frames() >= self.BUFFER_FRAMES:
            self._start_pending()

    def queued_frames(self) -> int:
        playing = 0
        if self._playing is not None and self._playing.is_playing():
            heard = int((time.monotonic() - self._started) * SAMPLE_RATE)
            playing = max(self._playing_frames - heard, 0)
        return playing + self._pending_frames()

    def discard(self) -> None:
        self._pending = []
        if self._playing is not None:
            self._playing.stop()
            self._playing = None

    def finish(self) -> None:
        self._start_pending()
        if self._playing is not None:
            self._playing.wait_done()

    def close(self) -> None:
        self.discard()


def open_output(backend: str = "alsa", device: str = "default") -> AudioOutput:
    """Open a sound output by backend name."""
    if backend == "alsa":
        return AlsaOutput(device)
    if backend == "simpleaudio":
        return SimpleaudioOutput()
    raise UsageError(f'unknown backend "{backend}"; use one of: {", ".join(BACKENDS)}')
