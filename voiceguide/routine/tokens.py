"""An article read into tokens: its title, and its regions (safety, preparation, the body)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from voiceguide.routine.cleanup import normalise
from voiceguide.routine.shapes import (
    _BULLET,
    _CONTAINER,
    _FRONT_TITLE,
    _GLUED,
    _HEADING,
    _IMPERATIVE,
    _LETTERED,
    _NOISE,
    _NOISE_MAX,
    _NUMBER_WORDS,
    _NUMBERED,
    _ORDINAL_START,
    _PREPARATION,
    _SAFETY,
    _SKIP,
    STEP_LABEL,
    Line,
)


@dataclass
class Token:
    """One line of an article, read: what it is and what it holds."""

    line: int
    kind: str  # heading, plain, stepline, numbered, glued, sub, bullet, text, blank
    text: str  # the text without its marker
    raw: str = ""
    level: int = 0  # a heading's level (a plain-text heading is 7)
    number: int = 0  # a numbered item's or step line's number
    indent: int = 0


@dataclass
class Section:
    """A part of the article under one heading, and what it is for."""

    heading: str
    kind: str  # "intro", "safety", "prep", "skip", "body"
    line: int
    tokens: list[Token] = field(default_factory=list)


@dataclass
class Block:
    """One step as found: its title (maybe empty), its line, and the lines it says."""

    title: str
    line: int
    body: list[Line] = field(default_factory=list)
    label: str = ""  # the text the title came from, when the title is its opening words


@dataclass
class Segmentation:
    """The structure chosen for an article's body."""

    structure: str  # which candidate won
    steps: list[Block]
    intro: list[Line]  # body lines before the first step
    score: float = 0.0


def classify(heading: str) -> str:
    """Return what a section under this heading is for."""
    heading = heading[:200]
    if _SAFETY.search(heading) and not re.search(r"benefit|faq|question", heading, re.I):
        return "safety"
    if _SKIP.search(heading):
        return "skip"
    if _PREPARATION.search(heading):
        return "prep"
    if _CONTAINER.search(heading):
        return "container"
    return "step"


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS.index(word.lower()) + 1


@functools.lru_cache(maxsize=4096)
def is_instruction(text: str) -> bool:
    """Tell whether a piece of text reads as an instruction to the listener."""
    text = _LEADING_MARKS.sub("", text[:2000].strip())
    if _IMPERATIVE.match(text) or _IMPERATIVE.match(_ORDINAL_START.sub("", text).strip(" ,")):
        return True
    return any(_IMPERATIVE.match(s.strip()) for s in _SENTENCE_BREAK.split(text, maxsplit=3)[1:3])


_LEADING_MARKS = re.compile(r"^[\W\d]+")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
_BOLD_LINE = re.compile(r"^(\*\*|__)(.*?)\1\s*$")
_NOISE_MARKUP = re.compile(r"[*_`\[\]]")


def _is_plain_heading(text: str) -> bool:
    """Tell whether a line standing alone looks like a heading: short, Title Case, no stop."""
    words = text[:100].rstrip(":").split()
    if (
        len(text) > 80
        or not 1 <= len(words) <= 7
        or text[-1] in ".!?,;"
        or not re.match(r"^[A-Za-z0-9]", text)
    ):
        return False
    if "[" in text or "]" in text:
        return False
    if text.endswith(":"):
        return True
    small = {"a", "an", "and", "the", "of", "to", "for", "in", "on", "with", "your", "or", "at"}
    capital = [w for w in words if w[0].isupper() or w[0].isdigit()]
    return len(capital) >= max(1, len([w for w in words if w.lower() not in small]) - 0)


def strip_front_matter(lines: list[str]) -> tuple[list[str], str]:
    """Blank out YAML front matter and Markdown comments; return the lines and a title."""
    title = ""
    out = list(lines)
    first = next((i for i, line in enumerate(out) if line.strip()), None)
    if first is not None and out[first].strip() == "---":
        end = next(
            (i for i in range(first + 1, min(len(out), first + 60)) if out[i].strip() == "---"),
            None,
        )
        if end is not None:
            for i in range(first, end + 1):
                found = _FRONT_TITLE.match(out[i].strip())
                if found and not title:
                    title = found.group(1).strip()
                out[i] = ""
    in_comment = False
    for i, line in enumerate(out):
        stripped = line.strip()
        if in_comment:
            in_comment = "-->" not in stripped
            out[i] = ""
        elif re.match(r"^\[(//|comment)\]:\s*#", stripped):
            out[i] = ""
        elif stripped.startswith("<!--"):
            in_comment = "-->" not in stripped
            out[i] = ""
    return out, title


