"""Find an article's title, sections and steps: candidate structures, scored, the best chosen.

An article's lines are read once into tokens (headings, step lines, numbered
items, bullets, text); headings sort the article into regions (safety,
preparation, left out, the body); then every way the body could be cut into
steps (headings, "Step 1" lines, numbered items, bold leads, ordinal
paragraphs, plain headings, instruction paragraphs) is scored and the best kept.
"""

from __future__ import annotations

import re

from voiceguide.routine.shapes import (
    _BOLD_LEAD,
    _INLINE_STEP,
    _ORDINAL_START,
    _YOUR,
    STEP_LABEL,
    Line,
)
from voiceguide.routine.tokens import (
    Block,
    Segmentation,
    Token,
    _body_lines,
    classify,
    is_instruction,
)


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
