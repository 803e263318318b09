"""Turn a plain-text or Markdown how-to article into a routine.

Recognises a title, steps ("Step 3: Title" lines, Markdown headings, numbered
lists), safety and preparation sections (spoken in the intro), and leaves out
benefits, conclusions and FAQs. Cleans what web pages leave behind when pasted
(collapsed-widget "+" lines, "Share", "Advertisement", unicode bullets, dashes
and quotes) and makes the text sound right when spoken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from voiceguide.durations import format_duration
from voiceguide.errors import Diagnostic, RoutineError
from voiceguide.routine import Routine, Step, Variant, parse_routine
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
_HEADING = re.compile(r"^\s*(#{1,6})\s+(.*?)\s*#*\s*$")
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
    lines: list[str] = field(default_factory=list)


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
    text = text.translate(str.maketrans(table))
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())


def speakable(text: str) -> str:
    """Clean one piece of article text so a voice reads it well."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)  # images
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)  # links keep their words
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = re.sub(r"https?://\S+|www\.\S+", "", text)
    text = re.sub(r"\[\d+\]", "", text)  # footnote marks
    text = re.sub(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1", r"\2", text)  # emphasis
    text = text.replace("`", "")
    text = _STEP_LINE.sub(r"\2", text)  # "Step 3:" is said by the announcement
    for pattern, spoken in _ABBREVIATIONS:
        text = re.sub(pattern, spoken, text, flags=re.IGNORECASE)
    text = re.sub(r"\b1 (minute|second|hour)s\b", r"1 \1", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = text[:1].upper() + text[1:]
    if text and text[-1] not in ".!?":
        text += "."
    return text


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


def _clean_lines(raw: str) -> list[str]:
    lines: list[str] = []
    for line in normalise(raw).splitlines():
        stripped = line.strip()
        if stripped and _NOISE.match(stripped):
            continue
        if not stripped and lines and not lines[-1]:
            continue  # runs of blank lines become one
        lines.append(stripped)
    return lines


def _sections(lines: list[str]) -> tuple[str, list[_Section]]:
    title = ""
    sections: list[_Section] = [_Section("", "intro")]
    in_container = False
    for line in lines:
        heading = _HEADING.match(line)
        step_line = _STEP_LINE.match(line)
        numbered = _NUMBERED.match(line)
        if heading and len(heading.group(1)) == 1 and not title:
            title = heading.group(2)
            continue
        if not title and line and not step_line and not numbered and len(line.split()) <= 12:
            title = line.strip("#: ").strip()
            continue
        if step_line:
            sections.append(_Section(step_line.group(2) or f"Step {step_line.group(1)}", "step"))
            continue
        if heading:
            kind = _classify(heading.group(2))
            in_container = kind == "container"
            sections.append(_Section(heading.group(2), kind))
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
            sections.append(_Section(line.rstrip(":"), kind))
            continue
        current = sections[-1]
        if numbered and (current.kind not in ("skip", "safety", "prep") or in_container):
            sections.append(_Section("\x00" + numbered.group(2), "step"))
            continue
        if line:
            bullet = _BULLET.match(line)
            current.lines.append(bullet.group(1) if bullet else line)
        elif current.lines and current.lines[-1] != "":
            current.lines.append("")
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
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(seconds?|minutes?)", text, re.IGNORECASE):
        times.append(float(amount) * (60_000 if unit.lower().startswith("minute") else 1000))
    reps = re.findall(r"(\d+)\s*(?:times|repetitions|breaths)", text, re.IGNORECASE)
    if times:
        hold = max(times)
    elif reps:
        hold = min(int(r) for r in reps) * 5000.0
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
    """Turn an article into a validated Routine, or raise RoutineError saying why not."""
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
    safety = " ".join(
        speakable(p) for s in sections if s.kind == "safety" for p in _paragraphs(s.lines)
    )
    intro_parts = [
        speakable(p) for s in sections if s.kind in ("intro", "prep") for p in _paragraphs(s.lines)
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
    for number, section in enumerate(steps_found, start=1):
        heading = section.heading
        if heading.startswith("\x00"):  # a numbered-list item: title and text in one
            item_title, rest = _split_title(heading[1:])
            body = " ".join([rest, *_paragraphs(section.lines)]).strip()
        else:
            item_title = heading
            body = " ".join(_paragraphs(section.lines)).strip()
        item_title = speakable(item_title).rstrip(".") or f"Step {number}"
        spoken = speakable(body) if body else speakable(item_title)
        short = " ".join(_sentences(spoken)[:SHORT_SENTENCES])
        hold = estimate_hold_ms(spoken)
        full_ms = _round_to(estimate_ms(spoken) + STEP_OVERHEAD_MS + hold)
        short_ms = _round_to(estimate_ms(short) + STEP_OVERHEAD_MS + hold // 2)
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
            )
        )
    optional = re.compile(r"optional|bonus|advanced|variation|extra", re.IGNORECASE)
    essential = [s.id for s in steps if not optional.search(s.title)] or [s.id for s in steps]
    routine = Routine(
        name=name,
        title=speakable(title).rstrip(".") or name.replace("-", " ").capitalize(),
        steps=tuple(steps),
        variants={Variant.SHORT: tuple(essential), Variant.FULL: tuple(s.id for s in steps)},
        source=source,
        category=category,
        safety=safety,
        intro=" ".join(intro_parts),
        outro="That is the end of the session. Take a moment before you get up.",
    )
    # Round trip through the file format: what import writes is what check reads.
    return parse_routine(to_toml(routine), source=source, name=name)


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
