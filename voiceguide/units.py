"""Parse and format the human durations used in routine files and options; the session cap."""

from __future__ import annotations

import re

from voiceguide.textfile import quote

# Spaces and tabs may stand around the parts, never a line break ("45s\n" is not a
# duration: $ would let one through at the end, so the pattern ends with \Z).
_DURATION = re.compile(
    r"^[ \t]*(?:(?P<h>\d+(?:\.\d+)?)[ \t]*h)?[ \t]*(?:(?P<m>\d+(?:\.\d+)?)[ \t]*m(?!s))?"
    r"[ \t]*(?:(?P<s>\d+(?:\.\d+)?)[ \t]*s)?[ \t]*(?:(?P<ms>\d+)[ \t]*ms)?[ \t]*\Z"
)

# No session, routine or duration lasts longer than a day.
MAX_SESSION_MS = 24 * 3600 * 1000


def parse_duration(text: str) -> int:
    """Return milliseconds for text like '45s', '1m30s', '2m', '1h', '1.5s' or '250ms'.

    Raises ValueError with a message fit to show the user.
    """
    match = _DURATION.match(text)
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f'{quote(text)} is not a duration; write it like "45s", "1m30s" or "2m"')
    ms = 0.0
    for unit, factor in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        value = match.group(unit)
        if value is not None:
            ms += float(value) * factor
    if ms > MAX_SESSION_MS:
        raise ValueError(f"{quote(text)} is longer than 24 hours; give at most 24h")
    return round(ms)


def format_clock(ms: int) -> str:
    """Format milliseconds as m:ss (or h:mm:ss), rounding to the nearest second."""
    seconds = max(0, round(ms / 1000))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_duration(ms: int) -> str:
    """Format milliseconds the way routine files write durations, like "1m30s"."""
    seconds = round(ms / 1000)
    minutes, secs = divmod(seconds, 60)
    if minutes and secs:
        return f"{minutes}m{secs}s"
    return f"{minutes}m" if minutes else f"{secs}s"


def format_seconds(ms: int) -> str:
    """Format milliseconds as seconds with one decimal, like '52.3 s'."""
    return f"{ms / 1000:.1f} s"
