"""Plan the mix: level every clip, place the music bed, and set the session's loudness.

The renderer streams, so levels are planned before the first block: each
clip's K-weighted energy (cached beside the clip) is placed where the clip
sits in the timeline, with the music bed under its ducking envelope, and the
integrated loudness of the whole mix is predicted (ITU-R BS.1770 gating). One
gain then brings the session to the target, and a true-peak limiter keeps
every clip under the ceiling.

A plan is made in three parts: predict the loudness for a session gain,
solve for the gain that meets the target, and finalise the clips at that gain.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from voiceguide.audio import levels
from voiceguide.audio.analysis import (
    LOSS_STEPS,
    VOICE_REFERENCE_LUFS,
    WINDOW_FRAMES,
    Analysis,
    AnalysisCache,
    BedLevel,
    Chime,
    FloatArray,
    analyse,
    measure_bed,
    measure_chime,
    prepare_line,
)
from voiceguide.audio.defaults import DEFAULT_VOLUME_DB, TARGET_LUFS
from voiceguide.audio.format import SAMPLE_RATE, ms_to_frames
from voiceguide.audio.music import DUCK_DB, Envelope, plan_envelope
from voiceguide.speech.clip import Clip
from voiceguide.timeline.model import Kind, Segment, Timeline

# The mix's true-peak ceiling, 0.5 dB under the -1 dBTP spec to leave room for
# the MP3 encoder. Spoken lines are limited to this less the bed's peak under them.
CEILING_DBTP = -1.5

_T = TypeVar("_T")


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

    def sound(self, segment: Segment) -> FloatArray:
        """Return a chime's or a line's audio, at the segment's own level."""
        audio = self.chime if segment.kind is Kind.CHIME else self.voice(segment.text)
        if segment.gain_db:
            # Made softer after the limiter, which it can only keep further from the ceiling.
            audio = (audio * levels.from_db(segment.gain_db)).astype(np.float32)
        return audio


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


