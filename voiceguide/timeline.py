"""The script compiler: a routine and a variant become a timed Timeline.

Pure: it needs only the length of each spoken line (``measure``) and of the
chime, so tests can pass a fake speech engine and get stable results.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from voiceguide.durations import PAUSE_MARKER, format_clock, format_seconds, parse_pause
from voiceguide.errors import Diagnostic, RoutineError, UsageError
from voiceguide.routine import Routine, Variant
from voiceguide.speech import DEFAULT_RATE_WPM

# Pacing, in milliseconds. Chosen by ear for a slow, calm session.
LEAD_IN_MS = 800  # silence before the first word
SENTENCE_GAP_MS = 400
PARAGRAPH_GAP_MS = 900
SECTION_GAP_MS = 1500  # between the intro and the first step
AFTER_CHIME_MS = 200
AFTER_ANNOUNCEMENT_MS = 700
CUE_GAP_MS = 1000  # least silence before a cue
MIN_HOLD_MS = 1000  # least silence at the end of a step
TAIL_MS = 3000  # silence after the last word
MAX_SESSION_MS = 24 * 3600 * 1000

ESTIMATED_CHIME_MS = 1500  # the chime's length, for estimates made without the asset

Measure = Callable[[str], int]


def estimate_ms(text: str, rate_wpm: int = DEFAULT_RATE_WPM) -> int:
    """Estimate how long text takes to say, before it is synthesized."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
    return round(len(text.split()) * 60_000 / rate_wpm) + 400 * len(sentences)


class Kind(StrEnum):
    """What a segment of the timeline holds."""

    SPEECH = "speech"
    CUE = "cue"
    CHIME = "chime"
    SILENCE = "silence"


@dataclass(frozen=True)
class Segment:
    """One piece of the session: a spoken line, a cue, a chime, or silence."""

    kind: Kind
    start_ms: int
    duration_ms: int
    step: int  # 0 is the intro, 1..N the steps, N+1 the outro
    text: str = ""

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
                }
                for s in self.segments
            ],
        }


@dataclass(frozen=True)
class _Line:
    text: str
    gap_before_ms: int


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=\S)")


def split_lines(text: str) -> list[_Line]:
    """Split text into sentences, each with the pause that comes before it.

    A "[pause 3s]" marker sets the pause before the next sentence; at the end of
    the text it leaves that much silence after the last one (a line with no text).
    """
    lines: list[_Line] = []
    pending = 0  # ms of explicit pause waiting for the next sentence
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        new_paragraph = True
        parts = PAUSE_MARKER.split(" ".join(paragraph.split()))
        # parts alternate: text, marker duration, text, marker duration, ...
        for index, part in enumerate(parts):
            if index % 2:
                pending += parse_pause(part)
                continue
            for sentence in _SENTENCE_END.split(part.strip()):
                if not sentence.strip():
                    continue
                if not lines:
                    natural = 0
                elif new_paragraph:
                    natural = PARAGRAPH_GAP_MS
                else:
                    natural = SENTENCE_GAP_MS
                lines.append(_Line(sentence.strip(), pending or natural))
                pending = 0
                new_paragraph = False
    if pending:
        lines.append(_Line("", pending))
    return lines


def announcement(number: int, count: int, title: str) -> str:
    """Return the line that opens a step, like 'Step 3 of 8. Kneading.'."""
    title = title.strip()
    if title and title[-1] not in ".!?":
        title += "."
    return f"Step {number} of {count}. {title}"


def _title_line(routine: Routine) -> str:
    title = routine.title.strip()
    return title if title.endswith((".", "!", "?")) else title + "."


_NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> str:
    """Spell out 0..99 in words (larger numbers stay digits)."""
    if 0 <= n < 20:
        return _NUMBERS[n]
    if 20 <= n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_NUMBERS[ones]}" if ones else "")
    return str(n)


def lead_in_text(lead_in_ms: int) -> str:
    """Return what is said at the start of a lead-in of that length."""
    seconds = round(lead_in_ms / 1000)
    if seconds >= 120 and seconds % 60 == 0:
        when = f"{number_words(seconds // 60)} minutes"
    else:
        when = f"{number_words(seconds)} second{'s' if seconds != 1 else ''}"
    return f"Get comfortable. We will begin in {when}."


def spoken_texts(routine: Routine, variant: Variant, *, lead_in_ms: int = 0) -> list[str]:
    """Return every text the session will speak, without timing it.

    Lets the speech stage synthesize (and cache) everything up front.
    """
    steps = routine.steps_of(variant)
    texts = [lead_in_text(lead_in_ms)] if lead_in_ms > 0 else []
    texts.append(_title_line(routine))
    texts += [line.text for line in split_lines(routine.safety)]
    texts += [line.text for line in split_lines(routine.intro)]
    for number, step in enumerate(steps, start=1):
        texts.append(announcement(number, len(steps), step.title))
        texts += [line.text for line in split_lines(step.text_for(variant))]
        texts += [cue.say for cue in step.cues]
    texts += [line.text for line in split_lines(routine.outro)]
    return [text for text in dict.fromkeys(texts) if text]


