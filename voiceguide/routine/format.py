"""The routine file format (TOML): parse and validate a file, and write one.

Parsing reports every problem in a file at once, each at its line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from voiceguide.errors import Diagnostic, RoutineError
from voiceguide.routine.model import (
    CATEGORIES,
    DEFAULT_SLEEP_MINUTES,
    MAX_SLEEP_MINUTES,
    MAX_STEPS,
    Cue,
    CueAnchor,
    Routine,
    Step,
    Variant,
)
from voiceguide.spoken import pause_problems
from voiceguide.textfile import TextFileError, parse_toml, quote
from voiceguide.tomlpos import PathKey, TomlPositions
from voiceguide.units import MAX_SESSION_MS, format_clock, parse_duration

_TOP_TEXT_KEYS = {"title", "description", "category", "safety", "intro", "outro", "music"}
_TOP_KEYS = {*_TOP_TEXT_KEYS, "variants", "steps", "sleep"}
_STEP_KEYS = {"id", "title", "text", "short_text", "duration", "cues"}
_SPOKEN_KEYS = {"safety", "intro", "outro", "text", "short_text"}  # may hold [pause 3s] markers
_CUE_KEYS = {"at", "say"}
_STEP_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class _Checker:
    """Collects every problem in one routine file."""

    def __init__(self, source: str, positions: TomlPositions) -> None:
        self.source = source
        self.positions = positions
        self.problems: list[Diagnostic] = []

    def line(self, path: PathKey) -> int | None:
        return self.positions.line_of(path)

    def fail(self, path: PathKey, message: str) -> None:
        self.problems.append(Diagnostic(self.source, self.line(path) or 1, message))

    def unknown_keys(self, table: Mapping[str, Any], known: set[str], path: PathKey) -> None:
        for key in table:
            if key not in known:
                allowed = ", ".join(sorted(known))
                self.fail(
                    (*path, key),
                    f"unknown key {quote(key)} {_where(path)}; expected one of: {allowed}",
                )

    def text(self, table: Mapping[str, Any], key: str, path: PathKey, *, required: bool) -> str:
        value = table.get(key)
        if value is None:
            if required:
                self.fail(path, f'missing "{key}"; add {key} = "..."')
            return ""
        if not isinstance(value, str):
            self.fail((*path, key), f'"{key}" must be text in quotes, not {_kind(value)}')
            return ""
        if required and not value.strip():
            self.fail((*path, key), f'"{key}" is empty')
        if key in _SPOKEN_KEYS:
            for _, problem in pause_problems(value):
                self.fail((*path, key), problem)
        return value.strip()

    def duration(self, value: object, path: PathKey) -> int | None:
        if not isinstance(value, str):
            self.fail(path, f'duration must be text like "45s" or "1m30s", not {_kind(value)}')
            return None
        try:
            ms = parse_duration(value)
        except ValueError as err:
            self.fail(path, str(err))
            return None
        if ms <= 0:
            self.fail(path, f"duration {quote(value)} must be longer than zero")
            return None
        return ms

    def sleep(self, value: object) -> int | None:
        """Return the sleep ending's bed after the last words, in ms (None: no sleep ending)."""
        if value is None or value is False:
            return None
        if value is True:
            return DEFAULT_SLEEP_MINUTES * 60_000
        if isinstance(value, int | float) and 0 < value <= MAX_SLEEP_MINUTES:
            return round(value * 60_000)
        shown = f"{value:g}" if isinstance(value, int | float) else _kind(value)
        self.fail(
            ("sleep",),
            f"sleep must be true, false or the minutes of music after the last words "
            f"(more than 0, at most {MAX_SLEEP_MINUTES}), not {shown}",
        )
        return None


def _where(path: PathKey) -> str:
    """Describe a place in a routine file in words, like 'in cue 2 of step 1'."""
    match path:
        case ():
            return "at the top level"
        case ("steps", int(step)):
            return f"in step {step + 1}"
        case ("steps", int(step), "duration"):
            return f"in the duration of step {step + 1}"
        case ("steps", int(step), "cues", int(cue)):
            return f"in cue {cue + 1} of step {step + 1}"
        case _:
            return "in [" + ".".join(str(p) for p in path) + "]"