def _level(analysis: Analysis) -> float:
    """Return the gain that brings a clip to the reference loudness: no step louder than another."""
    if not math.isfinite(analysis.loudness_lufs):
        return 1.0
    return levels.from_db(VOICE_REFERENCE_LUFS - analysis.loudness_lufs)


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
        chime: Chime,
        *,
        bed: BedLevel | None = None,
        cache_key: Callable[[str], str | None] | None = None,
        analyses: AnalysisCache | None = None,
        target_lufs: float = TARGET_LUFS,
    ) -> None:
        self.speech = speech
        self.chime = chime
        self.bed = bed
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
        self._prepared = _Recent(lambda text: prepare_line(self.speech(text)), keep=4)
        self._peaks = _Recent(
            lambda text: levels.peak_envelope(self._prepared.get_or_make(text)).astype(np.float32),
            keep=24,
        )
        self._final: _Recent[FloatArray] | None = None
        self._final_chime: FloatArray | None = None
        self._final_db: float | None = None  # the session gain _final and _final_chime are for

    @classmethod
    def create(
        cls,
        speech: Callable[[str], Clip],
        chime: Clip,
        *,
        bed_loop: FloatArray | None = None,
        music_volume_db: float = DEFAULT_VOLUME_DB,
        cache_key: Callable[[str], str | None] | None = None,
        analyses: AnalysisCache | None = None,
        target_lufs: float = TARGET_LUFS,
    ) -> MixPlanner:
        """Measure the chime and the bed (from the analysis cache when it has them), then plan."""
        analyses = analyses if analyses is not None else AnalysisCache(None)
        bed = measure_bed(bed_loop, music_volume_db, analyses) if bed_loop is not None else None
        return cls(
            speech,
            measure_chime(chime, analyses),
            bed=bed,
            cache_key=cache_key,
            analyses=analyses,
            target_lufs=target_lufs,
        )

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

    def aside(self, clip: Clip, session_db: float) -> FloatArray:
        """Return a line that is not in the timeline ("where am I?") at the session's level.

        It is levelled and limited as the session's own lines are, without
        touching the planner's caches (the player asks from another thread).
        """
        audio = prepare_line(clip)
        analysis = analyse(audio)
        gain = _level(analysis) * levels.from_db(session_db)
        out = (audio * gain).astype(np.float32)
        ceiling = self.ceiling_at(session_db)
        if analysis.true_peak * gain > ceiling:
            out = levels.limit(out, ceiling, SAMPLE_RATE)
        return out

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

    def ceiling_at(self, session_db: float) -> float:
        """Return the true-peak limit for spoken lines: the ceiling less the ducked bed's peak."""
        ceiling = levels.from_db(CEILING_DBTP)
        if self.bed is not None:
            ducked = self.bed.peak * self.bed.gain * levels.from_db(session_db - DUCK_DB)
            # The loop's sample peak, plus a margin for inter-sample peaks.
            ceiling -= ducked * 1.1
        return max(ceiling, levels.from_db(CEILING_DBTP - 12))

    def plan(self, timeline: Timeline, session_db: float | None = None) -> Mix:
        """Plan the mix of timeline; solve for the session gain unless session_db is given.

        When the gain is solved, lines not analysed yet count as stand-ins;
        with session_db given, a line is analysed when the renderer first
        wants it (a line analysed long before it is rendered would be
        prepared twice: the prepared lines kept are few, to bound memory).
        """
        envelope = plan_envelope(timeline) if self.bed is not None else None
        predicted = math.nan
        if session_db is None:
            session_db, predicted = self.solve_gain(timeline, envelope)
        return self._finalise(session_db, envelope, predicted)

    def predictor(self, timeline: Timeline, envelope: Envelope | None) -> Callable[[float], float]:
        """Return the mix's predicted integrated loudness (LUFS) as a function of the session gain.

        10 ms energy windows are placed on the timeline, allowing for what the
        limiter takes from clips over the ceiling. Lines not analysed yet count
        as stand-ins like the lines analysed so far. A sleep ending's music after
        the last words is left out: the target is for the session, whose voice
        it is.
        """
        found = self.found
        stand_in = self.stand_in()
        stand_ins = {
            s.text: stand_in(s.duration_ms)
            for s in timeline.segments
            if s.kind in (Kind.SPEECH, Kind.CUE) and s.text not in found
        }

        def analysis_of(text: str) -> Analysis:
            return found[text] if text in found else stand_ins[text]

        windows = math.ceil(ms_to_frames(timeline.session_ms) / WINDOW_FRAMES) + 1
        bed_part = np.zeros(windows)
        if envelope is not None and self.bed is not None:
            centres = (np.arange(windows, dtype=np.float64) + 0.5) * WINDOW_FRAMES
            bed_part = self.bed.energy[np.arange(windows) % len(self.bed.energy)]
            bed_part = bed_part * envelope.gain(centres) ** 2

        def predict(session_db: float) -> float:
            ceiling_db = levels.to_db(self.ceiling_at(session_db))
            energy = bed_part * levels.from_db(session_db) ** 2
            for segment in timeline.segments:
                if not segment.kind.audible:
                    continue
                if segment.kind is Kind.CHIME:
                    analysis, gain = self.chime.analysis, self.chime.gain
                else:
                    analysis = analysis_of(segment.text)
                    gain = _level(analysis)
                final_db = levels.to_db(gain) + session_db
                over = levels.to_db(analysis.true_peak) + final_db - ceiling_db
                share = analysis.kept(over)
                first = ms_to_frames(segment.start_ms) // WINDOW_FRAMES
                profile = analysis.energy
                count = max(min(len(profile), windows - first), 0)
                # A mono clip plays on both channels: twice the energy.
                power = levels.from_db(final_db + segment.gain_db) ** 2
                energy[first : first + count] += 2 * power * share * profile[:count]
            per_sub_block = 10  # ten 10 ms windows make one 100 ms sub-block
            usable = windows // per_sub_block * per_sub_block
            sub_blocks = energy[:usable].reshape(-1, per_sub_block).sum(axis=1)
            return levels.gated_loudness(sub_blocks, WINDOW_FRAMES * per_sub_block)

        return predict

    def solve_gain(self, timeline: Timeline, envelope: Envelope | None) -> tuple[float, float]:
        """Return the session gain (dB) that brings the mix to the target, and its prediction."""
        predict = self.predictor(timeline, envelope)
        session_db = 0.0
        predicted = predict(session_db)
        for _ in range(8):
            if not math.isfinite(predicted) or abs(self.target_lufs - predicted) < 0.02:
                break
            session_db += self.target_lufs - predicted
            predicted = predict(session_db)
        return session_db, predicted

    def _finalise(self, session_db: float, envelope: Envelope | None, predicted: float) -> Mix:
        """Return the mix at session_db: each line levelled, gained, and limited if it must be."""
        found = self.found
        session_gain = levels.from_db(session_db)
        ceiling = self.ceiling_at(session_db)
        if self._final is None or self._final_db != session_db:

            def voice(text: str) -> FloatArray:
                if text not in found:  # measured now, while its prepared audio is at hand
                    self.analyse([text])
                gain = _level(found[text]) * session_gain
                audio = (self._prepared.get_or_make(text) * gain).astype(np.float32)
                if found[text].true_peak * gain > ceiling:
                    peaks = self._peaks.get_or_make(text).astype(np.float64) * gain
                    audio = levels.limit(audio, ceiling, SAMPLE_RATE, peaks=peaks)
                return audio

            self._final = _Recent(voice, keep=8)
        if self._final_chime is None or self._final_db != session_db:
            chime = (self.chime.audio * self.chime.gain * session_gain).astype(np.float32)
            if levels.true_peak(chime) > ceiling:
                chime = levels.limit(chime, ceiling, SAMPLE_RATE)
            self._final_chime = chime
        bed = None
        if self.bed is not None and envelope is not None:
            bed = Bed(self.bed.loop, self.bed.gain * session_gain, envelope)
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
    planner = MixPlanner.create(
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
