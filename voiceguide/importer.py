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

from voiceguide.durations import (
    MAX_DURATION_MS,
    PAUSE_MARKER,
    format_clock,
    format_duration,
    parse_pause,
)
from voiceguide.errors import Diagnostic, RoutineError
from voiceguide.routine import MAX_STEPS, Routine, Step, Variant, parse_routine
from voiceguide.textfile import quote
from voiceguide.timeline import estimate_ms

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
_STEP_LINE = re.compile(r"^\s*step\s+(\d+)\s*[:.)\-–—]?\s*(.*)$", re.IGNORECASE)
_HEADING = re.compile(r"^\s*(#{1,6})\s+(.*)$")
_NUMBERED = re.compile(r"^\s*(\d{1,2})\s*[.)]\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*•◦▪●·]\s+(.*)$")

_ABBREVIATIONS = [
    (r"\be\.g\.,?", "for example,"),
    (r"\bi\.e\.,?", "that is,"),
    (r"\betc\.", "and so on."),
    (r"\bapprox\.", "about"),
    (r"\bvs\.?", "versus"),
    (r"\bw/(?=\s)", "with"),
    (r"\bmins?\b\.?", "minutes"),
    (r"\bsecs?\b\.?", "seconds"),
    (r"\breps\b", "repetitions"),
    (r"\bhrs?\b\.?", "hours"),
    (r"(?<=\d)\s*x\b", " times"),
    (r"(?<=\d)\s*s\b", " seconds"),
    (r"(?<=\d)\s*m\b", " minutes"),
    (r"(?<=\d)\s*-\s*(?=\d)", " to "),
    (r"\s&\s", " and "),
    (r"\bapprox\b", "about"),
]


@dataclass
class _Section:
    heading: str
    kind: str  # "title", "intro", "safety", "prep", "skip", "step", "container"
    line: int  # where the section starts in the article
    lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, text)

    def texts(self) -> list[str]:
        return [text for _, text in self.lines]


def normalise(text: str) -> str:
    """Replace typographic characters with plain ones and drop invisible ones."""
    table: dict[str, str | int | None] = {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u2013": "-",
        "\u2014": " - ",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u200b": "",
        "\u200c": "",
        "\u200d": "",
        "\ufeff": "",
        "\u2022": "-",
        "\u25e6": "-",
        "\u25aa": "-",
        "\u25cf": "-",
        "\u00b7": "-",
        "\u2023": "-",
        "\u2043": "-",
    }
    # Old Mac line ends are line ends too; other separators only separate words.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub("[\u2028\u2029\x85\x0b\x0c]", " ", text)
    text = text.translate(str.maketrans(table))
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())


def speakable(text: str) -> str:
    """Clean one piece of article text so a voice reads it well; [pause 3s] markers stay."""
    text = text.replace(_MARK, "")
    markers = [_pause_marker(m.group(1)) for m in PAUSE_MARKER.finditer(text)]
    pieces = _clean(PAUSE_MARKER.sub(f" {_MARK} ", text)).split(_MARK)
    text = "".join(p + m for p, m in zip(pieces, [*markers, ""], strict=True))
    words, ending = _trailing_markers(text)
    words = words[:1].upper() + words[1:]
    if words and words[-1] not in ".!?":
        words += "."
    return (words + ending).strip()


def _trailing_markers(text: str) -> tuple[str, str]:
    """Split text (its spaces made one) into its words and the pause markers it ends with."""
    # A loop, not a regex: "(marker)+$" backtracks in quadratic time over many markers.
    end = len(text)
    while (start := text.rfind("[pause", 0, end)) >= 0 and PAUSE_MARKER.fullmatch(text, start, end):
        end = start - 1 if text[start - 1 : start] == " " else start
    return text[:end], text[end:]


def _pause_marker(spec: str | None) -> str:
    return f"[pause {' '.join(spec.split())}]" if spec and spec.strip() else "[pause]"


# **bold**, __bold__, *italic*, _italic_ and `code`. The words inside stop at the next
# delimiter of their kind, so no opener without a closer scans the rest of the text.
_EMPHASIS = re.compile(
    r"\*\*(?=\S)((?:[^*]|\*(?!\*))+?)(?<=\S)\*\*|__(?=\S)((?:[^_]|_(?!_))+?)(?<=\S)__"
    r"|\*(?=\S)([^*]+?)(?<=\S)\*|_(?=\S)([^_]+?)(?<=\S)_|`(?=\S)([^`]+?)(?<=\S)`"
)


