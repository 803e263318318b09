"""'Where am I?' through the real pipeline: espeak-ng, the clip cache, the session's levels."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tests.conftest import DATA
from tests.helpers import FakeOutput
from voiceguide.audio import levels
from voiceguide.audio.format import SAMPLE_RATE, ms_to_frames
from voiceguide.config import Overrides
from voiceguide.env import Environment
from voiceguide.pipeline import SessionOptions, build_session
from voiceguide.routine.library import load_routine_file
from voiceguide.sinks.player import Command, Order, Player, Status
from voiceguide.timeline.model import Kind


class WhereOnce:
    """Asks "where am I?" once the output has reached a frame."""

    def __init__(self, output: FakeOutput, at: int) -> None:
        self.output, self.at, self.asked = output, at, False

    def poll(self, timeout_s: float) -> Order | None:  # noqa: ARG002 - never waits
        if not self.asked and self.output.written_frames >= self.at:
            self.asked = True
            return Command.WHERE
        return None


class PacedOutput(FakeOutput):
    """Takes frames at 20 times real time, so the answer has time to be made while it plays."""

    def write(self, frames: np.ndarray) -> None:
        time.sleep(len(frames) / SAMPLE_RATE / 20)
        super().write(frames)


def _lufs(block: np.ndarray) -> float:
    return levels.loudness(block[:, 0].astype(np.float64) / 32768, SAMPLE_RATE)


def test_the_answer_is_spoken_over_the_session_at_its_level(tmp_path: Path) -> None:
    env = Environment(cache_dir=tmp_path / "cache")
    routine = load_routine_file(DATA / "routines" / "tiny.toml")
    speech = env.speech(env.settings(Overrides(engine="system", music="none")))
    session = build_session(routine, speech, SessionOptions())
    reference = np.concatenate(list(session.blocks()))
    step = session.timeline.steps[0]
    status = Status(
        position_ms=step.start_ms + 1000,
        total_ms=session.timeline.total_ms,
        section=1,
        step=step,
        step_count=2,
        section_end_ms=step.end_ms,
    )
    said: list[str] = []
    aside = session.aside
    session.aside = lambda text: said.append(text) or aside(text)  # type: ignore[method-assign]
    answer = session.where_am_i(status)
    assert said == [
        "Step 1 of 2, Breathe in. A few seconds left in this step, less than a minute in all."
    ]
    text = said[0]
    # Synthesized through the same cache: a new library finds it there.
    again = env.speech(env.settings(Overrides(engine="system", music="none")))
    assert again.cached_duration_ms(text) is not None
    # At the session's level: as loud as the session's own lines, within 0.5 LU.
    words = next(
        s
        for s in session.timeline.segments
        if s.kind is Kind.SPEECH and s.start_ms >= step.start_ms
    )
    spoken = reference[ms_to_frames(words.start_ms) : ms_to_frames(words.end_ms)]
    assert abs(_lufs(answer) - _lufs(spoken)) < 0.5, (_lufs(answer), _lufs(spoken))

    # Played: the session goes on under the answer, which is heard in full.
    output = PacedOutput(2048)
    at = ms_to_frames(step.start_ms + 1000)
    player = Player(
        session.timeline,
        session.blocks,
        output,
        controls=WhereOnce(output, at),
        where=session.where_am_i,
    )
    assert player.play().finished
    heard = output.audio().astype(np.float64)
    assert len(heard) == len(reference)
    added = heard - reference.astype(np.float64) * 1.0
    changed = np.flatnonzero(np.any(added != 0, axis=1))
    assert changed[0] >= at
    # The stretch that changed lasts as long as the answer (plus the duck's ramps).
    played = session.aside(said[-1])  # what was said then (from the cache now)
    assert said[-1].startswith("Step 1 of 2, Breathe in.")
    assert abs((changed[-1] - changed[0]) - len(played)) < ms_to_frames(200)
