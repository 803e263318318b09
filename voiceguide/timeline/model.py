"""The timeline model: every segment of a session with its start and length, in ms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from voiceguide.errors import Diagnostic
from voiceguide.routine.model import Variant

Measure = Callable[[str], int]  # a spoken line's length in ms


class Kind(StrEnum):
    """What a segment of the timeline holds."""

    SPEECH = "speech"
    CUE = "cue"
    CHIME = "chime"
    SILENCE = "silence"
    SLEEP = "sleep"  # a sleep ending's music bed after the last words, fading out

    @property
    def audible(self) -> bool:
        """True for a sound of its own (the music bed plays under every kind)."""
        return self in (Kind.SPEECH, Kind.CUE, Kind.CHIME)


@dataclass(frozen=True)
class Segment:
    """One piece of the session: a spoken line, a cue, a chime, or silence."""

    kind: Kind
    start_ms: int
    duration_ms: int
    step: int  # 0 is the intro, 1..N the steps, N+1 the outro
    text: str = ""
    gain_db: float = 0.0  # the clip's level relative to every other line (softer: negative)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True)
class StepSpan:
    """Where one step of the routine sits in the session."""

    index: int
    id: str
    title: str
    start_ms: int
    duration_ms: int

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True)
class Timeline:
    """A compiled session: every segment with its start and length."""

    routine: str
    title: str
    variant: Variant
    total_ms: int
    steps: tuple[StepSpan, ...]
    segments: tuple[Segment, ...]
    warnings: tuple[Diagnostic, ...] = field(default=())
    step_count: int = 0  # steps in the variant (a resumed session plays fewer)

    @property
    def sleep_ms(self) -> int:
        """The length of the sleep ending's music after the last words (0 without one)."""
        last = self.segments[-1] if self.segments else None
        return last.duration_ms if last is not None and last.kind is Kind.SLEEP else 0

    @property
    def session_ms(self) -> int:
        """Where the session proper ends: the total, less any sleep ending's music."""
        return self.total_ms - self.sleep_ms

    def spoken_texts(self) -> list[str]:
        """Return the distinct texts spoken in this session, in order."""
        texts = [s.text for s in self.segments if s.kind in (Kind.SPEECH, Kind.CUE)]
        return list(dict.fromkeys(texts))

    def to_json(self) -> dict[str, object]:
        """Return the timeline as the JSON document `voiceguide show --json` prints."""
        return {
            "routine": self.routine,
            "title": self.title,
            "variant": self.variant.value,
            "total_ms": self.total_ms,
            "steps": [
                {
                    "index": s.index,
                    "id": s.id,
                    "title": s.title,
                    "start_ms": s.start_ms,
                    "duration_ms": s.duration_ms,
                }
                for s in self.steps
            ],
            "segments": [
                {
                    "kind": s.kind.value,
                    "start_ms": s.start_ms,
                    "duration_ms": s.duration_ms,
                    "step": s.step,
                    "text": s.text,
                    **({"gain_db": s.gain_db} if s.gain_db else {}),
                }
                for s in self.segments
            ],
        }