def tokens(raw: str) -> tuple[list[Token], str]:
    """Read an article into tokens, noise dropped; also return its front-matter title."""
    lines, front_title = strip_front_matter(normalise(raw).split("\n"))
    out: list[Token] = []
    for number, line in enumerate(lines, start=1):
        indent = len(line) - len(line.lstrip(" \t"))
        text = line.strip()
        quote = re.match(r"^>\s?(.*)$", text)
        if quote:  # a quoted line (a warning box) is read as the text it holds
            text = quote.group(1).strip()
        if not text:
            if out and out[-1].kind != "blank":
                out.append(Token(number, "blank", ""))
            continue
        # Noise is a short line; a long one is never tried (its .* patterns would be slow).
        if len(text) <= _NOISE_MAX and _is_noise(text):
            continue
        out.append(_token(number, text, indent, quoted=bool(quote)))
    return out, front_title


@functools.lru_cache(maxsize=1024)
def _is_noise(text: str) -> bool:
    if _NOISE.match(text):
        return True
    return bool(_NOISE_MARKUP.search(text)) and bool(
        _NOISE.match(_NOISE_MARKUP.sub("", text).strip())
    )


def _token(number: int, text: str, indent: int, *, quoted: bool) -> Token:
    heading = _HEADING.match(text)
    if heading:
        name = heading.group(2).rstrip().rstrip("#").strip().strip("*_").strip()
        step = STEP_LABEL.match(name)
        if step:
            return Token(number, "stepline", step.group(2), text, len(heading.group(1)),
                         _number(step.group(1)))  # fmt: skip
        return Token(number, "heading", name, text, len(heading.group(1)))
    bare = (
        _BOLD_LINE.sub(r"\2", text).strip() if text[:1] in "*_" else text
    )  # a bold line is a heading
    step = STEP_LABEL.match(bare)
    if step and (bare.lower().startswith("step") or bare != text or len(bare.split()) <= 8):
        return Token(number, "stepline", step.group(2), text, 0, _number(step.group(1)), indent)
    sub_a = re.match(r"^(\d{1,2})a[.)]\s+(.*)$", text)
    if sub_a:  # "2a." opens step 2; "2b." goes on with it
        return Token(number, "numbered", sub_a.group(2), text, 0, int(sub_a.group(1)), indent)
    lettered = _LETTERED.match(text)
    if lettered:
        return Token(number, "sub", lettered.group(1), text, 0, 0, indent)
    numbered = _NUMBERED.match(text)
    if numbered and not re.match(r"^\d{1,2}:\d", text):  # "2:30 pm" is no item
        kind = "sub" if indent >= 2 else "numbered"
        return Token(number, kind, numbered.group(2), text, 0, int(numbered.group(1)), indent)
    glued = _GLUED.match(text)
    if glued and text[-1] not in ".!?,;":
        return Token(number, "glued", glued.group(2), text, 7, int(glued.group(1)), indent)
    bullet = _BULLET.match(text)
    if bullet:
        kind = "sub" if indent >= 2 else "bullet"
        return Token(number, kind, bullet.group(1), text, 0, 0, indent)
    if bare != text and len(bare.split()) <= 8 and bare[-1:] not in ".!?":
        return Token(number, "plain", bare.rstrip(":"), text, 7, 0, indent)
    short = (
        text[0].isalpha() and len(text) <= 80 and len(text.split()) <= 8 and text[-1] not in ".!?,;"
    )
    if not quoted and (_is_plain_heading(text) or (short and classify(text) != "step")):
        return Token(number, "plain", text.rstrip(":"), text, 7, 0, indent)
    return Token(number, "text", text, text, 0, 0, indent)


