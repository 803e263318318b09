"""The player: streams a rendered session to a sound output, with hands-free controls.

The player knows nothing about terminals, D-Bus or devices: it reads orders
from a Controls object (the terminal's keys, the desktop's media keys, or
both merged), writes frames to an AudioOutput, tells the time with an
injected clock and reports progress through a callback. Tests drive it with
fakes; the CLI wires the terminal, MPRIS and a real sound output.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np

from voiceguide.audio.format import CHANNELS, Block, frames_to_ms, ms_to_frames
from voiceguide.audio.render import Aside
from voiceguide.sinks.outputs import AudioOutput
from voiceguide.timeline.model import StepSpan, Timeline

CHUNK_FRAMES = 512  # about 12 ms: how often the player looks for an order
BACK_TWICE_S = 2.0  # a second "back" within this time goes to the previous step
STATUS_INTERVAL_S = 0.25
# The pause tone follows the cut after a short gap: the session is heard to stop
# at once, and the tone is heard as an answer, not as part of the session.
PAUSE_TONE_GAP_MS = 150


class Command(Enum):
    """What the listener can ask for."""

    TOGGLE = "toggle"  # pause, or resume if paused (space; MPRIS PlayPause)
    PAUSE = "pause"  # pause; nothing if paused already
    PLAY = "play"  # resume; nothing if playing
    NEXT = "next"
    BACK = "back"  # restart the step; twice within BACK_TWICE_S: the step before
    QUIT = "quit"
    WHERE = "where"  # say where the session is, over it ("i")


@dataclass(frozen=True)
class Seek:
    """Move playback to ms in the session, or by ms from where it is (relative)."""

    ms: int
    relative: bool = False


Order = Command | Seek


class Controls(Protocol):
    """A source of orders."""

    def poll(self, timeout_s: float) -> Order | None:
        """Return the next order, waiting up to timeout_s for one (0: don't wait)."""
        ...


class QueuedControls:
    """A source of orders that a thread of its own puts in a queue (the keys, the bus)."""

    def __init__(self) -> None:
        self.orders: queue.Queue[Order] = queue.Queue()

    def poll(self, timeout_s: float) -> Order | None:
        """Return the next order, waiting up to timeout_s for one (0: don't wait)."""
        try:
            if timeout_s <= 0:
                return self.orders.get_nowait()
            return self.orders.get(timeout=timeout_s)
        except queue.Empty:
            return None


class MergedControls:
    """Orders from several sources at once (the terminal's keys and the media keys)."""

    SLICE_S = 0.01

    def __init__(self, *sources: Controls) -> None:
        self.sources = sources

    def poll(self, timeout_s: float) -> Order | None:
        deadline = time.monotonic() + max(timeout_s, 0)
        while True:
            for source in self.sources:
                order = source.poll(0)
                if order is not None:
                    return order
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(left, self.SLICE_S))


@dataclass(frozen=True)
class Status:
    """Where playback is, for the status line."""

    position_ms: int
    total_ms: int
    section: int  # 0 intro, 1..N steps, N+1 closing
    step: StepSpan | None
    step_count: int
    section_end_ms: int
    paused: bool = False
    section_start_ms: int = 0
    moved: bool = False  # playback just jumped (next, back, seek): not a steady step on
    sleeping: bool = False  # in a sleep ending's music, after the last words

    @property
    def section_count(self) -> int:
        """Sections in all: the introduction, the steps, the closing."""
        return self.step_count + 2

    @property
    def left_ms(self) -> int:
        return max(self.total_ms - self.position_ms, 0)

    @property
    def left_in_section_ms(self) -> int:
        return max(self.section_end_ms - self.position_ms, 0)


@dataclass(frozen=True)
class Outcome:
    """How playback ended."""

    finished: bool  # played to the end (False: the listener quit)
    position_ms: int  # the last position heard
    section: int  # the section (0 intro, 1..N steps, N+1 closing) it stopped in


@dataclass(frozen=True)
class Tones:
    """The soft sounds that confirm pause and resume."""

    pause: Block
    resume: Block


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, its cause) during playback; carries where playback stopped."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__()
        self.outcome = outcome


def _chunks(blocks: Iterator[Block], size: int) -> Iterator[Block]:
    for block in blocks:
        for start in range(0, len(block), size):
            yield block[start : start + size]


