"""An on-disk cache of speech clips, one WAV file per clip."""

from __future__ import annotations

import contextlib
import hashlib
import io
import wave
from pathlib import Path

import numpy as np

from voiceguide.files import atomic_write
from voiceguide.speech.base import Clip

# Bump when the way clips are made changes, so old entries are not reused.
CACHE_VERSION = "2"


class ClipCache:
    """Clips stored under a directory, keyed by engine identity and text."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def key(self, identity: str, text: str) -> str:
        """Return the cache key for a text spoken by an engine, voice and rate."""
        digest = hashlib.sha256(f"{CACHE_VERSION}\0{identity}\0{text}".encode())
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def get(self, key: str) -> Clip | None:
        """Return the cached clip, or None when it is missing or unreadable."""
        path = self._path(key)
        try:
            with wave.open(str(path), "rb") as wav:
                if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                    return None
                frames = wav.readframes(wav.getnframes())
                rate = wav.getframerate()
        except (OSError, EOFError, wave.Error):
            return None
        return Clip(np.frombuffer(frames, dtype="<i2").astype(np.int16), rate)

    def put(self, key: str, clip: Clip) -> None:
        """Store a clip; written to a temp file and renamed, so readers never see half."""
        data = io.BytesIO()
        with wave.open(data, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(clip.sample_rate)
            wav.writeframes(clip.samples.astype("<i2").tobytes())
        with contextlib.suppress(OSError):  # an unwritable cache only costs speed
            atomic_write(self._path(key), data.getvalue(), make_parents=True)
