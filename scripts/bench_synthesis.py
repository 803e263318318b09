#!/usr/bin/env python3
"""Cold synthesis time of the full lower-back session, per engine, with and without the pool.

    .venv/bin/python scripts/bench_synthesis.py [--runs N]

A benchmark, not a test. Each measurement runs in a fresh process with an
empty clip cache, and includes loading the engine (and the worker processes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one(engine: str, workers: int) -> float:
    """Synthesize every line of the full lower-back session; return seconds taken."""
    from voiceguide.routine.library import load_builtin
    from voiceguide.routine.model import Variant
    from voiceguide.speech.cache import ClipCache
    from voiceguide.speech.engine import EngineRecipe
    from voiceguide.speech.engines import create_engine
    from voiceguide.speech.library import SpeechLibrary
    from voiceguide.timeline.script import spoken_texts

    texts = spoken_texts(load_builtin("lower-back"), Variant.FULL)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        speech = create_engine(engine, None, 150)
        library = SpeechLibrary(
            speech,
            ClipCache(Path(folder)),
            recipe=EngineRecipe(create_engine, engine, None, 150),
            workers=workers,
        )
        library.prepare(texts)
        took = time.perf_counter() - started
        assert library.synthesized == len(texts)
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "WORKERS"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one:
        print(one(options.one[0], int(options.one[1])))
        return 0
    from voiceguide.routine.library import load_builtin
    from voiceguide.routine.model import Variant
    from voiceguide.timeline.script import spoken_texts

    lines = len(spoken_texts(load_builtin("lower-back"), Variant.FULL))
    cores = os.cpu_count() or 1
    print(
        f"cold synthesis of the full lower-back session ({lines} lines), {options.runs} runs, "
        f"median seconds"
    )
    for engine in ("system", "piper"):
        for workers in (1, cores):
            if engine == "system" and workers > 1:
                print(f"  {engine:<7} pool of {workers}: not used (see speech/library.py)")
                continue
            times = [
                float(
                    subprocess.run(
                        [sys.executable, __file__, "--one", engine, str(workers)],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                )
                for _ in range(options.runs)
            ]
            label = "no pool" if workers == 1 else f"pool of {workers}"
            print(
                f"  {engine:<7} {label:<10} {statistics.median(times):6.2f} s"
                f"  (min {min(times):.2f}, max {max(times):.2f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
