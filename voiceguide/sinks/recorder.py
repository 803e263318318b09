"""Recording a session in the practice log while it plays.

The player stays free of the log: the recorder sits around its sound output
(to count the frames actually heard) and its status callback (to know the
step, and to save as it goes). A session is saved once it has been heard for
a minute, then every 15 s of listening and when it ends, so a process killed
mid-session still leaves its row, with at most the last 15 s missing.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from dataclasses import replace

from voiceguide.audio.format import Block, frames_to_ms
from voiceguide.sinks.outputs import AudioOutput
from voiceguide.sinks.player import Status
from voiceguide.sinks.practice import Play, PracticeLog

SAVE_EVERY_MS = 15_000  # of listening


class HeardOutput:
    """An AudioOutput that counts the frames heard: written, less those dropped or still queued."""

    def __init__(self, output: AudioOutput) -> None:
        self.output = output
        self._written = 0
        self._dropped = 0
        self._closed_at: int | None = None  # what had been heard when the device closed

    def heard_frames(self) -> int:
        """Return how many frames have been heard so far."""
        if self._closed_at is not None:
            return self._closed_at
        return max(self._written - self._dropped - self.output.queued_frames(), 0)

    def write(self, frames: Block) -> None:
        self.output.write(frames)
        self._written += len(frames)

    def queued_frames(self) -> int:
        return self.output.queued_frames()

    def discard(self) -> None:
        self._dropped += self.output.queued_frames()
        self.output.discard()

    def finish(self) -> None:
        self.output.finish()

    def close(self) -> None:
        self._closed_at = self.heard_frames()
        self.output.close()


class SessionRecorder:
    """Keeps one session's row in the practice log up to date; never raises."""

    def __init__(
        self,
        log: PracticeLog,
        play: Play,
        *,
        save_every_ms: int = SAVE_EVERY_MS,
    ) -> None:
        """play describes the session (routine, variant, engine); its id and start are set here."""
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        self.log = log
        self.play = replace(play, play=uuid.uuid4().hex, started=started, listened_ms=0)
        self.save_every_ms = save_every_ms
        self._heard: HeardOutput | None = None
        self._saved_ms: int | None = None
        self._step: int | None = None

    def output(self, output: AudioOutput) -> AudioOutput:
        """Return the output to play through, counting what is heard."""
        self._heard = HeardOutput(output)
        return self._heard

    def heard_ms(self) -> int:
        """Return how long the session has been heard (pauses and skipped parts not counted)."""
        return round(frames_to_ms(self._heard.heard_frames())) if self._heard is not None else 0

    def on_status(self, then: Callable[[Status], None] | None = None) -> Callable[[Status], None]:
        """Return a status callback that records, then calls `then` (the status line)."""

        def status(status: Status) -> None:
            if status.step is not None:
                self._step = status.step.index
            heard = self.heard_ms()
            due = self._saved_ms is None or heard - self._saved_ms >= self.save_every_ms
            if heard >= self.log.min_ms and due:
                self._save(heard, ended=None, step=self._step)
            if then is not None:
                then(status)

        return status

    def _save(self, heard: int, *, ended: str | None, step: int | None) -> None:
        self._saved_ms = heard
        finished = ended == "finished"
        self.log.record(
            replace(self.play, listened_ms=heard, finished=finished, ended=ended, step=step)
        )

    def finished(self) -> None:
        """The session played to its end."""
        self._save(self.heard_ms(), ended="finished", step=None)
        self.log.close()

    def stopped(self, step: int | None, *, interrupted: bool = False) -> None:
        """The listener quit (or Ctrl-C, a signal) at this step (None: in the closing)."""
        self._save(self.heard_ms(), ended="interrupted" if interrupted else "stopped", step=step)
        self.log.close()
