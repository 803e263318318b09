"""Sessions that play and encode while their lines are still being synthesized."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.audio.test_music import ebur128
from tests.conftest import DATA
from tests.helpers import FakeOutput, NoiseEngine, ffprobe_duration_ms
from voiceguide.audio.format import ms_to_frames
from voiceguide.audio.music import resolve
from voiceguide.audio.render import render
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.errors import SpeechError
from voiceguide.pipeline import Session, SessionOptions, build_session, settled_ms
from voiceguide.routine.format import parse_routine
from voiceguide.routine.library import load_builtin, load_routine_file
from voiceguide.routine.model import Routine, Variant
from voiceguide.sinks.player import Player
from voiceguide.speech.cache import ClipCache
from voiceguide.speech.clip import Clip
from voiceguide.speech.engine import EngineRecipe
from voiceguide.speech.library import SpeechLibrary
from voiceguide.spoken import estimate_ms
from voiceguide.timeline.compile import compile_timeline
from voiceguide.timeline.model import Kind


class SlowEngine(NoiseEngine):
    """A slow voice (as the neural one is): each line takes a little while, in a thread."""

    parallel_synthesis = True

    def __init__(self, delay_s: float = 0.005) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.threads: set[str] = set()

    def synthesize(self, text: str) -> Clip:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        return super().synthesize(text)


class GatedEngine(SlowEngine):
    """Speaks the first `free` lines at once, then waits for the test to open the gate."""

    def __init__(self, free: int, delay_s: float = 0.0) -> None:
        super().__init__(delay_s)
        self.free = free
        self.gate = threading.Event()

    def synthesize(self, text: str) -> Clip:
        if len(self.calls) >= self.free:
            assert self.gate.wait(10), "the gate was never opened"
        return super().synthesize(text)


STRETCHED = parse_routine(
    """
title = "Stretched"
category = "stretch"

[variants]
short = ["long", "short"]
full = ["long", "short"]

[[steps]]
id = "long"
title = "A step longer than its duration"
text = "One sentence here. Another sentence there. And a third one to make it long."
duration = "4s"
cues = [{ at = "half", say = "Halfway there now." }, { at = "-2s", say = "Nearly done." }]

