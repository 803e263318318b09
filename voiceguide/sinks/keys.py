"""Keyboard controls from a terminal: single key presses, no Enter, no echo.

The terminal is put in cbreak mode (keys arrive one by one, Ctrl-C still
interrupts) and is always restored on exit.
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import threading
import tty
from types import TracebackType
from typing import IO, Any

from voiceguide.sinks.player import Command, QueuedControls

KEYS: dict[bytes, Command] = {
    b" ": Command.TOGGLE,
    b"n": Command.NEXT,
    b"N": Command.NEXT,
    b"\x1b[C": Command.NEXT,  # right arrow
    b"\x1bOC": Command.NEXT,
    b"b": Command.BACK,
    b"B": Command.BACK,
    b"\x1b[D": Command.BACK,  # left arrow
    b"\x1bOD": Command.BACK,
    b"q": Command.QUIT,
    b"Q": Command.QUIT,
    b"i": Command.WHERE,
    b"I": Command.WHERE,
}


def parse_keys(data: bytes) -> list[Command]:
    """Turn bytes read from a terminal into commands; unknown keys are ignored."""
    commands = []
    i = 0
    while i < len(data):
        for length in (3, 1):
            command = KEYS.get(data[i : i + length])
            if command is not None:
                commands.append(command)
                i += length
                break
        else:
            i += 3 if data[i : i + 1] == b"\x1b" else 1
    return commands


class TerminalControls(QueuedControls):
    """Commands from key presses on a terminal, read by a background thread."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.fd = stream.fileno()
        self._saved: list[Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="voiceguide-keys", daemon=True)

    def __enter__(self) -> TerminalControls:
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd, termios.TCSANOW)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        self.restore()

    def restore(self) -> None:
        """Put the terminal back as it was."""
        if self._saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self.fd, 32)
            except OSError:
                return
            if not data:
                return
            for command in parse_keys(data):
                self.orders.put(command)