def _kind(value: object) -> str:
    names = {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


def parse_routine(text: str, *, source: str, name: str) -> Routine:
    """Parse and validate routine TOML text; raise RoutineError listing every problem."""
    try:
        data = parse_toml(text)
    except TextFileError as err:
        raise RoutineError([Diagnostic(source, err.line, err.message)]) from None
    check = _Checker(source, TomlPositions(text))
    check.unknown_keys(data, _TOP_KEYS, ())
    title = check.text(data, "title", (), required=True)
    description = check.text(data, "description", (), required=False)
    safety = check.text(data, "safety", (), required=False)
    intro = check.text(data, "intro", (), required=False)
    outro = check.text(data, "outro", (), required=False)
    music = check.text(data, "music", (), required=False) or None
    sleep_ms = check.sleep(data.get("sleep"))
    category = check.text(data, "category", (), required=False) or "other"
    if category not in CATEGORIES:
        check.fail(
            ("category",),
            f"unknown category {quote(category)}; use one of: {', '.join(CATEGORIES)}",
        )
    if category == "massage" and not safety:
        check.fail(("category",), 'a massage routine needs "safety" notes, which are always spoken')

    steps = _check_steps(check, data.get("steps"))
    variants = _check_variants(check, data.get("variants"), steps)
    if check.problems:
        raise RoutineError(check.problems)
    return Routine(
        name=name,
        title=title,
        description=description,
        category=category,
        safety=safety,
        intro=intro,
        outro=outro,
        steps=tuple(steps),
        variants=variants,
        source=source,
        music=music,
        music_line=check.line(("music",)),
        sleep_ms=sleep_ms,
        key_lines={key: line for key in data if (line := check.line((key,))) is not None},
    )


def _check_steps(check: _Checker, raw: object) -> list[Step]:
    if raw is None:
        check.fail((), "no steps; add at least one [[steps]] table")
        return []
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        check.fail(("steps",), "steps must be written as [[steps]] tables")
        return []
    if not raw:
        check.fail(("steps",), "no steps; add at least one [[steps]] table")
    if len(raw) > MAX_STEPS:
        check.fail(
            ("steps", MAX_STEPS),
            f"too many steps ({len(raw)}); a routine has at most {MAX_STEPS}: split it in two",
        )
        return []
    steps: list[Step] = []
    seen: dict[str, int | None] = {}
    for index, table in enumerate(raw):
        path: PathKey = ("steps", index)
        check.unknown_keys(table, _STEP_KEYS, path)
        step_id = check.text(table, "id", path, required=True)
        if step_id and not _STEP_ID.match(step_id):
            check.fail(
                (*path, "id"),
                f"step id {quote(step_id)} must use lowercase letters, digits and dashes",
            )
        elif step_id in seen:
            first = seen[step_id]
            check.fail(
                (*path, "id"), f"duplicate step id {quote(step_id)} (first used on line {first})"
            )
        elif step_id:
            seen[step_id] = check.line((*path, "id"))
        title = check.text(table, "title", path, required=True)
        text = check.text(table, "text", path, required=True)
        short_text = check.text(table, "short_text", path, required=False)
        short_ms, full_ms = _check_step_duration(check, table.get("duration"), path)
        cues = _check_cues(check, table.get("cues"), path)
        steps.append(
            Step(
                id=step_id,
                title=title,
                text=text,
                short_text=short_text,
                short_ms=short_ms,
                full_ms=full_ms,
                cues=cues,
                line=check.line(path),
                duration_line=check.line((*path, "duration")),
            )
        )
    return steps


def _check_step_duration(check: _Checker, raw: object, path: PathKey) -> tuple[int, int]:
    if raw is None:
        check.fail(
            path, 'missing "duration"; add duration = "45s" (or { short = "30s", full = "1m" })'
        )
        return 0, 0
    if isinstance(raw, dict):
        check.unknown_keys(raw, {"short", "full"}, (*path, "duration"))
        values = []
        for variant in ("short", "full"):
            if variant not in raw:
                check.fail((*path, "duration"), f'duration table is missing "{variant}"')
                values.append(0)
            else:
                values.append(check.duration(raw[variant], (*path, "duration", variant)) or 0)
        return values[0], values[1]
    ms = check.duration(raw, (*path, "duration")) or 0
    return ms, ms


def _check_cues(check: _Checker, raw: object, path: PathKey) -> tuple[Cue, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        check.fail((*path, "cues"), "cues must be written as [[steps.cues]] tables")
        return ()
    cues = []
    for index, table in enumerate(raw):
        cue_path = (*path, "cues", index)
        check.unknown_keys(table, _CUE_KEYS, cue_path)
        say = check.text(table, "say", cue_path, required=True)
        at = table.get("at")
        anchor, offset = CueAnchor.START, 0
        if at is None:
            check.fail(cue_path, 'cue is missing "at"; write at = "half", "30s" or "-10s"')
            continue
        if not isinstance(at, str):
            check.fail(
                (*cue_path, "at"),
                f'cue "at" must be text like "half", "30s" or "-10s", not {_kind(at)}',
            )
            continue
        spec = at.strip()
        if spec == "half":
            anchor = CueAnchor.HALF
        else:
            if spec.startswith("-"):
                anchor, spec = CueAnchor.END, spec[1:]
            try:
                offset = parse_duration(spec)
            except ValueError:
                check.fail(
                    (*cue_path, "at"),
                    f'cue time {quote(at)} is not understood; write "half", "30s" (from the start) '
                    'or "-10s" (before the end)',
                )
                continue
        if say:
            cues.append(Cue(anchor, offset, say, check.line(cue_path)))
    return tuple(cues)


def _check_variants(
    check: _Checker, raw: object, steps: list[Step]
) -> dict[Variant, tuple[str, ...]]:
    variants: dict[Variant, tuple[str, ...]] = {}
    if raw is None:
        check.fail((), "no [variants] table; add one with short = [...] and full = [...]")
        return variants
    if not isinstance(raw, dict):
        check.fail(("variants",), "variants must be a table with short = [...] and full = [...]")
        return variants
    check.unknown_keys(raw, {v.value for v in Variant}, ("variants",))
    by_id = {step.id: step for step in steps}
    for variant in Variant:
        path: PathKey = ("variants", variant.value)
        ids = raw.get(variant.value)
        if ids is None:
            check.fail(
                ("variants",), f'variants is missing "{variant}"; list the step ids it plays'
            )
            continue
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            check.fail(path, f'variant "{variant}" must be a list of step ids in quotes')
            continue
        if not ids:
            check.fail(path, f'variant "{variant}" names no steps')
        seen: set[str] = set()
        for index, step_id in enumerate(ids):
            if step_id not in by_id:
                check.fail(
                    (*path, index),
                    f'variant "{variant}" names unknown step {quote(step_id)}; '
                    f"known steps: {_some([i for i in by_id if _STEP_ID.match(i)])}",
                )
            elif step_id in seen:
                check.fail((*path, index), f'variant "{variant}" names step {quote(step_id)} twice')
            seen.add(step_id)
        total_ms = sum(by_id[i].duration_ms(variant) for i in seen if i in by_id)
        if total_ms > MAX_SESSION_MS:
            check.fail(
                path,
                f"the {variant} version lasts {format_clock(total_ms)}, more than 24 hours; "
                "shorten its steps",
            )
        variants[variant] = tuple(ids)
    return variants


def _some(names: list[str], most: int = 8) -> str:
    """List a few names for a message, like 'a, b, c and 9 more'."""
    shown = ", ".join(quote(name)[1:-1] for name in sorted(names)[:most]) or "none"
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"
