"""Assemble a session: routine + speech + options -> Timeline, mix plan and audio."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

from voiceguide.assets import asset_path
from voiceguide.audio import Block, read_wav_mono
from voiceguide.mix import TARGET_LUFS, AnalysisCache, Mix, plan_mix
from voiceguide.music import DEFAULT_VOLUME_DB, load_bed
from voiceguide.render import render
from voiceguide.routine import Routine, Variant
from voiceguide.speech.base import Clip, SpeechLibrary
from voiceguide.timeline import Timeline, compile_timeline, spoken_texts


def load_asset(name: str) -> Clip:
    """Return a generated sound from assets/."""
    samples, rate = read_wav_mono(asset_path(name))
    return Clip(samples, rate)


def load_chime() -> Clip:
    """Return the chime that opens each step."""
    return load_asset("chime.wav")


class Session:
    """A compiled timeline, and the mix plan made when audio is first wanted."""

    def __init__(self, timeline: Timeline, plan: Callable[[], Mix]) -> None:
        self.timeline = timeline
        self._plan = plan

    @functools.cached_property
    def mix(self) -> Mix:
        """The levels of every clip and of the bed (measured on first use, then cached)."""
        return self._plan()

    def blocks(self, start_frame: int = 0) -> Iterator[Block]:
        """Yield the rendered session from start_frame on, block by block."""
        return render(self.timeline, self.mix, start_frame=start_frame)


def build_session(
    routine: Routine,
    variant: Variant,
    speech: SpeechLibrary,
    *,
    minutes: float | None = None,
    lead_in_ms: int = 0,
    skip_intro: bool = False,
    start_step: int = 1,
    music: Path | None = None,
    music_volume_db: float = DEFAULT_VOLUME_DB,
    target_lufs: float = TARGET_LUFS,
    chime: Clip | None = None,
) -> Session:
    """Synthesize (or fetch from cache) every line, compile the timeline, plan the mix."""
    chime = chime if chime is not None else load_chime()
    bed = load_bed(music) if music is not None else None  # a bad file fails before any work
    speech.prepare(spoken_texts(routine, variant, lead_in_ms=lead_in_ms))
    timeline = compile_timeline(
        routine,
        variant,
        speech.duration_ms,
        chime_ms=chime.duration_ms,
        minutes=minutes,
        lead_in_ms=lead_in_ms,
        skip_intro=skip_intro,
        start_step=start_step,
    )

    def plan() -> Mix:
        return plan_mix(
            timeline,
            speech.clip,
            chime,
            bed_loop=bed,
            music_volume_db=music_volume_db,
            cache_key=speech.cache_key,
            analyses=AnalysisCache(speech.cache.folder if speech.cache is not None else None),
            target_lufs=target_lufs,
        )

    return Session(timeline, plan)
