"""The exception root, its subclasses, and the exit code each one maps to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; README lists them for users."""

    OK = 0
    ERROR = 1  # an unexpected internal error (a bug: please report it)
    USAGE = 2  # bad command-line usage, unknown routine, impossible --minutes
    ROUTINE = 3  # the routine file is invalid
    SPEECH = 4  # the speech engine is missing or failed
    AUDIO = 5  # ffmpeg or an audio asset is missing, or encoding failed
    OUTPUT = 6  # the output file cannot be written
    DEVICE = 7  # no usable sound device
    CONFIG = 8  # the config file is invalid
    HUNG_UP = 129  # SIGHUP (128 + SIGHUP): the terminal was closed
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    TERMINATED = 143  # SIGTERM (128 + SIGTERM), e.g. `kill` or a shutting-down session


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop as for Ctrl-C, cleaning up on the way out (see cli.core)."""


class HungUp(Terminated):
    """SIGHUP arrived (the terminal was closed): stop as for SIGTERM (see cli.core)."""


@dataclass(frozen=True)
class Diagnostic:
    """A problem or warning tied to a place in a file."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class VoiceguideError(Exception):
    """Root of every error voiceguide reports to the user."""

    exit_code: ExitCode = ExitCode.ERROR

    def lines(self) -> list[str]:
        """Return the message as one or more lines, without the 'error: ' prefix."""
        return [str(self)]


class UsageError(VoiceguideError):
    """The command line asks for something that cannot be done."""

    exit_code = ExitCode.USAGE


class RoutineError(VoiceguideError):
    """A routine file has one or more problems; all of them are reported."""

    exit_code = ExitCode.ROUTINE

    def __init__(self, problems: Iterable[Diagnostic]) -> None:
        self.problems = tuple(sorted(problems, key=lambda d: (d.path, d.line or 0)))
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class ConfigError(RoutineError):
    """The config file has one or more problems; all of them are reported."""

    exit_code = ExitCode.CONFIG


class SpeechError(VoiceguideError):
    """The speech engine is missing, misconfigured or failed."""

    exit_code = ExitCode.SPEECH


class AudioError(VoiceguideError):
    """ffmpeg or an audio asset is missing, or audio processing failed."""

    exit_code = ExitCode.AUDIO


class OutputError(VoiceguideError):
    """An output file or folder cannot be written.

    `problem` says what is wrong, `fix` what to do about it besides writing
    elsewhere, and `elsewhere` whether writing elsewhere helps. The CLI words
    "elsewhere" with its own option; this message says "another output path".
    """

    exit_code = ExitCode.OUTPUT

    def __init__(self, problem: str, fix: str = "", *, elsewhere: bool = True) -> None:
        self.problem = problem
        self.fix = fix
        self.elsewhere = elsewhere
        super().__init__(self.worded("another output path"))

    def worded(self, other_path: str) -> str:
        """Return the message, suggesting `other_path` (like "another -o path") when it helps."""
        remedies = [self.fix] if self.fix else []
        if self.elsewhere:
            remedies.append(f"choose {other_path}")
        return f"{self.problem}; {' or '.join(remedies)}" if remedies else self.problem


class DeviceError(VoiceguideError):
    """No usable sound device."""

    exit_code = ExitCode.DEVICE


class ExportCancelledError(VoiceguideError):
    """An export was cancelled from another thread (the command was interrupted)."""

    exit_code = ExitCode.INTERRUPTED


class DoesNotFitError(UsageError):
    """A session cannot be made to last the minutes asked for.

    need_ms is the least it can last; None when the minutes are out of range.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, *, minutes: float, need_ms: int | None = None) -> None:
        super().__init__(message)
        self.minutes = minutes
        self.need_ms = need_ms


class RateOutOfRangeError(SpeechError):
    """A speaking rate outside what the engines can do (60 to 400 words a minute)."""

    exit_code = ExitCode.SPEECH

    def __init__(self, rate_wpm: int) -> None:
        self.rate_wpm = rate_wpm
        super().__init__(f"a rate of {rate_wpm} is out of range; use 60 to 400 words per minute")