class Player:
    """Plays one compiled session."""

    def __init__(
        self,
        timeline: Timeline | Callable[[], Timeline],
        blocks_from: Callable[[int], Iterator[Block]],
        output: AudioOutput,
        *,
        controls: Controls | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_status: Callable[[Status], None] | None = None,
        tones: Tones | None = None,
        chunk_frames: int = CHUNK_FRAMES,
        preview: Callable[[], Timeline] | None = None,
        where: Callable[[Status], Block] | None = None,
    ) -> None:
        """timeline may be a function that waits for the final timeline (a session
        still being synthesized); preview then gives the timeline as known now,
        for the status line. Skipping to a step uses the final timeline.

        where(status) makes the spoken answer to "where am I?" (Command.WHERE),
        at the session's level; it runs in a background thread and is mixed
        over the ducked session when ready.
        """
        self._timeline = timeline
        self._preview = preview
        self.blocks_from = blocks_from
        self.output = output
        self.controls = controls
        self.clock = clock
        self.on_status = on_status
        self.tones = tones
        self.chunk_frames = chunk_frames
        self._cursor = 0  # next frame to write
        self._last_back: tuple[float, int] | None = None
        self._last_status = -1.0
        self.where = where
        self._asking: Future[Block] | None = None  # "where am I?" being synthesized
        self._aside: Aside | None = None  # ... and being mixed over the session

    @property
    def timeline(self) -> Timeline:
        """The final timeline (it may wait for lines still being synthesized)."""
        if callable(self._timeline):
            self._timeline = self._timeline()
        return self._timeline

    def shown(self) -> Timeline:
        """The timeline as known now: final if it is, else the preview."""
        if callable(self._timeline) and self._preview is not None:
            return self._preview()
        return self.timeline

    @staticmethod
    def boundaries(timeline: Timeline) -> list[int]:
        """Section starts in frames: intro, each step, the closing."""
        outro_ms = timeline.steps[-1].end_ms if timeline.steps else timeline.total_ms
        starts_ms = [0, *(s.start_ms for s in timeline.steps), outro_ms]
        return [ms_to_frames(ms) for ms in starts_ms]

    def section_at(self, frame: int, timeline: Timeline | None = None) -> int:
        """Return the section (0 intro, 1..N steps, N+1 closing) a frame lies in."""
        section = 0
        for index, start in enumerate(self.boundaries(timeline or self.shown())):
            if frame >= start:
                section = index
        return section

    def heard_frame(self) -> int:
        """Return the frame the listener is hearing now."""
        return max(self._cursor - self.output.queued_frames(), 0)

    def status(self, *, paused: bool = False, moved: bool = False) -> Status:
        """Return where playback is now."""
        timeline = self.shown()
        frame = min(self.heard_frame(), ms_to_frames(timeline.total_ms))
        section = self.section_at(frame, timeline)
        steps = timeline.steps
        step = steps[section - 1] if 1 <= section <= len(steps) else None
        boundaries = self.boundaries(timeline)
        if section + 1 < len(boundaries):
            end = frames_to_ms(boundaries[section + 1])
        else:
            end = timeline.total_ms
        return Status(
            position_ms=round(frames_to_ms(frame)),
            total_ms=timeline.total_ms,
            section=section,
            step=step,
            step_count=timeline.step_count,
            section_end_ms=round(end),
            paused=paused,
            section_start_ms=round(frames_to_ms(boundaries[section])),
            moved=moved,
            sleeping=timeline.sleep_ms > 0 and frames_to_ms(frame) >= timeline.session_ms,
        )

    def _report(self, *, paused: bool = False, force: bool = False, moved: bool = False) -> None:
        now = self.clock()
        if self.on_status is not None and (force or now - self._last_status >= STATUS_INTERVAL_S):
            self._last_status = now
            self.on_status(self.status(paused=paused, moved=moved))

    def _stop_here(self) -> int:
        """Silence the output and return the frame the listener last heard."""
        heard = self.heard_frame()
        self.output.discard()
        self._cursor = heard
        self._aside = None  # an answer is about where the listener was: it ends here
        return heard

    def _target_of(self, order: Command | Seek, heard: int) -> int:
        end = ms_to_frames(self.timeline.total_ms)
        if isinstance(order, Seek):
            target = heard + ms_to_frames(order.ms) if order.relative else ms_to_frames(order.ms)
            return min(max(target, 0), end)
        command = order
        boundaries = self.boundaries(self.timeline)
        section = self.section_at(heard, self.timeline)
        if command is Command.NEXT:
            if section + 1 < len(boundaries):
                return boundaries[section + 1]
            return end
        # BACK: restart this section; twice in quick succession, the one before.
        now = self.clock()
        if self._last_back is not None and now - self._last_back[0] <= BACK_TWICE_S:
            section = max(self._last_back[1] - 1, 0)
        self._last_back = (now, section)
        return boundaries[section]

    def _pause(self) -> Order | None:
        """Pause until resumed; return an order that ends the pause other than resume."""
        self._stop_here()
        self._asking = None
        if self.tones is not None:
            gap = np.zeros((ms_to_frames(PAUSE_TONE_GAP_MS), CHANNELS), dtype=np.int16)
            self.output.write(np.concatenate([gap, self.tones.pause]))
            self.output.finish()
        self._report(paused=True, force=True)
        assert self.controls is not None
        while True:
            order = self.controls.poll(STATUS_INTERVAL_S)
            if order is None or order is Command.PAUSE:  # PAUSE: paused already
                continue
            if order is Command.WHERE:
                self._say_now(self.status(paused=True))
                continue
            if order in (Command.TOGGLE, Command.PLAY):
                if self.tones is not None:
                    self.output.write(self.tones.resume)
                return None
            return order

    def _ask_where(self) -> None:
        """Start making the answer to "where am I?" (mixed in when it is ready)."""
        if self.where is None or self._asking is not None:
            return
        status = self.status()
        where = self.where
        asking: Future[Block] = Future()

        def make() -> None:
            try:
                asking.set_result(where(status))
            except Exception as err:  # handed over: the answer is left out, the session goes on
                asking.set_exception(err)

        threading.Thread(target=make, name="voiceguide-where", daemon=True).start()
        self._asking = asking

    def _say_now(self, status: Status) -> None:
        """Say where the session is while it is paused (over silence)."""
        if self.where is None:
            return
        try:
            answer = self.where(status)
        except Exception:  # as while playing: the answer is left out, the session waits on
            return
        self.output.write(answer)
        self.output.finish()

    def _with_aside(self, chunk: Block) -> Block:
        """Mix the answer to "where am I?" over the chunk, once it is ready."""
        if self._asking is not None and self._asking.done():
            asking, self._asking = self._asking, None
            if asking.exception() is None:  # an answer that failed is left out
                self._aside = Aside(asking.result())
        if self._aside is None:
            return chunk
        mixed = self._aside.over(chunk)
        if self._aside.done:
            self._aside = None
        return mixed

    def play(self, start_frame: int = 0) -> Outcome:
        """Play from start_frame to the end, or until the listener quits."""
        self._cursor = start_frame
        source = _chunks(self.blocks_from(start_frame), self.chunk_frames)
        try:
            while True:
                order = self.controls.poll(0) if self.controls is not None else None
                if order is Command.TOGGLE or order is Command.PAUSE:
                    order = self._pause()
                    source = _chunks(self.blocks_from(self._cursor), self.chunk_frames)
                    self._report(force=True)
                if order is Command.QUIT:
                    heard = self._stop_here()
                    return Outcome(False, round(frames_to_ms(heard)), self.section_at(heard))
                if order is Command.WHERE:
                    self._ask_where()
                elif isinstance(order, Seek) or order in (Command.NEXT, Command.BACK):
                    assert order is not None
                    heard = self._stop_here()
                    self._cursor = self._target_of(order, heard)
                    source = _chunks(self.blocks_from(self._cursor), self.chunk_frames)
                    moved = True
                else:
                    moved = False
                chunk = next(source, None)
                if chunk is None:
                    break
                self.output.write(self._with_aside(chunk))
                self._cursor += len(chunk)
                self._report(force=moved, moved=moved)
            self.output.finish()
            self._report(force=True)
            end = ms_to_frames(self.timeline.total_ms)
            return Outcome(True, round(frames_to_ms(end)), self.section_at(end, self.timeline))
        except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (errors.Terminated)
            heard = self._stop_here()
            raise Interrupted(
                Outcome(False, round(frames_to_ms(heard)), self.section_at(heard))
            ) from err