class _Builder:
    """Appends segments end to end, filling every gap with silence."""

    def __init__(self, start_ms: int, step: int) -> None:
        self.cursor = start_ms
        self.step = step
        self.segments: list[Segment] = []

    def silence_until(self, end_ms: int) -> None:
        if end_ms <= self.cursor:
            return
        last = self.segments[-1] if self.segments else None
        if last is not None and last.kind is Kind.SILENCE and last.end_ms == self.cursor:
            # One silence, not two in a row (an explicit pause followed by a hold).
            self.segments[-1] = Segment(
                Kind.SILENCE, last.start_ms, end_ms - last.start_ms, self.step
            )
        else:
            self.segments.append(
                Segment(Kind.SILENCE, self.cursor, end_ms - self.cursor, self.step)
            )
        self.cursor = end_ms

    def add(self, kind: Kind, duration_ms: int, text: str = "", at_ms: int | None = None) -> None:
        if at_ms is not None:
            self.silence_until(at_ms)
        self.segments.append(Segment(kind, self.cursor, duration_ms, self.step, text))
        self.cursor += duration_ms

    def speak(self, lines: list[_Line], measure: Measure, first_gap_ms: int = 0) -> None:
        for index, line in enumerate(lines):
            gap = max(first_gap_ms, line.gap_before_ms) if index == 0 else line.gap_before_ms
            if line.text:
                self.add(Kind.SPEECH, measure(line.text), line.text, self.cursor + gap)
            else:  # an explicit pause at the end of a text
                self.silence_until(self.cursor + gap)


@dataclass(frozen=True)
class _StepPlan:
    segments: tuple[Segment, ...]
    duration_ms: int


class _Compiler:
    """Lays out the sections of one routine variant."""

    def __init__(
        self,
        routine: Routine,
        variant: Variant,
        measure: Measure,
        chime_ms: int,
        *,
        lead_in_ms: int = 0,
        skip_intro: bool = False,
    ) -> None:
        self.routine = routine
        self.lead_in_ms = lead_in_ms
        self.skip_intro = skip_intro
        self.variant = variant
        self.measure = measure
        self.chime_ms = chime_ms
        self.steps = routine.steps_of(variant)

    def intro(self) -> _Builder:
        intro = _Builder(0, 0)
        if self.lead_in_ms > 0:
            # A spoken invitation, then quiet until the lead-in is over.
            intro.speak([_Line(lead_in_text(self.lead_in_ms), 0)], self.measure, LEAD_IN_MS)
            intro.silence_until(max(self.lead_in_ms, intro.cursor + MIN_HOLD_MS))
        intro.silence_until(intro.cursor + LEAD_IN_MS)
        intro.speak([_Line(_title_line(self.routine), 0)], self.measure)
        # Safety notes are spoken every time, even when the intro is skipped.
        intro.speak(split_lines(self.routine.safety), self.measure, PARAGRAPH_GAP_MS)
        if not self.skip_intro:
            intro.speak(split_lines(self.routine.intro), self.measure, PARAGRAPH_GAP_MS)
        intro.silence_until(intro.cursor + SECTION_GAP_MS)
        return intro

    def outro(self, start_ms: int) -> _Builder:
        outro = _Builder(start_ms, len(self.steps) + 1)
        outro.add(Kind.CHIME, self.chime_ms, "chime")
        outro.speak(split_lines(self.routine.outro), self.measure, AFTER_CHIME_MS)
        outro.silence_until(outro.cursor + TAIL_MS)
        return outro

    def _layout(self, number: int, start_ms: int, duration_ms: int) -> _StepPlan:
        """Lay out step `number` asked to last duration_ms; it may come out longer."""
        step = self.steps[number - 1]
        build = _Builder(start_ms, number)
        build.add(Kind.CHIME, self.chime_ms, "chime")
        first = [_Line(announcement(number, len(self.steps), step.title), 0)]
        build.speak(first, self.measure, AFTER_CHIME_MS)
        build.speak(split_lines(step.text_for(self.variant)), self.measure, AFTER_ANNOUNCEMENT_MS)
        for cue in sorted(step.cues, key=lambda c: c.offset_in(duration_ms)):
            at = max(start_ms + cue.offset_in(duration_ms), build.cursor + CUE_GAP_MS)
            build.add(Kind.CUE, self.measure(cue.say), cue.say, at)
        end = max(start_ms + duration_ms, build.cursor + MIN_HOLD_MS)
        build.silence_until(end)
        return _StepPlan(tuple(build.segments), end - start_ms)

    def step(self, number: int, start_ms: int, duration_ms: int) -> _StepPlan:
        """Lay out a step, stretching it until its narration and cues fit."""
        plan = self._layout(number, start_ms, duration_ms)
        for _ in range(20):
            if plan.duration_ms == duration_ms:
                break
            # A cue placed relative to the step's length moves when the step grows.
            duration_ms = plan.duration_ms
            plan = self._layout(number, start_ms, duration_ms)
        return plan

    def lengths(self, durations: list[int]) -> list[int]:
        """Return the length each step comes out at when asked for durations."""
        return [self.step(n, 0, d).duration_ms for n, d in enumerate(durations, start=1)]

    def scale(self, fixed_ms: int, minutes: float) -> list[int]:
        """Return step durations, holds scaled alike, that make the session last `minutes`."""
        target = round(minutes * 60_000)
        count = len(self.steps)
        if minutes <= 0 or target > MAX_SESSION_MS:
            raise UsageError(f"--minutes {minutes:g} is out of range; give a number from 1 to 1440")
        least = self.lengths([0] * count)
        shortest = fixed_ms + sum(least)
        if target < shortest:
            need = math.ceil(shortest / 60_000 * 10) / 10
            raise UsageError(
                f'"{self.routine.title}" ({self.variant}) cannot fit in {minutes:g} minutes: '
                f"its narration alone takes {format_clock(shortest)}; "
                f"ask for --minutes {need:g} or more"
            )
        planned = [step.duration_ms(self.variant) for step in self.steps]
        holds = [max(p - m, 0) for p, m in zip(planned, least, strict=True)]
        if not any(holds):
            holds = [1000] * count

        def durations_at(k: float) -> list[int]:
            return [m + round(k * h) for m, h in zip(least, holds, strict=True)]

        def total_at(k: float) -> int:
            return fixed_ms + sum(self.lengths(durations_at(k)))

        low, high = 0.0, 1.0
        while total_at(high) < target:
            high *= 2
        for _ in range(40):
            middle = (low + high) / 2
            if total_at(middle) <= target:
                low = middle
            else:
                high = middle
        durations = durations_at(low)
        # The remainder (a few ms of rounding) goes to the last step's hold.
        durations[-1] += target - total_at(low)
        return durations


