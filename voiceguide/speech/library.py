"""The speech library: a clip for every line, from the cache or synthesized once."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from voiceguide.errors import SpeechError
from voiceguide.speech.cache import ClipCache
from voiceguide.speech.clip import Clip
from voiceguide.speech.engine import EngineRecipe, SpeechEngine
from voiceguide.speech.pool import synthesize_in_pool


class SpeechLibrary:
    """Clips for texts, synthesized once and then served from the cache.

    For engines that set `parallel_synthesis` (the neural voice), missing clips
    are synthesized by a pool of processes, one per core. The system voice is
    fast enough alone (about 10 ms a line), and pyttsx3's espeak driver cannot
    synthesize in a forked worker once the parent process has started it.
    """

    def __init__(
        self,
        engine: SpeechEngine,
        cache: ClipCache | None,
        *,
        recipe: EngineRecipe | None = None,
        workers: int = 1,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.recipe = recipe
        self.workers = workers
        self._durations: dict[str, int] = {}
        self.synthesized = 0  # how many clips this library had to synthesize
        # Clips kept in memory for the run: those synthesized in the background
        # (never read back from the cache) and those the cache could not save.
        self._held: dict[str, Clip] = {}
        self._arrived = threading.Condition()
        self._queue: list[str] = []  # lines the background thread still has to synthesize
        self._failure: BaseException | None = None
        self._stop = False
        self._worker: threading.Thread | None = None
        self._engine = threading.Lock()  # engines are used by one thread at a time

    def _cached(self, text: str) -> Clip | None:
        if text in self._held:
            return self._held[text]
        if self.cache is None:
            return None
        clip = self.cache.get(self.cache.key(self.engine.identity, text))
        if clip is not None:
            self._durations[text] = clip.duration_ms
        return clip

    def _store(self, text: str, clip: Clip) -> Clip:
        """Cache a new clip; return the one to use (another process's, if it cached one first)."""
        self.synthesized += 1
        if self.cache is not None:
            clip = self.cache.put(self.cache.key(self.engine.identity, text), clip)
        if self.cache is None or self.cache.folder.problem is not None:
            self._held[text] = clip
        self._durations[text] = clip.duration_ms
        return clip

    def cache_key(self, text: str) -> str | None:
        """Return the cache key of text's clip (None without a cache)."""
        return None if self.cache is None else self.cache.key(self.engine.identity, text)

    def cached_duration_ms(self, text: str) -> int | None:
        """Return the length of text's clip if it is known or cached; never synthesize."""
        if text in self._durations:
            return self._durations[text]
        clip = self._cached(text)
        return None if clip is None else clip.duration_ms

    def clip(self, text: str) -> Clip:
        """Return the trimmed clip for text, synthesizing it if it is not cached.

        A line the background thread is still working on is waited for (the
        engine is never used by two threads at once).
        """
        self.wait_for(text)
        cached = self._cached(text)
        if cached is not None:
            return cached
        if self._stop:  # stopped (the command is ending): synthesize nothing more
            raise SpeechError("speech synthesis was stopped")
        return self._store(text, self._synthesize(text))

    def _synthesize(self, text: str) -> Clip:
        with self._engine:
            return self.engine.synthesize(text).trimmed()

    def aside(self, text: str) -> Clip:
        """Return the clip of a line that is not in the session (from the cache, or made now).

        Safe beside the background thread: the engine is used by one thread at a time.
        """
        cached = self._cached(text)
        if cached is not None:
            return cached
        clip = self._synthesize(text)
        if self.cache is not None:
            clip = self.cache.put(self.cache.key(self.engine.identity, text), clip)
        return clip

    def missing(self, texts: Iterable[str]) -> list[str]:
        """Return the distinct texts that have no clip yet, in order."""
        return [
            text
            for text in dict.fromkeys(texts)
            if text not in self._durations and self._cached(text) is None
        ]

    def synthesize_in_background(self, texts: list[str]) -> None:
        """Start synthesizing texts, in this order, in a background thread.

        Others carry on: `known` says which lines are ready, `wait_for_more`
        waits for the next one. Engines release the GIL while they compute,
        so rendering and encoding go on beside it.
        """
        self._queue = list(texts)
        if not self._queue:
            return
        self._stop = False
        self._worker = threading.Thread(target=self._work, name="voiceguide-speech", daemon=True)
        self._worker.start()

    def _work(self) -> None:
        try:
            while True:
                with self._arrived:
                    if self._stop or not self._queue:
                        return
                    text = self._queue[0]
                clip = self._store(text, self._synthesize(text))
                with self._arrived:
                    self._held[text] = clip
                    self._queue.pop(0)
                    self._arrived.notify_all()
        except BaseException as err:  # handed to whoever waits
            with self._arrived:
                self._failure = err
                self._queue.clear()
                self._arrived.notify_all()

    def remember_lengths(self, lengths: Mapping[str, int]) -> None:
        """Take these lines' lengths as known without reading their clips (a session
        manifest's, whose clip files are unchanged); the clips are read when wanted."""
        self._durations.update(lengths)

    def known_duration_ms(self, text: str) -> int | None:
        """Return the length of text's clip if it is ready (never waits, never synthesizes)."""
        return self._durations.get(text)

    def known_count(self) -> int:
        """Return how many clips are ready; it grows as the background thread works."""
        return len(self._durations)

    def known(self, text: str) -> bool:
        """Return True when text's clip is ready (never waits, never synthesizes)."""
        return text in self._durations

    def busy(self) -> bool:
        """Return True while the background thread has lines left to synthesize."""
        return bool(self._queue)

    def wait_for_more(self, known: int) -> None:
        """Wait until more than `known` clips are ready (see known_count), or all are."""
        with self._arrived:
            while self._queue and self.known_count() <= known and self._failure is None:
                self._arrived.wait()
            self._raise_failure()

    def wait_for(self, text: str) -> None:
        """Wait until the background thread is past text (no wait if it is not queued)."""
        with self._arrived:
            while text in self._queue and self._failure is None:
                self._arrived.wait()
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def stop(self, wait_s: float = 10.0) -> None:
        """Stop the background thread after the line it is on, and wait for it.

        Waiting matters: a process that exits while a neural engine is in the
        middle of a line aborts ("terminate called without an active exception").
        """
        with self._arrived:
            self._stop = True
            del self._queue[1:]  # the line being synthesized now finishes
            self._arrived.notify_all()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(wait_s)

    def prepare(self, texts: Iterable[str]) -> None:
        """Make sure every text has a clip (synthesize what is missing)."""
        missing = self.missing(texts)
        pooled = self.engine.parallel_synthesis
        if pooled and self.recipe and self.workers > 1 and len(missing) >= 2 * self.workers:
            for text, clip in synthesize_in_pool(self.recipe, self.workers, missing):
                self._store(text, clip)
            return
        for text in missing:
            self.clip(text)

    def duration_ms(self, text: str) -> int:
        """Return the length of text's clip in milliseconds."""
        if text not in self._durations:
            self.clip(text)
        return self._durations[text]
