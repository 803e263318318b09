"""The command line: parse options, call the core, print, map errors to exit codes.

Only this module prints. Heavy libraries are imported inside commands so that
`voiceguide --help` is instant.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, TypeVar

import typer

from voiceguide import __version__
from voiceguide.durations import format_clock
from voiceguide.env import Environment
from voiceguide.errors import (
    Diagnostic,
    ExitCode,
    Terminated,
    UsageError,
    VoiceguideError,
)
from voiceguide.routine import Variant, builtin_names, find_routine, load_builtin

if TYPE_CHECKING:
    from voiceguide.config import Settings
    from voiceguide.files import CacheProblem
    from voiceguide.player import Status
    from voiceguide.routine import Routine
    from voiceguide.session import Session
    from voiceguide.speech.base import SpeechLibrary
    from voiceguide.tags import Tags

app = typer.Typer(
    name="voiceguide",
    help="Turn a written routine into a spoken, timed audio session.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

P = ParamSpec("P")
R = TypeVar("R")


def _stderr(line: str) -> None:
    typer.echo(line, err=True)


def _warn(warnings: Iterable[Diagnostic | CacheProblem]) -> None:
    for warning in warnings:
        _stderr(f"warning: {warning}")


def _watch_cache(ctx: typer.Context, speech: SpeechLibrary) -> None:
    """Follow speech's clip cache, to say if it stops saving (see _report_caches)."""
    meta = ctx.find_root().meta
    if speech.cache is not None:
        meta.setdefault("voiceguide.caches", []).append(speech.cache.folder)
    _report_caches(meta)


def _report_caches(meta: dict[str, Any]) -> None:
    """Warn about each cache problem not yet reported: once per run, however many clips failed.

    Called when the sessions are built and again when the command ends, since
    the mix plan, which caches analyses too, is made only once audio is wanted.
    """
    said: set[CacheProblem] = meta.setdefault("voiceguide.cache-problems", set())
    for folder in meta.get("voiceguide.caches", []):
        if folder.problem is not None and folder.problem not in said:
            said.add(folder.problem)
            _warn([folder.problem])


