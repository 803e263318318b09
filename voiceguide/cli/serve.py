"""The serve command: a private podcast feed and a web player for the phone."""

from __future__ import annotations

import dataclasses
import errno
import io
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voiceguide.cli.core import Run, guarded, run_of, stderr
from voiceguide.cli.options import Engine, Rate, Voice, open_session
from voiceguide.errors import RoutineError, UsageError

if TYPE_CHECKING:
    from voiceguide.config import Overrides
    from voiceguide.routine.model import Routine
    from voiceguide.sinks.renders import Choice, Entry, RenderSession
    from voiceguide.sinks.serve import Server

DEFAULT_PORT = 8750


def _entries(run: Run, dirs: list[Path], *, builtins: bool = True) -> list[Entry]:
    """Return the routines to serve: the user's and the built-ins, then those in each --dir."""
    from voiceguide.routine.library import ARTICLE_SUFFIXES
    from voiceguide.sinks.renders import Entry

    library = run.env.library()
    entries: list[Entry] = []
    taken: set[str] = set()

    def add(name: str, routine: Routine, resume_key: str) -> None:
        base = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()) or "routine"
        ident, n = base, 2
        while ident in taken:
            ident, n = f"{base}-{n}", n + 1
        taken.add(ident)
        entries.append(Entry(ident, routine, resume_key))

    for name in library.names() if builtins else library.user_names():
        routine = library.find(name)
        key = (
            name if routine.source.startswith("<built-in") else str(Path(routine.source).resolve())
        )
        add(name, routine, key)
    for folder in dirs:
        if not folder.is_dir():
            raise UsageError(
                f"{folder}: no such folder; give --dir a folder of routines or articles"
            )
        files = sorted(
            p for p in folder.iterdir() if p.suffix.lower() in (".toml", *ARTICLE_SUFFIXES)
        )
        for path in files:
            try:
                routine = library.find(str(path))
            except (RoutineError, UsageError) as err:  # one bad file does not stop the rest
                stderr(f"warning: skipping {err.lines()[0]} (see `voiceguide check {path}`)")
                continue
            add(path.stem, routine, str(path.resolve()))
    return entries


def make_server(
    run: Run, dirs: list[Path], overrides: Overrides, *, builtins: bool = True
) -> Server:
    """Return the server's parts: routines, render queue, token, resume points, practice log."""
    from voiceguide import pipeline
    from voiceguide.sinks.formats import codec_gain_db
    from voiceguide.sinks.renders import RenderQueue
    from voiceguide.sinks.serve import Server, load_token

    settings = run.env.settings(overrides)
    # Aim the mix so the MP3, once encoded, measures the target (as export does).
    gain = codec_gain_db(".mp3", None, run.env.memo_path("codec-gains.json"))
    target = pipeline.SessionOptions().target_lufs - gain

    def open_one(routine: Routine, choice: Choice) -> RenderSession:
        chosen = dataclasses.replace(overrides, music=choice.music) if choice.music else overrides
        options = pipeline.SessionOptions(
            variant=choice.variant, minutes=choice.minutes, target_lufs=target
        )
        return open_session(run, routine, chosen, options)

    sound = "|".join(
        str(s.value)
        for s in (
            settings.engine,
            settings.voice,
            settings.rate,
            settings.music,
            settings.music_volume,
        )
    )
    return Server(
        entries=tuple(_entries(run, dirs, builtins=builtins)),
        renders=RenderQueue(run.env.renders_folder(), open_one, sound=sound),
        token=load_token(run.env.token_file()),
        resume=run.env.resume_store(),
        log=run.env.practice_log(),
        beds=tuple(pipeline.ambiences()),
    )


def _lan_address() -> str:
    """Return this machine's address on the local network (what a phone there would use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            # Connecting a UDP socket sends nothing; it only picks the outgoing interface.
            probe.connect(("192.168.0.1", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return socket.gethostbyname(socket.gethostname())


def listen(host: str, port: int) -> socket.socket:
    """Return a socket listening on host:port, or raise UsageError saying why it cannot."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} is in use (another voiceguide serve?); choose another with --port"
            ) from None
        raise UsageError(
            f"cannot listen on {host}:{port} ({err.strerror}); choose another with --port"
        ) from None
    return sock


def qr_text(url: str) -> str:
    """Return a QR code of url drawn with block characters, for a phone to scan."""
    import segno

    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True)
    return out.getvalue()


@guarded
def serve(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", help="The port to listen on.", min=1, max=65535)
    ] = DEFAULT_PORT,
    lan: Annotated[
        bool,
        typer.Option("--lan", help="Listen on the local network (default: this machine only)."),
    ] = False,
    dirs: Annotated[
        list[Path] | None,
        typer.Option("--dir", help="Also serve the routine files and articles in this folder."),
    ] = None,
    no_builtins: Annotated[
        bool,
        typer.Option(
            "--no-builtins", help="Leave out the built-in routines: serve only yours and --dir."
        ),
    ] = False,
    engine: Engine = None,
    voice: Voice = None,
    rate: Rate = None,
) -> None:
    """Serve a private podcast feed and a web player, for listening on a phone."""
    import uvicorn

    from voiceguide.sinks.serve import make_app

    run = run_of(ctx)
    host = "0.0.0.0" if lan else "127.0.0.1"  # --lan: every interface
    sock = listen(host, port)
    from voiceguide.config import Overrides

    server = make_server(run, dirs or [], Overrides(engine, voice, rate), builtins=not no_builtins)
    if not server.entries:
        sock.close()
        raise UsageError("there are no routines to serve; give --dir a folder of routines")
    shown = _lan_address() if lan else host
    root = f"http://{shown}:{port}"
    typer.echo(f"player: {root}/{server.token}/")
    typer.echo(f"feed: {root}/feed/{server.token}.xml")
    typer.echo(qr_text(f"{root}/feed/{server.token}.xml"), nl=False)
    if lan:
        typer.echo(
            f"listening on the local network (--lan): anyone on it who has these URLs can listen; "
            f"{len(server.entries)} routines"
        )
    else:
        typer.echo(
            f"listening on this machine only ({host}); use --lan for a phone; "
            f"{len(server.entries)} routines"
        )
    typer.echo("Ctrl-C stops it")
    server.render_feed()
    config = uvicorn.Config(make_app(server), log_level="warning", access_log=False, lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        server.renders.close()
        server.log.close()
        sock.close()
