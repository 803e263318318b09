"""Plan the mix: level every clip, place the music bed, and set the session's loudness.

The renderer streams, so levels are planned before the first block: each
clip's K-weighted energy (cached beside the clip) is placed where the clip
sits in the timeline, with the music bed under its ducking envelope, and the
integrated loudness of the whole mix is predicted (ITU-R BS.1770 gating). One
gain then brings the session to the target, and a true-peak limiter keeps
every clip under the ceiling.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from voiceguide import levels
from voiceguide.audio import SAMPLE_RATE, ms_to_frames
from voiceguide.files import CacheFolder, checksum
from voiceguide.music import DEFAULT_VOLUME_DB, DUCK_DB, Envelope, plan_envelope
from voiceguide.speech.base import Clip
from voiceguide.timeline import Kind, Timeline

TARGET_LUFS = -16.0  # spoken-word podcasts
# The mix's true-peak ceiling, 0.5 dB under the -1 dBTP spec to leave room for
# the MP3 encoder. Spoken lines are limited to this less the bed's peak under them.
CEILING_DBTP = -1.5
VOICE_REFERENCE_LUFS = -23.0  # every clip is levelled to this before the session gain
CHIME_BELOW_VOICE_DB = 8.0
FADE_IN_MS = 5
FADE_OUT_MS = 15
WINDOW_FRAMES = 441  # 10 ms: the resolution of the energy profiles
ANALYSIS_VERSION = 6
LOSS_STEP_DB = 2.0  # the limiter's loudness loss is measured every 2 dB of overshoot
LOSS_STEPS = 10  # up to 18 dB over the ceiling
LOSS_PIECE = 49  # frames: the resolution the limiter's cost is worked out at

FloatArray = npt.NDArray[np.float32]
_T = TypeVar("_T")


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
    segment = segment.fade_in(FADE_IN_MS).fade_out(FADE_OUT_MS)
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
        return json.dumps(
            {
                "version": ANALYSIS_VERSION,
                "loudness_lufs": self.loudness_lufs,
                "true_peak": self.true_peak,
                "energy": [float(e) for e in self.energy],
                "kept_after_limit": list(self.kept_after_limit),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Analysis | None:
        """Return the analysis text holds, or None unless it is a sound one of this version."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            return None
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
    """

    def __init__(self, folder: CacheFolder | None) -> None:
        self.folder = folder

    @staticmethod
    def name(key: str) -> str:
        """Return the entry's file name, relative to the cache's folder."""
        return f"{key[:2]}/{key}.analysis.json"

    def get(self, key: str) -> Analysis | None:
        entry = self.folder.read(self.name(key)) if self.folder is not None else None
        return None if entry is None else _unseal(key, entry)

    def put(self, key: str, analysis: Analysis) -> None:
        if self.folder is None:
            return
        text = analysis.to_json().encode()
        entry = checksum(key.encode(), text).hex().encode() + b"\n" + text
        self.folder.put(self.name(key), entry, lambda e: _unseal(key, e) is not None)


def _unseal(key: str, entry: bytes) -> Analysis | None:
    """Return the analysis in an entry, or None if the entry fails its check."""
    check, _, text = entry.partition(b"\n")
    if check != checksum(key.encode(), text).hex().encode():
        return None
    return Analysis.from_json(text.decode("utf-8", errors="replace"))


@dataclass(frozen=True)
class Bed:
    """A music loop with its gain and ducking envelope."""

    loop: FloatArray  # frames x 2
    gain: float  # linear, the session gain included
    envelope: Envelope

    def block(self, start: int, count: int) -> FloatArray:
        """Return the bed for frames start..start+count, enveloped."""
        out = np.empty((count, self.loop.shape[1]), dtype=np.float32)
        done = 0
        while done < count:  # copy whole stretches of the loop, wrapping at its end
            offset = (start + done) % len(self.loop)
            take = min(count - done, len(self.loop) - offset)
            out[done : done + take] = self.loop[offset : offset + take]
            done += take
        frames = np.arange(start, start + count, dtype=np.float64)
        gain = (self.envelope.gain(frames) * self.gain).astype(np.float32)
        out *= gain[:, None]
        return out


class Mix:
    """Everything the renderer needs: final clip audio, the chime, the bed."""

    def __init__(
        self,
        voice: Callable[[str], FloatArray],
        *,
        chime: FloatArray,
        bed: Bed | None,
        predicted_lufs: float,
        session_db: float = 0.0,
    ) -> None:
        self.voice = voice  # a spoken line ready to mix: levelled, gained, limited if needed
        self.chime = chime
        self.bed = bed
        self.predicted_lufs = predicted_lufs  # NaN when the session gain was given
        self.session_db = session_db


class _Recent(OrderedDict[str, _T]):
    """The last few values made, by text (keeps memory bounded in long sessions)."""

    def __init__(self, make: Callable[[str], _T], keep: int = 16) -> None:
        super().__init__()
        self.make = make
        self.keep = keep

    def get_or_make(self, text: str) -> _T:
        if text in self:
            self.move_to_end(text)
            return self[text]
        value = self[text] = self.make(text)
        if len(self) > self.keep:
            self.popitem(last=False)
        return value


def _bed_analysis(
    loop: FloatArray, analyses: AnalysisCache
) -> tuple[float, npt.NDArray[np.float64]]:
    """Return a loop's loudness and its K-weighted energy per 10 ms (both channels summed)."""
    key = "bed-" + hashlib.sha256(loop.tobytes()).hexdigest()
    cached = analyses.get(key)
    if cached is not None:
        return cached.loudness_lufs, cached.energy
    # Prime the filter with the loop's own end, so the loop is measured in its steady
    # state (the K-weighting response dies out well within the primer).
    primer = min(len(loop), 1 << 15)
    primed = np.concatenate([loop[-primer:], loop])
    weighted = levels.k_weight(primed, SAMPLE_RATE)[primer:] ** 2
    stereo = weighted.sum(axis=1)
    loudness = levels.energy_to_lufs(float(np.mean(stereo)))
    energy = levels.sub_block_energies(stereo, WINDOW_FRAMES)
    analyses.put(key, Analysis(loudness, float(np.max(np.abs(loop))), energy))
    return loudness, energy


