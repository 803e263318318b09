"""The script compiler: a routine and a variant become a timed Timeline.

Pure: it needs only the length of each spoken line (``measure``) and of the
chime, so tests can pass a fake speech engine and get stable results.
"""

from __future__ import annotations

from dataclasses import dataclass

from voiceguide.errors import Diagnostic, DoesNotFitError, RoutineError
from voiceguide.routine.model import Routine, Variant
from voiceguide.timeline.model import Kind, Measure, Segment, StepSpan, Timeline
from voiceguide.timeline.script import (
    AFTER_ANNOUNCEMENT_MS,
    AFTER_CHIME_MS,
    CUE_GAP_MS,
    LEAD_IN_MS,
    MIN_HOLD_MS,
    PARAGRAPH_GAP_MS,
    SECTION_GAP_MS,
    SLEEP_SOFTER_DB,
    TAIL_MS,
    Line,
    announcement,
    lead_in_text,
    split_lines,
    title_line,
)
from voiceguide.units import MAX_SESSION_MS, format_clock, format_seconds


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

    def add(
        self,
        kind: Kind,
        duration_ms: int,
        text: str = "",
        at_ms: int | None = None,
        gain_db: float = 0.0,
    ) -> None:
        if at_ms is not None:
            self.silence_until(at_ms)
        self.segments.append(Segment(kind, self.cursor, duration_ms, self.step, text, gain_db))
        self.cursor += duration_ms

    def speak(
        self, lines: list[Line], measure: Measure, first_gap_ms: int = 0, gain_db: float = 0.0
    ) -> None:
        for index, line in enumerate(lines):
            gap = max(first_gap_ms, line.gap_before_ms) if index == 0 else line.gap_before_ms
            if line.text:
                at = self.cursor + gap
                self.add(Kind.SPEECH, measure(line.text), line.text, at, gain_db)
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
        sleep_ms: int | None = None,
    ) -> None:
        self.routine = routine
        self.sleep_ms = sleep_ms
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
            intro.speak([Line(lead_in_text(self.lead_in_ms), 0)], self.measure, LEAD_IN_MS)
            intro.silence_until(max(self.lead_in_ms, intro.cursor + MIN_HOLD_MS))
        intro.silence_until(intro.cursor + LEAD_IN_MS)
        intro.speak([Line(title_line(self.routine), 0)], self.measure)
        # Safety notes are spoken every time, even when the intro is skipped.
        intro.speak(split_lines(self.routine.safety), self.measure, PARAGRAPH_GAP_MS)
        if not self.skip_intro:
            intro.speak(split_lines(self.routine.intro), self.measure, PARAGRAPH_GAP_MS)
        intro.silence_until(intro.cursor + SECTION_GAP_MS)
        return intro

    def outro(self, start_ms: int) -> _Builder:
        """Lay out the closing; a sleep ending's music after it is not part of it."""
        outro = _Builder(start_ms, len(self.steps) + 1)
        lines = split_lines(self.routine.outro)
        if self.sleep_ms is None:
            outro.add(Kind.CHIME, self.chime_ms, "chime")
            outro.speak(lines, self.measure, AFTER_CHIME_MS)
        else:  # nothing to wake a listener falling asleep: no chime, softer words
            outro.speak(lines, self.measure, gain_db=-SLEEP_SOFTER_DB)
        if not self.sleep_ms:  # the music of a sleep ending follows the last word at once
            outro.silence_until(outro.cursor + TAIL_MS)
        return outro

    def _layout(self, number: int, start_ms: int, duration_ms: int) -> _StepPlan:
        """Lay out step `number` asked to last duration_ms; it may come out longer."""
        step = self.steps[number - 1]
        build = _Builder(start_ms, number)
        build.add(Kind.CHIME, self.chime_ms, "chime")
        first = [Line(announcement(number, len(self.steps), step.title), 0)]
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
            raise DoesNotFitError(f"{minutes:g} minutes is out of range", minutes=minutes)
        least = self.lengths([0] * count)
        shortest = fixed_ms + sum(least)
        if target < shortest:
            raise DoesNotFitError(
                f'"{self.routine.title}" ({self.variant}) cannot fit in {minutes:g} minutes: '
                f"its narration alone takes {format_clock(shortest)}",
                minutes=minutes,
                need_ms=shortest,
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
    sleep_ms: int | None = None,
) -> Timeline:
    """Compile a routine into a Timeline.

    measure(text) gives the length in ms of the spoken clip for text.
    minutes, when given, scales the holds so the session lasts that long.
    lead_in_ms adds a spoken invitation and a quiet wait before the session.
    skip_intro leaves out the intro text (never the safety notes).
    start_step (1-based) starts at that step, as when resuming; the steps
    keep their numbers and lengths, and the intro text is left out.
    sleep_ms, when given, makes a sleep ending: no closing chime, the closing
    words softer, then a SLEEP segment of that length for the music bed
    (not counted in minutes).
    """
    if start_step > 1:
        skip_intro = True
    compiler = _Compiler(
        routine,
        variant,
        measure,
        chime_ms,
        lead_in_ms=lead_in_ms,
        skip_intro=skip_intro,
        sleep_ms=sleep_ms,
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
    total_ms = outro.cursor
    if sleep_ms:
        segments.append(Segment(Kind.SLEEP, total_ms, sleep_ms, outro.step))
        total_ms += sleep_ms
        _check_length(routine, variant, total_ms, longest_ms, routine.key_lines.get("sleep"))
    return Timeline(
        routine=routine.name,
        title=routine.title,
        variant=variant,
        total_ms=total_ms,
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
