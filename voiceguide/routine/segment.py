"""Find an article's title, sections and steps: candidate structures, scored, the best chosen.

An article's lines are read once into tokens (headings, step lines, numbered
items, bullets, text); headings sort the article into regions (safety,
preparation, left out, the body); then every way the body could be cut into
steps (headings, "Step 1" lines, numbered items, bold leads, ordinal
paragraphs, plain headings, instruction paragraphs) is scored and the best kept.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from voiceguide.routine.cleanup import normalise
from voiceguide.spoken import NUMBER_WORDS

Line = tuple[int, str]  # (line number in the article, text)

_NUMBER_WORDS = NUMBER_WORDS[1:16]  # one to fifteen
_ORDINAL_WORDS = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
]

# "Step 3: Title", "Step #3 -", "Step One.", "Step 3 of 7:", "Exercise 2:".
STEP_LABEL = re.compile(
    r"^\s*(?:step|exercise|stretch|pose|move|movement)\s*#?\s*"
    rf"(\d{{1,3}}|{'|'.join(_NUMBER_WORDS)})\b(?:\s+of\s+\d+)?\s*[:.)\-–—]?\s*(.*)$",
    re.IGNORECASE,
)
# Its closing #s go with rstrip: a lazy (.*?)\s*#*$ takes quadratic time on a run of spaces.
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
# "1. text", "1) text", "1 - text", "2: text"; a glued "1Lumbar Rotation" is read apart.
_NUMBERED = re.compile(r"^(\d{1,2})\s*(?:[.):]|\s[-–—])\s*(.*\S)\s*$")
_GLUED = re.compile(r"^(\d{1,2})([A-Z][A-Za-z'’-]+(?:\s+\S+){0,7})$")
_LETTERED = re.compile(r"^(?:\d{1,2}[a-z]|[a-h])[.)]\s+(.*)$")
_BULLET = re.compile(r"^[-*+•◦▪●·]\s+(.*)$")
_BOLD_LEAD = re.compile(r"^(\*\*|__)(.+?)\1\s*[:.\-–—]?\s*(.*)$")
_ORDINAL_START = re.compile(
    r"^(first(ly)?|to (begin|start)|start by|begin by|next|then|after that|afterwards|now|"
    r"second(ly)?|third(ly)?|finally|lastly|last|to finish)\b[,:]?",
    re.IGNORECASE,
)
_INLINE_STEP = re.compile(
    rf"\b(?:(?:{'|'.join(_ORDINAL_WORDS)}|final|last|next) step|step (?:{'|'.join(_NUMBER_WORDS)}"
    r"|\d{1,2}))\s*[:,.\-–—]\s*",
    re.IGNORECASE,
)
_FRONT_TITLE = re.compile(r"^title\s*:\s*[\"']?(.*?)[\"']?\s*$", re.IGNORECASE)

_NOISE = re.compile(
    r"^(?:[+\-−–—×x•·*|>_=~]+|share|share this( article| page)?|share on \w+|advertisement|"
    r"ad|sponsored( content)?|print|print this( page)?|save|pin( it)?|tweet|email|facebook|"
    r"read more|see more|show more|continue reading|skip to (main )?content|subscribe|"
    r"sign up|jump to (recipe|section)|back to top|table of contents|contents|in this article|"
    r"menu|close|watch( now| the video)?.*|video:.*|play video|\(?image[^)]*\)?|photo:.*|"
    r"photo by .*|image:.*|image credit.*|credit:.*|illustration:.*|.*(getty images|"
    r"shutterstock|istock)\b.*|\d+ comments?|comments? \(\d+\)|leave a (comment|reply)|reply|"
    r"by [\w .,'-]{1,60}|(written|co-?authored|edited|compiled) by .*|next|previous|prev|"
    r"slideshow|gallery|copyright .*|©.*|all rights reserved.*|author:.*|"
    r"medically reviewed.*|medical review.*|"
    r"reviewed by .*|fact[- ]checked.*|current as of.*|last (updated|reviewed).*|updated:?\s.*|"
    r"published:?\s.*|.*\b\d+ min(ute)?s? read\b.*|.*[›»].*|home\s*[/>].*|"
    r"(pdf )?download( article| pdf| the pdf| this (sheet|guide))?( \(pdf\))?|"
    r"download the .* (pdf|sheet|guide)|pdf download.*|printable (pdf|version)|"
    r"was this (page |article )?helpful\??.*|yes\s*/?\s*no|rate this.*|"
    r"(sign up|subscribe) (for|to) .*newsletter.*|.*\bnewsletter\b.*|enter your email.*|"
    r"get (our|the) .*(in your inbox|delivered).*|follow us.*|"
    r"(this (article|content|information|page) is|the information .* is) (for|provided for|"
    r"not) .*(informational|educational|medical advice|substitute).*|"
    r".*\bnot (a substitute|intended as a substitute) for\b.*|disclaimer:.*|"
    r"\[\d+(,\s*\d+)*\]|\d{1,2}/\d{1,2}/\d{2,4})$",
    re.IGNORECASE,
)
_NOISE_MAX = 240
_SKIP = re.compile(
    r"benefit|conclusion|faq|frequently asked|question|summary|final thought|takeaway|"
    r"bottom line|reference|source|related|about the author|comments?\b|you may also|"
    r"you might also|tips?\b|checklist|why (it|this) works|the science|what the research|"
    r"research|newsletter|more (articles|stories)|further reading|resources|disclaimer|"
    r"credits?\b|video|watch|share|sign up",
    re.IGNORECASE,
)
_SAFETY = re.compile(
    r"safety|safe\b|precaution|warning|caution|contraindication|who should not|when not to|"
    r"be careful|important|when to stop|stop if|when to (see|call|seek)|see a doctor|"
    r"red flags?|before you (start|begin).*(doctor|safe)",
    re.IGNORECASE,
)
_PREPARATION = re.compile(
    r"prepar|what you need|you will need|you'll need|getting ready|get ready|"
    r"before you (begin|start)|set ?-?up|equipment|supplies|getting started",
    re.IGNORECASE,
)
_CONTAINER = re.compile(
    r"^(instructions|steps|directions|how to|method|the routine|routine|the exercises|"
    r"exercises|the stretches|stretches|the technique|technique|what to do|the practice|"
    r"practice|the sequence|sequence)\b",
    re.I,
)
# Sentences that are safety notes wherever they stand.
_LABELLED_SAFETY = re.compile(
    r"^(?:caution|warning|important|safety( note)?|red flag)\s*[:!-]", re.IGNORECASE
)
# A sentence that warns: it opens like a warning and names a harm or a professional.
_WARNS = re.compile(
    r"^(?:stop|see|call|contact|consult|ask|check with|talk to|speak to|seek|if|do not|don't|"
    r"never|avoid|skip|people with|anyone with|those with|when to)\b",
    re.IGNORECASE,
)
_HARM = re.compile(
    r"pain|hurts?\b|doctor|\bgp\b|physio|nurse|dentist|medical|numb|tingl|dizz|faint|"
    r"light-headed|worse|injur|pregnan|swell|swollen|blood clot|condition|surgery|varicose|"
    r"\bcuts?\b|wound|short of breath|chest|diabet|fracture|bleed",
    re.IGNORECASE,
)


def is_safety(sentence: str) -> bool:
    """Tell whether a sentence is a safety note, wherever it stands."""
    sentence = sentence.strip("*_ ")
    if _LABELLED_SAFETY.match(sentence):
        return True
    return bool(_WARNS.match(sentence) and _HARM.search(sentence))


_IMPERATIVE = re.compile(
    r"^(?:(?:now|then|next|slowly|gently|first|finally|again|carefully|softly|keeping [^,]+),?\s+)?"
    r"(?:lie|sit|stand|place|put|press|hold|breathe|inhale|exhale|relax|repeat|bring|lift|raise|"
    r"lower|turn|roll|rotate|bend|reach|slide|keep|let|move|rest|stretch|knead|rub|massage|"
    r"tense|tighten|release|close|open|begin|start|return|switch|draw|pull|push|squeeze|"
    r"notice|feel|count|focus|imagine|allow|take|use|make|cross|extend|straighten|step|walk|"
    r"kneel|drop|tuck|tilt|nod|shrug|circle|glide|sweep|stroke|tap|wiggle|point|flex|curl|"
    r"clasp|interlace|hug|twist|arch|round|lengthen|soften|scan|visuali[sz]e|picture|stay|"
    r"continue|do|try|find|get|go|lean|look|gaze|sink|settle|squat|shift|apply|work|hook|"
    r"grip|grasp|cup|spread|sigh|hum|pause|wait|swap|change|alternate|perform|complete|aim|"
    r"set|lay|rock|sway|roll|rise|come|fold|hinge|clench|scrunch|wrap|loop|anchor|drag|"
    r"brace|engage|activate|pinch|stroke|trace|breath)\b"
    # "Rest is when the body repairs itself" states a fact; the word is a noun there.
    r"(?!\s+(?:is|are|was|were|can|could|will|may|might|helps?|means?|has|have|matters?)\b)",
    re.IGNORECASE,
)
_YOUR = re.compile(r"\byour\b", re.IGNORECASE)


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


def _blocks_at(
    body: list[Token], starts: list[int], title_of: str
) -> tuple[list[Block], list[Line]]:
    """Cut body tokens into blocks starting at the given indexes."""
    intro = _body_lines(body[: starts[0]]) if starts else _body_lines(body)
    blocks = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(body)
        head = body[start]
        rest = _body_lines(body[start + 1 : end])
        label_is_heading = (
            len(head.text.split()) <= 7
            and head.text[-1:] not in ".!?,;:"
            and any(t for _, t in rest)
            and not _BOLD_LEAD.match(head.text)
        )
        if title_of == "heading" or label_is_heading:
            blocks.append(Block(head.text, head.line, rest))
        else:
            blocks.append(Block("", head.line, [(head.line, head.text), *rest], label=head.text))
    return blocks, intro


def _heading_candidate(body: list[Token]) -> tuple[list[Block], list[Line]]:
    """Steps are the leaf headings: a heading with headings under it is a group."""
    heads = [
        i
        for i, t in enumerate(body)
        if (t.kind in ("heading", "glued") or (t.kind == "plain" and t.raw != t.text))
        and classify(t.text) == "step"
    ]
    leaves = []
    for n, i in enumerate(heads):
        nxt = heads[n + 1] if n + 1 < len(heads) else None
        if nxt is not None and body[nxt].level > body[i].level:
            continue  # a group of exercises, not one
        leaves.append(i)
    if not leaves:
        return [], []
    blocks, _ = _blocks_at(body, leaves, "heading")
    # A group's own words (between its heading and its first exercise) lead into that exercise.
    for block, i in zip(blocks, leaves, strict=True):
        block.title = _heading_title(body[i].text)
    for n, i in enumerate(heads):
        if i not in leaves:
            nxt = heads[n + 1]
            words = _body_lines(body[i + 1 : nxt])
            target = next((b for b, j in zip(blocks, leaves, strict=True) if j == nxt), None)
            if target is not None and any(t for _, t in words):
                target.body = [*words, *target.body]
    # The intro is what comes before the first heading, not a group's own words.
    return blocks, _body_lines(body[: heads[0]])


def _heading_title(text: str) -> str:
    text = re.sub(r"^\d{1,2}\s*[.):\-–—]?\s*", "", text)
    step = STEP_LABEL.match(text)
    if step:
        text = step.group(2)
    return text.strip(" :.-")


def candidates(body: list[Token]) -> list[Segmentation]:
    """Return every plausible way to cut the body into steps."""
    found: list[Segmentation] = []
    steplines = [i for i, t in enumerate(body) if t.kind == "stepline"]
    if steplines:
        blocks, intro = _blocks_at(body, steplines, "heading")
        for block, i in zip(blocks, steplines, strict=True):
            block.title = body[i].text
            if not block.title and block.body:
                block.label = block.body[0][1]  # "Step 1 of 4": the title is the text's opening
            elif not block.title:
                block.title = f"Step {body[i].number}"
            own = body[i].text
            # "Step 2: Bend the knee and hold." is its own text, and its title its opening words.
            if not block.body and own and is_instruction(own) and len(own.split()) > 6:
                block.title, block.label = "", body[i].text
                block.body = [(body[i].line, body[i].text)]
        found.append(Segmentation("step lines", blocks, intro))
    heads = _heading_candidate(body)
    if heads[0]:
        found.append(Segmentation("headings", *heads))
    numbered = [i for i, t in enumerate(body) if t.kind == "numbered"]
    if numbered:
        found.append(Segmentation("numbered list", *_blocks_at(body, numbered, "label")))
    bold = [
        i
        for i, t in enumerate(body)
        if t.kind in ("bullet", "text") and _BOLD_LEAD.match(t.text) and t.indent < 2
    ]
    if bold:
        found.append(Segmentation("bold leads", *_blocks_at(body, bold, "label")))
    bullets = [i for i, t in enumerate(body) if t.kind == "bullet"]
    if len(bullets) >= 2:
        found.append(Segmentation("bullets", *_blocks_at(body, bullets, "label")))
    plain = [i for i, t in enumerate(body) if t.kind == "plain" and classify(t.text) == "step"]
    if plain:
        blocks, intro = _blocks_at(body, plain, "heading")
        found.append(Segmentation("plain headings", blocks, intro))
    paragraphs = _paragraph_starts(body)
    ordinal = [i for i in paragraphs if _ORDINAL_START.match(body[i].text)]
    if len(ordinal) >= 2:
        found.append(Segmentation("ordinal paragraphs", *_blocks_at(body, ordinal, "label")))
    inline = _inline_candidate(body)
    if inline:
        found.append(inline)
    if any(is_instruction(body[i].text) for i in paragraphs):
        found.append(Segmentation("paragraphs", *_paragraph_blocks(body, paragraphs)))
    return found


def _paragraph_starts(body: list[Token]) -> list[int]:
    starts = []
    for i, tok in enumerate(body):
        if tok.kind in ("text", "bullet", "numbered") and (i == 0 or body[i - 1].kind != "text"):
            starts.append(i)
    return starts


def _paragraph_blocks(body: list[Token], starts: list[int]) -> tuple[list[Block], list[Line]]:
    """Each instruction paragraph is a step; those before the first instruction are the intro."""
    first = next((i for i in starts if is_instruction(body[i].text)), None)
    if first is None:
        return [], []
    kept = [i for i in starts if i >= first]
    return _blocks_at(body, kept, "label")


def _inline_candidate(body: list[Token]) -> Segmentation | None:
    """Steps named inside one paragraph: "First step: ... Second step: ..."."""
    for n, tok in enumerate(body):
        if tok.kind != "text" or not re.search("step", tok.text[:5000], re.IGNORECASE):
            continue
        marks = list(_INLINE_STEP.finditer(tok.text))
        if len(marks) < 2:
            continue
        blocks = []
        for m, mark in enumerate(marks):
            end = marks[m + 1].start() if m + 1 < len(marks) else len(tok.text)
            piece = tok.text[mark.end() : end].strip()
            if piece:
                blocks.append(Block("", tok.line, [(tok.line, piece)], label=piece))
        before = tok.text[: marks[0].start()].strip()
        intro = _body_lines(body[:n]) + ([(tok.line, before)] if before else [])
        if blocks:
            blocks[-1].body.extend(_body_lines(body[n + 1 :]))
            return Segmentation("steps in a paragraph", blocks, intro)
    return None


_BASE = {
    "step lines": 50.0,
    "headings": 40.0,
    "numbered list": 36.0,
    "bold leads": 34.0,
    "steps in a paragraph": 30.0,
    "ordinal paragraphs": 28.0,
    "plain headings": 24.0,
    "bullets": 18.0,
    "paragraphs": 8.0,
}


def score(seg: Segmentation, body: list[Token]) -> float:
    """Score a candidate: instruction-like steps, consistent numbering, a plausible count."""
    n = len(seg.steps)
    if n == 0:
        return -1e9
    total = _BASE[seg.structure]
    # A sample of at most 60 steps judges a long candidate as well as all of them.
    sample = seg.steps[:: max(1, n // 60)]
    texts = [" ".join(t for _, t in b.body[:20])[:2000] or b.title for b in sample]
    instructive = sum(1 for t in texts if is_instruction(t) or _YOUR.search(t))
    total += 30.0 * instructive / len(sample)
    if n == 1:
        total -= 25.0
    elif n > 40:
        total -= 20.0
    words = [len(t.split()) for t in texts]
    if sum(1 for w in words if w == 0) > len(sample) // 2:
        total -= 20.0
    if max(words) > 250:
        total -= 10.0
    if seg.structure in ("numbered list", "step lines"):
        numbers = [t.number for t in body if t.kind in ("numbered", "stepline")]
        if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            total += 10.0
        elif numbers.count(1) > 1:
            total -= 15.0  # several lists: some are not the steps
    if seg.structure == "bullets":
        titled = sum(1 for b in seg.steps if re.match(r"^[^.:!?]{2,40}:\s", b.label))
        total += 15.0 * titled / n
    # Text left before the first step that itself gives instructions lowers the score.
    stray = [t for _, t in seg.intro if t and is_instruction(t)]
    total -= 4.0 * min(len(stray), 5)
    return total


def choose(body: list[Token]) -> Segmentation | None:
    """Return the best-scoring way to cut the body into steps, or None when there is none."""
    scored = []
    for seg in candidates(body):
        seg.score = score(seg, body)
        scored.append(seg)
    if not scored:
        return None
    best = max(scored, key=lambda s: s.score)
    return best if best.score > 0 else None
