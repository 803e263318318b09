"""The session's audio format (44.1 kHz, 16-bit, stereo), and finding ffmpeg."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from voiceguide.errors import AudioError

SAMPLE_RATE = 44_100
CHANNELS = 2
SAMPLE_WIDTH = 2  # bytes: signed 16-bit little-endian PCM

Block = npt.NDArray[np.int16]  # shape (frames, CHANNELS)

FFMPEG_MISSING = "ffmpeg is not installed; install it with: sudo apt install ffmpeg"


def find_ffmpeg() -> str:
    """Return the path of ffmpeg, or raise an AudioError naming the package to install."""
    path = shutil.which("ffmpeg")
    if path is None:
        raise AudioError(FFMPEG_MISSING)
    return path


def ms_to_frames(ms: int) -> int:
    """Return the frame index at ms milliseconds (rounded down)."""
    return ms * SAMPLE_RATE // 1000


def frames_to_ms(frames: int) -> float:
    """Return the time in milliseconds of a frame index."""
    return frames * 1000 / SAMPLE_RATE


def read_wav_mono(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    """Read a 16-bit mono WAV file; return its samples and sample rate."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                raise AudioError(f"{path}: expected 16-bit mono WAV")
            frames = wav.readframes(wav.getnframes())
            rate = wav.getframerate()
    except (OSError, EOFError, wave.Error) as err:
        raise AudioError(
            f"{path}: cannot read audio asset ({err}); regenerate it with "
            "python scripts/make_assets.py"
        ) from None
    return np.frombuffer(frames, dtype="<i2").astype(np.int16), rate