def compile_timeline(
    routine: Routine,
    variant: Variant,
    measure: Measure,
    *,
    chime_ms: int,
    minutes: float | None = None,
    lead_in_ms: int = 0,
    skip_intro: bool = False,
    start_step: int = 1,
) -> Timeline:
    """Compile a routine into a Timeline.

    measure(text) gives the length in ms of the spoken clip for text.
    minutes, when given, scales the holds so the session lasts that long.
    lead_in_ms adds a spoken invitation and a quiet wait before the session.
    skip_intro leaves out the intro text (never the safety notes).
    start_step (1-based) starts at that step, as when resuming; the steps
    keep their numbers and lengths, and the intro text is left out.
    """
    if start_step > 1:
        skip_intro = True
    compiler = _Compiler(
        routine, variant, measure, chime_ms, lead_in_ms=lead_in_ms, skip_intro=skip_intro
    )
    intro = compiler.intro()
    if minutes is None:
        durations = [step.duration_ms(variant) for step in compiler.steps]
    else:
        # The lead-in comes before the session proper: it is not part of the minutes.
        plain = _Compiler(routine, variant, measure, chime_ms, skip_intro=skip_intro)
        durations = compiler.scale(plain.intro().cursor + compiler.outro(0).cursor, minutes)

    warnings: list[Diagnostic] = []
    segments = list(intro.segments)
    spans: list[StepSpan] = []
    cursor = intro.cursor
    longest_ms = MAX_SESSION_MS + max(lead_in_ms, 0)
    intro_key = next((k for k in ("intro", "safety", "title") if k in routine.key_lines), "")
    _check_length(routine, variant, cursor, longest_ms, routine.key_lines.get(intro_key))
    for number, (step, duration) in enumerate(zip(compiler.steps, durations, strict=True), 1):
        if number < start_step:
            continue
        plan = compiler.step(number, cursor, duration)
        if plan.duration_ms > duration and minutes is None:
            warnings.append(
                Diagnostic(
                    routine.source,
                    step.duration_line,
                    f'step "{step.id}" ({variant}) needs {format_seconds(plan.duration_ms)} '
                    f"for its narration and cues, more than its duration of "
                    f"{format_seconds(duration)}; it is stretched to fit "
                    "(lengthen the duration or shorten the text)",
                )
            )
        segments += plan.segments
        spans.append(StepSpan(number, step.id, step.title, cursor, plan.duration_ms))
        cursor += plan.duration_ms
        _check_length(routine, variant, cursor, longest_ms, step.line)

    outro = compiler.outro(cursor)
    _check_length(routine, variant, outro.cursor, longest_ms, routine.key_lines.get("outro"))
    segments += outro.segments
    return Timeline(
        routine=routine.name,
        title=routine.title,
        variant=variant,
        total_ms=outro.cursor,
        steps=tuple(spans),
        segments=tuple(segments),
        warnings=tuple(warnings),
        step_count=len(compiler.steps),
    )


def _check_length(
    routine: Routine, variant: Variant, end_ms: int, longest_ms: int, line: int | None
) -> None:
    """Raise RoutineError, pointing at line, if the session already runs past longest_ms."""
    if end_ms > longest_ms:
        raise RoutineError(
            [
                Diagnostic(
                    routine.source,
                    line or 1,
                    f"the {variant} version runs past 24 hours here; "
                    "shorten the text or the durations",
                )
            ]
        )
