"""The play command: a session hands-free, with a status line and the keys to steer it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voiceguide.cli.core import guarded, run_of, stderr, warn
from voiceguide.cli.options import (
    Engine,
    Minutes,
    Music,
    MusicVolume,
    NoSleep,
    Rate,
    RoutineArg,
    Short,
    Sleep,
    Voice,
    check_sleep,
    open_session,
    variant_of,
)
from voiceguide.errors import UsageError
from voiceguide.routine.model import Variant
from voiceguide.units import format_clock, parse_duration

if TYPE_CHECKING:
    from voiceguide.cli.core import Run
    from voiceguide.config import Overrides
    from voiceguide.routine.model import Routine
    from voiceguide.sinks.mpris import MprisControls
    from voiceguide.sinks.player import Controls, Status
    from voiceguide.sinks.recorder import SessionRecorder


def _routine_key(routine: Routine) -> str:
    if routine.source.startswith("<built-in"):
        return routine.name
    return str(Path(routine.source).resolve())


def _status_line(status: Status) -> str:
    """Return the one-line status, like 'step 3/8 · Kneading · 1:20 left in step · 9:45 left'."""
    if status.sleeping:
        return f"music to fall asleep to · {format_clock(status.left_ms)} left"
    if status.step is not None:
        where = f"step {status.step.index}/{status.step_count} · {status.step.title}"
        section = "step"
    else:
        where = section = "introduction" if status.section == 0 else "closing"
    parts = [
        where,
        f"{format_clock(status.left_in_section_ms)} left in {section}",
        f"{format_clock(status.left_ms)} left",
    ]
    if status.paused:
        parts.insert(0, "paused (space resumes)")
    return " · ".join(parts)


class _StatusPrinter:
    """Keeps one status line on stderr up to date, in place."""

    def __init__(self) -> None:
        import shutil

        self.width = max(shutil.get_terminal_size().columns - 1, 20)
        self.shown = False

    def __call__(self, status: Status) -> None:
        line = _status_line(status)[: self.width]
        with contextlib.suppress(OSError):  # the terminal has gone (SIGHUP follows)
            sys.stderr.write(f"\r\x1b[2K{line}")
            sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            with contextlib.suppress(OSError):
                sys.stderr.write("\r\x1b[2K")
                sys.stderr.flush()


def _warn_during_play(line: str) -> None:
    """Print a warning on a line of its own, over the status line; never raise."""
    with contextlib.suppress(OSError):  # a terminal that has gone (SIGHUP)
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[2K")
        stderr(f"warning: {line}")


def recorder_for(
    run: Run, routine: Routine, name: str, variant: Variant, overrides: Overrides
) -> SessionRecorder:
    """Open the practice log (saying if it was damaged) and return a recorder for one `play`."""
    from voiceguide.routine.writing import content_hash
    from voiceguide.sinks.practice import Play
    from voiceguide.sinks.recorder import SessionRecorder

    settings = run.env.settings(overrides)
    log = run.env.practice_log(warn=_warn_during_play)
    log.open()  # now, before the sound starts: a damaged log is moved aside here
    play = Play(
        "",
        name,
        variant.value,
        "",
        0,
        finished=False,
        step_count=len(routine.steps_of(variant)),
        title=routine.title,
        content=content_hash(routine),
        player="play",
        engine=str(settings.engine.value),
        voice=str(settings.voice.value or ""),
    )
    return SessionRecorder(log, play)


def _media_keys(run: Run, routine: Routine) -> MprisControls | None:
    """Offer the session to the desktop's media keys, headset buttons and phone remotes
    (MPRIS on the session bus); None where there is no session bus."""
    from voiceguide.sinks.mpris import MprisControls

    def art_url() -> str | None:  # made, the first time, only where there is a bus
        cover = run.env.cover_file()
        return cover.as_uri() if cover is not None else None

    remote = MprisControls(routine.title, art_url)
    return remote if remote.start() else None


def _wire(
    keys: Controls | None, remote: MprisControls | None, printer: _StatusPrinter | None
) -> tuple[Controls | None, Callable[[Status], None] | None]:
    """Return the player's controls (keys, media keys, or both) and who hears its reports."""
    from voiceguide.sinks.player import MergedControls

    sources = [c for c in (keys, remote) if c is not None]
    controls: Controls | None = None
    if sources:
        controls = sources[0] if len(sources) == 1 else MergedControls(*sources)
    reporters = [r for r in (printer, remote.update if remote else None) if r is not None]
    if not reporters:
        return controls, None

    def report(status: Status) -> None:
        for reporter in reporters:
            reporter(status)

    return controls, report


def _parse_lead_in(text: str | None) -> int:
    if not text:
        return 0
    try:
        return parse_duration(f"{text}s" if text.strip().isdigit() else text)
    except ValueError as err:
        raise UsageError(f"--lead-in {err}") from None


