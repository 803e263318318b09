"""Turn a plain-text or Markdown how-to article into a routine.

Recognises a title, steps ("Step 3: Title" lines, Markdown headings, numbered
lists), safety and preparation sections (spoken in the intro), and leaves out
benefits, conclusions and FAQs. Cleans what web pages leave behind when pasted
(collapsed-widget "+" lines, "Share", "Advertisement", unicode bullets, dashes
and quotes) and makes the text sound right when spoken.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re
from dataclasses import dataclass, field

from voiceguide.errors import Diagnostic, RoutineError
from voiceguide.routine.cleanup import STEP_LINE, normalise, speakable
from voiceguide.routine.format import parse_routine, to_toml
from voiceguide.routine.model import MAX_STEPS, Routine, Step, Variant
from voiceguide.spoken import PAUSE_MARKER, estimate_ms, parse_pause, pause_problems, sentences
from voiceguide.units import MAX_SESSION_MS, format_clock

STEP_OVERHEAD_MS = 6_000  # chime, announcement and pauses around the narration
SHORT_SENTENCES = 2

_NOISE = re.compile(
    r"^(?:[+\-−–—×x•·*|>]+|share|share this|advertisement|sponsored|print|pin( it)?|tweet|email|"
    r"read more|see more|show more|continue reading|skip to content|subscribe|sign up|"
    r"jump to recipe|back to top|table of contents|contents|menu|close|"
    r"\(?image[^)]*\)?|photo:.*|image:.*|credit:.*|\d+ comments?|"
    r"by [\w .,'-]{1,60}|.*\b\d+ min(ute)?s? read\b.*|.*[›»].*|home\s*[/>].*)$",
    re.IGNORECASE,
)
_SKIP = re.compile(
    r"benefit|conclusion|faq|frequently asked|question|summary|final thought|takeaway|"
    r"bottom line|reference|source|related|about the author|comments|you may also|tips for|"
    r"why (it|this) works|the science",
    re.IGNORECASE,
)
_SAFETY = re.compile(
    r"safety|precaution|warning|caution|contraindication|who should not|when not to|"
    r"be careful|important",
    re.IGNORECASE,
)
_PREPARATION = re.compile(
    r"prepar|what you need|you will need|you'll need|getting ready|get ready|"
    r"before you (begin|start)|set ?-?up|equipment|supplies",
    re.IGNORECASE,
)
_CONTAINER = re.compile(
    r"^(instructions|steps|directions|how to|method|the routine|routine)\b", re.I
)
_HEADING = re.compile(r"^\s*(#{1,6})\s+(.*)$")
_NUMBERED = re.compile(r"^\s*(\d{1,2})\s*[.)]\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*•◦▪●·]\s+(.*)$")


@dataclass
class _Section:
    heading: str
    kind: str  # "title", "intro", "safety", "prep", "skip", "step", "container"
    line: int  # where the section starts in the article
    lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, text)

    def texts(self) -> list[str]:
        return [text for _, text in self.lines]


def _classify(heading: str) -> str:
    if _SKIP.search(heading):
        return "skip"
    if _SAFETY.search(heading):
        return "safety"
    if _PREPARATION.search(heading):
        return "prep"
    if _CONTAINER.search(heading):
        return "container"
    return "step"


_OPTIONAL = re.compile(r"^(optional|bonus|advanced|variation|extra)\b", re.IGNORECASE)


def _split_title(item: str) -> tuple[str, str]:
    """Split a list item into a short title and the text to say."""
    item = item.strip()
    bold = re.match(r"^(\*\*|__)(.+?)\1[:.\-\s]*(.*)$", item)
    if bold:
        return bold.group(2).strip(" :.-"), bold.group(3).strip()
    colon = re.match(r"^([^.:!?]{2,60})[:\-–—]\s+(.+)$", item)
    if colon:
        title, rest = colon.group(1).strip(), colon.group(2).strip()
        if _OPTIONAL.match(title):  # "Optional: roll each ankle" -> "Roll each ankle (optional)"
            inner, _ = _split_title(rest[:1].upper() + rest[1:])
            return f"{inner} ({title.lower()})", rest
        return title, rest
    # No title of its own: the opening words, up to the first natural break.
    clause = re.split(r",|;|\s(?:to|and|then|with|for|so)\s", item, maxsplit=1)[0]
    words = clause.split()
    return " ".join(words[:6]).rstrip(",.;:"), item


def _clean_lines(raw: str) -> list[tuple[int, str]]:
    """Return the article's lines worth reading, each with its line number."""
    lines: list[tuple[int, str]] = []
    for number, line in enumerate(normalise(raw).split("\n"), start=1):
        stripped = line.strip()
        if stripped and _NOISE.match(stripped):
            continue
        if not stripped and lines and not lines[-1][1]:
            continue  # runs of blank lines become one
        lines.append((number, stripped))
    return lines


