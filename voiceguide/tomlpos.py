"""Find the line of a key in TOML text, so errors can point at it.

tomllib returns plain values without positions. This scanner walks the text
once and records the line of every table header, key and array element, by
path (for example ``("steps", 2, "cues", 0, "at")``). It understands the
parts of TOML that routine files use; for anything else, ``line_of`` falls
back to the nearest enclosing path it knows.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence

PathKey = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
    r"""(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'))*)\s*=\s*(.*)$"""
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _split_dotted(name: str) -> list[str]:
    parts = []
    for raw in re.findall(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^.\s]+', name):
        if raw.startswith('"') and "\\" in raw:
            parts.append(_unescape(raw))
        else:
            parts.append(raw[1:-1] if raw[0] in "\"'" else raw)
    return parts


def _unescape(quoted: str) -> str:
    """Return the key a quoted key with escapes (like "\\u0074itle") stands for."""
    try:
        value = tomllib.loads(f"k = {quoted}")["k"]
    except tomllib.TOMLDecodeError:
        return quoted[1:-1]
    return str(value)


class TomlPositions:
    """Lines of the keys and array elements of one TOML document."""

    def __init__(self, text: str) -> None:
        self._lines: dict[PathKey, int] = {}
        self._array_counts: dict[PathKey, int] = {}
        # Only "\n" ends a line in TOML; str.splitlines would also split at "\u2028",
        # "\x85" and other characters that may stand inside a string.
        self._scan(text.split("\n"))

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """Return the 1-based line of path, or of its nearest known ancestor."""
        key = tuple(path)
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return None

    def _record(self, path: PathKey, line: int) -> None:
        # A dotted key (a.b = 1) or a header ([a.b]) also defines its parents, on its
        # own line, unless they were defined before.
        for end in range(1, len(path) + 1):
            self._lines.setdefault(path[:end], line)

    def _scan(self, lines: list[str]) -> None:
        table: PathKey = ()
        i = 0
        while i < len(lines):
            line = lines[i]
            lineno = i + 1
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                i += 1
                continue
            header = _HEADER.match(line)
            if header and not _KEY.match(line):
                names = self._resolve(_split_dotted(header.group(2)))
                if header.group(1) == "[[":
                    index = self._array_counts.get(names, 0)
                    self._array_counts[names] = index + 1
                    self._record(names, lineno)
                    table = (*names, index)
                else:
                    table = names
                self._record(table, lineno)
                i += 1
                continue
            key = _KEY.match(line)
            if key is None:
                i += 1
                continue
            path = (*table, *_split_dotted(key.group(1)))
            self._record(path, lineno)
            i = self._scan_value(lines, i, key.group(2), path)

    def _resolve(self, names: list[str]) -> PathKey:
        # A header like [[steps.cues]] belongs to the latest [[steps]] element.
        resolved: list[str | int] = []
        for name in names:
            resolved.append(name)
            count = self._array_counts.get(tuple(resolved))
            if count is not None and len(resolved) < len(names):
                resolved.append(count - 1)
        return tuple(resolved)

    def _scan_value(self, lines: list[str], i: int, value: str, path: PathKey) -> int:
        """Record positions inside a value starting on line i; return the next line index."""
        for quote in ('"""', "'''"):
            if value.startswith(quote):
                if value.count(quote) >= 2:
                    return i + 1
                j = i + 1
                while j < len(lines) and quote not in lines[j]:
                    j += 1
                return j + 1
        if value.startswith("{"):
            self._scan_inline_table(value, path, i + 1)
            return i + 1
        if not value.startswith("["):
            return i + 1
        # An array, maybe over several lines: record where each element starts.
        depth = 0
        element = -1
        j = i
        text = value
        while True:
            pos = 0
            while pos < len(text):
                char = text[pos]
                if char == "#":
                    break
                if char in "\"'":
                    match = _STRING.match(text, pos)
                    end = match.end() if match else len(text)
                    if depth == 1:
                        element += 1
                        self._record((*path, element), j + 1)
                    pos = end
                    continue
                if char in "[{":
                    depth += 1
                    if depth == 2:
                        element += 1
                        self._record((*path, element), j + 1)
                        if char == "{":
                            close = text.find("}", pos)
                            self._scan_inline_table(
                                text[pos : close + 1 if close >= 0 else len(text)],
                                (*path, element),
                                j + 1,
                            )
                elif char in "]}":
                    depth -= 1
                    if depth == 0:
                        return j + 1
                elif depth == 1 and not char.isspace() and char != ",":
                    element += 1
                    self._record((*path, element), j + 1)
                    while pos < len(text) and text[pos] not in ",]#":
                        pos += 1
                    continue
                pos += 1
            j += 1
            if j >= len(lines):
                return j
            text = lines[j]

    def _scan_inline_table(self, text: str, path: PathKey, lineno: int) -> None:
        for match in re.finditer(r"""([A-Za-z0-9_-]+|"[^"]*")\s*=""", text):
            name = match.group(1).strip('"')
            self._record((*path, name), lineno)
