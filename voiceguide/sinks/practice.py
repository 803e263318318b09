"""The practice log: every session played, with how long it was listened to and whether it ended."""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from voiceguide.files import atomic_write

MAX_PLAYS = 5000  # the oldest plays go first; a year of daily sessions fits many times over


@dataclass(frozen=True)
class Play:
    """One session played: what, when it started, how much was heard, whether it finished."""

    play: str  # an id the player chose, so a play's later reports update it
    routine: str
    variant: str
    started: str  # ISO 8601, as the player reported it
    listened_ms: int
    finished: bool


class PracticeLog:
    """The plays, kept in STATE/practice.json (one store for every player)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "practice.json"
        self._lock = threading.Lock()

    def plays(self) -> list[Play]:
        """Return the plays recorded, oldest first (a broken file counts as empty)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [Play(**item) for item in data["plays"]]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def record(self, play: Play) -> None:
        """Add a play, or update the one with its id (a play reports as it goes). Best effort."""
        with self._lock:
            plays = [p for p in self.plays() if p.play != play.play]
            old = next((p for p in self.plays() if p.play == play.play), None)
            if old is not None:  # reports may arrive out of order: keep the most heard
                play = Play(
                    play.play,
                    play.routine,
                    play.variant,
                    old.started,
                    max(old.listened_ms, play.listened_ms),
                    old.finished or play.finished,
                )
            plays.append(play)
            text = json.dumps({"plays": [asdict(p) for p in plays[-MAX_PLAYS:]]}, indent=1)
            # A log that cannot be written must not stop the session.
            with contextlib.suppress(OSError):
                atomic_write(self.path, text.encode("utf-8"), make_parents=True)