@dataclass
class _Title:
    text: str = ""
    line: int = 1


def _sections(lines: list[tuple[int, str]]) -> tuple[_Title, list[_Section]]:
    title = _Title()
    sections: list[_Section] = [_Section("", "intro", 1)]
    in_container = False
    for number, line in lines:
        heading = _HEADING.match(line)
        # A heading's closing #s go ("## Safety ##"); found with rstrip, as a regex
        # that allows them takes quadratic time on a long line of spaces.
        name = heading.group(2).rstrip().rstrip("#").rstrip() if heading else ""
        step_line = STEP_LINE.match(line)
        numbered = _NUMBERED.match(line)
        if heading and len(heading.group(1)) == 1 and not title.text:
            title = _Title(name, number)
            continue
        if not title.text and line and not step_line and not numbered and len(line.split()) <= 12:
            title = _Title(line.strip("#: ").strip(), number)
            continue
        if step_line:
            sections.append(
                _Section(step_line.group(2) or f"Step {step_line.group(1)}", "step", number)
            )
            continue
        if heading:
            kind = _classify(name)
            in_container = kind == "container"
            sections.append(_Section(name, kind, number))
            continue
        if (
            line
            and len(line.split()) <= 6
            and (line.endswith(":") or line[-1] not in ".!?,;")
            and not numbered
            and _classify(line.rstrip(":")) != "step"
        ):
            kind = _classify(line.rstrip(":"))
            in_container = kind == "container"
            sections.append(_Section(line.rstrip(":"), kind, number))
            continue
        current = sections[-1]
        if numbered and (current.kind not in ("skip", "safety", "prep") or in_container):
            sections.append(_Section("\x00" + numbered.group(2), "step", number))
            continue
        if line:
            bullet = _BULLET.match(line)
            current.lines.append((number, bullet.group(1) if bullet else line))
        elif current.lines and current.lines[-1][1] != "":
            current.lines.append((number, ""))
    return title, sections


def _paragraphs(lines: list[str]) -> list[str]:
    text = "\n".join(lines).strip()
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


_HOLD = re.compile(
    r"\bhold|stretch|massage|knead|rub|press|circle|breathe|relax|rest|repeat\b", re.I
)
_SETUP = re.compile(r"\b(lie|sit|stand|kneel|get into|position|place|prepare|warm)\b", re.I)


def estimate_hold_ms(text: str) -> int:
    """Guess how long a step's hold should be from what it asks for."""
    times = []
    # (?<!\d): try each run of digits once, not from each of its digits (quadratic).
    found = re.findall(r"(?<!\d)(\d+(?:\.\d+)?)\s*(seconds?|minutes?)", text, re.IGNORECASE)
    for amount, unit in found:
        times.append(float(amount) * (60_000 if unit.lower().startswith("minute") else 1000))
    reps = re.findall(r"(?<!\d)(\d+)\s*(?:times|repetitions|breaths)", text, re.IGNORECASE)
    if times:
        hold = max(times)
    elif reps:
        # float, not int: int() refuses numbers of more than 4300 digits.
        hold = min(float(r) for r in reps) * 5000.0
    elif _HOLD.search(text):
        hold = 45_000.0
    elif _SETUP.search(text):
        hold = 15_000.0
    else:
        hold = 30_000.0
    return int(min(hold, 10 * 60_000))


