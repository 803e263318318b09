"""Starting a child process so that a signal landing mid-start cannot leave it behind."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends, then act on them as usual.

    A Ctrl-C that lands inside subprocess.Popen after the child has started
    raises before the Popen object is returned, leaving a running child that
    no one can stop. Started inside this block, the child is known to the
    caller by the time the interrupt is raised (just after the block). Only
    the signals with a Python handler are held (one ignored stays ignored),
    and only in the main thread, the one Python delivers signals to.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, FrameType | None]] = []
    held: dict[int, Callable[[int, FrameType | None], object]] = {}
    for sig in HELD:
        handler = signal.getsignal(sig)
        if callable(handler):
            held[sig] = handler
            signal.signal(sig, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)
        for signum, frame in caught:
            held[signum](signum, frame)