class MixPlanner:
    """Plans mixes for a session: clip analyses, the chime and the bed, measured once.

    A session that is still being synthesized asks for a new plan each time
    more of it is known; lines not measured yet are assumed to be like the
    ones measured so far (see `stand_in`), and the session gain, once chosen,
    is kept so the levels never jump.
    """

    def __init__(
        self,
        speech: Callable[[str], Clip],
        chime: Clip,
        *,
        bed_loop: FloatArray | None = None,
        music_volume_db: float = DEFAULT_VOLUME_DB,
        cache_key: Callable[[str], str | None] | None = None,
        analyses: AnalysisCache | None = None,
        target_lufs: float = TARGET_LUFS,
    ) -> None:
        self.speech = speech
        self.cache_key = cache_key
        self.analyses = analyses if analyses is not None else AnalysisCache(None)
        self.target_lufs = target_lufs
        self.found: dict[str, Analysis] = {}
        # Resampled, faded clips and their true-peak envelopes, shared by the
        # analysis and every Mix planned (a session still being synthesized
        # plans several), so no clip is prepared twice while it is in use.
        # A line is prepared and measured when it is synthesized and made final
        # when the renderer reaches it, which on a cold cache can be a dozen lines
        # later: the peak envelopes (float32, 1.8 MB per 10 s) are kept that long,
        # since they cost more to make again than the rest of the line's work.
        self._prepared = _Recent(lambda text: prepare(self.speech(text)), keep=4)
        self._peaks = _Recent(
            lambda text: levels.peak_envelope(self._prepared.get_or_make(text)).astype(np.float32),
            keep=24,
        )
        self._final: _Recent[FloatArray] | None = None
        self._final_chime: FloatArray | None = None
        self._final_db: float | None = None  # the session gain _final and _final_chime are for
        self.chime_audio = prepare(chime)
        chime_key = "chime-" + hashlib.sha256(self.chime_audio.tobytes()).hexdigest()
        chime_analysis = self.analyses.get(chime_key)
        if chime_analysis is None:
            chime_analysis = analyse(self.chime_audio)
            self.analyses.put(chime_key, chime_analysis)
        self.chime_analysis = chime_analysis
        self.chime_gain = levels.from_db(
            VOICE_REFERENCE_LUFS - CHIME_BELOW_VOICE_DB - chime_analysis.loudness_lufs
        )
        self.bed_loop = bed_loop
        self.bed_gain = 1.0
        self.loop_peak = 1.0
        self.bed_energy: npt.NDArray[np.float64] | None = None
        if bed_loop is not None:
            bed_lufs, stereo_energy = _bed_analysis(bed_loop, self.analyses)
            bed_gain = levels.from_db(VOICE_REFERENCE_LUFS + music_volume_db - bed_lufs)
            self.loop_peak = float(np.max(np.abs(bed_loop))) or 1.0
            # Never so loud that the bed alone peaks near the ceiling (a very peaky file).
            self.bed_gain = min(
                bed_gain, levels.from_db(VOICE_REFERENCE_LUFS + 10) / self.loop_peak
            )
            self.bed_energy = stereo_energy * self.bed_gain**2

    def analyse(self, texts: Iterable[str]) -> None:
        """Measure the lines not measured yet (from the analysis cache when it has them)."""
        for text in texts:
            if text in self.found:
                continue
            key = self.cache_key(text) if self.cache_key is not None else None
            analysis = self.analyses.get(key) if key is not None else None
            if analysis is None:
                audio = self._prepared.get_or_make(text)
                analysis = analyse(audio, self._peaks.get_or_make(text).astype(np.float64))
                if key is not None:
                    self.analyses.put(key, analysis)
            self.found[text] = analysis

    def stand_in(self) -> Callable[[int], Analysis]:
        """Return a maker of analyses, by length in ms, for lines not synthesized yet.

        They are at the reference loudness, with the mean energy per 10 ms, the
        median peak-to-loudness ratio and the mean limiter loss of the lines
        measured so far (worked out once, here).
        """
        known = [a for a in self.found.values() if math.isfinite(a.loudness_lufs)]
        if known:
            levelled = [levels.from_db(VOICE_REFERENCE_LUFS - a.loudness_lufs) ** 2 for a in known]
            energy = sum(float(a.energy.sum()) * g for a, g in zip(known, levelled, strict=True))
            per_window = energy / max(sum(len(a.energy) for a in known), 1)
            crest = float(np.median([levels.to_db(a.true_peak) - a.loudness_lufs for a in known]))
            curves = [a.kept_after_limit for a in known if len(a.kept_after_limit) == LOSS_STEPS]
            kept = tuple(float(k) for k in np.mean(curves, axis=0)) if curves else (1.0,)
        else:  # nothing measured yet: a steady line with speech's usual 18 dB crest
            per_window = 10 ** ((VOICE_REFERENCE_LUFS + 0.691) / 10) * WINDOW_FRAMES
            crest, kept = 18.0, (1.0,)

        def make(duration_ms: int) -> Analysis:
            windows = max(math.ceil(ms_to_frames(duration_ms) / WINDOW_FRAMES), 1)
            return Analysis(
                VOICE_REFERENCE_LUFS,
                levels.from_db(VOICE_REFERENCE_LUFS + crest),
                np.full(windows, per_window),
                kept,
            )

        return make

    def plan(self, timeline: Timeline, session_db: float | None = None) -> Mix:
        """Plan the mix of timeline; solve for the session gain unless session_db is given.

        Lines of the timeline not analysed yet are planned with a stand-in and
        get no gain: the renderer must not reach them with this plan.
        """
        found = self.found

        # Level every clip to the same loudness first: no step louder than another.
        def level(analysis: Analysis) -> float:
            if not math.isfinite(analysis.loudness_lufs):
                return 1.0
            return levels.from_db(VOICE_REFERENCE_LUFS - analysis.loudness_lufs)

        envelope = plan_envelope(timeline) if self.bed_loop is not None else None

        def ceiling_at(session_db: float) -> float:
            """The true-peak limit for spoken lines: the ceiling less the ducked bed's peak."""
            ceiling = levels.from_db(CEILING_DBTP)
            if self.bed_loop is not None:
                ducked = self.loop_peak * self.bed_gain * levels.from_db(session_db - DUCK_DB)
                # The loop's sample peak, plus a margin for inter-sample peaks.
                ceiling -= ducked * 1.1
            return max(ceiling, levels.from_db(CEILING_DBTP - 12))

        predicted = math.nan
        if session_db is None:
            stand_in = self.stand_in()
            stand_ins = {
                s.text: stand_in(s.duration_ms)
                for s in timeline.segments
                if s.kind in (Kind.SPEECH, Kind.CUE) and s.text not in found
            }

            def analysis_of(text: str) -> Analysis:
                return found[text] if text in found else stand_ins[text]

            # Predict the mix's loudness from 10 ms energy windows placed on the
            # timeline, then find the one session gain that brings it to the
            # target, allowing for what the limiter takes from clips over the ceiling.
            windows = math.ceil(ms_to_frames(timeline.total_ms) / WINDOW_FRAMES) + 1
            bed_part = np.zeros(windows)
            if envelope is not None and self.bed_energy is not None:
                centres = (np.arange(windows, dtype=np.float64) + 0.5) * WINDOW_FRAMES
                bed_part = self.bed_energy[np.arange(windows) % len(self.bed_energy)]
                bed_part = bed_part * envelope.gain(centres) ** 2

            def predict(session_db: float) -> float:
                ceiling_db = levels.to_db(ceiling_at(session_db))
                energy = bed_part * levels.from_db(session_db) ** 2
                for segment in timeline.segments:
                    if segment.kind is Kind.SILENCE:
                        continue
                    if segment.kind is Kind.CHIME:
                        analysis, gain = self.chime_analysis, self.chime_gain
                    else:
                        analysis = analysis_of(segment.text)
                        gain = level(analysis)
                    final_db = levels.to_db(gain) + session_db
                    over = levels.to_db(analysis.true_peak) + final_db - ceiling_db
                    share = analysis.kept(over)
                    first = ms_to_frames(segment.start_ms) // WINDOW_FRAMES
                    profile = analysis.energy
                    count = min(len(profile), windows - first)
                    # A mono clip plays on both channels: twice the energy.
                    energy[first : first + count] += (
                        2 * levels.from_db(final_db) ** 2 * share * profile[:count]
                    )
                per_sub_block = 10  # ten 10 ms windows make one 100 ms sub-block
                usable = windows // per_sub_block * per_sub_block
                sub_blocks = energy[:usable].reshape(-1, per_sub_block).sum(axis=1)
                return levels.gated_loudness(sub_blocks, WINDOW_FRAMES * per_sub_block)

            session_db = 0.0
            predicted = predict(session_db)
            for _ in range(8):
                if not math.isfinite(predicted) or abs(self.target_lufs - predicted) < 0.02:
                    break
                session_db += self.target_lufs - predicted
                predicted = predict(session_db)
        session_gain = levels.from_db(session_db)

        ceiling = ceiling_at(session_db)
        if self._final is None or self._final_db != session_db:

            def voice(text: str) -> FloatArray:
                gain = level(found[text]) * session_gain
                audio = (self._prepared.get_or_make(text) * gain).astype(np.float32)
                if found[text].true_peak * gain > ceiling:
                    peaks = self._peaks.get_or_make(text).astype(np.float64) * gain
                    audio = levels.limit(audio, ceiling, SAMPLE_RATE, peaks=peaks)
                return audio

            self._final = _Recent(voice, keep=8)
        if self._final_chime is None or self._final_db != session_db:
            chime = (self.chime_audio * self.chime_gain * session_gain).astype(np.float32)
            if levels.true_peak(chime) > ceiling:
                chime = levels.limit(chime, ceiling, SAMPLE_RATE)
            self._final_chime = chime
        bed = None
        if self.bed_loop is not None and envelope is not None:
            bed = Bed(self.bed_loop, self.bed_gain * session_gain, envelope)
        self._final_db = session_db
        return Mix(
            self._final.get_or_make,
            chime=self._final_chime,
            bed=bed,
            predicted_lufs=predicted,
            session_db=session_db,
        )


def plan_mix(
    timeline: Timeline,
    speech: Callable[[str], Clip],
    chime: Clip,
    *,
    bed_loop: FloatArray | None = None,
    music_volume_db: float = DEFAULT_VOLUME_DB,
    cache_key: Callable[[str], str | None] | None = None,
    analyses: AnalysisCache | None = None,
    target_lufs: float = TARGET_LUFS,
) -> Mix:
    """Plan levels so the finished session measures target_lufs integrated."""
    planner = MixPlanner(
        speech,
        chime,
        bed_loop=bed_loop,
        music_volume_db=music_volume_db,
        cache_key=cache_key,
        analyses=analyses,
        target_lufs=target_lufs,
    )
    planner.analyse(timeline.spoken_texts())
    return planner.plan(timeline)
