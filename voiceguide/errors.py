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
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    TERMINATED = 143  # SIGTERM (128 + SIGTERM), e.g. `kill` or a shutting-down session


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop as for Ctrl-C, cleaning up on the way out (see cli.main)."""


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
    """The output file cannot be written."""

    exit_code = ExitCode.OUTPUT


class DeviceError(VoiceguideError):
    """No usable sound device."""

    exit_code = ExitCode.DEVICE
