"""Playback through real ALSA: a `file` device that captures every frame, and a
PulseAudio null sink that plays in real time. No sound card is needed."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA
from tests.helpers import NoiseEngine, read_wav_frames
from tests.sound import PulseServer, alsa_env, file_device_env, read_raw
from voiceguide.audio.format import ms_to_frames
from voiceguide.audio.mix import plan_mix
from voiceguide.audio.render import render
from voiceguide.pipeline import load_chime
from voiceguide.routine.model import Variant
from voiceguide.sinks.outputs import AlsaOutput
from voiceguide.sinks.player import Command, Player
from voiceguide.speech.clip import Clip
from voiceguide.timeline.model import Kind, Segment, StepSpan, Timeline

TINY = DATA / "routines" / "tiny.toml"


def voiceguide(
    args: list[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voiceguide", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def with_dirs(env: dict[str, str], folder: Path) -> dict[str, str]:
    env = dict(env)
    env["XDG_CACHE_HOME"] = str(folder / "cache")
    env["XDG_STATE_HOME"] = str(folder / "state")
    return env


@pytest.mark.slow
def test_played_frames_equal_the_export_sample_for_sample(tmp_path: Path) -> None:
    capture = tmp_path / "capture.raw"
    env = with_dirs(file_device_env(tmp_path, capture), tmp_path)
    played = voiceguide(["play", "lower-back", "--short", "--engine", "system"], env)
    assert played.returncode == 0, played.stderr
    assert played.stdout.startswith("finished Lower-back self-massage (short")
    wav = tmp_path / "short.wav"
    exported = voiceguide(
        ["export", "lower-back", "--short", "--engine", "system", "-o", str(wav)], env
    )
    assert exported.returncode == 0, exported.stderr
    expected = read_wav_frames(wav)
    heard = read_raw(capture)
    assert len(heard) == len(expected) > 4 * 60 * 44_100
    # Every frame, block joins included: the player adds no handling at boundaries.
    assert np.array_equal(heard, expected)


def test_no_sound_device_is_one_clear_line(tmp_path: Path) -> None:
    env = with_dirs(alsa_env(tmp_path, "pcm.!default { type hw card 9 }\n"), tmp_path)
    result = voiceguide(["play", str(TINY)], env)
    assert result.returncode == 7
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: no sound device found")
    assert "voiceguide export" in lines[0]


def _noise_session() -> tuple[Timeline, Clip]:
    """Six seconds of seeded noise, then two seconds of silence."""
    timeline = Timeline(
        routine="noise",
        title="Noise",
        variant=Variant.FULL,
        total_ms=8_000,
        steps=(StepSpan(1, "noise", "Noise", 0, 8_000),),
        segments=(
            Segment(Kind.SPEECH, 0, 6_000, 1, "noise"),
            Segment(Kind.SILENCE, 6_000, 2_000, 1),
        ),
        step_count=1,
    )
    engine = NoiseEngine()
    clip = engine.synthesize(" ".join(["word"] * 14))  # 300 + 14 * 400 ms = 5.9 s
    return timeline, clip


class WallControls:
    """Presses keys at set times after the first poll (real time)."""

    def __init__(self, script: list[tuple[float, Command]]) -> None:
        self.script = list(script)
        self.start: float | None = None
        self.pressed: list[float] = []

    def poll(self, timeout_s: float) -> Command | None:
        now = time.monotonic()
        if self.start is None:
            self.start = now
        if not self.script:
            time.sleep(max(timeout_s, 0))
            return None
        due = self.start + self.script[0][0]
        if now < due and timeout_s > 0:
            time.sleep(min(timeout_s, due - now))
            now = time.monotonic()
        if now >= due:
            self.pressed.append(now)
            return self.script.pop(0)[1]
        return None


def _windows(samples: np.ndarray, size: int = 441) -> np.ndarray:
    n = len(samples) // size
    return np.sqrt(np.mean(samples[: n * size].reshape(n, size) ** 2, axis=1))


def _locate(piece: np.ndarray, reference: np.ndarray) -> int:
    """Return where piece best matches inside reference (cross-correlation)."""
    size = 1 << int(np.ceil(np.log2(len(reference) + len(piece))))
    corr = np.fft.irfft(np.fft.rfft(reference, size) * np.conj(np.fft.rfft(piece, size)), size)
    return int(np.argmax(corr[: len(reference)]))


@pytest.mark.slow
def test_real_time_pause_silences_within_150ms_and_resume_continues(
    pulse: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in pulse.env.items():
        monkeypatch.setenv(key, value)
    timeline, clip = _noise_session()
    chime = load_chime()
    mix = plan_mix(timeline, lambda _: clip, chime)
    reference = np.concatenate(list(render(timeline, mix)))[:, 0] / 32768
    output = AlsaOutput("default")
    controls = WallControls([(2.5, Command.TOGGLE), (3.5, Command.TOGGLE)])
    player = Player(
        timeline,
        lambda frame: render(timeline, mix, start_frame=frame),
        output,
        controls=controls,
    )
    with pulse.record() as recording:
        started = time.monotonic()
        outcome = player.play()
        took = time.monotonic() - started
    output.close()
    assert outcome.finished
    paused_s = controls.pressed[1] - controls.pressed[0]
    samples, stamps = recording.samples(), recording.stamps()
    levels = _windows(samples)
    window_stamps = stamps[::441][: len(levels)]
    loud = levels > 0.02
    heard = np.flatnonzero(loud)
    # Real time: the sink's clock (its sample count) from the first to the last
    # sound holds the 5.9 s of noise plus the pause. (Arrival stamps are not used
    # here: the first chunks of a stream arrive in a burst.)
    span = (heard[-1] - heard[0] + 1) * 441 / 44_100
    assert abs(span - (5.9 + paused_s)) < 0.2, span
    # The whole call: the 8 s session and the pause, plus the sound server's start-up
    # latency (about 1 s for PulseAudio's null sink) and the final drain.
    assert 8.0 + paused_s - 0.1 < took < 8.0 + paused_s + 1.6, took
    # The output falls silent within 150 ms of the key press (measured on the
    # sink's monitor, whose own 10 ms latency counts against us).
    after_key = np.flatnonzero((window_stamps >= controls.pressed[0]) & ~loud)
    silent_at = window_stamps[after_key[0]]
    assert silent_at - controls.pressed[0] <= 0.150, silent_at - controls.pressed[0]

    # Two stretches of noise: before the pause and after the resume.
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(int), [0]])))
    # Exactly two stretches: no dropout (an underrun would split one).
    assert len(edges) == 4, edges
    first_on, first_off, second_on, second_off = edges
    before = samples[first_on * 441 : first_off * 441]
    after = samples[second_on * 441 : second_off * 441]
    start_before = _locate(before[:4410], reference)
    start_after = _locate(after[:4410], reference)
    # Playback began at the start of the session. The null sink's monitor may miss
    # the first moments of a new stream: 20 to 160 ms measured, whatever the chunk size.
    assert start_before < 8820
    stopped_at = start_before + len(before)
    # Resume picks up where the sound stopped: to within the analysis windows
    # (10 ms), where each stretch's edge was found to within one window.
    assert abs(start_after - stopped_at) <= 2 * 441, (start_after, stopped_at)
    # Nothing skipped or played twice: the two stretches add up to the 5.9 s of noise.
    assert abs((start_before + len(before) + len(after)) / 44_100 - 5.9) < 0.03


def _read_until(fd: int, needle: bytes, seen: bytearray, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{needle!r} not seen in {bytes(seen)[-400:]!r}"
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break


def _spawn_in_pty(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int, int]:
    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        # A new session whose controlling terminal is the pty, as in a real shell,
        # so that Ctrl-C there sends SIGINT.
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [sys.executable, "-m", "voiceguide", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        preexec_fn=controlling_terminal,  # noqa: PLW1509 - single-threaded at this point
    )
    return process, master, slave


@pytest.mark.slow
def test_keys_through_the_real_cli_in_a_terminal(pulse: PulseServer, tmp_path: Path) -> None:
    env = with_dirs(pulse.env, tmp_path)
    env["COLUMNS"] = "120"
    process, master, slave = _spawn_in_pty(["play", str(TINY), "--engine", "system"], env)
    before = termios.tcgetattr(slave)
    seen = bytearray()
    try:
        _read_until(master, b"introduction", seen)
        os.write(master, b" ")
        _read_until(master, b"paused", seen)
        os.write(master, b" ")
        os.write(master, b"n")  # to step 1
        _read_until(master, b"step 1/2", seen)
        os.write(master, b"\x1b[C")  # right arrow: to step 2
        _read_until(master, b"step 2/2", seen)
        os.write(master, b"b")
        os.write(master, b"b")  # twice quickly: back to step 1
        _read_until(master, b"step 1/2 \xc2\xb7 Breathe in \xc2\xb7 0:0", seen)
        os.write(master, b"q")
        assert process.wait(timeout=20) == 0
        _read_until(master, b"--resume` continues", seen)
    finally:
        process.kill()
    text = seen.decode(errors="replace")
    assert "stopped at step 1 of 2" in text
    assert termios.tcgetattr(slave) == before, "the terminal was not restored"

    # Ctrl-C: exit code 130, the terminal restored, the resume point kept.
    process, master2, slave2 = _spawn_in_pty(
        ["play", str(TINY), "--engine", "system", "--resume"], env
    )
    before = termios.tcgetattr(slave2)
    seen = bytearray()
    try:
        _read_until(master2, b"step 1/2", seen)
        os.write(master2, b"\x03")
        assert process.wait(timeout=20) == 130
        _read_until(master2, b"interrupted", seen)
    finally:
        process.kill()
    assert termios.tcgetattr(slave2) == before
    for fd in (master, slave, master2, slave2):
        os.close(fd)
    assert (tmp_path / "state" / "voiceguide" / "resume.json").read_text().count('"') >= 2
    assert ms_to_frames(1) == 44
