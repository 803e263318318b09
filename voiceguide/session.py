"""Assemble a session: routine + speech + options -> Timeline and its audio."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from voiceguide.assets import asset_path
from voiceguide.audio import Block, read_wav_mono
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


@dataclass(frozen=True)
class Session:
    """A compiled timeline with what it takes to render it."""

    timeline: Timeline
    speech: SpeechLibrary
    chime: Clip

    def blocks(self, start_frame: int = 0) -> Iterator[Block]:
        """Yield the rendered session from start_frame on, block by block."""
        return render(self.timeline, self.speech.clip, self.chime, start_frame=start_frame)


def build_session(
    routine: Routine,
    variant: Variant,
    speech: SpeechLibrary,
    *,
    minutes: float | None = None,
    lead_in_ms: int = 0,
    skip_intro: bool = False,
    start_step: int = 1,
    chime: Clip | None = None,
) -> Session:
    """Synthesize (or fetch from cache) every line, then compile the timeline."""
    chime = chime if chime is not None else load_chime()
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
    return Session(timeline, speech, chime)
