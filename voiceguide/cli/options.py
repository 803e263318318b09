"""Options shared by several commands, and opening a session with the settings in force."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from voiceguide.cli.core import Run, stderr, warn
from voiceguide.cli.quick import QuickCommand
from voiceguide.errors import UsageError
from voiceguide.routine.model import DEFAULT_SLEEP_MINUTES, MAX_SLEEP_MINUTES, Variant

if TYPE_CHECKING:
    from voiceguide.config import Overrides
    from voiceguide.pipeline import Session, SessionOptions
    from voiceguide.routine.model import Routine

Short = Annotated[bool, typer.Option("--short/--full", help="Play the short or the full version.")]
Minutes = Annotated[
    float | None,
    typer.Option("--minutes", "-m", help="Fit the session to this many minutes.", min=0.1),
]
Rate = Annotated[
    int | None,
    typer.Option(
        "--rate", help="Speaking rate in words per minute \\[default: 150].", min=60, max=400
    ),
]
Engine = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="Speech engine: piper (neural) or system (espeak-ng) \\[default: piper if installed].",
    ),
]
Voice = Annotated[
    str | None,
    typer.Option(
        "--voice",
        help="piper: a voice .onnx file; system: an espeak-ng voice or language (en-gb).",
    ),
]
Music = Annotated[
    str | None,
    typer.Option(
        "--music",
        help="Music bed: a built-in ambience (see `voiceguide music`), a file, or none.",
    ),
]
MusicVolume = Annotated[
    float | None,
    typer.Option(
        "--music-volume",
        help="The bed's level in holds, in dB relative to the voice \\[default: -12].",
        min=-40.0,
        max=0.0,
    ),
]
Sleep = Annotated[
    float | None,
    typer.Option(
        "--sleep",
        metavar="[MINUTES]",
        help="A sleep ending: no closing chime, the closing words softer, then the music bed "
        f"for MINUTES, fading out over its last 2 minutes \\[default: {DEFAULT_SLEEP_MINUTES}].",
    ),
]
NoSleep = Annotated[
    bool, typer.Option("--no-sleep", help="The usual ending, even if the routine says sleep.")
]
RoutineArg = Annotated[
    str, typer.Argument(help="A built-in routine name (see `list`) or a routine .toml file.")
]


class SleepCommand(QuickCommand):
    """A command whose --sleep may be given without its MINUTES.

    Typer (0.29) has no option with an optional value (it warns that it ignores
    click's flag_value), so a bare --sleep is given its default before parsing.
    """

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        """Parse args, a bare --sleep (no number after it) meaning the default minutes."""
        return super().parse_args(ctx, with_sleep_value(args))


def with_sleep_value(args: list[str]) -> list[str]:
    """Return args with a bare --sleep (no number after it) given the default minutes."""
    out: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":
            return out + args[index:]
        following = args[index + 1] if index + 1 < len(args) else ""
        bare = arg == "--sleep" and not _is_number(following)
        out.append(f"--sleep={DEFAULT_SLEEP_MINUTES}" if bare else arg)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_sleep(minutes: float | None, no_sleep: bool) -> None:
    """Raise UsageError unless --sleep and --no-sleep make sense (before any work)."""
    if minutes is not None and no_sleep:
        raise UsageError("--sleep and --no-sleep contradict each other; give one of them")
    if minutes is not None and not (math.isfinite(minutes) and 0 < minutes <= MAX_SLEEP_MINUTES):
        raise UsageError(
            f"--sleep {minutes:g} is out of range; give the minutes of music after the last "
            f"words, more than 0 and at most {MAX_SLEEP_MINUTES}"
        )


def sleep_ms_of(routine: Routine, minutes: float | None, no_sleep: bool) -> int | None:
    """Return the sleep ending asked for, in ms of music: command line, then routine.

    None is the usual ending.
    """
    check_sleep(minutes, no_sleep)
    if no_sleep:
        return None
    return routine.sleep_ms if minutes is None else round(minutes * 60_000)


def variant_of(short: bool) -> Variant:
    """Return the version --short/--full asks for."""
    return Variant.SHORT if short else Variant.FULL


Bed = Literal["load", "skip", "if-possible"]


def open_session(
    run: Run,
    routine: Routine,
    overrides: Overrides,
    options: SessionOptions,
    *,
    bed: Bed = "load",
    sleep: float | None = None,
    no_sleep: bool = False,
) -> Session:
    """Build a session with the settings in force (options' music and sleep are set from them).

    bed: "load" the music bed (export: ffmpeg is needed anyway), "skip" it (show:
    a timeline does not depend on it but for a sleep ending's), or load it
    "if-possible" (play: without ffmpeg to decode it, the session plays
    without music, with a warning). sleep and no_sleep are --sleep and --no-sleep.
    """
    from voiceguide import pipeline

    settings = run.env.settings(overrides)
    sleep_ms = sleep_ms_of(routine, sleep, no_sleep)
    music, volume = pipeline.music_for(settings, routine)
    if music is not None and bed == "if-possible" and not pipeline.can_decode_music():
        stderr(
            "warning: the music bed needs ffmpeg, which is not installed, so this session "
            "plays without music; install it with: sudo apt install ffmpeg "
            "(or use --music none)"
        )
        music = None
    if sleep_ms and music is None:
        stderr(
            "warning: a sleep ending lets the music bed play on after the last words, and "
            "this session has none, so it ends with its closing words; choose one with "
            "--music (e.g. --music surf)"
        )
        sleep_ms = 0
    if music is not None and bed == "skip":
        music = None
    speech = run.env.speech(settings)
    options = dataclasses.replace(options, music=music, music_volume_db=volume, sleep_ms=sleep_ms)
    session = pipeline.build_session(routine, speech, options)
    if session.ready:  # else the caller warns once the last line is synthesized
        warn(session.timeline.warnings)
    run.watch(speech.cache.folder if speech.cache is not None else None)
    return session
