"""The speech engine interface and the clips it produces."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from voiceguide.speech.cache import ClipCache


# Leading and trailing engine silence below this level is trimmed, so the
# timeline's pauses, not the engine's, set the pace.
TRIM_THRESHOLD = 0.004  # about -48 dBFS
TRIM_MARGIN_MS = 20


@dataclass(frozen=True, eq=False)
class Clip:
    """Mono 16-bit speech audio."""

    samples: npt.NDArray[np.int16]
    sample_rate: int

    @property
    def duration_ms(self) -> int:
        """The clip's length in whole milliseconds, rounded up."""
        return math.ceil(len(self.samples) * 1000 / self.sample_rate)

    def trimmed(self) -> Clip:
        """Return the clip without its leading and trailing near-silence."""
        loud = np.flatnonzero(np.abs(self.samples.astype(np.int32)) > TRIM_THRESHOLD * 32768)
        if loud.size == 0:
            return Clip(self.samples[:0], self.sample_rate)
        margin = self.sample_rate * TRIM_MARGIN_MS // 1000
        start = max(int(loud[0]) - margin, 0)
        end = min(int(loud[-1]) + 1 + margin, len(self.samples))
        return Clip(self.samples[start:end].copy(), self.sample_rate)


@dataclass(frozen=True)
class VoiceInfo:
    """A voice an engine offers."""

    id: str
    name: str
    languages: tuple[str, ...]


class SpeechEngine(Protocol):
    """Turns text into speech, one utterance at a time."""

    @property
    def identity(self) -> str:
        """A string naming the engine, voice and rate; part of every cache key."""
        ...

    def synthesize(self, text: str) -> Clip:
        """Return the spoken clip for text."""
        ...

    def voices(self) -> list[VoiceInfo]:
        """Return the voices this engine offers."""
        ...


class SpeechLibrary:
    """Clips for texts, synthesized once and then served from the cache."""

    def __init__(self, engine: SpeechEngine, cache: ClipCache | None) -> None:
        self.engine = engine
        self.cache = cache
        self._durations: dict[str, int] = {}
        self.synthesized = 0  # how many clips this library had to synthesize

    def clip(self, text: str) -> Clip:
        """Return the trimmed clip for text, synthesizing it if it is not cached."""
        key = None
        if self.cache is not None:
            key = self.cache.key(self.engine.identity, text)
            cached = self.cache.get(key)
            if cached is not None:
                self._durations[text] = cached.duration_ms
                return cached
        clip = self.engine.synthesize(text).trimmed()
        self.synthesized += 1
        if self.cache is not None and key is not None:
            self.cache.put(key, clip)
        self._durations[text] = clip.duration_ms
        return clip

    def prepare(self, texts: Iterable[str]) -> None:
        """Make sure every text has a clip (synthesize what is missing)."""
        for text in texts:
            if text not in self._durations:
                self.clip(text)

    def duration_ms(self, text: str) -> int:
        """Return the length of text's clip in milliseconds."""
        if text not in self._durations:
            self.clip(text)
        return self._durations[text]
