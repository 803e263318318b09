"""How written text is spoken: sentences, pause markers, and speaking-time estimates.

Shared by the article importer and the timeline compiler, so that an
estimate made while importing and a compiled timeline split text alike.
"""

from __future__ import annotations

import re

from voiceguide.textfile import quote
from voiceguide.units import parse_duration

DEFAULT_RATE_WPM = 150  # calm, unhurried speech
SENTENCE_ESTIMATE_MS = 400  # the pause each sentence adds to an estimate

# A pause written into spoken text: "[pause 3s]" (or "[pause]" for two seconds).
# Its duration stops at the next "[", so a text of unclosed "[pause" is scanned in linear time.
PAUSE_MARKER = re.compile(r"\[pause(?:\s+([^\[\]]*))?\]", re.IGNORECASE)
DEFAULT_PAUSE_MS = 2000
MAX_PAUSE_MS = 10 * 60_000

# Where one sentence ends and the next begins: after . ! or ? (and any closing
# quotes or brackets), at white space followed by more text.
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=\S)")


def parse_pause(spec: str | None) -> int:
    """Return the length of a pause marker's duration ("3s"; None for the default)."""
    if spec is None or not spec.strip():
        return DEFAULT_PAUSE_MS
    if "\n" in spec:  # a marker may break across lines
        spec = " ".join(spec.split())
    ms = parse_duration(spec)
    if not 0 < ms <= MAX_PAUSE_MS:
        raise ValueError(f"{quote(spec)} must be more than zero and at most 10 minutes")
    return ms


def pause_problems(text: str) -> list[tuple[int, str]]:
    """Return each [pause ...] marker in text that is wrong: where it starts, and what to say."""
    problems = []
    said: dict[str, str | None] = {}  # each distinct marker is judged once
    for marker in PAUSE_MARKER.finditer(text):
        written = marker.group(0)
        if written not in said:
            try:
                parse_pause(marker.group(1))
                said[written] = None
            except ValueError as err:
                said[written] = f"pause marker {quote(written)}: {err}; write it like [pause 3s]"
        problem = said[written]
        if problem is not None:
            problems.append((marker.start(), problem))
    return problems


def sentences(text: str) -> list[str]:
    """Split text into its sentences, without the white space between them."""
    return [s.strip() for s in SENTENCE_END.split(text.strip()) if s.strip()]


def estimate_ms(text: str, rate_wpm: int = DEFAULT_RATE_WPM) -> int:
    """Estimate how long text takes to say, before it is synthesized."""
    words = len(text.split())
    return round(words * 60_000 / rate_wpm) + SENTENCE_ESTIMATE_MS * len(sentences(text))


NUMBER_WORDS = [  # 0 to 19, spelled out
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> str:
    """Spell out 0..99 in words (larger numbers stay digits)."""
    if 0 <= n < 20:
        return NUMBER_WORDS[n]
    if 20 <= n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{NUMBER_WORDS[ones]}" if ones else "")
    return str(n)
