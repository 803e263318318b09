"""Measure clips for the mix planner: prepare them, and analyse their loudness and peaks.

An analysis (loudness, true peak, K-weighted energy per 10 ms, and what the
limiter would cost) is cached beside the clip it measures.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from voiceguide.audio import levels
from voiceguide.audio.format import SAMPLE_RATE
from voiceguide.files import CacheFolder, seal, unseal_json
from voiceguide.speech.clip import Clip

# Each clip is faded in and out this much, so no line starts or stops with a click.
CLIP_FADE_IN_MS = 5
CLIP_FADE_OUT_MS = 15
WINDOW_FRAMES = 441  # 10 ms: the resolution of the energy profiles
ANALYSIS_VERSION = 9  # bump when prepare_line changes: lines are compressed, then measured
LOSS_STEP_DB = 2.0  # the limiter's loudness loss is measured every 2 dB of overshoot
LOSS_STEPS = 10  # up to 18 dB over the ceiling
LOSS_PIECE = 49  # frames: the resolution the limiter's cost is worked out at
VOICE_REFERENCE_LUFS = -23.0  # every clip is levelled to this before the session gain
CHIME_BELOW_VOICE_DB = 8.0
COMPRESS_ABOVE_LOUDNESS_DB = 8.0  # a line's peaks more than this above its loudness
COMPRESS_RATIO = 2.5  # chosen with scripts/dynamics: 2:1 left the limiter 1.4 dB at p95

FloatArray = npt.NDArray[np.float32]


@functools.cache
def _audio_segment() -> Any:
    """Return pydub's AudioSegment, imported late so that the CLI's --help stays instant.

    pydub warns on import when ffmpeg is missing; voiceguide uses it only on raw
    samples (fades), which need no ffmpeg, and `play` works without ffmpeg.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Couldn't find ffmpeg", RuntimeWarning)
        from pydub import AudioSegment

    return AudioSegment


def prepare_line(clip: Clip) -> FloatArray:
    """Return a spoken line prepared (see prepare), then gently compressed.

    Speech peaks 18 to 20 dB above its loudness, the target leaves 14.5 dB to
    the ceiling, and a limiter doing the rest works on nearly every syllable
    (3.2 dB on a Piper line's loudest peak, as the median). A slow 2.5:1
    compressor above a threshold set from the line's own loudness brings the
    peaks down first; the limiter is left the rare ones (scripts/dynamics).

    Both are measured for less than the limiter's exactness, since a line is
    prepared each time it is played: the loudness on the clip at its own rate
    (half the samples of the session's; the voice has nothing above it), the
    peaks as sample peaks (the compressor works on 1 ms pieces and tens of
    ms; the voice is band-limited far below the session's Nyquist, so its
    inter-sample peaks add little). The limiter measures true peaks.
    """
    audio = prepare(clip)
    if len(audio) == 0:
        return audio
    loudness = levels.loudness(clip.samples.astype(np.float32) / 32768.0, clip.sample_rate)
    if not math.isfinite(loudness):
        return audio
    threshold = levels.from_db(loudness + COMPRESS_ABOVE_LOUDNESS_DB)
    gain = levels.compressor_gain(
        np.abs(audio), SAMPLE_RATE, threshold=threshold, ratio=COMPRESS_RATIO
    )
    return (audio * gain).astype(np.float32)


