"""The script: what a session says and the pauses between, before any timing.

Splits texts into lines (sentences, with [pause 3s] markers), and words the
announcements, the title line and the lead-in invitation.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from voiceguide.routine.model import Routine, Variant
from voiceguide.spoken import PAUSE_MARKER, number_words, parse_pause, sentences

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
SLEEP_SOFTER_DB = 6.0  # a sleep ending's closing words are spoken this much softer

ESTIMATED_CHIME_MS = 1500  # the chime's length, for estimates made without the asset


@dataclass(frozen=True)
class Line:
    """One sentence to say, and the pause before it."""

    text: str
    gap_before_ms: int


def split_lines(text: str) -> list[Line]:
    """Split text into sentences, each with the pause that comes before it.

    A "[pause 3s]" marker sets the pause before the next sentence; at the end of
    the text it leaves that much silence after the last one (a line with no text).
    """
    return list(_split_lines(text))


@functools.lru_cache(maxsize=1024)
def _split_lines(text: str) -> tuple[Line, ...]:
    # Remembered: fitting --minutes lays each step out some 50 times.
    lines: list[Line] = []
    pending = 0  # ms of explicit pause waiting for the next sentence
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        new_paragraph = True
        parts = PAUSE_MARKER.split(" ".join(paragraph.split()))
        # parts alternate: text, marker duration, text, marker duration, ...
        for index, part in enumerate(parts):
            if index % 2:
                pending += parse_pause(part)
                continue
            for sentence in sentences(part):
                if not lines:
                    natural = 0
                elif new_paragraph:
                    natural = PARAGRAPH_GAP_MS
                else:
                    natural = SENTENCE_GAP_MS
                lines.append(Line(sentence, pending or natural))
                pending = 0
                new_paragraph = False
    if pending:
        lines.append(Line("", pending))
    return tuple(lines)


def announcement(number: int, count: int, title: str) -> str:
    """Return the line that opens a step, like 'Step 3 of 8. Kneading.'."""
    title = title.strip()
    if title and title[-1] not in ".!?":
        title += "."
    return f"Step {number} of {count}. {title}"


def _amount(ms: int) -> str:
    """Return a rough spoken length: 'a few seconds', '40 seconds', 'a minute', '6 minutes'."""
    seconds = ms / 1000
    if seconds < 10:
        return "a few seconds"
    if seconds < 55:
        return f"{round(seconds / 10) * 10} seconds"
    if seconds < 90:
        return "a minute"
    return f"{round(seconds / 60)} minutes"


def where_text(
    section: int, step_count: int, title: str, left_in_section_ms: int, left_ms: int
) -> str:
    """Return the answer to "where am I?", like 'Step 4 of 8, Kneading. About 40 seconds
    left in this step, 6 minutes in all.'

    section is 0 for the introduction, 1..step_count for the steps, then the closing.
    """
    if 1 <= section <= step_count:
        where, part = f"Step {section} of {step_count}, {title.strip().rstrip('.')}.", "this step"
    elif section == 0:
        where, part = f"The introduction, before step 1 of {step_count}.", "the introduction"
    else:
        where, part = "The closing words.", "the session"
    here = _amount(left_in_section_ms)
    here = "A few seconds" if here == "a few seconds" else f"About {here}"
    if part == "the session" or left_ms - left_in_section_ms < 10_000:
        return f"{where} {here} left."
    total = _amount(left_ms)
    total = "less than a minute" if left_ms < 55_000 else total
    return f"{where} {here} left in {part}, {total} in all."


def title_line(routine: Routine) -> str:
    title = routine.title.strip()
    return title if title.endswith((".", "!", "?")) else title + "."


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
    texts.append(title_line(routine))
    texts += [line.text for line in split_lines(routine.safety)]
    texts += [line.text for line in split_lines(routine.intro)]
    for number, step in enumerate(steps, start=1):
        texts.append(announcement(number, len(steps), step.title))
        texts += [line.text for line in split_lines(step.text_for(variant))]
        texts += [cue.say for cue in step.cues]
    texts += [line.text for line in split_lines(routine.outro)]
    return [text for text in dict.fromkeys(texts) if text]