# Stands in for a pause marker while the text around it is cleaned: no pattern below
# removes it, so the markers come back, in order, where they were.
_MARK = "\ue000"


def _clean(text: str) -> str:
    # No pattern may scan past the next opening bracket: on a line of openers with no
    # closers, each would otherwise scan to the end, in quadratic time.
    text = re.sub(r"!\[[^\[\]\ue000]*\]\([^()\s\ue000]*\)", "", text)  # images
    text = re.sub(r"\[([^\[\]]+)\]\([^()\s\ue000]*\)", r"\1", text)  # links keep their words
    text = re.sub(r"<[^<>\ue000]+>", "", text)  # HTML tags
    text = re.sub(r"https?://[^\s\ue000]+|www\.[^\s\ue000]+", "", text)
    text = re.sub(r"\[\d+\]", "", text)  # footnote marks
    text = _EMPHASIS.sub(lambda m: next(g for g in m.groups() if g is not None), text)
    text = text.replace("`", "")
    text = _STEP_LINE.sub(r"\2", text)  # "Step 3:" is said by the announcement
    for pattern, spoken in _ABBREVIATIONS:
        text = re.sub(pattern, spoken, text, flags=re.IGNORECASE)
    text = re.sub(r"\b1 (minute|second|hour)s\b", r"1 \1", text)
    # Spaces are made one first: \s+ before a comma takes quadratic time on a long run.
    text = re.sub(r" ([,.;:!?])", r"\1", re.sub(r"\s+", " ", text))
    # Cleaning can join what looks like a marker ("[pa<b>use 0s]"); only written ones count.
    text = PAUSE_MARKER.sub(lambda m: m.group(0)[1:-1], text)
    return text.strip()


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


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
        step_line = _STEP_LINE.match(line)
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
        short = " ".join(_sentences(spoken)[:SHORT_SENTENCES])
        hold = estimate_hold_ms(spoken)
        full_ms = _round_to(_speech_ms(spoken) + STEP_OVERHEAD_MS + hold)
        short_ms = _round_to(_speech_ms(short) + STEP_OVERHEAD_MS + hold // 2)
        total_ms += full_ms
        if total_ms > MAX_DURATION_MS:
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
        for marker in PAUSE_MARKER.finditer(text):
            try:
                parse_pause(marker.group(1))
            except ValueError as err:
                number = lines[bisect.bisect_right(starts, marker.start()) - 1][0]
                problems.append(
                    Diagnostic(
                        source,
                        number,
                        f"pause marker {quote(marker.group(0))}: {err}; write it like [pause 3s]",
                    )
                )
    if problems:
        raise RoutineError(problems)


def _speech_ms(text: str) -> int:
    """Estimate how long text takes to say, with the pauses its markers ask for."""
    pauses = sum(parse_pause(m.group(1)) for m in PAUSE_MARKER.finditer(text))
    return estimate_ms(PAUSE_MARKER.sub(" ", text)) + pauses


def _toml_text(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""\n{escaped}\n"""'


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(routine: Routine) -> str:
    """Return a routine as a readable routine file."""
    out = [
        "# Imported by voiceguide; edit freely, then run `voiceguide check` on it.",
        f"title = {_toml_string(routine.title)}",
        f"category = {_toml_string(routine.category)}",
    ]
    for key in ("safety", "intro", "outro"):
        value = getattr(routine, key)
        if value:
            out.append(f"{key} = {_toml_text(value)}")
    out += ["", "[variants]"]
    for variant in Variant:
        ids = ", ".join(_toml_string(i) for i in routine.variants[variant])
        out.append(f"{variant.value} = [{ids}]")
    for step in routine.steps:
        out += [
            "",
            "[[steps]]",
            f"id = {_toml_string(step.id)}",
            f"title = {_toml_string(step.title)}",
        ]
        out.append(f"text = {_toml_text(step.text)}")
        if step.short_text:
            out.append(f"short_text = {_toml_text(step.short_text)}")
        if step.short_ms == step.full_ms:
            out.append(f'duration = "{format_duration(step.full_ms)}"')
        else:
            out.append(
                f'duration = {{ short = "{format_duration(step.short_ms)}", '
                f'full = "{format_duration(step.full_ms)}" }}'
            )
    return "\n".join(out) + "\n"
