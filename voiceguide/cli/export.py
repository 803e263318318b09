"""The export command: sessions to audio files, with tags, chapters and transcripts."""

from __future__ import annotations

import dataclasses
import functools
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voiceguide.cli.core import guarded, run_of, warn
from voiceguide.cli.options import (
    Engine,
    Minutes,
    Music,
    MusicVolume,
    NoSleep,
    Rate,
    Short,
    Sleep,
    Voice,
    check_sleep,
    open_session,
    variant_of,
)
from voiceguide.errors import UsageError
from voiceguide.routine.model import Variant
from voiceguide.units import format_clock

if TYPE_CHECKING:
    from voiceguide.sinks.tags import Tags


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
            "--format", help="mp3, m4a, m4b, ogg, opus, flac or wav \\[default: by extension]."
        ),
    ] = None,
    bitrate: Annotated[
        str | None,
        typer.Option("--bitrate", help="For lossy formats, e.g. 128k \\[default: per format]."),
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
    sleep: Sleep = None,
    no_sleep: NoSleep = False,
) -> None:
    """Export sessions to audio files, with tags and a chapter per step."""
    import datetime

    from voiceguide import pipeline
    from voiceguide.sinks.export import export as export_file
    from voiceguide.sinks.formats import codec_gain_db, format_of
    from voiceguide.sinks.tags import chapter_list as list_chapters
    from voiceguide.sinks.tags import tags_for, webvtt
    from voiceguide.sinks.writing import check_folder, check_target, make_folder, write_text

    check_sleep(sleep, no_sleep)
    run = run_of(ctx)
    variants = [Variant.SHORT, Variant.FULL] if all_variants else [variant_of(short)]
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
    pipeline.require_encoder()  # before any synthesis

    # Synthesis first, one session after another (speech engines are not
    # thread-safe); then rendering and encoding, in parallel when there are several.
    from voiceguide.config import Overrides

    overrides = Overrides(engine, voice, rate, music, music_volume)
    codec_memo = run.env.memo_path("codec-gains.json")
    library = run.env.library()
    sessions = []
    for (routine, variant), suffix in zip(jobs, suffixes, strict=True):
        loaded = library.find(routine)
        base = pipeline.SessionOptions(variant=variant, minutes=minutes)
        options = dataclasses.replace(
            base,
            # Aim the mix so the file, once encoded, measures the target.
            target_lufs=base.target_lufs - codec_gain_db(suffix, bitrate, codec_memo),
            # One session alone encodes while its lines are synthesized; several
            # are synthesized first (speech engines are not thread-safe).
            stream=len(jobs) == 1,
        )
        session = open_session(run, loaded, overrides, options, sleep=sleep, no_sleep=no_sleep)
        sessions.append((loaded, session, session.ready))
    year = datetime.date.today().year

    def export_one(
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

    totals = [s.expected_frames() for _, s, _ in sessions]
    try:
        _run_exports(export_one, [t.name for t in targets], totals)
    except BaseException:
        for _, session, _ in sessions:
            session.close()  # stop synthesizing for a file that will not be written
        raise
    for _, session, was_ready in sessions:
        if not was_ready:
            warn(session.timeline.warnings)
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
