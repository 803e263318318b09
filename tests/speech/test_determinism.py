"""The same text gives the same audio, in any process: for both engines, and for a whole export."""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA
from tests.helpers import read_wav_frames
from voiceguide.speech import noise, piper
from voiceguide.speech.cache import ClipCache
from voiceguide.speech.engine import EngineRecipe
from voiceguide.speech.engines import create_engine
from voiceguide.speech.library import SpeechLibrary

LINE = "Let your shoulders drop, and breathe out slowly through your mouth."
SYNTHESIZE = """
import hashlib, sys
from pathlib import Path
from voiceguide.speech.engines import create_engine
engine = create_engine(sys.argv[1], None, 150, model_folder=Path(sys.argv[2]))
clip = engine.synthesize(sys.argv[3])
print(clip.sample_rate, len(clip.samples), hashlib.sha256(clip.samples.tobytes()).hexdigest())
"""


def synthesize_in_a_new_process(engine: str, folder: Path, text: str = LINE) -> str:
    """Synthesize text in a fresh Python process; return its rate, length and checksum."""
    result = subprocess.run(
        [sys.executable, "-c", SYNTHESIZE, engine, str(folder), text],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.strip()


@pytest.mark.parametrize("engine", ["piper", "system"])
def test_a_line_is_the_same_in_two_fresh_processes(engine: str, tmp_path: Path) -> None:
    first = synthesize_in_a_new_process(engine, tmp_path / "one")
    second = synthesize_in_a_new_process(engine, tmp_path / "two")
    rate, frames, _ = first.split()
    assert int(rate) >= 16_000 and int(frames) > int(rate)  # a second or more of speech
    assert first == second


def test_piper_still_varies_from_line_to_line(tmp_path: Path) -> None:
    """The noise is seeded, not removed: another seed gives another reading of the line."""
    assert noise.seed_of("piper|a", LINE) == noise.seed_of("piper|a", LINE)
    assert noise.seed_of("piper|a", LINE) != noise.seed_of("piper|b", LINE)
    code = SYNTHESIZE.replace(
        "clip = engine.synthesize(sys.argv[3])",
        "import numpy as np\n"
        "from voiceguide.speech import noise\n"
        "noise.seed_of = lambda identity, text: 1\n"
        "one = engine.synthesize(sys.argv[3]).samples\n"
        "noise.seed_of = lambda identity, text: 2\n"
        "clip = engine.synthesize(sys.argv[3])\n"
        "print(len(one) != len(clip.samples) or not np.array_equal(one, clip.samples))",
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "piper", str(tmp_path), LINE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.splitlines()[0] == "True"


def test_two_cold_exports_are_the_same_audio(tmp_path: Path) -> None:
    """Separate, empty caches: every line synthesized anew, in the background, while encoding."""
    outputs = []
    for run in ("one", "two"):
        target = tmp_path / f"{run}.wav"
        env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / f"cache-{run}"))
        subprocess.run(
            [sys.executable, "-m", "voiceguide", "export", str(DATA / "routines" / "tiny.toml"),
             "--engine", "piper", "-o", str(target)],
            env=env, capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
        outputs.append(read_wav_frames(target))
    first, second = outputs
    assert len(first) > 20 * 44_100  # the whole session
    assert first.shape == second.shape
    assert np.array_equal(first, second)
    assert hashlib.sha256(first.tobytes()).digest() == hashlib.sha256(second.tobytes()).digest()


@pytest.mark.skipif(not piper.installed(), reason="the piper extra is not installed")
def test_piper_lines_are_the_same_from_any_thread_or_worker(tmp_path: Path) -> None:
    """A cold session's threads (an engine each, side by side, sharing one onnxruntime
    session), the process pool and one engine alone give every line the same samples,
    so the cache never holds two versions of a line under one key."""
    texts = [LINE, "Breathe in.", "Now roll slowly onto your back, knees bent.", "Rest here."]
    make = functools.partial(create_engine, model_folder=tmp_path / "models")
    recipe = EngineRecipe(make, "piper", None, 150)
    side_by_side = SpeechLibrary(
        make("piper", None, 150), ClipCache(tmp_path / "threads"), recipe=recipe, workers=2
    )
    side_by_side.synthesize_in_background(texts)
    pooled = SpeechLibrary(
        make("piper", None, 150), ClipCache(tmp_path / "pool"), recipe=recipe, workers=2
    )
    pooled.prepare(texts)
    alone = make("piper", None, 150)
    for text in texts:
        expected = alone.synthesize(text).trimmed().samples
        assert np.array_equal(side_by_side.clip(text).samples, expected), text
        assert np.array_equal(pooled.clip(text).samples, expected), text
    assert side_by_side.synthesized == pooled.synthesized == len(texts)


@pytest.mark.skipif(not piper.installed(), reason="the piper extra is not installed")
def test_piper_engines_of_a_process_share_one_loaded_model_and_keep_their_own_seed(
    tmp_path: Path,
) -> None:
    import threading

    make = functools.partial(create_engine, model_folder=tmp_path / "models")
    first, second = make("piper", None, 150), make("piper", None, 150)
    texts = ["Breathe in.", "Now roll slowly onto your back, knees bent."]
    results: dict[str, np.ndarray] = {}

    def speak(engine: object, text: str) -> None:
        results[text] = engine.synthesize(text).samples  # type: ignore[attr-defined]

    threads = [
        threading.Thread(target=speak, args=(engine, text))
        for engine, text in zip((first, second), texts, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert first._session is not None and second._session is not None
    assert first._session is not second._session  # a seed each...
    assert first._session.session is second._session.session  # ...one model loaded
    piper._LOADED.forget()  # a model loaded afresh, for the engine alone
    alone = make("piper", None, 150)
    for text in texts:  # at the same time, on one model: the same samples as alone
        assert np.array_equal(results[text], alone.synthesize(text).samples), text
