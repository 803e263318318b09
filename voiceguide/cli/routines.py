"""Commands about routines: list, show, check, new and import."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from voiceguide.cli.core import guarded, report, run_of, warn
from voiceguide.cli.options import (
    Engine,
    Minutes,
    Music,
    NoSleep,
    Rate,
    RoutineArg,
    Short,
    Sleep,
    Voice,
    open_session,
    variant_of,
)
from voiceguide.errors import UsageError, VoiceguideError
from voiceguide.routine.model import Variant
from voiceguide.units import format_clock

if TYPE_CHECKING:
    from voiceguide.routine.summary import ImportResult


@guarded
def list_routines(ctx: typer.Context) -> None:
    """List the routines (built-in and your own) with the length of both versions.

    Lengths come from the cached clips; lines not synthesized yet are estimated
    from their word count, and such lengths are marked with ~.
    """
    from voiceguide import pipeline
    from voiceguide.routine.library import load_builtin

    env = run_of(ctx).env
    settings = env.settings()
    speech = env.speech(settings)
    library = env.library()
    rows: list[tuple[str, str, str, str]] = []
    mine = library.user_names()
    for name in library.names():
        if name in mine:
            try:
                routine = library.find(name)
            except VoiceguideError:
                path = library.path_of(name)
                rows.append((name, f"(yours; has errors: voiceguide check {path})", "?", "?"))
                continue
        else:
            routine = load_builtin(name)
        lengths = [
            ("~" if estimated else "") + format_clock(total_ms)
            for total_ms, estimated in pipeline.lengths(routine, speech, int(settings.rate.value))
        ]
        title = f"{routine.title} (yours)" if name in mine else routine.title
        rows.append((name, title, lengths[0], lengths[1]))
    width = max(len(r[0]) for r in rows)
    typer.echo(f"{'name':<{width}}  {'short':>6}  {'full':>6}  title")
    for name, title, short_len, full_len in rows:
        typer.echo(f"{name:<{width}}  {short_len:>6}  {full_len:>6}  {title}")


@guarded
def show(
    ctx: typer.Context,
    routine: RoutineArg,
    short: Short = False,
    minutes: Minutes = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the timeline as JSON.")] = False,
    engine: Engine = None,
    voice: Voice = None,
    rate: Rate = None,
    music: Music = None,
    sleep: Sleep = None,
    no_sleep: NoSleep = False,
) -> None:
    """Show the timeline of a session: each step's start and length."""
    from voiceguide.pipeline import SessionOptions
    from voiceguide.sinks.tags import SLEEP_CHAPTER

    run = run_of(ctx)
    options = SessionOptions(variant=variant_of(short), minutes=minutes)
    from voiceguide.config import Overrides

    overrides = Overrides(engine=engine, voice=voice, rate=rate, music=music)
    loaded = run.env.library().find(routine)
    session = open_session(
        run, loaded, overrides, options, bed="skip", sleep=sleep, no_sleep=no_sleep
    )
    timeline = session.timeline
    if as_json:
        typer.echo(json.dumps(timeline.to_json(), indent=2, ensure_ascii=False))
        return
    typer.echo(f"{timeline.title} ({timeline.variant})")
    width = max([len(s.title) for s in timeline.steps] + [5])
    typer.echo(f"{'step':>4}  {'title':<{width}}  {'start':>7}  {'length':>7}")
    first = timeline.steps[0].start_ms if timeline.steps else timeline.total_ms
    typer.echo(
        f"{'':>4}  {'Introduction':<{width}}  {format_clock(0):>7}  {format_clock(first):>7}"
    )
    for step in timeline.steps:
        typer.echo(
            f"{step.index:>4}  {step.title:<{width}}  {format_clock(step.start_ms):>7}"
            f"  {format_clock(step.duration_ms):>7}"
        )
    end = timeline.steps[-1].end_ms if timeline.steps else 0
    rows = [("Closing", end, timeline.session_ms - end)]
    if timeline.sleep_ms:  # the closing as the chapters have it: none when it is empty
        rows = [r for r in rows if r[2] > 0] + [
            (SLEEP_CHAPTER, timeline.session_ms, timeline.sleep_ms)
        ]
    for title, start, length in rows:
        typer.echo(
            f"{'':>4}  {title:<{width}}  {format_clock(start):>7}  {format_clock(length):>7}"
        )
    typer.echo(f"{'':>4}  {'total':<{width}}  {'':>7}  {format_clock(timeline.total_ms):>7}")


@guarded
def check(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="Routine files or articles to check.")],
) -> None:
    """Check routines: every error with its line, and warnings about how they will sound."""
    from voiceguide.timeline.lint import estimated_timeline, lint

    run = run_of(ctx)
    library = run.env.library()
    failed: list[VoiceguideError] = []
    for spec in files:
        try:
            routine = library.find(spec)
            warnings = lint(routine)  # compiles both versions, which may fail too
            lengths = [format_clock(estimated_timeline(routine, v).total_ms) for v in Variant]
        except VoiceguideError as err:
            report(err, debug=run.debug)
            failed.append(err)
            continue
        warn(tuple(warnings))
        typer.echo(
            f"ok: {spec}: {len(routine.steps)} steps; short ~{lengths[0]}, full ~{lengths[1]}"
        )
    if failed:
        raise typer.Exit(int(max(err.exit_code for err in failed)))