def _round_to(ms: int, step: int = 5000) -> int:
    return max(step, -(-ms // step) * step)


def import_article(text: str, *, source: str, name: str) -> Routine:
    """Turn an article into a validated Routine, or raise RoutineError saying why not.

    Every problem, and every step's line, points into the article.
    """
    title, sections = _sections(_clean_lines(text))
    steps_found = [s for s in sections if s.kind == "step" and (s.lines or s.heading)]
    if not steps_found:
        raise RoutineError(
            [
                Diagnostic(
                    source,
                    1,
                    "no steps found; mark them as 'Step 1: ...' lines, Markdown headings "
                    "or a numbered list",
                )
            ]
        )
    if len(steps_found) > MAX_STEPS:
        raise RoutineError(
            [
                Diagnostic(
                    source,
                    steps_found[MAX_STEPS].line,
                    f"too many steps ({len(steps_found)}); a routine has at most {MAX_STEPS}: "
                    "split the article in two",
                )
            ]
        )
    spoken_kinds = ("intro", "prep", "safety", "step")
    _check_pauses([s for s in sections if s.kind in spoken_kinds], source)
    safety = " ".join(
        speakable(p) for s in sections if s.kind == "safety" for p in _paragraphs(s.texts())
    )
    intro_parts = [
        speakable(p)
        for s in sections
        if s.kind in ("intro", "prep")
        for p in _paragraphs(s.texts())
    ]
    whole = normalise(text).lower()
    category = (
        "massage"
        if re.search(r"massage|knead", whole)
        else ("stretch" if "stretch" in whole else "breathing" if "breath" in whole else "other")
    )
    if category == "massage" and not safety:
        safety = (
            "Before you begin: work gently, keep off the spine and any injured area, "
            "and stop if anything hurts. With a medical condition, ask a health "
            "professional first."
        )
    steps: list[Step] = []
    used: set[str] = set()
    total_ms = 0
    for number, section in enumerate(steps_found, start=1):
        heading = section.heading
        if heading.startswith("\x00"):  # a numbered-list item: title and text in one
            item_title, rest = _split_title(heading[1:])
            body = " ".join([rest, *_paragraphs(section.texts())]).strip()
        else:
            item_title = heading
            body = " ".join(_paragraphs(section.texts())).strip()
        item_title = speakable(PAUSE_MARKER.sub(" ", item_title)).rstrip(".") or f"Step {number}"
        # The title stands in for a missing text ("Step 3:" alone), even if cleaning empties it.
        spoken = speakable(body) or speakable(item_title) or f"{item_title}."
        short = " ".join(sentences(spoken)[:SHORT_SENTENCES])
        hold = estimate_hold_ms(spoken)
        full_ms = _round_to(_speech_ms(spoken) + STEP_OVERHEAD_MS + hold)
        short_ms = _round_to(_speech_ms(short) + STEP_OVERHEAD_MS + hold // 2)
        total_ms += full_ms
        if total_ms > MAX_SESSION_MS:
            raise RoutineError(
                [
                    Diagnostic(
                        source,
                        section.line,
                        f"the full version lasts over 24 hours by this step (about "
                        f"{format_clock(total_ms)}); split the article or shorten its text",
                    )
                ]
            )
        step_id = re.sub(r"[^a-z0-9]+", "-", item_title.lower()).strip("-")[:40] or f"step-{number}"
        while step_id in used:
            step_id = f"{step_id}-{number}"
        used.add(step_id)
        steps.append(
            Step(
                step_id,
                item_title,
                spoken,
                min(short_ms, full_ms),
                full_ms,
                short_text=short if short != spoken else "",
                line=section.line,
                duration_line=section.line,
            )
        )
    optional = re.compile(r"optional|bonus|advanced|variation|extra", re.IGNORECASE)
    essential = [s.id for s in steps if not optional.search(s.title)] or [s.id for s in steps]
    fallback_title = name.replace("-", " ").strip().capitalize() or "Imported routine"
    key_lines = {"title": title.line, "intro": 1, "outro": steps_found[-1].line}
    safety_lines = [s.line for s in sections if s.kind == "safety"]
    key_lines["safety"] = safety_lines[0] if safety_lines else 1
    routine = Routine(
        name=name,
        title=speakable(PAUSE_MARKER.sub(" ", title.text)).rstrip(".") or fallback_title,
        steps=tuple(steps),
        variants={Variant.SHORT: tuple(essential), Variant.FULL: tuple(s.id for s in steps)},
        source=source,
        category=category,
        safety=safety,
        intro=" ".join(intro_parts),
        outro="That is the end of the session. Take a moment before you get up.",
        key_lines=key_lines,
    )
    # Round trip through the file format: what import writes is what check reads.
    again = parse_routine(to_toml(routine), source=source, name=name)
    # Its lines are those of the routine file import would write; point into the article.
    lines = {step.id: step.line for step in steps}
    return dataclasses.replace(
        again,
        steps=tuple(
            dataclasses.replace(step, line=lines[step.id], duration_line=lines[step.id])
            for step in again.steps
        ),
        key_lines=key_lines,
    )


def _check_pauses(sections: list[_Section], source: str) -> None:
    """Raise RoutineError for each [pause ...] marker in the spoken sections that is wrong."""
    problems = []
    for section in sections:
        lines = section.lines
        if section.heading.startswith("\x00"):  # a numbered item's own line is spoken too
            lines = [(section.line, section.heading[1:]), *lines]
        # A marker may run on to the next line, as the paragraph it is spoken in does.
        text = "\n".join(line for _, line in lines)
        starts = list(itertools.accumulate((len(line) + 1 for _, line in lines[:-1]), initial=0))
        for start, problem in pause_problems(text):
            number = lines[bisect.bisect_right(starts, start) - 1][0]
            problems.append(Diagnostic(source, number, problem))
    if problems:
        raise RoutineError(problems)


def _speech_ms(text: str) -> int:
    """Estimate how long text takes to say, with the pauses its markers ask for."""
    pauses = sum(parse_pause(m.group(1)) for m in PAUSE_MARKER.finditer(text))
    return estimate_ms(PAUSE_MARKER.sub(" ", text)) + pauses
