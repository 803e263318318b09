"""How long an imported step holds, and what kind of routine an article is.

The article's own words decide: "Hold for 30 seconds", "10 times", "Hold each
pose for 90 seconds"; failing those, what the step asks for (a stretch holds
longer than getting into position).
"""

from __future__ import annotations

import re

from voiceguide.routine.cleanup import speakable

_HOLD = re.compile(
    r"\bhold|stretch|massage|knead|rub|press|circle|breathe|relax|rest|repeat\b", re.I
)


_SETUP = re.compile(r"\b(lie|sit|stand|kneel|get into|position|place|prepare|warm)\b", re.I)


def estimate_hold_ms(text: str) -> int:
    """Guess how long a step's hold should be from what it asks for."""
    times: list[float] = []
    if not re.search(r"\d", text):
        return hold_without_numbers(text)
    # (?<!\d): try each run of digits once, not from each of its digits (quadratic).
    found = re.findall(r"(?<!\d)(\d+(?:\.\d+)?)\s*(seconds?|minutes?)", text, re.IGNORECASE)
    for amount, unit in found:
        times.append(float(amount) * (60_000 if unit.lower().startswith("minute") else 1000))
    # "3 times a day" is how often to do the routine, not a count within the step.
    reps = [
        float(r)
        for r in re.findall(
            r"(?<!\d)(\d+)\s*(?:times|repetitions|breaths|reps)\b(?!\s+(?:a|per|each)\s+(?:day|week))",
            text,
            re.IGNORECASE,
        )
    ]
    # "3 sets of 10 repetitions" is thirty.
    for sets, each in re.findall(
        r"(?<!\d)(\d{1,2})\s*sets?\s+of\s+(\d{1,3})\b", text, re.IGNORECASE
    ):
        reps = [float(sets) * float(each)]
    if times:
        hold = max(times)
    elif reps:
        # float, not int: int() refuses numbers of more than 4300 digits.
        hold = min(reps) * 5000.0
    else:
        return hold_without_numbers(text)
    return int(min(hold, 10 * 60_000))


def hold_without_numbers(text: str) -> int:
    if _HOLD.search(text):
        return 45_000
    if _SETUP.search(text):
        return 15_000
    return 30_000


def round_to(ms: int, step: int = 5000) -> int:
    return max(step, -(-ms // step) * step)


def each_hold(texts: list[str]) -> int | None:
    """Return the hold an instruction stated once for every step sets, if there is one."""
    for text in texts:
        for found in _EACH.finditer(text):
            phrase = speakable(found.group(0)[:300])
            if re.search(r"\d", phrase):
                return estimate_hold_ms(phrase)
    return None


def category_of(title: str, body: str) -> str:
    """Return the category the article's words point to most, its title counting most."""
    title = title[:300]
    scores = {}
    for name, words in _CATEGORY_WORDS.items():
        pattern = re.compile(words, re.IGNORECASE)
        scores[name] = 8 * len(pattern.findall(title)) + len(pattern.findall(body))
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else "other"


def explicit_hold_ms(text: str) -> int | None:
    """Return the hold a step's own words ask for, or None when they name no time or count."""
    if re.search(
        r"(?<!\d)\d+(?:\.\d+)?\s*(?:seconds?|minutes?|times|repetitions|reps|breaths)\b"
        r"(?!\s+(?:a|per|each)\s+(?:day|week))",
        text,
        re.IGNORECASE,
    ):
        return estimate_hold_ms(text)
    return None


_EACH = re.compile(
    r"\b(?:hold|stay in|keep|repeat|do|perform|practise|practice)\s+each\b[^.!?]*", re.IGNORECASE
)


_CATEGORY_WORDS = {
    "massage": r"massag\w*|knead\w*|self-massage|foam roll\w*|trigger point|acupressure|rub\b",
    "stretch": r"stretch\w*|pose|yoga|exercise|physio\w*|reps?\b|repetitions|sets?\b|mobility|"
    r"strength\w*|knee|hip|spine|lumbar|hamstring|posture",
    "breathing": r"breathing|breathwork|inhale|exhale|breath\b|pranayama|4-7-8|box breath",
    "relaxation": r"relax\w*|progressive muscle|tense|body scan|sleep|calm|unwind|visuali[sz]\w*|"
    r"meditat\w*|mindful\w*",
}