def _env(ctx: typer.Context) -> Environment:
    root = ctx.find_root()
    if not isinstance(root.obj, Environment):
        root.obj = Environment()
    return root.obj


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """Turn errors into one line on stderr and the documented exit code.

    This is the one place where exceptions become exit codes.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = kwargs.get("ctx")
        find_root = getattr(ctx, "find_root", None)
        debug = find_root is not None and bool(find_root().meta.get("voiceguide.debug"))
        try:
            try:
                with _sigterm_stops():
                    return command(*args, **kwargs)
            finally:
                if find_root is not None:
                    _report_caches(find_root().meta)
        except VoiceguideError as err:
            if debug:
                traceback.print_exc()
            for line in err.lines():
                _stderr(f"error: {line}")
            raise typer.Exit(int(err.exit_code)) from None
        except KeyboardInterrupt as err:
            if _by_sigterm(err):
                _stderr("terminated")
                raise typer.Exit(int(ExitCode.TERMINATED)) from None
            _stderr("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:
            # The reader went away (`voiceguide voices | head`): stop quietly.
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(int(ExitCode.OK)) from None
        except Exception as err:
            if type(err).__module__.startswith("typer"):
                raise  # typer's own exits and usage errors
            if debug:
                traceback.print_exc()
            _stderr(
                f"error: internal error: {type(err).__name__}: {err} "
                "(run with --debug for the traceback, and please report it)"
            )
            raise typer.Exit(int(ExitCode.ERROR)) from None

    return wrapper


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    """While a command runs, make SIGTERM stop it as Ctrl-C does, only with exit code 143.

    SIGTERM (`kill`, a session manager, a container stopping) then unwinds
    through the same clean-up as Ctrl-C: the encoder stopped, temp files
    removed, the terminal restored, the resume point saved. Before and after
    the command there is nothing to clean up, and it ends the process at once.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers (and receives signals)
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _by_sigterm(err: BaseException) -> bool:
    """Return True if err is, or was raised while handling, a SIGTERM (see _sigterm_stops)."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, Terminated):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"voiceguide {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    ctx.find_root().meta["voiceguide.debug"] = debug


Short = Annotated[bool, typer.Option("--short/--full", help="Play the short or the full version.")]
Minutes = Annotated[
    float | None,
    typer.Option("--minutes", "-m", help="Fit the session to this many minutes.", min=0.1),
]
Rate = Annotated[
    int | None,
    typer.Option(
        "--rate", help="Speaking rate in words per minute [default: 150].", min=60, max=400
    ),
]
Engine = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="Speech engine: piper (neural) or system (espeak-ng) [default: piper if installed].",
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
        help="The bed's level in holds, in dB relative to the voice [default: -12].",
        min=-40.0,
        max=0.0,
    ),
]
RoutineArg = Annotated[
    str, typer.Argument(help="A built-in routine name (see `list`) or a routine .toml file.")
]


def _music(settings: Settings, routine: Routine) -> tuple[Path | None, float]:
    """Return the music file and volume: command line, then routine, then config file."""
    from voiceguide import music

    volume = float(settings.music_volume.value)
    if settings.music.source == "command line":
        return music.resolve(str(settings.music.value)), volume
    if routine.music is not None:
        line = f":{routine.music_line}" if routine.music_line is not None else ""
        origin = f"{routine.source}{line}"
        return music.resolve(routine.music, routine.folder, origin=origin), volume
    if settings.music.value is not None:
        return music.resolve(str(settings.music.value)), volume
    return None, volume


def _session(
    ctx: typer.Context,
    routine: Routine,
    variant: Variant,
    options: dict[str, Any],
    *,
    bed: Literal["load", "skip", "if-possible"] = "load",
    **build: Any,
) -> Session:
    """Build a session with the settings in force; `build` goes to build_session.

    bed: "load" the music bed (export: ffmpeg is needed anyway), "skip" it (show:
    a timeline does not depend on it), or load it "if-possible" (play: without
    ffmpeg to decode it, the session plays without music, with a warning).
    """
    from voiceguide.session import build_session

    env = _env(ctx)
    settings = env.settings(**options)
    music, volume = _music(settings, routine)
    if music is not None and bed == "skip":
        music = None
    if music is not None and bed == "if-possible":
        import shutil

        if shutil.which("ffmpeg") is None:
            _stderr(
                "warning: the music bed needs ffmpeg, which is not installed, so this session "
                "plays without music; install it with: sudo apt install ffmpeg "
                "(or use --music none)"
            )
            music = None
    speech = env.speech(settings)
    session = build_session(routine, variant, speech, music=music, music_volume_db=volume, **build)
    if session.ready:  # else the caller warns once the last line is synthesized
        _warn(session.timeline.warnings)
    _watch_cache(ctx, speech)
    return session


def _variant(short: bool) -> Variant:
    return Variant.SHORT if short else Variant.FULL


@app.command("list")
@guarded
def list_routines(ctx: typer.Context) -> None:
    """List the routines (built-in and your own) with the length of both versions.

    Lengths come from the cached clips; lines not synthesized yet are estimated
    from their word count, and such lengths are marked with ~.
    """
    from voiceguide.session import load_chime
    from voiceguide.timeline import compile_timeline, estimate_ms

    chime = load_chime()
    env = _env(ctx)
    settings = env.settings()
    speech = env.speech(settings)
    from voiceguide.routine import user_names, user_routine_dir

    rows: list[tuple[str, str, str, str]] = []
    mine = user_names()
    for name in sorted({*builtin_names(), *mine}):
        if name in mine:
            path = user_routine_dir() / f"{name}.toml"
            try:
                routine = find_routine(name)
            except VoiceguideError:
                rows.append((name, f"(yours; has errors: voiceguide check {path})", "?", "?"))
                continue
        else:
            routine = load_builtin(name)
        lengths = []
        for variant in (Variant.SHORT, Variant.FULL):
            estimated = False

            def measure(text: str) -> int:
                nonlocal estimated
                known = speech.cached_duration_ms(text)
                if known is not None:
                    return known
                estimated = True
                return estimate_ms(text, int(settings.rate.value))

            timeline = compile_timeline(routine, variant, measure, chime_ms=chime.duration_ms)
            lengths.append(("~" if estimated else "") + format_clock(timeline.total_ms))
        title = f"{routine.title} (yours)" if name in mine else routine.title
        rows.append((name, title, lengths[0], lengths[1]))
    width = max(len(r[0]) for r in rows)
    typer.echo(f"{'name':<{width}}  {'short':>6}  {'full':>6}  title")
    for name, title, short_len, full_len in rows:
        typer.echo(f"{name:<{width}}  {short_len:>6}  {full_len:>6}  {title}")


@app.command()
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
) -> None:
    """Show the timeline of a session: each step's start and length."""
    options = {"engine": engine, "voice": voice, "rate": rate}
    session = _session(
        ctx, find_routine(routine), _variant(short), options, bed="skip", minutes=minutes
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
    typer.echo(
        f"{'':>4}  {'Closing':<{width}}  {format_clock(end):>7}"
        f"  {format_clock(timeline.total_ms - end):>7}"
    )
    typer.echo(f"{'':>4}  {'total':<{width}}  {'':>7}  {format_clock(timeline.total_ms):>7}")


@app.command()
@guarded
def export(
    ctx: typer.Context,
    routines: Annotated[
        list[str],
        typer.Argument(help="Built-in routine names (see `list`) or routine .toml files."),
    ],
    short: Short = False,
    all_variants: Annotated[
        bool, typer.Option("--all-variants", help="Export both the short and the full version.")
    ] = False,
    minutes: Minutes = None,
    output_arg: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Output file, or a folder (ending in /) for several sessions.",
        ),
    ] = None,
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format", help="mp3, m4a, m4b, ogg, opus, flac or wav [default: by extension]."
        ),
    ] = None,
    bitrate: Annotated[
        str | None,
        typer.Option("--bitrate", help="For lossy formats, e.g. 128k [default: per format]."),
    ] = None,
    transcript: Annotated[
        bool, typer.Option("--transcript", help="Also write a WebVTT transcript beside it.")
    ] = False,
    chapter_list: Annotated[
        bool, typer.Option("--chapters", help="Also write a chapter list (mm:ss Title).")
    ] = False,
    engine: Engine = None,
    voice: Voice = None,
    rate: Rate = None,
    music: Music = None,
    music_volume: MusicVolume = None,
) -> None:
    """Export sessions to audio files, with tags and a chapter per step."""
    import datetime

    from voiceguide.audio import find_ffmpeg
    from voiceguide.export import (
        check_folder,
        check_target,
        codec_gain_db,
        format_of,
        make_folder,
        write_text,
    )
    from voiceguide.export import export as export_file
    from voiceguide.mix import TARGET_LUFS
    from voiceguide.render import total_frames
    from voiceguide.tags import chapter_list as list_chapters
    from voiceguide.tags import tags_for, webvtt

    variants = [Variant.SHORT, Variant.FULL] if all_variants else [_variant(short)]
    jobs = [(routine, variant) for routine in routines for variant in variants]
    default_suffix = format_of(Path(), file_format) if file_format else ".mp3"

    def name(routine: str, variant: Variant) -> str:
        return f"{Path(routine).stem}-{variant}{default_suffix}"

    output = Path(output_arg) if output_arg else None
    to_folder = bool(output_arg) and (
        str(output_arg).endswith("/") or Path(str(output_arg)).is_dir()
    )
    if len(jobs) > 1 and output is not None and not to_folder:
        raise UsageError(f"{output}: give a folder (ending in /) when exporting several sessions")
    if output is not None and to_folder:
        check_folder(output.parent)
        make_folder(output)  # one new folder level, as `cp` would
        targets = [output / name(routine, variant) for routine, variant in jobs]
    elif output is not None:
        targets = [output]
    else:
        targets = [Path(name(routine, variant)) for routine, variant in jobs]
    suffixes = [check_target(target, file_format) for target in targets]
    find_ffmpeg()  # before any synthesis

    # Synthesis first, one session after another (speech engines are not
    # thread-safe); then rendering and encoding, in parallel when there are several.
    options = {
        "engine": engine,
        "voice": voice,
        "rate": rate,
        "music": music,
        "music_volume": music_volume,
    }
    codec_memo = _env(ctx).memo_path("codec-gains.json")
    sessions = []
    for (routine, variant), suffix in zip(jobs, suffixes, strict=True):
        loaded = find_routine(routine)
        session = _session(
            ctx,
            loaded,
            variant,
            options,
            minutes=minutes,
            # Aim the mix so the file, once encoded, measures the target.
            target_lufs=TARGET_LUFS - codec_gain_db(suffix, bitrate, codec_memo),
            # One session alone encodes while its lines are synthesized; several
            # are synthesized first (speech engines are not thread-safe).
            stream=len(jobs) == 1,
        )
        sessions.append((loaded, session, session.ready))
    year = datetime.date.today().year

    def run(
        index: int, progress: Callable[[int], None] | None, cancel: threading.Event | None
    ) -> None:
        loaded, session, _ = sessions[index]
        target, suffix = targets[index], suffixes[index]

        @functools.cache
        def tags() -> Tags:  # asked for once the timeline is final; made once
            comment = loaded.safety or loaded.description
            return tags_for(session.timeline, comment=comment, year=year)

        export_file(
            session.blocks(),
            target,
            tags=tags,
            suffix=suffix,
            bitrate=bitrate,
            progress=progress,
            cancel=cancel,
        )
        if transcript:
            write_text(target.with_suffix(".vtt"), webvtt(session.timeline))
        if chapter_list:
            write_text(target.with_suffix(".chapters.txt"), list_chapters(tags().chapters))

    totals = [total_frames(s.preview()) for _, s, _ in sessions]
    try:
        _run_exports(run, [t.name for t in targets], totals)
    except BaseException:
        for _, session, _ in sessions:
            session.close()  # stop synthesizing for a file that will not be written
        raise
    for _, session, was_ready in sessions:
        if not was_ready:
            _warn(session.timeline.warnings)
    for target, (_, session, _) in zip(targets, sessions, strict=True):
        extras = []
        if transcript:
            extras.append(target.with_suffix(".vtt").name)
        if chapter_list:
            extras.append(target.with_suffix(".chapters.txt").name)
        also = f", with {' and '.join(extras)}" if extras else ""
        typer.echo(f"wrote {target} ({format_clock(session.timeline.total_ms)}){also}")


