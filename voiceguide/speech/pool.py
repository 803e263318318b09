"""Synthesizing many lines at once in a pool of worker processes, one per core."""

from __future__ import annotations

from collections.abc import Iterator

from voiceguide.speech.clip import Clip
from voiceguide.speech.engine import EngineRecipe, SpeechEngine

_WORKER_ENGINE: SpeechEngine | None = None


def _start_worker(recipe: EngineRecipe) -> None:
    global _WORKER_ENGINE  # noqa: PLW0603 - one engine per worker process
    engine = recipe.factory(recipe.engine, recipe.voice, recipe.rate_wpm)
    engine.single_threaded()  # one worker per core: no oversubscription
    _WORKER_ENGINE = engine


def _synthesize_in_worker(text: str) -> Clip:
    assert _WORKER_ENGINE is not None
    return _WORKER_ENGINE.synthesize(text).trimmed()


def synthesize_in_pool(
    recipe: EngineRecipe, workers: int, texts: list[str]
) -> Iterator[tuple[str, Clip]]:
    """Yield each text with its trimmed clip, synthesized by `workers` processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # Longest first, so the workers finish together.
    ordered = sorted(texts, key=len, reverse=True)
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(recipe,),
    ) as pool:
        yield from zip(ordered, pool.map(_synthesize_in_worker, ordered), strict=True)
