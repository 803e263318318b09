"""An on-disk cache of speech clips, one self-checking WAV file per clip.

Each entry is a plain 16-bit mono WAV file with one extra chunk, `vgck`,
between the format and the samples. It holds a SHA-256 checksum of the cache
key, the rest of the header and the samples, so a truncated, damaged or
misplaced file is noticed on reading and treated as missing; players and
`wave` skip the chunk, so an entry still plays. The checksum lives in the file
it checks, so the two can never be out of step.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from voiceguide.files import CacheFolder, checksum
from voiceguide.speech.clip import Clip

# Bump when the way clips are made or stored changes, so old entries are not reused.
CACHE_VERSION = "3"

_CHECK_ID = b"vgck"
# RIFF header, `fmt ` chunk (PCM, mono, 16-bit), `vgck` chunk, `data` chunk header.
_LAYOUT = struct.Struct("<4sI4s 4sIHHIIHH 4sI32s 4sI")
HEADER_BYTES = _LAYOUT.size  # 84
CHECK_START = HEADER_BYTES - 8 - 32  # where the checksum sits in the file
CHECK_END = CHECK_START + 32
_RATE_AT = 24  # the sample rate's offset, in the `fmt ` chunk
_MAX_RATE = 1 << 20
_NO_CHECK = bytes(32)


def _header(sample_rate: int, data_bytes: int, check: bytes) -> bytes:
    return _LAYOUT.pack(
        b"RIFF", HEADER_BYTES - 8 + data_bytes, b"WAVE",
        b"fmt ", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16,
        _CHECK_ID, 32, check,
        b"data", data_bytes,
    )  # fmt: skip


def _checksum(key: str, header: bytes | memoryview, samples: bytes | memoryview) -> bytes:
    """Return an entry's checksum: of its key, and of every byte but the checksum's own."""
    return checksum(key.encode(), header[:CHECK_START], header[CHECK_END:], samples)


class ClipCache:
    """Clips stored under a directory, keyed by engine identity and text."""

    def __init__(self, root: Path) -> None:
        self.folder = CacheFolder(root)

    def key(self, identity: str, text: str) -> str:
        """Return the cache key for a text spoken by an engine, voice and rate."""
        digest = hashlib.sha256(f"{CACHE_VERSION}\0{identity}\0{text}".encode())
        return digest.hexdigest()

    @staticmethod
    def name(key: str) -> str:
        """Return the entry's file name, relative to the cache's directory."""
        return f"{key[:2]}/{key}.wav"

    def get(self, key: str) -> Clip | None:
        """Return the cached clip, or None when it is missing or fails its check."""
        entry = self.folder.read(self.name(key))
        return None if entry is None else _decode(key, entry)

    def put(self, key: str, clip: Clip) -> Clip:
        """Store a clip unless a sound one is there already; return the clip the cache holds."""
        samples = clip.samples.astype("<i2").tobytes()
        check = _checksum(key, _header(clip.sample_rate, len(samples), _NO_CHECK), samples)
        entry = _header(clip.sample_rate, len(samples), check) + samples
        first = self.folder.put(self.name(key), entry, lambda e: _decode(key, e) is not None)
        return clip if first is None else _decode(key, first) or clip


def _decode(key: str, entry: bytes) -> Clip | None:
    """Return the clip in an entry, or None if the entry fails its check."""
    import numpy as np  # not before a clip is read: a timeline needs only lengths

    if len(entry) < HEADER_BYTES:
        return None
    view = memoryview(entry)
    header, samples = view[:HEADER_BYTES], view[HEADER_BYTES:]
    (sample_rate,) = struct.unpack_from("<I", entry, _RATE_AT)
    if not 0 < sample_rate <= _MAX_RATE:  # also keeps the byte rate within 32 bits
        return None
    stored = entry[CHECK_START:CHECK_END]
    # Rebuilding the header checks the layout and format, and the sizes against the file's.
    if header != _header(sample_rate, len(samples), stored):
        return None
    if _checksum(key, header, samples) != stored:
        return None
    return Clip(np.frombuffer(samples, dtype="<i2").astype(np.int16), sample_rate)
