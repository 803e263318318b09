"""The command line's core: the app, its run state, and where errors become exit codes.

Only cli/ prints. The core raises domain errors; `describe` words them for
the command line, naming the option that fixes them. Heavy libraries are
imported inside commands so that `voiceguide --help` is instant.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar, cast

import typer
from typer.exceptions import TyperException

from voiceguide import __version__
from voiceguide.cli.quick import QuickGroup
from voiceguide.env import Environment
from voiceguide.errors import (
    Diagnostic,
    DoesNotFitError,
    ExitCode,
    HungUp,
    OutputError,
    RateOutOfRangeError,
    Terminated,
    VoiceguideError,
)

if TYPE_CHECKING:
    from voiceguide.files import CacheFolder, CacheProblem

app = typer.Typer(
    name="voiceguide",
    cls=QuickGroup,
    help="Turn a written routine into a spoken, timed audio session.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Run:
    """The state of one command: its environment, --debug, and the caches it watches."""

    env: Environment
    debug: bool = False
    caches: list[CacheFolder] = field(default_factory=list)
    reported: set[CacheProblem] = field(default_factory=set)

    def watch(self, cache: CacheFolder | None) -> None:
        """Follow a cache folder, to say if it stops saving (see report_caches)."""
        if cache is not None:
            self.caches.append(cache)
        self.report_caches()

    def report_caches(self) -> None:
        """Warn about each cache problem not yet reported: once per run, however many clips failed.

        Called when the sessions are built and again when the command ends, since
        the mix plan, which caches analyses too, is made only once audio is wanted.
        """
        for folder in self.caches:
            if folder.problem is not None and folder.problem not in self.reported:
                self.reported.add(folder.problem)
                warn([folder.problem])


def run_of(ctx: typer.Context) -> Run:
    """Return the command's run state (made by the app's callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, Run):
        # A test may hand in an Environment as obj; the callback wraps it.
        env = root.obj if isinstance(root.obj, Environment) else Environment()
        root.obj = Run(env)
    return root.obj


def stderr(line: str) -> None:
    """Write one line to stderr."""
    typer.echo(line, err=True)


def warn(warnings: Iterable[Diagnostic | CacheProblem]) -> None:
    """Write each warning on a line of its own."""
    for warning in warnings:
        stderr(f"warning: {warning}")


def describe(err: VoiceguideError) -> list[str]:
    """Word an error for the command line, naming the option that fixes it."""
    if isinstance(err, DoesNotFitError):
        if err.need_ms is None:
            return [f"--minutes {err.minutes:g} is out of range; give a number from 1 to 1440"]
        need = math.ceil(err.need_ms / 60_000 * 10) / 10
        return [f"{err}; ask for --minutes {need:g} or more"]
    if isinstance(err, RateOutOfRangeError):
        return [f"--rate {err.rate_wpm} is out of range; use 60 to 400 words per minute"]
    if isinstance(err, OutputError):
        return [err.worded("another -o path")]
    return err.lines()


def report(err: VoiceguideError, *, debug: bool = False) -> None:
    """Print an error as `error: ...` lines (and its traceback with --debug)."""
    if debug:
        traceback.print_exc()
    for line in describe(err):
        stderr(f"error: {line}")


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """Turn errors into one line on stderr and the documented exit code.

    This is the one place where exceptions become exit codes.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = kwargs.get("ctx")
        # typer hands in click's Context, of which typer.Context is only a subclass.
        run = run_of(cast("typer.Context", ctx)) if hasattr(ctx, "find_root") else None
        debug = run is not None and run.debug
        try:
            try:
                with _sigterm_stops():
                    return command(*args, **kwargs)
            finally:
                if run is not None:
                    run.report_caches()
        except VoiceguideError as err:
            report(err, debug=debug)
            raise typer.Exit(int(err.exit_code)) from None
        except KeyboardInterrupt as err:
            signalled = _by_signal(err)
            if isinstance(signalled, HungUp):
                _say("hung up")  # most likely to a terminal that is no longer there
                raise typer.Exit(int(ExitCode.HUNG_UP)) from None
            if signalled is not None:
                _say("terminated")
                raise typer.Exit(int(ExitCode.TERMINATED)) from None
            _say("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:
            # The reader went away (`voiceguide voices | head`): stop quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(int(ExitCode.OK)) from None
        except (typer.Exit, typer.Abort, TyperException):
            raise  # typer's own exits and usage errors
        except Exception as err:
            if debug:
                traceback.print_exc()
            stderr(
                f"error: internal error: {type(err).__name__}: {err} "
                "(run with --debug for the traceback, and please report it)"
            )
            raise typer.Exit(int(ExitCode.ERROR)) from None

    return wrapper


def _say(line: str) -> None:
    """Write a line to stderr if it can be written (after SIGHUP the terminal may be gone)."""
    with contextlib.suppress(OSError):
        stderr(line)


def _terminate(signum: int, frame: object) -> None:
    import signal

    raise HungUp if signum == signal.SIGHUP else Terminated


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    """While a command runs, make SIGTERM and SIGHUP stop it as Ctrl-C does (exit 143, 129).

    SIGTERM (`kill`, a session manager, a container stopping) and SIGHUP (the
    terminal closed) then unwind through the same clean-up as Ctrl-C: the
    encoder stopped, temp files removed, the terminal restored, the resume
    point saved. Before and after the command there is nothing to clean up,
    and they end the process at once. A SIGHUP ignored (`nohup`) stays ignored.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers (and receives signals)
        return
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _terminate)}
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # under nohup, play on
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, _terminate)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _by_signal(err: BaseException) -> Terminated | None:
    """Return the SIGTERM or SIGHUP that err is, or was raised while handling, if any."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, Terminated):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


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
    run_of(ctx).debug = debug
