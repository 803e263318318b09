"""The music bed: built-in ambiences or the user's own file, looped, faded and ducked."""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from voiceguide.audio.defaults import (  # noqa: F401 - music's names, where they were
    BED_FADE_OUT_MS,
    BUILTIN,
    DEFAULT_VOLUME_DB,
    NONE,
    builtin_names,
    is_builtin,
    resolve,
)
from voiceguide.audio.format import SAMPLE_RATE, find_ffmpeg, ms_to_frames
from voiceguide.errors import AudioError
from voiceguide.files import CacheFolder, checksum
from voiceguide.timeline.model import Timeline

DUCK_DB = 14.0  # how far the bed drops under speech
DUCK_DOWN_MS = 150
DUCK_UP_MS = 600
DUCK_BRIDGE_MS = 1500  # stay down through gaps shorter than this
BED_FADE_IN_MS = 3000
SLEEP_FADE_MS = 120_000  # a sleep ending's bed fades out over its last 2 minutes
SLEEP_FADE_DB = 40.0  # falling evenly in dB this far, then to silence
LOOP_CROSSFADE_MS = 2000  # for the user's own files, which were not made to loop
MAX_MUSIC_S = 300  # longer files are looped from their first five minutes

FloatArray = npt.NDArray[np.float32]


def decode(path: Path) -> FloatArray:
    """Decode up to MAX_MUSIC_S of any file ffmpeg reads, as float stereo at the session rate."""
    ffmpeg = find_ffmpeg()
    result = subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-nostdin",
            "-i",
            str(path),
            "-t",
            str(MAX_MUSIC_S),
            "-vn",
            "-f",
            "f32le",
            "-ac",
            "2",
            "-ar",
            str(SAMPLE_RATE),
            "-",
        ],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        why = detail[-1] if detail else f"ffmpeg exit status {result.returncode}"
        raise AudioError(f"{path}: cannot read this music file ({why})")
    samples = np.frombuffer(result.stdout, dtype="<f4").reshape(-1, 2)
    if len(samples) < SAMPLE_RATE:
        raise AudioError(f"{path}: the music is shorter than a second; use a longer file")
    # float32 already: no copy (a 5-minute file is 106 MB, and a copy would double it).
    return samples.astype(np.float32, copy=False)


def _decoded_once(path: Path, cache: CacheFolder) -> FloatArray:
    """Return a file decoded (see decode), from cache when it was decoded before.

    The entry is named by the file's checksum and begins with its samples'
    checksum: one that fails it is decoded again. Reading 10 MB of samples
    takes a few ms; ffmpeg takes 0.1 s of CPU to decode a built-in bed.
    """
    name = f"beds/{checksum(path.read_bytes()).hex()}.f32"

    def samples_of(entry: bytes) -> FloatArray | None:
        body = memoryview(entry)[32:]
        if len(entry) < 32 or len(body) % 8 or checksum(body) != entry[:32]:
            return None
        return np.frombuffer(body, dtype="<f4").reshape(-1, 2).astype(np.float32, copy=False)

    entry = cache.read(name)
    found = samples_of(entry) if entry is not None else None
    if found is not None:
        return found
    samples = decode(path)
    data = samples.tobytes()
    cache.put(name, checksum(data) + data, lambda e: samples_of(e) is not None)
    return samples


