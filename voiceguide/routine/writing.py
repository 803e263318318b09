"""Writing routines: a routine as a readable routine file, and the hash of its content.

The importer and `new` write routine files through `to_toml`; `serve` and the
practice log key a routine by `content_hash`. `format.py` reads what this writes.
"""

from __future__ import annotations

import hashlib

from voiceguide.routine.model import DEFAULT_SLEEP_MINUTES, Routine, Variant
from voiceguide.units import format_duration


def _toml_text(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""\n{escaped}\n"""'


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def content_hash(routine: Routine) -> str:
    """Return a short hash of what a routine says and does (its routine file as to_toml writes it).

    The same routine, wherever it is read from, has the same hash; any change to
    it gives another.
    """
    return hashlib.sha256(to_toml(routine).encode("utf-8")).hexdigest()[:16]


def to_toml(routine: Routine) -> str:
    """Return a routine as a readable routine file."""
    out = [
        "# Imported by voiceguide; edit freely, then run `voiceguide check` on it.",
        f"title = {_toml_string(routine.title)}",
        f"category = {_toml_string(routine.category)}",
    ]
    for key in ("safety", "intro", "outro"):
        value = getattr(routine, key)
        if value:
            out.append(f"{key} = {_toml_text(value)}")
    if routine.sleep_ms is not None:
        minutes = routine.sleep_ms / 60_000
        out.append(f"sleep = {'true' if minutes == DEFAULT_SLEEP_MINUTES else f'{minutes:.10g}'}")
    out += ["", "[variants]"]
    for variant in Variant:
        ids = ", ".join(_toml_string(i) for i in routine.variants[variant])
        out.append(f"{variant.value} = [{ids}]")
    for step in routine.steps:
        out += [
            "",
            "[[steps]]",
            f"id = {_toml_string(step.id)}",
            f"title = {_toml_string(step.title)}",
        ]
        out.append(f"text = {_toml_text(step.text)}")
        if step.short_text:
            out.append(f"short_text = {_toml_text(step.short_text)}")
        if step.short_ms == step.full_ms:
            out.append(f'duration = "{format_duration(step.full_ms)}"')
        else:
            out.append(
                f'duration = {{ short = "{format_duration(step.short_ms)}", '
                f'full = "{format_duration(step.full_ms)}" }}'
            )
    return "\n".join(out) + "\n"
