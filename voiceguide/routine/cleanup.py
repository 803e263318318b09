"""Cleaning article text for speech: typographic characters, markup, abbreviations.

What a web page or a Markdown file leaves in a sentence (emphasis, links,
images, HTML tags, footnote marks, "e.g.") is made into words a voice reads
well; [pause 3s] markers are kept where they were.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from voiceguide.spoken import PAUSE_MARKER

# "Step 3: Title" lines (the announcement says "Step 3").
STEP_LINE = re.compile(r"^\s*step\s+(\d+)\s*[:.)\-–—]?\s*(.*)$", re.IGNORECASE)

# Measurements and counts whose short forms a voice misreads; these come before the
# general rules below, so "(6m)" is six metres, not six minutes.
_MEASURES: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
    (r"\b(\d+)(?:-(\d+)){2,}\b", lambda m: " ".join(m.group(0).split("-"))),  # 4-7-8 breathing
    (r"\((\s*\d+(?:\.\d+)?)\s*m\s*\)", r"(\1 metres)"),
    (r"(?<=\d)\s*cm\b\.?", " centimetres"),
    (r"(?<=\d)\s*mm\b\.?", " millimetres"),
    (r"(?<=\d)\s*(?:in\.|in(?=\s*\)))", " inches"),
    (r"(?<=\d)\s*(?:ft\b\.?|')(?=[\s),.;]|$)", " feet"),
    (r"(?<=\d)\s*kg\b", " kilograms"),
    (r"(?<=\d)\s*(?:lbs?)\b\.?", " pounds"),
    (r"\b1\s*x\s+(?=(?:a|per|each) (?:day|week))", "once "),
    (r"\b2\s*x\s+(?=(?:a|per|each) (?:day|week))", "twice "),
    (r"\bx\s?(\d+)\b", r"\1 times"),  # "x10"
]
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


_DIGIT = re.compile(r"\d")
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d]")

# Stands in for a pause marker while the text around it is cleaned: no pattern below
# removes it, so the markers come back, in order, where they were.
_MARK = "\ue000"


def _clean(text: str) -> str:
    # Runs of white space made one first: every pattern below then scans less.
    text = re.sub(r"\s+", " ", text)
    # No pattern may scan past the next opening bracket: on a line of openers with no
    # closers, each would otherwise scan to the end, in quadratic time.
    text = re.sub(r"!\[[^\[\]\ue000]*\]\([^()\s\ue000]*\)", "", text)  # images
    text = re.sub(r"\[([^\[\]]+)\]\([^()\s\ue000]*\)", r"\1", text)  # links keep their words
    text = re.sub(r"<[^<>\ue000]+>", "", text)  # HTML tags
    text = re.sub(r"https?://[^\s\ue000]+|www\.[^\s\ue000]+", "", text)
    # Most rules below need a digit, an underscore or a character beyond ASCII: a long text
    # without them skips them.
    digits = _DIGIT.search(text) is not None
    if digits:
        text = re.sub(r"\[(?:\d+(?:\s*[,–-]\s*\d+)*|note \d+)\]", "", text, flags=re.I)
        # Author-year citations: "(Smith et al., 2019)".
        text = re.sub(
            r"\((?:[A-Z][\w'-]+(?: et al\.?| and [A-Z][\w'-]+)?,? \d{4}[a-z]?;? ?)+\)", "", text
        )
        # Footnote digits glued to a word or its full stop: "pressure1", "pressure.1".
        text = re.sub(r"(?<=[a-z]{3})\d{1,2}(?=[\s,;:!?)]|\.(?:\s|$)|$)", "", text)
        text = re.sub(r"(?<=[a-z][.,;:])\d{1,2}(?=\s|$)", "", text)
        text = re.sub(r"\bstep \d+ of \d+\b[.:]?", "", text, flags=re.I)
    text = text.replace("[citation needed]", "")
    if not text.isascii():
        text = _EMOJI.sub("", text)
    if "__" in text:
        # A sentence with a blank to fill in belongs to a worksheet, not to a spoken session.
        text = re.sub(r"(?:^|(?<=[.!?] ))[^.!?_]*_{2,}[^.!?]*[.!?]?", "", text)
    if "__" in text or "...." in text:
        text = re.sub(r"_{2,}|\.{4,}", " ", text)  # dot leaders
    text = _EMPHASIS.sub(lambda m: next(g for g in m.groups() if g is not None), text)
    text = text.replace("`", "")
    text = STEP_LINE.sub(r"\2", text)  # "Step 3:" is said by the announcement
    for measure, said in _MEASURES if digits else ():
        text = re.sub(measure, said, text, flags=re.IGNORECASE)
    for pattern, spoken in _ABBREVIATIONS:
        text = re.sub(pattern, spoken, text, flags=re.IGNORECASE)
    text = re.sub(r"\b1 (minute|second|hour)s\b", r"1 \1", text)
    # Spaces are made one first: \s+ before a comma takes quadratic time on a long run.
    text = re.sub(r" ([,.;:!?])", r"\1", re.sub(r"\s+", " ", text))
    # Cleaning can join what looks like a marker ("[pa<b>use 0s]"); only written ones count.
    text = PAUSE_MARKER.sub(lambda m: m.group(0)[1:-1], text)
    return text.strip()