def make_loop(samples: FloatArray, crossfade_frames: int) -> FloatArray:
    """Return a loop that repeats without a seam: the tail is crossfaded into the head.

    Equal-power fades, since the two ends of a recording are not correlated.
    """
    if crossfade_frames <= 0:
        return samples
    crossfade_frames = min(crossfade_frames, len(samples) // 3)
    period = len(samples) - crossfade_frames
    loop = samples[:period].copy()
    ramp = (np.arange(crossfade_frames) + 0.5) / crossfade_frames
    fade_in = np.sin(ramp * math.pi / 2)[:, None]
    fade_out = np.cos(ramp * math.pi / 2)[:, None]
    loop[:crossfade_frames] = (
        samples[:crossfade_frames] * fade_in + samples[period:] * fade_out
    ).astype(np.float32)
    return loop


def load_bed(path: Path, cache: CacheFolder | None = None) -> FloatArray:
    """Return a seamless stereo loop from a music file (built-ins already loop exactly).

    A built-in bed is decoded once and kept in cache, if one is given.
    """
    builtin = is_builtin(path)
    samples = _decoded_once(path, cache) if builtin and cache is not None else decode(path)
    return make_loop(samples, 0 if builtin else ms_to_frames(LOOP_CROSSFADE_MS))


@dataclass(frozen=True)
class Envelope:
    """The bed's gain over the session: ducking under speech, fade in, fade out.

    Stored as one piecewise-linear curve of linear gain (ramps in dB and the
    raised-cosine fades are sampled finely enough), so a block's gains are a
    single np.interp.
    """

    points: npt.NDArray[np.float64]  # frames, increasing
    gains: npt.NDArray[np.float64]  # linear gain at those frames

    def gain(self, frames: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Return the linear gain at each frame."""
        return np.asarray(np.interp(frames, self.points, self.gains), dtype=np.float64)


_RAMP_POINTS = 8  # a dB ramp sampled at 8 points is within 0.2 dB of the curve
_FADE_POINTS = 48


def _fade_factor(
    frames: npt.NDArray[np.float64], total: int, sleep_fade: int
) -> npt.NDArray[np.float64]:
    """Return the fades' gain: raised-cosine, or for a sleep ending, even in dB to silence."""
    fade_in = np.clip(frames / ms_to_frames(BED_FADE_IN_MS), 0.0, 1.0)
    factor = 0.5 - 0.5 * np.cos(np.pi * fade_in)
    if sleep_fade:
        # A raised cosine in amplitude holds on, then drops in its last quarter;
        # a fall even in dB sounds even to the ear, all the way down.
        done = np.clip(1.0 - (total - frames) / sleep_fade, 0.0, 1.0)
        factor *= np.where(done < 1.0, np.power(10.0, -SLEEP_FADE_DB * done / 20.0), 0.0)
    else:
        fade_out = np.clip((total - frames) / ms_to_frames(BED_FADE_OUT_MS), 0.0, 1.0)
        factor *= 0.5 - 0.5 * np.cos(np.pi * fade_out)
    return np.asarray(factor, dtype=np.float64)


def plan_envelope(timeline: Timeline, duck_db_depth: float = DUCK_DB) -> Envelope:
    """Plan the ducking from the timeline: down under every sound, up again in holds."""
    spans: list[list[int]] = []
    for segment in timeline.segments:
        if not segment.kind.audible:
            continue
        start, end = segment.start_ms, segment.end_ms
        if spans and start - spans[-1][1] < DUCK_BRIDGE_MS:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    duck_points: list[float] = [0.0]
    duck_db: list[float] = [0.0]
    for start, end in spans:
        for a, b, da, db_ in (
            (max(start - DUCK_DOWN_MS, 0), start, 0.0, -duck_db_depth),
            (end, end + DUCK_UP_MS, -duck_db_depth, 0.0),
        ):
            fa, fb = ms_to_frames(a), ms_to_frames(b)
            for k in range(_RAMP_POINTS + 1):
                duck_points.append(fa + (fb - fa) * k / _RAMP_POINTS)
                duck_db.append(da + (db_ - da) * k / _RAMP_POINTS)
    total = ms_to_frames(timeline.total_ms)
    sleep_fade = ms_to_frames(min(SLEEP_FADE_MS, timeline.sleep_ms))
    fade_out = sleep_fade or ms_to_frames(BED_FADE_OUT_MS)
    fades = np.concatenate(
        [
            np.linspace(0, ms_to_frames(BED_FADE_IN_MS), _FADE_POINTS),
            # A sleep ending's fade has twice the points: under half a dB apart.
            np.linspace(total - fade_out, total, _FADE_POINTS * (2 if sleep_fade else 1)),
        ]
    )
    points = np.unique(np.concatenate([np.asarray(duck_points), fades, [float(total)]]))
    points = points[(points >= 0) & (points <= total)]
    # Later points win where two coincide (a span that starts at frame 0).
    xp: list[float] = []
    fp: list[float] = []
    for x, y in zip(duck_points, duck_db, strict=True):
        if xp and x <= xp[-1]:
            fp[-1] = y
        else:
            xp.append(x)
            fp.append(y)
    duck = np.interp(points, np.asarray(xp), np.asarray(fp))
    gains = np.power(10.0, duck / 20.0) * _fade_factor(points, total, sleep_fade)
    return Envelope(points, gains)