def prepare(clip: Clip) -> FloatArray:
    """Return a clip as float samples at the session rate, faded at both ends.

    Resampling uses a windowed-sinc polyphase filter, not pydub's (audioop's linear
    interpolation leaves mirror images above the voice's band, which sound
    harsh, count towards loudness and are then cut by the MP3 encoder's
    low-pass, making MP3s measure 0.45 LU quieter than the WAV). pydub does
    the fades.
    """
    AudioSegment = _audio_segment()  # noqa: N806 - the class, imported late

    if len(clip.samples) == 0:
        return np.zeros(0, dtype=np.float32)
    samples = clip.samples
    if clip.sample_rate != SAMPLE_RATE:
        if SAMPLE_RATE % clip.sample_rate == 0:  # 22.05 kHz voices: the usual case
            resampled = levels.upsample(samples.astype(np.float64), SAMPLE_RATE // clip.sample_rate)
        else:
            from scipy.signal import resample_poly

            common = math.gcd(SAMPLE_RATE, clip.sample_rate)
            resampled = resample_poly(
                samples.astype(np.float64), SAMPLE_RATE // common, clip.sample_rate // common
            )
        samples = np.clip(np.round(resampled), -32768, 32767).astype(np.int16)
    segment = AudioSegment(
        data=samples.astype("<i2").tobytes(),
        sample_width=2,
        frame_rate=SAMPLE_RATE,
        channels=1,
    )
    segment = segment.fade_in(CLIP_FADE_IN_MS).fade_out(CLIP_FADE_OUT_MS)
    faded = np.frombuffer(segment.raw_data, dtype="<i2")
    return (faded.astype(np.float32) / 32768.0).astype(np.float32)


@dataclass(frozen=True)
class Analysis:
    """What the planner needs to know about a prepared mono clip."""

    loudness_lufs: float  # as a mono signal
    true_peak: float  # linear
    energy: npt.NDArray[np.float64]  # K-weighted squared samples per 10 ms window
    # The share of the K-weighted energy left after limiting, when the clip's
    # true peak is 0, 2, 4, ... dB over the ceiling.
    kept_after_limit: tuple[float, ...] = (1.0,)

    def kept(self, overshoot_db: float) -> float:
        """Return the energy share the limiter leaves for a peak overshoot_db over the ceiling."""
        if overshoot_db <= 0:
            return 1.0
        steps = np.arange(len(self.kept_after_limit)) * LOSS_STEP_DB
        return float(np.interp(overshoot_db, steps, self.kept_after_limit))

    def to_json(self) -> str:
        return json.dumps(self.to_data())

    def to_data(self) -> dict[str, Any]:
        """Return the analysis as plain values (what to_json writes)."""
        return {
            "version": ANALYSIS_VERSION,
            "loudness_lufs": self.loudness_lufs,
            "true_peak": self.true_peak,
            "energy": [float(e) for e in self.energy],
            "kept_after_limit": list(self.kept_after_limit),
        }

    @classmethod
    def from_json(cls, text: str) -> Analysis | None:
        """Return the analysis text holds, or None unless it is a sound one of this version."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            return None
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: object) -> Analysis | None:
        """Return the analysis plain values hold (see to_data), or None unless sound."""
        if not isinstance(data, dict) or data.get("version") != ANALYSIS_VERSION:
            return None
        numbers = _numbers([data.get("loudness_lufs"), data.get("true_peak")])
        energy = _numbers(data.get("energy"))
        kept = _numbers(data.get("kept_after_limit"))
        if numbers is None or energy is None or kept is None or len(kept) == 0:
            return None
        loudness, peak = float(numbers[0]), float(numbers[1])
        if math.isnan(loudness) or loudness == math.inf:  # -inf: a silent clip
            return None
        measures = np.concatenate([numbers[1:], energy, kept])
        if not (np.isfinite(measures).all() and (measures >= 0).all()):
            return None
        return cls(loudness, peak, energy, tuple(float(k) for k in kept))


def _numbers(value: object) -> npt.NDArray[np.float64] | None:
    """Return a JSON list of numbers as floats, or None if it is anything else."""
    if not isinstance(value, list):
        return None
    try:
        array = np.array(value)  # strings, nulls, objects or nesting give another dtype or shape
    except (ValueError, TypeError, OverflowError):
        return None
    if array.ndim != 1 or array.dtype.kind not in "iuf":
        return None
    return array.astype(np.float64)


def analyse(audio: FloatArray, peaks: npt.NDArray[np.float64] | None = None) -> Analysis:
    """Measure a prepared mono clip, and how much loudness limiting would cost it.

    peaks is the clip's true-peak envelope, if it is already known.
    """
    if len(audio) == 0:
        return Analysis(-math.inf, 0.0, np.zeros(0))
    weighted = levels.k_weight(audio, SAMPLE_RATE)
    squares = weighted**2
    total = float(np.sum(squares)) or 1.0
    peaks = levels.peak_envelope(audio) if peaks is None else peaks
    peak = float(peaks.max())
    # The limiter's gain moves over 10 ms, so its cost is worked out on 49-frame
    # (1.1 ms) pieces: each piece's highest peak and its energy. That is 49 times
    # less work than frame by frame, for a share within 0.06 dB of it (measured on
    # 25 Piper lines, 2 to 18 dB over the ceiling).
    pieces = math.ceil(len(audio) / LOSS_PIECE)
    padded = np.zeros(pieces * LOSS_PIECE)
    padded[: len(peaks)] = peaks
    piece_peaks = padded.reshape(pieces, LOSS_PIECE).max(axis=1)
    padded[: len(squares)] = squares
    piece_energy = padded.reshape(pieces, LOSS_PIECE).sum(axis=1)
    kept = [1.0]
    for step in range(1, LOSS_STEPS):
        ceiling = peak / levels.from_db(step * LOSS_STEP_DB)
        gain = levels.limiter_gain(piece_peaks, ceiling, SAMPLE_RATE / LOSS_PIECE)
        # The gain changes slowly (10 ms), so it may be applied after the K-weighting.
        kept.append(float(np.sum(piece_energy * gain**2)) / total)
    sub_block = round(SAMPLE_RATE * levels.SUB_BLOCK_S)
    return Analysis(
        levels.gated_loudness(levels.sub_block_energies(squares, sub_block), sub_block),
        peak,
        levels.sub_block_energies(squares, WINDOW_FRAMES),
        tuple(kept),
    )


class AnalysisCache:
    """Analyses stored as JSON beside the clip cache's WAV files.

    Each file is the SHA-256 checksum of its key and JSON text, in hex, on a
    line of its own, then the JSON: one that fails the check is treated as missing.
    `known` holds analyses already read (a session manifest's, as plain values
    by key), looked up before any file; `seen` gathers every analysis got or
    put, so that the manifest can keep them.
    """

    def __init__(
        self, folder: CacheFolder | None, known: Mapping[str, object] | None = None
    ) -> None:
        self.folder = folder
        self.known = dict(known) if known is not None else {}
        self.seen: dict[str, object] = {}

    @staticmethod
    def name(key: str) -> str:
        """Return the entry's file name, relative to the cache's folder."""
        return f"{key[:2]}/{key}.analysis.json"

    def get(self, key: str) -> Analysis | None:
        if key in self.known:
            analysis = Analysis.from_data(self.known[key])
            if analysis is not None:
                self.seen[key] = self.known[key]
                return analysis
        entry = self.folder.read(self.name(key)) if self.folder is not None else None
        data = unseal_json(key, entry)
        analysis = Analysis.from_data(data)
        if analysis is not None:
            self.seen[key] = data
        return analysis

    def put(self, key: str, analysis: Analysis) -> None:
        self.seen[key] = analysis.to_data()
        if self.folder is None:
            return
        entry = seal(key, analysis.to_json().encode())
        self.folder.put(
            self.name(key), entry, lambda e: Analysis.from_data(unseal_json(key, e)) is not None
        )


@dataclass(frozen=True)
class Chime:
    """The chime, prepared, with its analysis and the gain that sets it under the voice."""

    audio: FloatArray
    analysis: Analysis
    gain: float


def measure_chime(chime: Clip, analyses: AnalysisCache) -> Chime:
    """Prepare and measure the chime (its analysis is cached like a line's)."""
    audio = prepare(chime)
    key = "chime-" + hashlib.sha256(audio.tobytes()).hexdigest()
    analysis = analyses.get(key)
    if analysis is None:
        analysis = analyse(audio)
        analyses.put(key, analysis)
    gain = levels.from_db(VOICE_REFERENCE_LUFS - CHIME_BELOW_VOICE_DB - analysis.loudness_lufs)
    return Chime(audio, analysis, gain)


@dataclass(frozen=True)
class BedLevel:
    """A music loop measured and levelled for the session (before the session gain)."""

    loop: FloatArray  # frames x 2
    gain: float  # linear: the loop at the music volume
    peak: float  # the loop's sample peak
    energy: npt.NDArray[np.float64]  # K-weighted energy per 10 ms at that gain


def measure_bed(loop: FloatArray, music_volume_db: float, analyses: AnalysisCache) -> BedLevel:
    """Measure a music loop's loudness (cached) and set its level under the voice."""
    # From the array's own buffer: the same digest as of its bytes, without a 10 MB copy.
    key = "bed-" + hashlib.sha256(np.ascontiguousarray(loop).data).hexdigest()
    cached = analyses.get(key)
    if cached is not None:
        bed_lufs, stereo_energy = cached.loudness_lufs, cached.energy
        peak = cached.true_peak  # the loop's sample peak, as measured below
    else:
        # Prime the filter with the loop's own end, so the loop is measured in its steady
        # state (the K-weighting response dies out well within the primer).
        primer = min(len(loop), 1 << 15)
        primed = np.concatenate([loop[-primer:], loop])
        weighted = levels.k_weight(primed, SAMPLE_RATE)[primer:] ** 2
        stereo = weighted.sum(axis=1)
        bed_lufs = levels.energy_to_lufs(float(np.mean(stereo)))
        stereo_energy = levels.sub_block_energies(stereo, WINDOW_FRAMES)
        peak = float(np.max(np.abs(loop)))
        analyses.put(key, Analysis(bed_lufs, peak, stereo_energy))
    gain = levels.from_db(VOICE_REFERENCE_LUFS + music_volume_db - bed_lufs)
    peak = peak or 1.0
    # Never so loud that the bed alone peaks near the ceiling (a very peaky file).
    gain = min(gain, levels.from_db(VOICE_REFERENCE_LUFS + 10) / peak)
    return BedLevel(loop, gain, peak, stereo_energy * gain**2)