[[steps]]
id = "short"
title = "Short"
text = "Rest."
duration = "6s"
""",
    source="stretched.toml",
    name="stretched",
)


def _stream(
    routine: Routine, variant: Variant, engine: SlowEngine, cache: Path | None, **options: object
) -> Session:
    library = SpeechLibrary(engine, ClipCache(cache) if cache else None)
    session = build_session(routine, library, SessionOptions(variant, stream=True, **options))  # type: ignore[arg-type]
    assert library.busy(), "the session should be streaming"
    return session


CASES = {
    "short, surf bed": (load_builtin("lower-back"), Variant.SHORT, {"music": resolve("surf")}),
    "fitted to 7 minutes": (load_builtin("lower-back"), Variant.SHORT, {"minutes": 7}),
    "lead-in, resumed at step 2": (
        load_routine_file(DATA / "routines" / "tiny.toml"),
        Variant.FULL,
        {"lead_in_ms": 5000, "start_step": 2, "music": resolve("bowls")},
    ),
    "a step stretched by its cues": (STRETCHED, Variant.FULL, {"music": resolve("drone")}),
    "a sleep ending": (
        load_builtin("lower-back"),
        Variant.SHORT,
        {"music": resolve("surf"), "sleep_ms": 150_000},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_streamed_session_is_the_final_session_sample_for_sample(
    case: str, tmp_path: Path
) -> None:
    routine, variant, options = CASES[case]
    engine = GatedEngine(free=1, delay_s=0.01)
    session = _stream(routine, variant, engine, tmp_path, **options)
    stream = session.blocks()
    blocks = [next(stream)]  # with one line known
    engine.gate.set()
    blocks += list(stream)
    streamed = np.concatenate(blocks)
    assert engine.threads == {"voiceguide-speech"}  # never the renderer's thread

    # The same session made the ordinary way, every line known before it is timed:
    exact_options = SessionOptions(variant, **options)  # type: ignore[arg-type]
    exact = build_session(routine, SpeechLibrary(NoiseEngine(), None), exact_options)
    assert session.timeline == exact.timeline
    # The final plan keeps the session gain chosen when the first block was wanted,
    # and rendering the final timeline with it gives every sample the stream gave.
    final = np.concatenate(list(render(session.timeline, session.mix)))
    assert streamed.shape == final.shape
    assert np.array_equal(streamed, final)
    # That gain came from stand-ins for the lines not yet heard; it is close to the exact one.
    assert abs(session.mix.session_db - exact.mix.session_db) < 0.5


def test_the_first_block_needs_only_the_first_lines(tmp_path: Path) -> None:
    engine = GatedEngine(free=1)
    session = _stream(load_builtin("lower-back"), Variant.FULL, engine, tmp_path)
    blocks = session.blocks()
    first = next(blocks)  # would hang (and fail in the engine) if it needed a second line
    assert len(first) > 0 and engine.calls == ["Lower-back self-massage."]
    engine.gate.set()
    rest = sum(len(b) for b in blocks)
    assert len(first) + rest == ms_to_frames(session.timeline.total_ms)


def test_nothing_that_an_unknown_line_can_move_counts_as_settled() -> None:
    steps = STRETCHED.steps_of(Variant.FULL)
    cue = steps[0].cues[1].say  # the second cue: its length stretches the step
    known = {
        text
        for text in compile_timeline(
            STRETCHED, Variant.FULL, estimate_ms, chime_ms=1500
        ).spoken_texts()
        if text != cue
    }

    def is_known(text: str) -> bool:
        return text in known

    def timeline(cue_ms: int) -> object:
        return compile_timeline(
            STRETCHED,
            Variant.FULL,
            lambda t: cue_ms if t == cue else estimate_ms(t),
            chime_ms=1500,
        )

    short, long = timeline(500), timeline(9000)
    settled = settled_ms(short, is_known, scaled=False)  # type: ignore[arg-type]
    assert settled == settled_ms(long, is_known, scaled=False)  # type: ignore[arg-type]
    # Everything before the settled point is the same whatever the unknown line's length...
    before = [s for s in short.segments if s.end_ms <= settled]  # type: ignore[attr-defined]
    assert before == [s for s in long.segments if s.end_ms <= settled]  # type: ignore[attr-defined]
    # ...and the first cue, which the stretch moves, is not before it.
    first_cue = next(s for s in short.segments if s.kind is Kind.CUE)  # type: ignore[attr-defined]
    assert first_cue.start_ms >= settled


def test_player_plays_a_streaming_session_and_skips_by_the_final_timeline(
    tmp_path: Path,
) -> None:
    engine = SlowEngine(0.01)
    session = _stream(load_builtin("lower-back"), Variant.SHORT, engine, tmp_path)
    output = FakeOutput(latency_frames=0)
    statuses = []
    player = Player(
        lambda: session.timeline,
        session.blocks,
        output,
        on_status=statuses.append,
        preview=session.preview,
    )
    assert player.status().total_ms > 0  # shown from the preview, without waiting
    outcome = player.play()
    assert outcome.finished
    expected = np.concatenate(list(render(session.timeline, session.mix)))
    assert np.array_equal(output.audio(), expected)


def test_closing_a_session_stops_synthesis_after_the_current_line(tmp_path: Path) -> None:
    engine = SlowEngine(0.05)
    session = _stream(load_builtin("lower-back"), Variant.FULL, engine, tmp_path)
    next(session.blocks())
    session.close()
    deadline = time.monotonic() + 5
    while session.speech.busy() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not session.speech.busy()
    spoken = len(engine.calls)
    time.sleep(0.2)
    assert len(engine.calls) == spoken < 20  # of 52 lines


def test_a_failing_engine_fails_the_stream(tmp_path: Path) -> None:
    class Broken(SlowEngine):
        def synthesize(self, text: str) -> Clip:
            if len(self.calls) >= 3:
                raise RuntimeError("voice crashed")
            return super().synthesize(text)

    session = _stream(load_builtin("lower-back"), Variant.SHORT, Broken(), tmp_path)
    with pytest.raises(RuntimeError, match="voice crashed"):
        for _ in session.blocks():
            pass


@pytest.mark.slow
def test_a_cold_neural_export_streams_to_the_same_length_and_loudness(tmp_path: Path) -> None:
    """Through the real pipeline: Piper synthesizing while ffmpeg encodes."""
    env = Environment(cache_dir=tmp_path / "cache")
    target = tmp_path / "cold.mp3"
    runner = CliRunner()
    args = ["lower-back", "--short", "--engine", "piper"]
    result = runner.invoke(app, ["export", *args, "--music", "surf", "-o", str(target)], obj=env)
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["show", *args, "--json"], obj=env)  # now from the cache
    total_ms = json.loads(shown.stdout)["total_ms"]
    assert abs(ffprobe_duration_ms(target) - total_ms) < 60  # MP3 padding
    integrated, peak = ebur128(target)
    assert abs(integrated - (-16.0)) <= 0.5, integrated
    assert peak <= -1.0, peak


def test_a_closed_session_synthesizes_nothing_more(tmp_path: Path) -> None:
    engine = SlowEngine(0.02)
    session = _stream(load_builtin("lower-back"), Variant.FULL, engine, tmp_path)
    next(session.blocks())
    last = session.preview().spoken_texts()[-1]
    session.close()
    spoken = len(engine.calls)
    with pytest.raises(SpeechError, match="stopped"):
        session.speech.clip(last)  # e.g. a renderer still running while the command ends
    assert len(engine.calls) == spoken


class HeldEngine(NoiseEngine):
    """A voice whose lines each wait for the test to release them; all its engines share a log."""

    parallel_synthesis = True

    def __init__(self, shared: threading.Condition, started: list[str], released: set[str]):
        super().__init__()
        self.shared, self.started, self.released = shared, started, released

    def synthesize(self, text: str) -> Clip:
        with self.shared:
            self.started.append(text)
            self.shared.notify_all()
            assert self.shared.wait_for(lambda: text in self.released or "*" in self.released, 10)
        return super().synthesize(text)


def test_a_cold_stream_synthesizes_two_lines_at_a_time_in_the_order_spoken(
    tmp_path: Path,
) -> None:
    shared, started, released = threading.Condition(), [], set()
    engines: list[HeldEngine] = []

    def make(engine: str, voice: str | None, rate: int) -> HeldEngine:
        engines.append(HeldEngine(shared, started, released))
        return engines[-1]

    routine = load_builtin("lower-back")
    recipe = EngineRecipe(make, "fake", None, 150)
    library = SpeechLibrary(make("fake", None, 150), ClipCache(tmp_path), recipe=recipe, workers=2)
    session = build_session(routine, library, SessionOptions(Variant.FULL, stream=True))
    texts = list(dict.fromkeys(session.preview().spoken_texts()))
    blocks: list[np.ndarray] = []
    consumer = threading.Thread(target=lambda: blocks.extend(session.blocks()))
    consumer.start()
    with shared:
        assert shared.wait_for(lambda: len(started) == 1, 10)
        shared.wait(0.2)
        assert started == texts[:1]  # the first line alone: the first sound waits for it
        released.add(texts[0])
        shared.notify_all()
        assert shared.wait_for(lambda: len(started) == 3, 10)
        assert set(started[1:]) == set(texts[1:3])  # then two lines side by side
        for done in range(3, 7):  # as each line is done, the next one not begun is begun
            released.add(started[done - 2])
            shared.notify_all()
            assert shared.wait_for(lambda n=done: len(started) == n + 1, 10)  # type: ignore[misc]
            assert started[done] == texts[done]
        released.add("*")
        shared.notify_all()
    consumer.join(30)
    streamed = np.concatenate(blocks)
    assert sorted(started) == sorted(texts)  # each line once
    assert {id(e) for e in engines if e.calls} == {id(e) for e in engines[:2]}  # two engines
    # The same audio as the same lines synthesized one by one.
    alone = build_session(routine, SpeechLibrary(NoiseEngine(), None), SessionOptions(Variant.FULL))
    assert session.timeline == alone.timeline
    assert np.array_equal(streamed, np.concatenate(list(render(session.timeline, session.mix))))
    for text in texts:
        assert np.array_equal(library.clip(text).samples, NoiseEngine().synthesize(text).samples)


@pytest.mark.parametrize("case", ["short, surf bed", "lead-in, resumed at step 2"])
def test_a_cold_stream_is_the_same_audio_however_many_lines_are_ready_first(
    case: str, tmp_path: Path
) -> None:
    """With lines synthesized side by side, more or fewer of them can be ready when the
    first block is wanted: the session gain, chosen then, must not depend on it."""
    routine, variant, options = CASES[case]
    outputs = []
    for ready in (1, 2, 6, 10_000):  # 10,000: every line, before the first block is wanted
        engine = GatedEngine(free=ready)
        library = SpeechLibrary(engine, ClipCache(tmp_path / str(ready)))
        session = build_session(routine, library, SessionOptions(variant, stream=True, **options))  # type: ignore[arg-type]
        deadline = time.monotonic() + 10
        while session.speech.known_count() < ready and session.speech.busy():
            assert time.monotonic() < deadline, "the engine stopped"
            time.sleep(0.005)
        stream = session.blocks()
        blocks = [next(stream)]
        engine.gate.set()
        outputs.append(np.concatenate(blocks + list(stream)))
    assert all(np.array_equal(outputs[0], other) for other in outputs[1:])


def _held_library(
    tmp_path: Path,
) -> tuple[SpeechLibrary, list[HeldEngine], set[str], threading.Condition]:
    shared: threading.Condition = threading.Condition()
    started: list[str] = []
    released: set[str] = set()
    engines: list[HeldEngine] = []

    def make(engine: str, voice: str | None, rate: int) -> HeldEngine:
        engines.append(HeldEngine(shared, started, released))
        return engines[-1]

    recipe = EngineRecipe(make, "fake", None, 150)
    library = SpeechLibrary(make("fake", None, 150), ClipCache(tmp_path), recipe=recipe, workers=2)
    return library, engines, released, shared


def test_while_the_session_has_audio_enough_ahead_one_thread_synthesizes(tmp_path: Path) -> None:
    library, engines, released, shared = _held_library(tmp_path)
    texts = [f"Line number {n}." for n in range(8)]
    library.pace(rest=True)
    library.synthesize_in_background(texts)
    with shared:
        for text in texts[:4]:  # one line at a time, in order: the second thread rests
            assert shared.wait_for(lambda t=text: t in engines[0].started, 10)  # type: ignore[misc]
            time.sleep(0.05)
            assert len(engines[0].started) == texts.index(text) + 1
            released.add(text)
            shared.notify_all()
    library.pace(rest=False)  # the lines are wanted: both threads again
    with shared:
        assert shared.wait_for(lambda: len(engines[0].started) == 6, 10)
        assert set(engines[0].started[4:]) == set(texts[4:6])  # taken side by side again
        released.add("*")
        shared.notify_all()
    library.wait_for_more(len(texts) - 1)
    assert not library.busy()
    assert sorted(t for e in engines[:2] for t in e.calls) == sorted(texts)
    assert all(t in engines[0].calls for t in texts[:4])  # the first engine alone, until then


def test_a_stream_lets_a_thread_rest_while_rendered_audio_waits_for_its_consumer(
    tmp_path: Path,
) -> None:
    paced: list[bool] = []

    class Watched(SpeechLibrary):
        def pace(self, *, rest: bool) -> None:
            paced.append(rest)
            super().pace(rest=rest)

    library = Watched(SlowEngine(delay_s=0.02), ClipCache(tmp_path))
    session = build_session(
        load_builtin("lower-back"), library, SessionOptions(Variant.FULL, stream=True)
    )
    blocks = session.blocks()
    while library.busy():  # a slow consumer: lines pile up ahead of it
        next(blocks)
        time.sleep(0.05)
    assert paced[0] is True  # the first line alone: the first sound waits for it
    both = paced.index(False)  # then every thread, while the renderer waits for lines
    assert True in paced[both:]  # and one, once far ahead of its consumer
    for _ in blocks:
        pass