def _run_exports(
    run: Callable[[int, Callable[[int], None] | None, threading.Event | None], None],
    names: list[str],
    frames: list[int],
) -> None:
    """Run export jobs, in parallel when there are several, with a progress bar each."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    workers = min(len(names), os.cpu_count() or 1)

    def all_jobs(progress_for: Callable[[int], Callable[[int], None] | None]) -> None:
        if workers == 1:
            for index in range(len(names)):
                run(index, progress_for(index), None)  # Ctrl-C reaches this thread: no cancel
            return
        cancel = threading.Event()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(run, index, progress_for(index), cancel) for index in range(len(names))
            ]
            try:
                for future in futures:
                    future.result()
            except KeyboardInterrupt:
                # Ctrl-C and SIGTERM reach only this thread. Without this, the
                # jobs would run to the end (and publish their files) before
                # the pool let us exit; this way each stops within 50 ms,
                # stopping its encoder and removing its temp file on the way.
                cancel.set()
                pool.shutdown(cancel_futures=True)
                raise

    if not sys.stderr.isatty():
        all_jobs(lambda _index: None)
        return
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "[progress.percentage]{task.percentage:>3.0f}%",
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        tasks = [
            bar.add_task(f"exporting {n}", total=f) for n, f in zip(names, frames, strict=True)
        ]

        def progress_for(index: int) -> Callable[[int], None]:
            return lambda done: bar.update(tasks[index], completed=done)

        all_jobs(progress_for)


@app.command()
@guarded
def voices(ctx: typer.Context) -> None:
    """List every engine's voices; * marks the one used by default."""
    from voiceguide.speech.engines import list_voices

    listed = list_voices()
    width = max(len(v.voice.name) for v in listed)
    typer.echo(f"  {'engine':<7} {'name':<{width}}  {'language':<10} voice")
    for item in listed:
        mark = "*" if item.default else " "
        language = ",".join(item.voice.languages) or "?"
        typer.echo(
            f"{mark} {item.engine:<7} {item.voice.name:<{width}}  {language:<10} {item.voice.id}"
        )


