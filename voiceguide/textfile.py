"""Reading the text files people write (routines, articles, config), with a line for every problem.

Whatever the bytes, these functions return text and values, or raise TextFileError
with a line inside the file and a one-line message that says what to do; and
they take time in proportion to the file's size.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

MAX_FILE_BYTES = 1_048_576  # far more than any routine, config or article needs
MAX_KEY_PARTS = 64  # tomllib takes time quadratic in the parts of a dotted key
MAX_QUOTED = 40  # characters of a user's text quoted in a message


class TextFileError(ValueError):
    """The file cannot be read as text or TOML; line is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def quote(text: str, limit: int = MAX_QUOTED) -> str:
    """Return a user's text in double quotes for a one-line message: escaped, and cut if long."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if text.isprintable():  # the usual case, and a quick one (a file may hold 100 000 errors)
        return f'"{text}"'
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return f'"{shown}"'


def decode(raw: bytes, what: str) -> str:
    """Return a file's bytes as text: UTF-8, a leading byte-order mark dropped.

    what names the kind of file in the message for a file too big to be one.
    """
    if len(raw) > MAX_FILE_BYTES:
        size = len(raw) / 1_048_576
        raise TextFileError(
            1,
            f"the file is {size:.1f} MB, too big for {what} (at most 1 MB); is it the right file?",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise TextFileError(line, "not UTF-8 text; save the file as UTF-8") from None
    return text.removeprefix("\ufeff")


_HINTS = {
    "Cannot": "a key can be given once in a table; remove or rename the second one",
    "Duplicate": "a key can be given once in a table; remove or rename the second one",
    "Unclosed array": "close the list with ]",
    "Unclosed inline table": "close the { table } with } on the same line",
    "Unterminated string": "close the quotes",
    "Illegal character": 'remove it; text that goes on to the next line needs """ quotes',
    "Unescaped": "write a backslash as \\\\, or use 'single quotes'",
    "Invalid value": 'put text in quotes, like "45s"',
    "Invalid date": 'put text in quotes, like "45s"',
    "Invalid hex": 'put text in quotes, like "45s"',
    "Escaped": "remove the \\u escape, or write the character itself",
    "Expected newline": "put each key = value on a line of its own",
    "Expected ']'": "close the [table] name with ]",
}
_TWICE = ("Cannot", "Duplicate")
_DEFAULT_HINT = "write key = value, a [table] or a # comment on each line"


def parse_toml(text: str) -> dict[str, Any]:
    """Parse TOML text; raise TextFileError with the line of the first problem."""
    _check_dotted_keys(text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found = re.search(r"\s*\((?:at line (\d+), column \d+|at end of document)\)", str(err))
        if found is None:  # a message this version of tomllib writes differently
            line, what = 1, str(err)
        else:
            last = text.count("\n") + 1
            line, what = int(found.group(1) or last), str(err)[: found.start()]
        hint = next((h for key, h in _HINTS.items() if what.startswith(key)), _DEFAULT_HINT)
        if found is not None and found.group(1) is None and not what.startswith(_TWICE):
            hint = "the file ends inside a value: close its quotes, [ list or { table }"
        if len(what) > 120:
            what = what[:119] + "…"
        raise TextFileError(line, f"not valid TOML: {what}; {hint}") from None
    except RecursionError:
        raise TextFileError(
            _deepest_line(text),
            "not valid TOML: lists or tables nested hundreds deep; remove the extra [ or {",
        ) from None


# Strings and comments, which may hold anything; and the things outside them that
# matter here: dotted keys, brackets, line ends. Unterminated strings run to the end
# of their line (or file), so the scan never backtracks far.
_KEY_PART = r"""(?:(?<![\w-])[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
_TOKEN = re.compile(
    r'"""(?:[^\\]|\\[\s\S])*?(?:"""|\Z)'
    r"|'''[\s\S]*?(?:'''|\Z)"
    r'|"(?:[^"\\\n]|\\.)*(?:"|$)'
    r"|'[^'\n]*(?:'|$)"
    r"|#[^\n]*"
    rf"|(?P<dotted>{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART}){{{MAX_KEY_PARTS},}})"
    r"|(?P<open>[\[{])|(?P<close>[\]}])",
    re.MULTILINE,
)


def _check_dotted_keys(text: str) -> None:
    if text.count(".") < MAX_KEY_PARTS:
        return
    for token in _TOKEN.finditer(text):
        if token.group("dotted"):
            raise TextFileError(
                text.count("\n", 0, token.start()) + 1,
                f"a key with more than {MAX_KEY_PARTS} dotted parts; "
                "write keys like duration.short",
            )


def _deepest_line(text: str) -> int:
    """Return the line where [ and { (outside strings and comments) nest deepest."""
    depth = deepest = 0
    where = 0
    for token in _TOKEN.finditer(text):
        if token.group("open"):
            depth += 1
            if depth > deepest:
                deepest, where = depth, token.start()
        elif token.group("close"):
            depth -= 1
    return text.count("\n", 0, where) + 1
