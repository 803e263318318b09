"""Turn a plain-text or Markdown how-to article into a routine, and say what was understood.

segment.py finds the title, the sections and the steps; this module makes them
a validated Routine: the spoken text of each step (cleanup.py), its estimated
duration, the safety notes (from a safety section, or a safety sentence
wherever it stands), an instruction stated once for every step ("Hold each pose
for 90 seconds"), the category, and an ImportSummary of what was found and
what was left out.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re

from voiceguide.errors import Diagnostic, RoutineError
from voiceguide.routine import segment, shapes, tokens
from voiceguide.routine.cleanup import speakable
from voiceguide.routine.format import parse_routine
from voiceguide.routine.holds import (
    category_of,
    each_hold,
    estimate_hold_ms,
    explicit_hold_ms,
    round_to,
)
from voiceguide.routine.model import MAX_STEPS, Routine, Step, Variant
from voiceguide.routine.summary import ImportResult, ImportSummary, LeftOut
from voiceguide.routine.writing import to_toml
from voiceguide.spoken import PAUSE_MARKER, estimate_ms, parse_pause, pause_problems, sentences
from voiceguide.units import MAX_SESSION_MS, format_clock

STEP_OVERHEAD_MS = 6_000  # chime, announcement and pauses around the narration
SHORT_SENTENCES = 2
DEFAULT_SAFETY = (
    "Before you begin: work gently, keep off the spine and any injured area, "
    "and stop if anything hurts. With a medical condition, ask a health "
    "professional first."
)


def _paragraphs(lines: list[shapes.Line]) -> list[str]:
    text = "\n".join(t for _, t in lines).strip()
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


_FUNCTION_WORDS = {
    "a",
    "an",
    "the",
    "your",
    "you",
    "my",
    "our",
    "their",
    "his",
    "her",
    "its",
    "this",
    "that",
    "these",
    "those",
    "of",
    "to",
    "for",
    "in",
    "on",
    "at",
    "by",
    "with",
    "from",
    "into",
    "onto",
    "over",
    "under",
    "and",
    "or",
    "but",
    "so",
    "then",
    "as",
    "if",
    "when",
    "while",
    "until",
    "is",
    "are",
    "be",
    "about",
    "against",
    "between",
    "through",
    "toward",
    "towards",
}


_CUT_BEFORE = {
    "in",
    "into",
    "on",
    "onto",
    "at",
    "to",
    "towards",
    "toward",
    "from",
    "with",
    "without",
    "between",
    "behind",
    "under",
    "over",
    "across",
    "along",
    "through",
    "by",
    "for",
    "until",
    "while",
    "as",
    "so",
    "and",
    "then",
    "but",
    "or",
}


def _phrase_title(text: str) -> str:
    """Return a step title from its opening words: the verb and its object, at a phrase boundary."""
    text = re.sub(r"^(?:step\s+\d+\s+of\s+\d+[.:]?\s*)", "", text, flags=re.I)
    text = shapes._ORDINAL_START.sub("", text).strip(" ,:")
    clause = re.split(r"[,;:.!?()]|\s[-–—]\s", text)[0]
    words: list[str] = []
    for word in clause.split():
        bare = word.lower().strip("*_")
        if len(words) >= 2 and (bare in _CUT_BEFORE or bare[:1].isdigit()):
            break
        words.append(word)
        if len(words) == 6:
            break
    # Two words stay: "Breathe in" ends on a particle, not a dangling function word.
    while len(words) > 2 and words[-1].lower().strip("*_") in _FUNCTION_WORDS:
        words.pop()
    title = " ".join(words).strip("*_ ")
    return title[:1].upper() + title[1:]


_OPTIONAL = re.compile(r"^(optional|bonus|advanced|variation|extra)\b", re.IGNORECASE)


def _split_title(item: str) -> tuple[str, str]:
    """Split a list item into a short title and the text to say."""
    item = item.strip()
    bold = re.match(r"^(\*\*|__)(.+?)\1[:.\-–—\s]*(.*)$", item)
    if bold:
        title = bold.group(2).strip(" :.-")
        return title, bold.group(3).strip() or f"{title}."
    colon = re.match(r"^([^.:!?]{2,50})(?::|\s[-–—])\s+(.+)$", item)
    if colon and len(colon.group(1).split()) <= 6:
        title, rest = colon.group(1).strip(), colon.group(2).strip()
        if _OPTIONAL.match(title):  # "Optional: roll each ankle" -> "Roll each ankle (optional)"
            inner, _ = _split_title(rest[:1].upper() + rest[1:])
            return f"{inner} ({title.lower()})", rest
        return title, rest
    return _phrase_title(item), item


def _sentences_of(paragraphs: list[str]) -> list[str]:
    return [s for p in paragraphs for s in sentences(p)]


def _take_safety(paragraphs: list[str]) -> tuple[list[str], list[str]]:
    """Split paragraphs into what they say about safety and the rest."""
    safe: list[str] = []
    kept: list[str] = []
    for paragraph in paragraphs:
        rest = []
        for sentence in sentences(paragraph):
            if shapes.is_safety(sentence):
                safe.append(
                    re.sub(
                        r"^(\*\*|__)?(caution|warning|important|note)\s*[:!]\s*(\*\*|__)?\s*",
                        "",
                        sentence.strip(),
                        flags=re.I,
                    )
                )
            else:
                rest.append(sentence)
        if len(rest) == len(sentences(paragraph)):
            kept.append(paragraph)  # untouched: the splitter is not asked to join it again
        elif rest:
            kept.append(" ".join(rest))
    return safe, kept


def import_article(text: str, *, source: str, name: str) -> Routine:
    """Turn an article into a validated Routine, or raise RoutineError saying why not."""
    return read_article(text, source=source, name=name).routine


def read_article(text: str, *, source: str, name: str) -> ImportResult:
    """Turn an article into a validated Routine and a summary of how it was read.

    Every problem, and every step's line, points into the article.
    """
    toks, front_title = tokens.tokens(text)
    title_text, title_line, title_index = tokens.find_title(toks, front_title)
    parts = tokens.sections(toks, title_index)
    body = [tok for s in parts if s.kind in ("intro", "body") for tok in s.tokens]
    chosen = segment.choose(body)
    if chosen is None or not chosen.steps:
        start = next((t.line for t in body if t.kind != "blank"), title_line)
        raise RoutineError(
            [
                Diagnostic(
                    source,
                    start,
                    "no steps found: the text from here holds no instructions; mark the steps "
                    "as 'Step 1: ...' lines, headings or a numbered list",
                )
            ]
        )
    blocks = chosen.steps
    if len(blocks) > MAX_STEPS:
        raise RoutineError(
            [
                Diagnostic(
                    source,
                    blocks[MAX_STEPS].line,
                    f"too many steps ({len(blocks)}); a routine has at most {MAX_STEPS}: "
                    "split the article in two",
                )
            ]
        )
    safety_parts = [s for s in parts if s.kind == "safety"]
    prep_parts = [s for s in parts if s.kind == "prep"]
    skipped = [s for s in parts if s.kind == "skip"]
    _check_pauses(
        [chosen.intro, *(b.body for b in blocks)]
        + [tokens._body_lines(s.tokens[1:]) for s in (*safety_parts, *prep_parts)],
        source,
    )
    safety_texts = [p for s in safety_parts for p in _paragraphs(tokens._body_lines(s.tokens[1:]))]
    safety_lines = [s.line for s in safety_parts]
    intro_paragraphs = _paragraphs(chosen.intro) + [
        p for s in prep_parts for p in _paragraphs(tokens._body_lines(s.tokens[1:]))
    ]
    # A short line without a full stop in the intro is a subtitle or a label, not speech.
    intro_paragraphs = [
        p for p in intro_paragraphs if len(p.split()) > 6 or p.rstrip("*_ ")[-1:] in ".!?"
    ]
    found, intro_paragraphs = _take_safety(intro_paragraphs)
    safety_texts += found
    # A safety line at the end of the page, in a section otherwise left out, is still said.
    for part in skipped:
        found, _ = _take_safety(_paragraphs(tokens._body_lines(part.tokens[1:])))
        if found:
            safety_texts += found
            safety_lines.append(part.line)
    each_ms = each_hold(intro_paragraphs + [t for b in blocks for _, t in b.body[:0]])
    # The opening of a long page tells its category as well as all of it, and quicker.
    whole = " ".join(t.text for t in toks[:2000])[:100_000]
    category = category_of(title_text, whole)
    drafts: list[tuple[tokens.Block, str, str]] = []
    for number, block in enumerate(blocks, start=1):
        paragraphs = _paragraphs(block.body)
        if block.title:
            item_title = block.title
        elif block.label:
            item_title, first = _split_title(block.label)
            paragraphs = [first, *_paragraphs(block.body[1:])] if paragraphs else [first]
        else:
            item_title = ""
        found, paragraphs = _take_safety(paragraphs)
        if found:
            safety_texts += found
            safety_lines.append(block.line)
        if each_ms is None:
            each_ms = each_hold(paragraphs) if number == 1 and len(blocks) > 1 else None
        item_title = _clean_title(item_title) or f"Step {number}"
        spoken = speakable(" ".join(paragraphs)) if paragraphs else ""
        drafts.append((block, item_title, spoken or f"{item_title}."))
    safety = " ".join(speakable(p) for p in safety_texts if speakable(p))
    safety_source = "article" if safety else "none"
    if category == "massage" and not safety:
        safety, safety_source = DEFAULT_SAFETY, "default"
    steps = _make_steps(drafts, each_ms, source)
    optional = re.compile(r"optional|bonus|advanced|variation|extra", re.IGNORECASE)
    essential = [s.id for s in steps if not optional.search(s.title)] or [s.id for s in steps]
    fallback_title = name.replace("-", " ").strip().capitalize() or "Imported routine"
    key_lines = {"title": title_line, "intro": 1, "outro": blocks[-1].line}
    key_lines["safety"] = safety_lines[0] if safety_lines else 1
    routine = Routine(
        name=name,
        title=_clean_title(title_text) or fallback_title,
        steps=tuple(steps),
        variants={Variant.SHORT: tuple(essential), Variant.FULL: tuple(s.id for s in steps)},
        source=source,
        category=category,
        safety=safety,
        intro=" ".join(s for s in (speakable(p) for p in intro_paragraphs) if s),
        outro="That is the end of the session. Take a moment before you get up.",
        key_lines=key_lines,
    )
    # Round trip through the file format: what import writes is what check reads.
    again = parse_routine(to_toml(routine), source=source, name=name)
    # Its lines are those of the routine file import would write; point into the article.
    lines = {step.id: step.line for step in steps}
    routine = dataclasses.replace(
        again,
        steps=tuple(
            dataclasses.replace(step, line=lines[step.id], duration_line=lines[step.id])
            for step in again.steps
        ),
        key_lines=key_lines,
    )
    summary = ImportSummary(
        structure=chosen.structure,
        safety_source=safety_source,
        safety_lines=tuple(sorted(set(safety_lines))) if safety_source == "article" else (),
        left_out=tuple(LeftOut(s.heading, s.line) for s in skipped),
        each_hold_ms=each_ms,
    )
    return ImportResult(routine, summary)


def _clean_title(text: str) -> str:
    return speakable(PAUSE_MARKER.sub(" ", text)).rstrip(".!?:").strip()


def _make_steps(
    drafts: list[tuple[tokens.Block, str, str]], each_ms: int | None, source: str
) -> list[Step]:
    steps: list[Step] = []
    used: set[str] = set()
    total_ms = 0
    for number, (block, item_title, spoken) in enumerate(drafts, start=1):
        short = " ".join(sentences(spoken)[:SHORT_SENTENCES])
        own = explicit_hold_ms(spoken)
        hold = (
            own if own is not None else each_ms if each_ms is not None else estimate_hold_ms(spoken)
        )
        full_ms = round_to(_speech_ms(spoken) + STEP_OVERHEAD_MS + hold)
        short_ms = round_to(_speech_ms(short) + STEP_OVERHEAD_MS + hold // 2)
        total_ms += full_ms
        if total_ms > MAX_SESSION_MS:
            raise RoutineError(
                [
                    Diagnostic(
                        source,
                        block.line,
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
                line=block.line,
                duration_line=block.line,
            )
        )
    return steps


def _check_pauses(parts: list[list[shapes.Line]], source: str) -> None:
    """Raise RoutineError for each [pause ...] marker in the spoken parts that is wrong."""
    problems = []
    for lines in parts:
        if not lines:
            continue
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