def find_title(toks: list[Token], front_title: str) -> tuple[str, int, int]:
    """Return the article's title, its line and the index of the token holding it (or -1)."""
    if front_title:
        return front_title, 1, -1
    for i, tok in enumerate(toks):
        if tok.kind == "heading" and tok.level == 1:
            return tok.text, tok.line, i
        if tok.kind in ("stepline", "numbered", "glued", "bullet", "sub"):
            break
        if tok.kind == "heading":
            break
    # Before the first paragraph there may be a site name, a subtitle and the title: the
    # title is the fullest of these lines.
    leading: list[int] = []
    for i, tok in enumerate(toks):
        if tok.kind in ("stepline", "numbered", "glued", "bullet", "sub"):
            break
        if tok.kind == "heading" and re.match(r"^\d{1,2}\s*[.):]", tok.text):
            break  # "## 1. Cat pose" is the first step, not the title
        if tok.kind in ("plain", "text", "heading") and len(tok.text.split()) <= 14:
            if tok.kind == "text" and tok.text.endswith((".", "!")) and len(tok.text.split()) > 6:
                break  # a sentence of the intro, not a title
            if tok.kind == "text" and tok.text.endswith("?") and leading:
                break
            leading.append(i)
            continue
        if tok.kind != "blank":
            break
    if leading:
        best = max(leading, key=lambda i: (len(toks[i].text.split()), -i))
        return toks[best].text.strip("#: "), toks[best].line, best
    return "", 1, -1


def _paragraph_follows(toks: list[Token], i: int) -> bool:
    """Tell whether a line is followed by a paragraph of text (a heading is; a link is not)."""
    nxt = next((t for t in toks[i + 1 :] if t.kind != "blank"), None)
    return nxt is not None and nxt.kind == "text" and len(nxt.text.split()) >= 6


def sections(toks: list[Token], title_index: int) -> list[Section]:
    """Cut the tokens into sections by their headings, each classified."""
    out = [Section("", "intro", 1)]
    stack: list[tuple[int, str]] = []  # (level, kind) of the headings we are under
    for i, tok in enumerate(toks):
        if i <= title_index:
            continue  # the title, and what stands above it (a site's name, a breadcrumb)
        if tok.kind == "stepline":
            # A "Step 1" line is a step wherever it stands, unless a Markdown heading has
            # put it under a left-out section.
            while stack and stack[-1][0] >= 7:
                stack.pop()
            if out[-1].kind != "body" and not any(k in ("skip", "safety") for _, k in stack):
                out.append(Section(tok.text, "body", tok.line))
            out[-1].tokens.append(tok)
            continue
        if tok.kind in ("heading", "plain"):
            kind = classify(tok.text)
            if (
                tok.kind == "plain"
                and kind == "step"
                and stack
                and stack[-1][1] != "step"
                # After a safety or preparation section, a heading with a paragraph goes
                # back to the steps; a left-out section (comments, links) keeps its lines.
                and (stack[-1][1] == "skip" or not _paragraph_follows(toks, i))
            ):
                # A plain Title Case line inside a left-out or safety section stays in it,
                # unless it says it is something else.
                out[-1].tokens.append(tok)
                continue
            while stack and stack[-1][0] >= tok.level:
                stack.pop()
            outer = next((k for _, k in stack if k in ("skip", "safety", "prep")), None)
            if outer in ("skip", "safety") and kind in ("step", "container"):
                kind = outer
            stack.append((tok.level, kind))
            section_kind = "body" if kind in ("step", "container") else kind
            out.append(Section(tok.text, section_kind, tok.line, [tok]))
            continue
        out[-1].tokens.append(tok)
    return out


# -- the candidate structures --------------------------------------------------------------


def _body_lines(toks: list[Token]) -> list[Line]:
    """Return the lines of some tokens as spoken text: markers and labels gone, paragraphs kept."""
    lines: list[Line] = []
    for tok in toks:
        if tok.kind == "blank":
            if lines and lines[-1][1]:
                lines.append((tok.line, ""))
            continue
        if tok.kind in ("heading", "plain"):
            continue  # a heading inside a step's text, or a group's name, is not read out
        text = tok.text
        if tok.kind == "stepline" and not text:
            continue
        lines.append((tok.line, text))
    return lines
