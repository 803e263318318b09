"""The player with a fake clock, fake controls and a fake sound output."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from tests.helpers import FakeEngine, FakeOutput, fake_measure, read_wav_frames
from voiceguide.audio.format import Block, ms_to_frames
from voiceguide.audio.mix import plan_mix
from voiceguide.audio.music import resolve
from voiceguide.audio.render import render
from voiceguide.cli import app
from voiceguide.cli.play import _status_line
from voiceguide.env import Environment
from voiceguide.errors import ExitCode
from voiceguide.pipeline import load_chime
from voiceguide.routine.library import load_routine_file
from voiceguide.routine.model import Variant
from voiceguide.sinks.outputs import AudioOutput
from voiceguide.sinks.player import (
    CHUNK_FRAMES,
    PAUSE_TONE_GAP_MS,
    Command,
    Interrupted,
    MergedControls,
    Order,
    Player,
    Seek,
    Status,
    Tones,
)
from voiceguide.timeline.compile import compile_timeline
from voiceguide.timeline.model import Timeline

LATENCY = 2048
PAUSE_TONE = np.full((300, 2), 7, dtype=np.int16)
RESUME_TONE = np.full((200, 2), 9, dtype=np.int16)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedControls:
    """Issues each command once the output has been written up to a frame.

    Commands with frame None are given while the player waits (paused).
    """

    def __init__(
        self,
        output: FakeOutput,
        clock: FakeClock,
        script: list[tuple[int | None, Order, float]],
    ) -> None:
        self.output = output
        self.clock = clock
        self.script = list(script)  # (frame, command, seconds to advance the clock first)
        self.fired_at: list[int] = []  # frames written when each command was given

    def poll(self, timeout_s: float) -> Order | None:
        if not self.script:
            return None
        frame, command, advance = self.script[0]
        if (frame is None and timeout_s > 0) or (
            frame is not None and self.output.written_frames >= frame
        ):
            self.script.pop(0)
            self.clock.now += advance
            self.fired_at.append(self.output.written_frames)
            return command
        return None


@pytest.fixture(scope="module")
def session() -> tuple[Timeline, np.ndarray]:
    routine = load_routine_file(DATA / "golden" / "cues.toml")
    chime = load_chime()
    timeline = compile_timeline(routine, Variant.FULL, fake_measure, chime_ms=chime.duration_ms)
    reference = np.concatenate(
        list(render(timeline, plan_mix(timeline, FakeEngine().synthesize, chime)))
    )
    return timeline, reference


def make_player(
    timeline: Timeline,
    script: list[tuple[int | None, Order, float]],
    *,
    tones: bool = False,
    where: Callable[[Status], Block] | None = None,
) -> tuple[Player, FakeOutput, list[Status], ScriptedControls]:
    chime = load_chime()
    engine = FakeEngine()
    output = FakeOutput(LATENCY)
    clock = FakeClock()
    statuses: list[Status] = []

    mix = plan_mix(timeline, engine.synthesize, chime)

    def blocks_from(frame: int) -> Iterator[Block]:
        return render(timeline, mix, start_frame=frame)

    controls = ScriptedControls(output, clock, script)
    player = Player(
        timeline,
        blocks_from,
        output,
        controls=controls,
        clock=clock,
        on_status=statuses.append,
        tones=Tones(PAUSE_TONE, RESUME_TONE) if tones else None,
        where=where,
    )
    return player, output, statuses, controls


def test_plays_every_frame_in_order(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, reference = session
    player, output, statuses, _controls = make_player(timeline, [])
    outcome = player.play()
    assert outcome.finished
    assert np.array_equal(output.audio(), reference)
    assert statuses[-1].left_ms == 0


def test_pause_stops_at_once_and_resume_continues_where_it_stopped(
    session: tuple[Timeline, np.ndarray],
) -> None:
    timeline, reference = session
    at = 300_000
    player, output, statuses, controls = make_player(
        timeline, [(at, Command.TOGGLE, 0.0), (None, Command.TOGGLE, 30.0)], tones=True
    )
    assert player.play().finished
    heard = output.audio()
    # The frames queued in the device when the key came are dropped, not played,
    # and the key is seen within one chunk (1024 frames, 23 ms) of being pressed.
    assert controls.fired_at[0] - at < 1024
    stop = controls.fired_at[0] - LATENCY
    assert np.array_equal(heard[:stop], reference[:stop])
    # A moment of silence, then the pause tone, then (on resume) the resume tone.
    gap = ms_to_frames(PAUSE_TONE_GAP_MS)
    assert np.all(heard[stop : stop + gap] == 0)
    stop += gap
    tones = len(PAUSE_TONE) + len(RESUME_TONE)
    assert np.all(heard[stop : stop + len(PAUSE_TONE)] == 7)
    assert np.all(heard[stop + len(PAUSE_TONE) : stop + tones] == 9)
    assert np.array_equal(heard[stop + tones :], reference[stop - gap :])
    assert any(s.paused for s in statuses)


def test_next_jumps_to_the_next_step(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, reference = session
    first = timeline.steps[0]
    at = ms_to_frames(first.start_ms) + 100_000
    player, output, _, controls = make_player(timeline, [(at, Command.NEXT, 0.0)])
    player.play()
    heard = output.audio()
    stop = controls.fired_at[0] - LATENCY
    second = ms_to_frames(timeline.steps[1].start_ms)
    assert np.array_equal(heard, np.concatenate([reference[:stop], reference[second:]]))


def test_next_from_the_intro_goes_to_step_one(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, reference = session
    player, output, _, _controls = make_player(timeline, [(10_240, Command.NEXT, 0.0)])
    player.play()
    first = ms_to_frames(timeline.steps[0].start_ms)
    assert np.array_equal(output.audio()[10_240 - LATENCY :], reference[first:])


def test_back_restarts_the_step_and_twice_goes_to_the_previous(
    session: tuple[Timeline, np.ndarray],
) -> None:
    timeline, reference = session
    second = ms_to_frames(timeline.steps[1].start_ms)
    first = ms_to_frames(timeline.steps[0].start_ms)
    at = second + 50_000
    # Back once, then again 1.5 s later (within 2 s): step 2 restarts, then step 1.
    player, output, _, controls = make_player(
        timeline, [(at, Command.BACK, 0.0), (at + 30_000, Command.BACK, 1.5)]
    )
    player.play()
    heard = output.audio()
    stop1 = controls.fired_at[0] - LATENCY
    assert np.array_equal(heard[:stop1], reference[:stop1])
    rest = heard[stop1:]
    # After the first back, playback restarted at step 2's start...
    assert np.array_equal(rest[:10_000], reference[second : second + 10_000])
    # ...and the second back, soon after, went to the start of step 1.
    assert np.array_equal(rest[-(len(reference) - first) :], reference[first:])


def test_back_twice_slowly_restarts_the_same_step(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, reference = session
    second = ms_to_frames(timeline.steps[1].start_ms)
    at = second + 50_000
    player, output, _, _controls = make_player(
        timeline, [(at, Command.BACK, 0.0), (at + 30_000, Command.BACK, 2.5)]
    )
    player.play()
    tail = output.audio()[-(len(reference) - second) :]
    assert np.array_equal(tail, reference[second:])


def test_quit_reports_where_it_stopped(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, reference = session
    at = ms_to_frames(timeline.steps[1].start_ms) + 20_480
    player, output, _, _controls = make_player(timeline, [(at, Command.QUIT, 0.0)])
    outcome = player.play()
    assert not outcome.finished
    assert outcome.section == 2
    heard = output.audio()
    assert np.array_equal(heard, reference[: len(heard)])
    assert abs(outcome.position_ms - len(heard) * 1000 / 44_100) < 1


def test_quit_while_paused(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, _ = session
    player, _, _, _ = make_player(
        timeline, [(50_000, Command.TOGGLE, 0.0), (None, Command.QUIT, 5.0)]
    )
    assert not player.play().finished


def test_ctrl_c_silences_and_carries_the_position(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, _ = session
    player, output, _, _controls = make_player(timeline, [])
    original = output.write
    calls = 0

    def interrupting(frames: Block) -> None:
        nonlocal calls
        calls += 1
        if calls == 400 * 1024 // CHUNK_FRAMES:  # 400 chunks of 1024 frames
            raise KeyboardInterrupt
        original(frames)

    output.write = interrupting  # type: ignore[method-assign]
    with pytest.raises(Interrupted) as stop:
        player.play()
    assert output.discards == 1
    assert stop.value.outcome.section == 1


def test_status_line_text(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, _ = session
    step = timeline.steps[2]
    status = Status(
        position_ms=step.start_ms + 40_000,
        total_ms=step.start_ms + 40_000 + 585_000,
        section=3,
        step=step,
        step_count=3,
        section_end_ms=step.start_ms + 120_000,
    )
    assert _status_line(status) == "step 3/3 · Forward fold · 1:20 left in step · 9:45 left"
    paused = Status(0, 60_000, 0, None, 3, 9_000, paused=True)
    assert (
        _status_line(paused)
        == "paused (space resumes) · introduction · 0:09 left in introduction · 1:00 left"
    )


class InterruptingOutput(FakeOutput):
    """Raises KeyboardInterrupt (as Ctrl-C would) once `stop_at` frames are written."""

    def __init__(self, stop_at: int) -> None:
        super().__init__(LATENCY)
        self.stop_at = stop_at

    def write(self, frames: Block) -> None:
        if self.written_frames >= self.stop_at:
            raise KeyboardInterrupt
        super().write(frames)


def test_cli_ctrl_c_saves_the_resume_point_and_resume_starts_there(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    from dataclasses import replace

    from voiceguide.pipeline import SessionOptions, build_session
    from voiceguide.routine.library import load_builtin

    routine = load_builtin("lower-back")
    speech = fake_env.speech(fake_env.settings())
    timeline = build_session(routine, speech, SessionOptions(Variant.SHORT)).timeline
    step3 = timeline.steps[2]
    outputs: list[FakeOutput] = []

    def interrupting(backend: str, device: str) -> AudioOutput:
        outputs.append(InterruptingOutput(ms_to_frames(step3.start_ms + 5_000)))
        return outputs[-1]

    env = replace(fake_env, open_output=interrupting, state_dir=tmp_path / "state")
    stopped = runner.invoke(app, ["play", "lower-back", "--short"], obj=env)
    assert stopped.exit_code == ExitCode.INTERRUPTED
    assert stopped.stderr == "interrupted\n"
    assert outputs[-1].closed

    def normal(backend: str, device: str) -> AudioOutput:
        outputs.append(FakeOutput(LATENCY))
        return outputs[-1]

    env = replace(env, open_output=normal)
    resumed = runner.invoke(app, ["play", "lower-back", "--short", "--resume"], obj=env)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout.startswith("finished Lower-back self-massage (short")
    options = SessionOptions(Variant.SHORT, start_step=3, music=resolve(routine.music or "none"))
    expected = build_session(routine, speech, options)
    reference = np.concatenate(list(expected.blocks()))
    assert np.array_equal(outputs[-1].audio(), reference)
    # The resumed session opens with the title and safety notes, then step 3.
    assert expected.timeline.steps[0].index == 3
    again = runner.invoke(app, ["play", "lower-back", "--short", "--resume"], obj=env)
    assert "no saved position" in again.stderr  # finishing clears the resume point


def test_cli_plays_the_same_samples_as_export(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    from dataclasses import replace

    output = FakeOutput(LATENCY)
    env = replace(fake_env, open_output=lambda b, d: output, state_dir=tmp_path)
    played = runner.invoke(app, ["play", "lower-back", "--short"], obj=env)
    assert played.exit_code == 0, played.output
    wav = tmp_path / "s.wav"
    exported = runner.invoke(app, ["export", "lower-back", "--short", "-o", str(wav)], obj=env)
    assert exported.exit_code == 0
    samples = read_wav_frames(wav)
    assert np.array_equal(output.audio(), samples)


def test_cli_lead_in_comes_before_the_session(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    from dataclasses import replace

    outputs = [FakeOutput(LATENCY), FakeOutput(LATENCY)]
    env = replace(fake_env, open_output=lambda b, d: outputs.pop(0), state_dir=tmp_path)
    plain, led = outputs
    args = ["play", "lower-back", "--short", "--music", "none"]
    assert runner.invoke(app, args, obj=env).exit_code == 0
    assert runner.invoke(app, [*args, "--lead-in", "10"], obj=env).exit_code == 0
    # 10 s more, and the invitation is heard in the first seconds, before the title.
    assert len(led.audio()) == len(plain.audio()) + ms_to_frames(10_000)
    first_sound = np.flatnonzero(np.abs(led.audio()[:, 0]) > 100)[0]
    assert first_sound < ms_to_frames(1_000)


def test_bad_lead_in_is_a_usage_error(runner: CliRunner, fake_env: Environment) -> None:
    result = runner.invoke(app, ["play", "lower-back", "--lead-in", "soon"], obj=fake_env)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith('error: --lead-in "soon" is not a duration')


def test_device_problems_are_named_plainly() -> None:
    from voiceguide.sinks.outputs import _device_problem

    busy = _device_problem("default", "Device or resource busy [default]")
    assert str(busy).startswith("the sound device 'default' is busy")
    missing = _device_problem("hw:3", "No such file or directory [hw:3]")
    assert str(missing).startswith("no sound device found")
    other = _device_problem("default", "Invalid argument")
    assert "cannot play (Invalid argument)" in str(other)
    for error in (busy, missing, other):
        assert error.exit_code == ExitCode.DEVICE
        assert str(error).endswith("make a file with `voiceguide export`")


def test_seek_moves_to_a_place_in_the_session(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, reference = session
    at, to = 100_000, ms_to_frames(30_000)
    player, output, statuses, controls = make_player(timeline, [(at, Seek(30_000), 0.0)])
    assert player.play().finished
    stop = controls.fired_at[0] - LATENCY
    assert np.array_equal(output.audio(), np.concatenate([reference[:stop], reference[to:]]))
    # The report after the jump says so (MPRIS sends Seeked on it).
    moved = [s for s in statuses if s.moved]
    assert len(moved) == 1 and abs(moved[0].position_ms - 30_000) < 100


def test_relative_seek_and_its_limits(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, reference = session
    at = 200_000
    player, output, _, controls = make_player(
        timeline, [(at, Seek(-1_000_000, relative=True), 0.0)]
    )
    player.play()
    stop = controls.fired_at[0] - LATENCY
    # Back past the start: from the start again.
    assert np.array_equal(output.audio(), np.concatenate([reference[:stop], reference]))
    player, output, _, _ = make_player(timeline, [(at, Seek(10_000, relative=True), 0.0)])
    player.play()
    stop = controls.fired_at[0] - LATENCY
    assert np.array_equal(
        output.audio(), np.concatenate([reference[:stop], reference[stop + 441_000 :]])
    )


def test_pause_and_play_are_not_toggles(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, reference = session
    # PLAY while playing: nothing. PAUSE, PAUSE again (nothing), then PLAY resumes.
    player, output, statuses, _ = make_player(
        timeline,
        [
            (50_000, Command.PLAY, 0.0),
            (80_000, Command.PAUSE, 0.0),
            (None, Command.PAUSE, 1.0),
            (None, Command.PLAY, 1.0),
        ],
    )
    assert player.play().finished
    assert len(output.audio()) == len(reference)
    assert [s.paused for s in statuses].count(True) == 1


def test_where_am_i_is_spoken_over_the_ducked_session(
    session: tuple[Timeline, np.ndarray],
) -> None:
    timeline, reference = session
    answer = np.full((44_100, 2), 1000, dtype=np.int16)
    asked: list[Status] = []

    def where(status: Status) -> Block:
        asked.append(status)
        time.sleep(0.05)  # made in a background thread; playback goes on meanwhile
        return answer

    at = ms_to_frames(timeline.steps[1].start_ms) + 50_000
    player, output, _, controls = make_player(timeline, [(at, Command.WHERE, 0.0)], where=where)
    assert player.play().finished
    heard = output.audio().astype(np.int32)
    assert len(heard) == len(reference)  # nothing skipped: the session goes on under it
    assert asked[0].step is not None and asked[0].step.index == 2
    difference = heard - reference.astype(np.int32)
    changed = np.flatnonzero(np.any(difference != 0, axis=1))
    assert len(changed) > 0 and changed[0] >= controls.fired_at[0]
    # The ramps and the answer: no longer than the answer plus two 80 ms ramps.
    assert changed[-1] - changed[0] <= len(answer) + 2 * ms_to_frames(80) + 1
    # In the middle of the answer, the session is 14 dB down under it.
    middle = changed[0] + ms_to_frames(80) + 22_050
    expected = np.round(reference[middle].astype(np.float64) * 10 ** (-14 / 20)) + 1000
    assert np.all(np.abs(heard[middle] - expected) <= 1)


def test_a_failed_answer_leaves_the_session_alone(session: tuple[Timeline, np.ndarray]) -> None:
    timeline, reference = session

    def where(status: Status) -> Block:
        raise RuntimeError("no voice")

    player, output, _, _ = make_player(timeline, [(50_000, Command.WHERE, 0.0)], where=where)
    assert player.play().finished
    assert np.array_equal(output.audio(), reference)


def test_merged_controls_take_orders_from_each_source() -> None:
    class Once:
        def __init__(self, order: Order) -> None:
            self.order: Order | None = order

        def poll(self, timeout_s: float) -> Order | None:  # noqa: ARG002 - never waits
            order, self.order = self.order, None
            return order

    merged = MergedControls(Once(Command.NEXT), Once(Seek(5)))
    assert merged.poll(0) is Command.NEXT
    assert merged.poll(0) == Seek(5)
    started = time.monotonic()
    assert merged.poll(0.05) is None
    assert time.monotonic() - started >= 0.05


def test_the_sleep_ending_is_reported_as_such() -> None:
    from voiceguide.sinks.mpris import track_title

    routine = load_routine_file(DATA / "routines" / "tiny.toml")
    timeline = compile_timeline(
        routine, Variant.FULL, fake_measure, chime_ms=load_chime().duration_ms, sleep_ms=60_000
    )
    mix = plan_mix(timeline, FakeEngine().synthesize, load_chime())
    statuses: list[Status] = []
    ticks = iter(range(10**9))  # a clock that moves a second each time it is read
    player = Player(
        timeline,
        lambda frame: render(timeline, mix, start_frame=frame),
        FakeOutput(LATENCY),
        clock=lambda: float(next(ticks)),
        on_status=statuses.append,
    )
    assert player.play().finished
    tail = timeline.session_ms
    before = [s for s in statuses if s.position_ms < tail - 500]
    after = [s for s in statuses if s.position_ms > tail + 500]
    assert before and not any(s.sleeping for s in before)
    assert after and all(s.sleeping for s in after)
    # (Tiny has no closing words: its sleep ending follows the last step.)
    assert track_title(dataclasses.replace(after[0], sleeping=False)) == "Closing"
    assert track_title(after[0]) == "Sleep"
    assert _status_line(after[0]).startswith("music to fall asleep to · 0:5"), after[0]
