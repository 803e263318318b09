"""The speech engine interface, with the capabilities an engine declares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from voiceguide.speech.clip import Clip, VoiceInfo


class SpeechEngine(Protocol):
    """Turns text into speech, one utterance at a time, and declares what it can do."""

    @property
    def identity(self) -> str:
        """A string naming the engine, voice and rate; part of every cache key."""
        ...

    @property
    def rate_wpm(self) -> int:
        """The speaking rate, in words per minute."""
        ...

    @property
    def parallel_synthesis(self) -> bool:
        """True when a line takes long enough that a process pool, or a background
        thread while the session plays, pays off (the neural voice)."""
        ...

    def single_threaded(self) -> None:
        """Compute on one thread from now on (one engine per core in a pool)."""
        ...

    def synthesize(self, text: str) -> Clip:
        """Return the spoken clip for text."""
        ...

    def voices(self) -> list[VoiceInfo]:
        """Return the voices this engine offers."""
        ...


EngineFactory = Callable[[str, "str | None", int], SpeechEngine]


@dataclass(frozen=True)
class EngineRecipe:
    """How to make an engine again in a worker process: a picklable factory and its arguments."""

    factory: EngineFactory
    engine: str
    voice: str | None
    rate_wpm: int
