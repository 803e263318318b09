"""The routine model: a validated routine, its steps, cues and two versions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

CATEGORIES = ("massage", "stretch", "breathing", "relaxation", "other")
MAX_STEPS = 200
DEFAULT_SLEEP_MINUTES = 10  # the music bed after the last words of a sleep ending
MAX_SLEEP_MINUTES = 180


class Variant(StrEnum):
    """The two versions every routine has."""

    SHORT = "short"
    FULL = "full"


class CueAnchor(StrEnum):
    """What a cue's offset is measured from."""

    START = "start"  # offset_ms after the step starts
    END = "end"  # offset_ms before the step ends
    HALF = "half"  # half-way through the step


@dataclass(frozen=True)
class Cue:
    """Something said at a set moment inside a step's hold."""

    anchor: CueAnchor
    offset_ms: int
    say: str
    line: int | None = None

    def offset_in(self, step_ms: int) -> int:
        """Return the cue's offset from the start of a step lasting step_ms."""
        if self.anchor is CueAnchor.HALF:
            return step_ms // 2
        if self.anchor is CueAnchor.END:
            return step_ms - self.offset_ms
        return self.offset_ms


@dataclass(frozen=True)
class Step:
    """One step of a routine."""

    id: str
    title: str
    text: str
    short_ms: int
    full_ms: int
    cues: tuple[Cue, ...] = ()
    line: int | None = None
    duration_line: int | None = None
    short_text: str = ""  # spoken instead of text in the short version, when given

    def text_for(self, variant: Variant) -> str:
        """Return what the step says in a variant."""
        return self.short_text if variant is Variant.SHORT and self.short_text else self.text

    def duration_ms(self, variant: Variant) -> int:
        """Return the planned length of this step in the given variant."""
        return self.short_ms if variant is Variant.SHORT else self.full_ms


@dataclass(frozen=True)
class Routine:
    """A validated routine."""

    name: str
    title: str
    steps: tuple[Step, ...]
    variants: Mapping[Variant, tuple[str, ...]]
    source: str
    description: str = ""
    category: str = "other"
    safety: str = ""
    intro: str = ""
    outro: str = ""
    music: str | None = None  # a built-in ambience, a path relative to the routine, or "none"
    music_line: int | None = None
    sleep_ms: int | None = None  # a sleep ending with this much bed after the last words
    key_lines: Mapping[str, int] = field(default_factory=dict)  # top-level key -> its line

    @property
    def folder(self) -> Path | None:
        """Return the routine file's folder (None for a built-in)."""
        return None if self.source.startswith("<built-in") else Path(self.source).parent

    def steps_of(self, variant: Variant) -> tuple[Step, ...]:
        """Return the steps a variant includes, in the variant's order."""
        by_id = {step.id: step for step in self.steps}
        return tuple(by_id[step_id] for step_id in self.variants[variant])
