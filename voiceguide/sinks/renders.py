"""Sessions rendered for the server: exported once, cached by content, at most one per core.

A rendered session is an MP3 export (with its chapters and tags, see
export.py and tags.py), its WebVTT transcript, and a small JSON file with
its chapters and size, all named by a key derived from the routine's
content and every option that shapes the sound. The JSON file is written
last, so its presence means the session is complete.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from voiceguide.audio.format import Block
from voiceguide.errors import VoiceguideError
from voiceguide.files import atomic_write
from voiceguide.routine.model import Routine, Variant
from voiceguide.routine.writing import to_toml
from voiceguide.sinks.export import export
from voiceguide.sinks.tags import Chapter, Tags, tags_for, webvtt
from voiceguide.timeline.model import Timeline


class RenderSession(Protocol):
    """What the renderer needs of a session (pipeline.Session has it)."""

    @property
    def timeline(self) -> Timeline: ...

    def blocks(self, start_frame: int = 0) -> Iterator[Block]: ...

    def expected_frames(self) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Choice:
    """What a listener asks for: a routine by id, its version, minutes and music."""

    routine: str
    variant: Variant
    minutes: float | None = None  # None: as written
    music: str | None = None  # None: the routine's (or config's) own; "none"; a built-in bed


@dataclass(frozen=True)
class Entry:
    """A routine the server offers, under an id made from its name."""

    id: str
    routine: Routine
    resume_key: str  # the key of its resume point, the same the play command uses


@dataclass(frozen=True)
class Rendered:
    """A complete rendered session."""

    key: str
    audio: Path
    transcript: Path
    size: int
    total_ms: int
    title: str  # the routine's
    chapters: tuple[Chapter, ...]  # introduction, steps, closing
    steps: tuple[Chapter, ...]  # the routine's steps, in order (resume points)
    created: str  # ISO 8601, when it was rendered


@dataclass(frozen=True)
class Progress:
    """How far a render is: queued, rendering (frames of frames), ready or failed."""

    state: str
    done_frames: int = 0
    total_frames: int = 0
    error: str = ""


Opener = Callable[[Routine, Choice], RenderSession]


def session_key(routine: Routine, choice: Choice, sound: str) -> str:
    """Return the key of a session: the same routine, options and voice give the same key.

    sound names everything else that shapes the audio (engine, voice, rate, bed level).
    """
    minutes = "" if choice.minutes is None else f"{choice.minutes:g}"
    parts = [to_toml(routine), choice.variant.value, minutes, choice.music or "", sound, "mp3"]
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:32]


def failed(job: Future[Rendered]) -> bool:
    """Return True if a render ended without a session (an error, or the server stopping)."""
    return job.done() and (job.cancelled() or job.exception() is not None)


class RenderQueue:
    """Renders sessions in the background, at most `workers` at once, each key once."""

    def __init__(self, folder: Path, open_session: Opener, *, sound: str, workers: int = 0) -> None:
        """open_session builds a session (it may synthesize: it is called one at a time)."""
        self.folder = folder
        self._open = open_session
        self._sound = sound
        self._workers = workers or os.cpu_count() or 1
        self._threads: list[threading.Thread] = []
        # (priority, order, key): a listener waiting goes before the feed's background renders.
        self._queue: queue.PriorityQueue[tuple[int, int, str]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._synthesis = threading.Lock()  # speech engines are not thread-safe
        self._jobs: dict[str, Future[Rendered]] = {}
        self._pending: dict[str, tuple[Entry, Choice]] = {}  # queued, not started
        self._progress: dict[str, Progress] = {}
        self._choices: dict[str, tuple[Entry, Choice]] = {}
        self._cancel = threading.Event()

    def key(self, entry: Entry, choice: Choice) -> str:
        """Return the key the session for this choice has."""
        return session_key(entry.routine, choice, self._sound)

    def cached(self, key: str) -> Rendered | None:
        """Return the rendered session with this key, if it is complete on disk."""
        try:
            meta = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
            audio = self.folder / f"{key}.mp3"
            if audio.stat().st_size != meta["size"]:
                return None
            return Rendered(
                key=key,
                audio=audio,
                transcript=self.folder / f"{key}.vtt",
                size=meta["size"],
                total_ms=meta["total_ms"],
                title=meta["title"],
                chapters=tuple(Chapter(*c) for c in meta["chapters"]),
                steps=tuple(Chapter(*c) for c in meta["steps"]),
                created=meta["created"],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def submit(self, entry: Entry, choice: Choice, *, urgent: bool = True) -> Future[Rendered]:
        """Return the session's render, queued if it is not done yet.

        urgent: someone is waiting for it, so it goes before the background renders.
        """
        key = self.key(entry, choice)
        with self._lock:
            self._choices[key] = (entry, choice)
            job = self._jobs.get(key)
            if job is not None and not failed(job):
                if urgent and key in self._pending:
                    self._queue.put((0, next(self._order), key))  # move it up
                return job
            job = Future()
            self._jobs[key] = job
            done = self.cached(key)
            if done is not None:
                job.set_running_or_notify_cancel()
                job.set_result(done)
                return job
            self._progress[key] = Progress("queued")
            self._pending[key] = (entry, choice)
            self._queue.put((0 if urgent else 1, next(self._order), key))
            if len(self._threads) < self._workers:
                worker = threading.Thread(target=self._work, name="voiceguide-serve", daemon=True)
                self._threads.append(worker)
                worker.start()
            return job

    def _work(self) -> None:
        """Render queued sessions, most urgent first, until closed."""
        while True:
            _, _, key = self._queue.get()
            if self._cancel.is_set():
                return
            with self._lock:
                params = self._pending.pop(key, None)
                job = self._jobs.get(key)
            if params is None or job is None or not job.set_running_or_notify_cancel():
                continue  # taken by another worker already (it was moved up), or cancelled
            try:
                job.set_result(self._render(*params, key))
            except BaseException as err:  # handed to whoever waits for it
                job.set_exception(err)

    def choice_of(self, key: str) -> tuple[Entry, Choice] | None:
        """Return the routine and choice a key was asked for with (None: never asked for)."""
        with self._lock:
            return self._choices.get(key)

    def progress(self, key: str) -> Progress | None:
        """Return how far the render with this key is (None: never asked for)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                return None
            if job.cancelled():
                return Progress("failed", error="the server is stopping")
            if job.done():
                err = job.exception()
                if err is None:
                    return Progress("ready")
                return Progress("failed", error=str(err).splitlines()[0] if str(err) else "failed")
            return self._progress.get(key, Progress("queued"))

    def ready(self, key: str) -> Rendered | None:
        """Return the rendered session with this key, if its render is complete."""
        with self._lock:
            job = self._jobs.get(key)
        if job is None or not job.done() or failed(job):
            return None
        return job.result()

    def close(self) -> None:
        """Stop the renders running (their temp files removed) and drop those queued."""
        self._cancel.set()
        with self._lock:
            for key in self._pending:
                self._jobs[key].cancel()
            self._pending.clear()
        for _ in self._threads:
            self._queue.put((-1, next(self._order), ""))  # wake each worker to stop
        for worker in self._threads:
            worker.join()

    def _render(self, entry: Entry, choice: Choice, key: str) -> Rendered:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._synthesis:
            session = self._open(entry.routine, choice)
        try:
            total = session.expected_frames()
            self._set(key, Progress("rendering", 0, total))
            year = datetime.date.today().year
            tags: list[Tags] = []

            def make_tags() -> Tags:  # asked once the blocks are encoded
                comment = entry.routine.safety or entry.routine.description
                tags.append(tags_for(session.timeline, comment=comment, year=year))
                return tags[0]

            audio = self.folder / f"{key}.mp3"
            export(
                session.blocks(),
                audio,
                tags=make_tags,
                suffix=".mp3",
                progress=lambda done: self._set(key, Progress("rendering", done, total)),
                cancel=self._cancel,
            )
            timeline = session.timeline
        except VoiceguideError:
            session.close()
            raise
        transcript = self.folder / f"{key}.vtt"
        atomic_write(transcript, webvtt(timeline).encode("utf-8"))
        rendered = Rendered(
            key=key,
            audio=audio,
            transcript=transcript,
            size=audio.stat().st_size,
            total_ms=timeline.total_ms,
            title=entry.routine.title,
            chapters=tags[0].chapters,
            steps=tuple(Chapter(s.title, s.start_ms, s.end_ms) for s in timeline.steps),
            created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        )
        meta = {
            "size": rendered.size,
            "total_ms": rendered.total_ms,
            "title": rendered.title,
            "chapters": [[c.title, c.start_ms, c.end_ms] for c in rendered.chapters],
            "steps": [[c.title, c.start_ms, c.end_ms] for c in rendered.steps],
            "created": rendered.created,
        }
        atomic_write(self.folder / f"{key}.json", json.dumps(meta).encode("utf-8"))
        return rendered

    def _set(self, key: str, progress: Progress) -> None:
        with self._lock:
            self._progress[key] = progress