@guarded
def play(
    ctx: typer.Context,
    routine: RoutineArg,
    short: Short = False,
    minutes: Minutes = None,
    lead_in: Annotated[
        str | None,
        typer.Option("--lead-in", help="Time to lie down before it begins, e.g. 10s."),
    ] = None,
    skip_intro: Annotated[
        bool,
        typer.Option("--skip-intro", help="Leave out the introduction (not the safety notes)."),
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the step where you last quit.")
    ] = False,
    engine: Engine = None,
    voice: Voice = None,
    rate: Rate = None,
    music: Music = None,
    music_volume: MusicVolume = None,
    sleep: Sleep = None,
    no_sleep: NoSleep = False,
    backend: Annotated[
        str,
        typer.Option("--backend", help="Sound output: alsa (streaming, gapless) or simpleaudio."),
    ] = "alsa",
    device: Annotated[
        str, typer.Option("--device", help="ALSA device name for --backend alsa.")
    ] = "default",
) -> None:
    """Play a session hands-free: space pauses, n/→ next step, b/← back, i says where you are,
    q quits. Media keys, headset buttons and phone remotes work too (MPRIS)."""
    from voiceguide import pipeline
    from voiceguide.sinks.player import Interrupted, Player

    check_sleep(sleep, no_sleep)
    run = run_of(ctx)
    env = run.env
    loaded = env.library().find(routine)
    variant = variant_of(short)
    store = env.resume_store()
    key = store.key(_routine_key(loaded), variant.value)
    start_step = 1
    count = len(loaded.steps_of(variant))
    if resume:
        saved = store.get(key)
        if saved is None or not 1 <= saved <= count:
            stderr(f"no saved position for {loaded.name} ({variant}); starting from the beginning")
        else:
            start_step = saved
    lead_in_ms = _parse_lead_in(lead_in)
    from voiceguide.config import Overrides

    overrides = Overrides(engine, voice, rate, music, music_volume)
    options = pipeline.SessionOptions(
        variant=variant,
        minutes=minutes,
        lead_in_ms=lead_in_ms,
        skip_intro=skip_intro,
        start_step=start_step,
        stream=True,  # starts after the first line; the rest is synthesized as it plays
    )
    output = env.open_output(backend, device)  # no sound device: say so before any work
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(output.close)
        recorder = recorder_for(run, loaded, _routine_key(loaded), variant, overrides)
        session = open_session(
            run, loaded, overrides, options, bed="if-possible", sleep=sleep, no_sleep=no_sleep
        )
        cleanup.callback(session.close)  # quitting early: stop synthesizing unheard lines
        session.plan_ahead()  # meanwhile: the tones, the keys, the media keys
        was_ready = session.ready
        tones = pipeline.load_tones()
        printer = _StatusPrinter() if sys.stderr.isatty() else None
        keys = None
        if sys.stdin.isatty():
            from voiceguide.sinks.keys import TerminalControls

            keys = TerminalControls(sys.stdin)
        remote = _media_keys(run, loaded)
        if remote is not None:
            cleanup.callback(remote.close)
        controls, report = _wire(keys, remote, printer)
        player = Player(
            lambda: session.timeline,
            session.blocks,
            recorder.output(output),  # counts the time heard, for the practice log
            controls=controls,
            on_status=recorder.on_status(report),
            tones=tones,
            preview=session.preview,
            where=session.where_am_i,
        )

        def remember(section: int) -> int | None:
            # Sections count the steps played; map back to the routine's step numbers.
            # (Steps are in the same order in the preview as in the final timeline.)
            steps = session.preview().steps
            if 1 <= section <= len(steps):
                step = steps[section - 1].index
            elif section == 0:
                step = start_step
            else:
                step = None  # in the closing: nothing left to resume
            store.set(key, step)
            return step

        if keys is not None and printer is not None:
            stderr("space: pause/resume · n/→: next step · b/←: back · i: where am I? · q: quit")
        try:
            with keys if keys is not None else _nothing():
                outcome = player.play()
        except Interrupted as stop:  # Ctrl-C or SIGTERM: the sound has stopped
            recorder.stopped(remember(stop.outcome.section), interrupted=True)
            if printer is not None:
                printer.clear()
            raise
    if printer is not None:
        printer.clear()
    if not was_ready and outcome.finished:
        warn(session.timeline.warnings)
    if outcome.finished:
        timeline = session.timeline
        store.set(key, None)
        recorder.finished()
        typer.echo(
            f"finished {timeline.title} ({timeline.variant}, {format_clock(timeline.total_ms)})"
        )
        return
    step = remember(outcome.section)
    recorder.stopped(step)
    where = f"step {step} of {count}" if step is not None else "the closing"
    flag = " --short" if variant is Variant.SHORT else ""
    typer.echo(
        f"stopped at {where}; `voiceguide play {routine}{flag} --resume` continues from there"
    )


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield
