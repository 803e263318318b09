"""What the importer understood of an article, for the user to judge without opening the file."""

from __future__ import annotations

from dataclasses import dataclass

from voiceguide.routine.model import Routine


@dataclass(frozen=True)
class LeftOut:
    """A section of the article that is not spoken."""

    heading: str
    line: int


@dataclass(frozen=True)
class ImportSummary:
    """Say what the importer understood: the structure, where safety came from, what it left."""

    structure: str  # "numbered list", "headings", ...
    safety_source: str  # "article", "default" or "none"
    safety_lines: tuple[int, ...]
    left_out: tuple[LeftOut, ...]
    each_hold_ms: int | None  # set by "Hold each pose for 90 seconds", when the article says so


@dataclass(frozen=True)
class ImportResult:
    """A routine imported from an article, and the summary of how it was read."""

    routine: Routine
    summary: ImportSummary
