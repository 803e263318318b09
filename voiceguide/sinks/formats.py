"""Output formats: how ffmpeg encodes each, and how much a lossy codec changes the level."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceguide.audio.format import CHANNELS, SAMPLE_RATE, find_ffmpeg
from voiceguide.errors import UsageError
from voiceguide.files import JsonMemo, temp_dir
from voiceguide.sinks.spawn import signals_deferred


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


def bitrate_args(fmt: Format, bitrate: str | None) -> list[str]:
    """Return ffmpeg's bitrate arguments for a format (none for lossless ones)."""
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
    stamp = ""
    with contextlib.suppress(OSError):
        binary = Path(ffmpeg).resolve().stat()
        stamp = json.dumps([ffmpeg, binary.st_size, binary.st_mtime_ns, fmt.codec, bitrate])
    memos = JsonMemo(memo if stamp else None)
    known = memos.get(stamp)
    if isinstance(known, float) and abs(known) < 6:
        return known
    gain = _measure_codec_gain(ffmpeg, fmt, bitrate, suffix)
    memos.put(stamp, gain)
    return gain


def _measure_codec_gain(ffmpeg: str, fmt: Format, bitrate: str | None, suffix: str) -> float:
    """Encode a second of 1 kHz tone and decode it again; return the level change in dB."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = np.round(3277 * np.sin(2 * np.pi * 1000 * t)).astype("<i2")
    pcm = np.repeat(tone[:, None], CHANNELS, axis=1).tobytes()
    # A Ctrl-C during the probe (a tenth of a second) is raised after it, never
    # between starting an ffmpeg and knowing it (see signals_deferred).
    with temp_dir() as folder, signals_deferred():
        encoded = folder / f"probe{suffix}"
        subprocess.run(
            [
                ffmpeg,
                "-v",
                "error",
                *PCM_INPUT,
                *bitrate_args(fmt, bitrate),
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
