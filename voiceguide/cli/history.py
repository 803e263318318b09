"""The history command: the practice log's last sessions and minutes per week."""

from __future__ import annotations

import csv
import datetime
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voiceguide.cli.core import guarded, run_of, stderr
from voiceguide.errors import UsageError

if TYPE_CHECKING:
    from voiceguide.sinks.practice import Play

SHOWN = 10  # sessions the table shows without --limit
WEEKS = 8
TITLE = 30  # the routine column's width: the built-in titles fit
EMPTY = (
    "No sessions recorded yet: each session you play for a minute or more "
    "(or to its end) appears here."
)


def _sessions(n: int) -> str:
    return f"{n} session" if n == 1 else f"{n} sessions"


def _local(play: Play) -> datetime.datetime:
    return play.started_at.astimezone()


def ending(play: Play) -> str:
    """Return how a session ended, in words: finished, or where it stopped."""
    if play.finished:
        return "finished"
    if play.step is None:
        return "stopped in the closing" if play.ended is not None else "stopped early"
    of = f" of {play.step_count}" if play.step_count else ""
    return f"stopped at step {play.step}{of}"


def week_start(day: datetime.date) -> datetime.date:
    """Return the Monday of day's week."""
    return day - datetime.timedelta(days=day.weekday())


def minutes_per_week(
    plays: list[Play], today: datetime.date, weeks: int = WEEKS
) -> list[tuple[datetime.date, float]]:
    """Return the minutes listened in each of the last `weeks` weeks (from Monday), oldest first."""
    this_week = week_start(today)
    starts = [this_week - datetime.timedelta(weeks=n) for n in reversed(range(weeks))]
    totals = dict.fromkeys(starts, 0)
    for play in plays:
        week = week_start(_local(play).date())
        if week in totals:
            totals[week] += play.listened_ms
    return [(week, round(ms / 60_000, 1)) for week, ms in totals.items()]


def streak_days(plays: list[Play], today: datetime.date) -> int:
    """Return the current run of consecutive days with practice (alive until a day is missed)."""
    days = {_local(play).date() for play in plays}
    day = today if today in days else today - datetime.timedelta(days=1)
    run = 0
    while day in days:
        run += 1
        day -= datetime.timedelta(days=1)
    return run


def session_json(play: Play) -> dict[str, object]:
    """Return a session as README documents it for --json and --csv."""
    return {
        "id": play.play,
        "started": play.started,
        "routine": play.routine,
        "title": play.title,
        "content_hash": play.content,
        "variant": play.variant,
        "listened_ms": play.listened_ms,
        "minutes": round(play.listened_ms / 60_000, 1),
        "finished": play.finished,
        "ended": play.ended,
        "step": play.step,
        "step_count": play.step_count,
        "player": play.player,
        "voiceguide": play.version,
        "engine": play.engine,
        "voice": play.voice,
    }


def to_csv(plays: list[Play]) -> str:
    """Return the sessions as CSV, a header row first."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(_csv_header()), lineterminator="\n")
    writer.writeheader()
    for play in plays:
        writer.writerow({k: _cell(v) for k, v in session_json(play).items()})
    return out.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _csv_header() -> dict[str, object]:
    from voiceguide.sinks.practice import Play

    return session_json(Play("", "", "", "1970-01-01T00:00:00+00:00", 0, False))


def table(shown: list[Play], every: list[Play], today: datetime.date, weeks: int) -> list[str]:
    """Return the sessions shown (oldest first) and every session's minutes per week, as lines."""
    lines = [f"{'date':<16}  {'routine':<{TITLE}} {'version':<7} {'min':>5}  how it ended"]
    for play in shown:
        title = play.title or play.routine
        title = title if len(title) <= TITLE else title[: TITLE - 1] + "…"
        lines.append(
            f"{_local(play):%Y-%m-%d %H:%M}  {title:<{TITLE}} {play.variant:<7} "
            f"{play.listened_ms / 60_000:>5.1f}  {ending(play)}"
        )
    lines += ["", "week of      minutes"]
    weekly = minutes_per_week(every, today, weeks)
    lines += [f"{week:%Y-%m-%d}  {minutes:>8.1f}" for week, minutes in weekly]
    return lines


@guarded
def history(
    ctx: typer.Context,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            min=1,
            help=f"Show this many sessions \\[default: {SHOWN}; --json, --csv: all].",
        ),
    ] = None,
    weeks: Annotated[
        int, typer.Option("--weeks", min=1, max=520, help="Minutes per week for this many weeks.")
    ] = WEEKS,
    as_json: Annotated[bool, typer.Option("--json", help="Print the log as JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the sessions as CSV.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write --json or --csv to this file.")
    ] = None,
    streak: Annotated[
        bool, typer.Option("--streak", help="Also show the current run of days with practice.")
    ] = False,
) -> None:
    """Show the practice log: the last sessions played and the minutes per week."""
    if as_json and as_csv:
        raise UsageError("--json and --csv cannot be given together; choose one")
    if output is not None and not (as_json or as_csv):
        raise UsageError("-o writes --json or --csv; add one of them")
    run = run_of(ctx)
    log = run.env.practice_log(warn=lambda line: stderr(f"warning: {line}"))
    every = log.plays()
    today = datetime.date.today()
    if as_json or as_csv:
        chosen = every[:limit] if limit is not None else every
        if as_csv:
            text = to_csv(chosen)
        else:
            data: dict[str, object] = {
                "sessions": [session_json(play) for play in chosen],
                "weeks": [
                    {"week": f"{week:%Y-%m-%d}", "minutes": minutes}
                    for week, minutes in minutes_per_week(every, today, weeks)
                ],
            }
            if streak:
                data["streak_days"] = streak_days(every, today)
            text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        if output is None:
            typer.echo(text, nl=False)
            return
        from voiceguide.sinks.writing import check_folder, write_text

        check_folder(output.parent)
        write_text(output, text)
        typer.echo(f"wrote {output} ({_sessions(len(chosen))})")
        return
    if not every:
        typer.echo(EMPTY)
        return
    for line in table(every[: limit or SHOWN][::-1], every, today, weeks):
        typer.echo(line)
    if streak:
        days = streak_days(every, today)
        typer.echo("")
        typer.echo(
            f"current run: {days} day{'s' if days != 1 else ''} in a row"
            if days
            else "current run: none (no practice today or yesterday)"
        )
