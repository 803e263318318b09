"""The speech library: a clip for every line, from the cache or synthesized once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

from voiceguide.errors import SpeechError
from voiceguide.speech.cache import ClipCache
from voiceguide.speech.clip import Clip
from voiceguide.speech.engine import EngineRecipe, SpeechEngine
from voiceguide.speech.pool import synthesize_in_pool


class SpeechLibrary:
    """Clips for texts, synthesized once and then served from the cache.

    For engines that set `parallel_synthesis` (the neural voice), missing clips
    are synthesized by a pool of processes, one per core, or, while a session
    plays or encodes, by background threads, one engine each, in the order the
    lines are spoken. The system voice is fast enough alone (about 10 ms a
    line), and pyttsx3's espeak driver cannot synthesize in a forked worker
    once the parent process has started it.
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
        self._queue: list[str] = []  # lines the background threads still have to synthesize
        self._taken: set[str] = set()  # those of them a thread is synthesizing now
        self._failure: BaseException | None = None
        self._stop = False
        self._workers: list[threading.Thread] = []
        self._rest = False  # the threads but the first rest (see pace)
        self._engine = threading.Lock()  # the library's engine is used by one thread at a time

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
        if self.cache is not None:
            clip = self.cache.put(self.cache.key(self.engine.identity, text), clip)
        with self._arrived:  # background threads store side by side
            self.synthesized += 1
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

        A line the background threads are still working on is waited for (an
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
        """Start synthesizing texts, in this order, in background threads.

        Others carry on: `known` says which lines are ready, `wait_for_more`
        waits for the next one. Engines release the GIL while they compute,
        so rendering and encoding go on beside them. An engine that declares
        `parallel_synthesis` gets a thread per worker, each but the first with
        an engine of its own made from the recipe: each thread takes the first
        line no one has taken, so the lines come in the order they are spoken,
        several at a time (a cold export then keeps both cores busy while it
        encodes).
        """
        self._queue = list(texts)
        self._taken = set()
        if not self._queue:
            return
        self._stop = False
        count = 1
        if self.engine.parallel_synthesis and self.recipe is not None:
            count = max(1, min(self.workers, len(self._queue)))
        self._workers = [
            threading.Thread(
                target=self._work,
                args=(index,),
                name="voiceguide-speech" if index == 0 else f"voiceguide-speech-{index + 1}",
                daemon=True,
            )
            for index in range(count)
        ]
        for worker in self._workers:
            worker.start()

    def _synthesizer_for(self, index: int) -> Callable[[str], Clip] | None:
        """Return background thread index's way to synthesize: the library's engine,
        or an engine of its own (None if the recipe no longer makes the same voice)."""
        if index == 0 or self.recipe is None:
            return self._synthesize
        recipe = self.recipe
        engine = recipe.factory(recipe.engine, recipe.voice, recipe.rate_wpm)
        # Its clips are cached under the library's key: only the same voice may make them.
        if engine.identity != self.engine.identity:
            return None
        return lambda text: engine.synthesize(text).trimmed()

    def pace(self, *, rest: bool) -> None:
        """Say whether the lines are wanted soon: while rest is True, only the first
        background thread synthesizes (the others finish their line, then wait), so
        that what consumes the session (an encoder) has the other cores."""
        with self._arrived:
            if rest != self._rest:
                self._rest = rest
                self._arrived.notify_all()

    def _work(self, index: int) -> None:
        try:
            synthesize = self._synthesizer_for(index)
            while synthesize is not None:
                with self._arrived:
                    while index > 0 and self._rest and not self._stop and self._queue:
                        self._arrived.wait()
                    text = next((t for t in self._queue if t not in self._taken), None)
                    if self._stop or text is None:
                        return
                    self._taken.add(text)
                clip = self._store(text, synthesize(text))
                with self._arrived:
                    self._held[text] = clip
                    if text in self._queue:  # not cleared by another thread's failure
                        self._queue.remove(text)
                    self._taken.discard(text)
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
        """Return how many clips are ready; it grows as the background threads work."""
        return len(self._durations)

    def known(self, text: str) -> bool:
        """Return True when text's clip is ready (never waits, never synthesizes)."""
        return text in self._durations

    def busy(self) -> bool:
        """Return True while the background threads have lines left to synthesize."""
        return bool(self._queue)

    def wait_for_more(self, known: int) -> None:
        """Wait until more than `known` clips are ready (see known_count), or all are."""
        with self._arrived:
            while self._queue and self.known_count() <= known and self._failure is None:
                self._arrived.wait()
            self._raise_failure()

    def wait_for(self, text: str) -> None:
        """Wait until text's clip is ready (no wait if it is not queued)."""
        with self._arrived:
            while text in self._queue and self._failure is None:
                self._arrived.wait()
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def stop(self, wait_s: float = 10.0) -> None:
        """Stop the background threads after the lines they are on, and wait for them.

        Waiting matters: a process that exits while a neural engine is in the
        middle of a line aborts ("terminate called without an active exception").
        """
        with self._arrived:
            self._stop = True
            self._queue = [t for t in self._queue if t in self._taken]  # those finish
            self._arrived.notify_all()
        deadline = time.monotonic() + wait_s
        for worker in self._workers:
            if worker is not threading.current_thread():
                worker.join(max(deadline - time.monotonic(), 0.0))

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