@guarded
def import_article(
    ctx: typer.Context,
    article: Annotated[
        str,
        typer.Argument(help="A how-to article: plain text, Markdown, a saved web page, or a URL."),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Routine file to write \\[default: NAME.toml]."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary of what was understood as JSON.")
    ] = False,
) -> None:
    """Turn a written how-to into a routine file you can edit, check and play.

    Prints what was understood: the title, each step (title, length, first words),
    where the safety notes came from and which sections were left out.
    """
    from voiceguide.routine.fetch import is_url
    from voiceguide.routine.library import load_article_result, load_url_result
    from voiceguide.routine.writing import to_toml
    from voiceguide.sinks.writing import check_folder, write_text

    result = load_url_result(article) if is_url(article) else load_article_result(Path(article))
    routine = result.routine
    target = output if output is not None else Path(f"{routine.name}.toml")
    if target.exists() and not force:
        raise UsageError(f"{target} exists; use --force to replace it, or -o another name")
    check_folder(target.parent)
    write_text(target, to_toml(routine))
    summary = import_summary(result, target)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    counts = {v: len(routine.variants[v]) for v in Variant}
    typer.echo(
        f"wrote {target}: {len(routine.steps)} steps ({counts[Variant.SHORT]} in the short "
        f"version); check it with `voiceguide check {target}`"
    )
    typer.echo(f"title: {summary['title']}")
    typer.echo(f"steps, read as {summary['structure']}:")
    width = max(len(s["title"]) for s in summary["steps"])
    for number, step in enumerate(summary["steps"], start=1):
        typer.echo(
            f"{number:>4}  {step['title']:<{width}}  {format_clock(step['full_ms']):>6}"
            f"  line {step['line']:<4}  {step['first_words']}"
        )
    safety = summary["safety"]
    lines = ", ".join(str(n) for n in safety["lines"])
    typer.echo(
        {
            "article": f"safety notes: from the article (line {lines})",
            "default": "safety notes: voiceguide's own (the article has none)",
            "none": "safety notes: none (the article has none)",
        }[safety["source"]]
    )
    left = summary["left_out"]
    typer.echo(
        "left out: "
        + (", ".join(f"{s['heading']} (line {s['line']})" for s in left) if left else "nothing")
    )


def import_summary(result: ImportResult, target: Path) -> dict[str, Any]:
    """Return what the importer understood, as plain values for printing or JSON."""
    routine, summary = result.routine, result.summary
    return {
        "output": str(target),
        "title": routine.title,
        "category": routine.category,
        "structure": summary.structure,
        "steps": [
            {
                "title": step.title,
                "line": step.line,
                "full_ms": step.full_ms,
                "short_ms": step.short_ms,
                "first_words": " ".join(step.text.split()[:8])
                + (" ..." if len(step.text.split()) > 8 else ""),
            }
            for step in routine.steps
        ],
        "short_version": list(routine.variants[Variant.SHORT]),
        "safety": {"source": summary.safety_source, "lines": list(summary.safety_lines)},
        "each_hold_ms": summary.each_hold_ms,
        "left_out": [{"heading": s.heading, "line": s.line} for s in summary.left_out],
    }


TEMPLATE = """\
# A voiceguide routine. Every key is explained in docs/routine-format.md.
# Check it with `voiceguide check {file}`, hear it with `voiceguide play {file}`.

title = "{title}"
description = "One line about what this routine is for."
category = "stretch"  # massage, stretch, breathing, relaxation or other

# Spoken first, every time. A massage routine must have safety notes.
safety = \"\"\"
Move slowly, and stop if anything hurts.
\"\"\"

# Spoken after the safety notes.
intro = \"\"\"
Find a quiet place and a comfortable position.
When you hear the chime, the next step begins.
\"\"\"

outro = "That is the end of the session. Take a moment before you get up."

# Which steps each version plays, in order.
[variants]
short = ["settle", "reach"]
full = ["settle", "reach", "rest"]

[[steps]]
id = "settle"
title = "Settle in"
text = \"\"\"
Sit or lie down, and let your breathing slow. [pause 2s]
Notice where your body touches the floor.
\"\"\"
duration = "30s"  # the whole step: chime, words and the quiet hold

[[steps]]
id = "reach"
title = "Long reach"
text = "Reach both arms overhead and lengthen through your fingertips."
duration = {{ short = "40s", full = "1m30s" }}

# Something said during the hold: at "half", "30s" from the start, or "-10s" before the end.
[[steps.cues]]
at = "-10s"
say = "Ten more seconds."

[[steps]]
id = "rest"
title = "Rest"
text = "Let your arms come down and rest."
duration = "1m"
"""


@guarded
def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new routine (its file is NAME.toml).")],
    user: Annotated[
        bool,
        typer.Option("--user", help="Put it with your own routines, to play it by name."),
    ] = False,
) -> None:
    """Write a commented routine template to start from."""
    from voiceguide.sinks.writing import make_folder, write_text

    stem = Path(name).stem
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", stem):
        raise UsageError(f'"{name}": use letters, digits, - and _ for a routine name')
    folder = run_of(ctx).env.routines_folder() if user else Path(name).parent
    make_folder(folder, parents=True)
    target = folder / f"{stem}.toml"
    if target.exists():
        raise UsageError(f"{target} exists; choose another name")
    title = stem.replace("-", " ").replace("_", " ").capitalize()
    write_text(target, TEMPLATE.format(file=target, title=title))
    typer.echo(f"wrote {target}; edit it, then run `voiceguide check {target}`")