@app.command("music")
@guarded
def music_list(ctx: typer.Context) -> None:
    """List the built-in ambiences for --music."""
    from voiceguide.music import BUILTIN

    width = max(len(name) for name in BUILTIN)
    for name, description in BUILTIN.items():
        typer.echo(f"{name:<{width}}  {description}")
    typer.echo(f"{'none':<{width}}  no music")


@app.command()
@guarded
def config(
    ctx: typer.Context,
    engine: Engine = None,
    voice: Voice = None,
    rate: Rate = None,
    music: Music = None,
    music_volume: MusicVolume = None,
) -> None:
    """Show each setting in force and where it comes from."""
    settings = _env(ctx).settings(engine, voice, rate, music, music_volume)
    exists = "" if settings.path.exists() else " (not there yet)"
    typer.echo(f"config file: {settings.path}{exists}")
    for name, setting in settings.items():
        empty = "(engine default)" if name == "voice" else "(none)"
        value = empty if setting.value is None else str(setting.value)
        typer.echo(f"{name:<12} {value:<24} {setting.source}")


@app.command("import")
@guarded
def import_article(
    ctx: typer.Context,
    article: Annotated[Path, typer.Argument(help="A how-to article: plain text or Markdown.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Routine file to write [default: NAME.toml]."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Turn a written how-to into a routine file you can edit, check and play."""
    from voiceguide.export import check_folder, write_text
    from voiceguide.importer import to_toml
    from voiceguide.routine import load_article

    routine = load_article(article)
    target = output if output is not None else Path(f"{article.stem}.toml")
    if target.exists() and not force:
        raise UsageError(f"{target} exists; use --force to replace it, or -o another name")
    check_folder(target.parent)
    write_text(target, to_toml(routine))
    counts = {v: len(routine.variants[v]) for v in Variant}
    typer.echo(
        f"wrote {target}: {len(routine.steps)} steps ({counts[Variant.SHORT]} in the short "
        f"version); check it with `voiceguide check {target}`"
    )


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


@app.command()
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
    import re

    from voiceguide.export import make_folder, write_text
    from voiceguide.routine import user_routine_dir

    stem = Path(name).stem
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", stem):
        raise UsageError(f'"{name}": use letters, digits, - and _ for a routine name')
    folder = user_routine_dir() if user else Path(name).parent
    make_folder(folder, parents=True)
    target = folder / f"{stem}.toml"
    if target.exists():
        raise UsageError(f"{target} exists; choose another name")
    title = stem.replace("-", " ").replace("_", " ").capitalize()
    write_text(target, TEMPLATE.format(file=target, title=title))
    typer.echo(f"wrote {target}; edit it, then run `voiceguide check {target}`")


@app.command()
@guarded
def check(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="Routine files or articles to check.")],
) -> None:
    """Check routines: every error with its line, and warnings about how they will sound."""
    from voiceguide.lint import estimated_timeline, lint

    failed: list[VoiceguideError] = []
    for spec in files:
        try:
            routine = find_routine(spec)
            warnings = lint(routine)  # compiles both versions, which may fail too
            lengths = [format_clock(estimated_timeline(routine, v).total_ms) for v in Variant]
        except VoiceguideError as err:
            for line in err.lines():
                _stderr(f"error: {line}")
            failed.append(err)
            continue
        _warn(tuple(warnings))
        typer.echo(
            f"ok: {spec}: {len(routine.steps)} steps; short ~{lengths[0]}, full ~{lengths[1]}"
        )
    if failed:
        raise typer.Exit(int(max(err.exit_code for err in failed)))


def _routine_key(routine: Routine) -> str:
    if routine.source.startswith("<built-in"):
        return routine.name
    return str(Path(routine.source).resolve())


def _status_line(status: Status) -> str:
    """Return the one-line status, like 'step 3/8 · Kneading · 1:20 left in step · 9:45 left'."""
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
        sys.stderr.write(f"\r\x1b[2K{line}")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()


def _parse_lead_in(text: str | None) -> int:
    from voiceguide.durations import parse_duration
    from voiceguide.errors import UsageError

    if not text:
        return 0
    try:
        return parse_duration(f"{text}s" if text.strip().isdigit() else text)
    except ValueError as err:
        raise UsageError(f"--lead-in {err}") from None


@app.command()
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
    backend: Annotated[
        str,
        typer.Option("--backend", help="Sound output: alsa (streaming, gapless) or simpleaudio."),
    ] = "alsa",
    device: Annotated[
        str, typer.Option("--device", help="ALSA device name for --backend alsa.")
    ] = "default",
) -> None:
    """Play a session hands-free: space pauses, n/→ next step, b/← back, q quits."""
    from voiceguide.mix import prepare
    from voiceguide.player import Interrupted, Player, Tones
    from voiceguide.render import to_pcm
    from voiceguide.session import load_asset

    env = _env(ctx)
    loaded = find_routine(routine)
    variant = _variant(short)
    store = env.resume_store()
    key = store.key(_routine_key(loaded), variant.value)
    start_step = 1
    count = len(loaded.steps_of(variant))
    if resume:
        saved = store.get(key)
        if saved is None or not 1 <= saved <= count:
            _stderr(f"no saved position for {loaded.name} ({variant}); starting from the beginning")
        else:
            start_step = saved
    lead_in_ms = _parse_lead_in(lead_in)
    options = {
        "engine": engine,
        "voice": voice,
        "rate": rate,
        "music": music,
        "music_volume": music_volume,
    }
    output = env.open_output(backend, device)  # no sound device: say so before any work
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(output.close)
        session = _session(
            ctx,
            loaded,
            variant,
            options,
            bed="if-possible",
            minutes=minutes,
            lead_in_ms=lead_in_ms,
            skip_intro=skip_intro,
            start_step=start_step,
            stream=True,  # starts after the first line; the rest is synthesized as it plays
        )
        cleanup.callback(session.close)  # quitting early: stop synthesizing unheard lines
        was_ready = session.ready
        tones = Tones(
            to_pcm(prepare(load_asset("pause.wav"))),
            to_pcm(prepare(load_asset("resume.wav"))),
        )
        printer = _StatusPrinter() if sys.stderr.isatty() else None
        controls = None
        if sys.stdin.isatty():
            from voiceguide.terminal import TerminalControls

            controls = TerminalControls(sys.stdin)
        player = Player(
            lambda: session.timeline,
            session.blocks,
            output,
            controls=controls,
            on_status=printer,
            tones=tones,
            preview=session.preview,
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

        if controls is not None and printer is not None:
            _stderr("space: pause/resume · n/→: next step · b/←: back · q: quit")
        try:
            with controls if controls is not None else _nothing():
                outcome = player.play()
        except Interrupted as stop:  # Ctrl-C or SIGTERM: the sound has stopped
            remember(stop.outcome.section)
            if printer is not None:
                printer.clear()
            raise
    if printer is not None:
        printer.clear()
    if not was_ready and outcome.finished:
        _warn(session.timeline.warnings)
    if outcome.finished:
        timeline = session.timeline
        store.set(key, None)
        typer.echo(
            f"finished {timeline.title} ({timeline.variant}, {format_clock(timeline.total_ms)})"
        )
        return
    step = remember(outcome.section)
    where = f"step {step} of {count}" if step is not None else "the closing"
    flag = " --short" if variant is Variant.SHORT else ""
    typer.echo(
        f"stopped at {where}; `voiceguide play {routine}{flag} --resume` continues from there"
    )


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


def main() -> None:
    """Run the CLI (the `voiceguide` console script)."""
    app(prog_name="voiceguide")
