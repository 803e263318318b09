"""Options shared by several commands, and opening a session with the settings in force."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from voiceguide.cli.core import Run, stderr, warn
from voiceguide.config import Overrides
from voiceguide.routine.model import Variant

if TYPE_CHECKING:
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
RoutineArg = Annotated[
    str, typer.Argument(help="A built-in routine name (see `list`) or a routine .toml file.")
]


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
) -> Session:
    """Build a session with the settings in force (options' music is set from them).

    bed: "load" the music bed (export: ffmpeg is needed anyway), "skip" it (show:
    a timeline does not depend on it), or load it "if-possible" (play: without
    ffmpeg to decode it, the session plays without music, with a warning).
    """
    from voiceguide import pipeline

    settings = run.env.settings(overrides)
    music, volume = pipeline.music_for(settings, routine)
    if music is not None and bed == "skip":
        music = None
    if music is not None and bed == "if-possible" and not pipeline.can_decode_music():
        stderr(
            "warning: the music bed needs ffmpeg, which is not installed, so this session "
            "plays without music; install it with: sudo apt install ffmpeg "
            "(or use --music none)"
        )
        music = None
    speech = run.env.speech(settings)
    options = dataclasses.replace(options, music=music, music_volume_db=volume)
    session = pipeline.build_session(routine, speech, options)
    if session.ready:  # else the caller warns once the last line is synthesized
        warn(session.timeline.warnings)
    run.watch(speech.cache.folder if speech.cache is not None else None)
    return session
