"""Interruptions: exports killed at random moments, and Ctrl-C or SIGTERM during play.

Nothing lost, nothing confusing: whenever an export dies, the target holds
either what it held before (nothing, or the earlier file, untouched) or the
complete new file; the encoder does not outlive it; and the next run leaves
no temp file behind, in the output folder or in the clip cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from mutagen.id3 import ID3
from typer.testing import CliRunner

from tests.conftest import DATA
from tests.helpers import TerminatedOutput, ffprobe_duration_ms
from tests.sinks.test_playback import _read_until as read_until
from tests.sinks.test_playback import _spawn_in_pty as spawn_in_pty
from tests.sound import PulseServer
from voiceguide.audio.format import Block, ms_to_frames
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.errors import ExitCode, ExportCancelledError
from voiceguide.sinks.export import export

VOICEGUIDE = [sys.executable, "-m", "voiceguide"]
TINY = DATA / "routines" / "tiny.toml"
SEED = int(os.environ.get("VOICEGUIDE_KILL_SEED", "9"))  # another seed: other moments
UNIFORM_ROUNDS = 6  # kills per signal at a random moment
LATE_ROUNDS = 2  # and just after the encoder has finished
LATE = 1.15  # delays reach past the normal run time: kills during tagging, renaming, exiting
TEMP_SUFFIXES = (".part", ".ffmeta", ".tmp")
# Handled, or (-N) the signal came before Python could handle it: during start-up or exit.
EXIT_CODES = {signal.SIGINT: (130, -2), signal.SIGTERM: (143, -15), signal.SIGKILL: (-9,)}


def run_env(folder: Path) -> dict[str, str]:
    """The environment of a real CLI run whose folders all lie in `folder`."""
    env = dict(os.environ)
    for name in ("cache", "state", "config", "tmp"):
        (folder / name).mkdir(exist_ok=True)
    env.update(
        XDG_CACHE_HOME=str(folder / "cache"),
        XDG_STATE_HOME=str(folder / "state"),
        XDG_CONFIG_HOME=str(folder / "config"),
        TMPDIR=str(folder / "tmp"),
    )
    return env


def start_export(target: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `voiceguide export` of the tiny routine with the system voice."""
    with log.open("wb") as out:  # not a pipe: an orphaned encoder would hold it open
        return subprocess.Popen(
            [*VOICEGUIDE, "export", str(TINY), "--engine", "system", "-o", str(target)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def export_now(target: Path, env: dict[str, str], log: Path) -> float:
    """Export to target and wait; return the wall time. It must succeed."""
    started = time.monotonic()
    process = start_export(target, env, log)
    assert process.wait(timeout=120) == 0, log.read_text()
    took = time.monotonic() - started
    assert log.read_text().startswith(f"wrote {target} ("), log.read_text()
    return took


def children(pid: int) -> list[int]:
    """Return the pids of a process's children."""
    try:
        return [int(n) for n in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def encoders_among(pids: Iterable[int], folder: Path) -> list[int]:
    """Return those of pids that are ffmpeg processes writing under folder."""
    found = []
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if not argv[0].endswith(b"ffmpeg"):
                continue
            # Named on its command line, or open: the encoder writes through a descriptor.
            names = [os.fsdecode(arg) for arg in argv]
            names += [str(fd.readlink()) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue  # gone meanwhile
        if any(str(folder) in name for name in names):
            found.append(pid)
    return found


def after_encoding(process: subprocess.Popen[bytes], folder: Path, timeout: float = 60) -> float:
    """Wait until process's encoder has finished (it tags and renames next); return when."""
    started = time.monotonic()
    encoder = None
    while process.poll() is None and time.monotonic() - started < timeout:
        running = encoders_among(children(process.pid), folder)
        if encoder is None and running:
            encoder = running[0]
        elif encoder is not None and encoder not in running:  # exited (a zombie has no argv)
            break
        time.sleep(0.001)
    return time.monotonic() - started


def encoders(folder: Path) -> list[int]:
    """Return the pids of running ffmpeg processes that write under folder."""
    return encoders_among(
        (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()), folder
    )


def wait_for_no_encoders(folder: Path, timeout: float) -> float:
    """Wait until no encoder writes under folder; return how long that took."""
    started = time.monotonic()
    while encoders(folder):
        waited = time.monotonic() - started
        assert waited < timeout, f"ffmpeg still running {waited:.1f} s after the export died"
        time.sleep(0.02)
    return time.monotonic() - started


def temps_in(folder: Path) -> list[Path]:
    """Return the temp files (hidden .part/.ffmeta/.tmp files) anywhere under folder."""
    return sorted(p for p in folder.rglob(".*") if p.suffix in TEMP_SUFFIXES)


def ours_in(folder: Path) -> list[str]:
    """Return what voiceguide left in a TMPDIR (espeak-ng's sound library leaves pulse-*)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("voiceguide-"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Reference:
    """A normal run: how long it takes (with an empty and a warm cache), and its file."""

    cold_s: float
    warm_s: float
    data: bytes


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    folder = tmp_path_factory.mktemp("reference")
    env = run_env(folder)
    target = folder / "tiny.mp3"
    cold_s = export_now(target, env, folder / "log")
    warm_s = min(export_now(target, env, folder / "log") for _ in range(2))
    assert str(ID3(target)["TIT2"]) == "Tiny (full)"
    return Reference(cold_s, warm_s, target.read_bytes())


def is_complete(path: Path, reference: Reference, env: dict[str, str]) -> bool:
    """Check that path holds a whole, tagged session; return True if it is the reference.

    Usually it is, byte for byte. But the system voice now and then speaks a
    line at another speed (pyttsx3's espeak driver), and a line synthesized
    by a killed run is cached that way, so the session may rightly differ:
    then it must last what its timeline says, as the cache now has it.
    """
    if path.read_bytes() == reference.data:
        return True
    shown = subprocess.run(
        [*VOICEGUIDE, "show", str(TINY), "--engine", "system", "--json"],
        env=env,
        capture_output=True,
        check=True,
    )
    total_ms = json.loads(shown.stdout)["total_ms"]
    assert ffprobe_duration_ms(path) == pytest.approx(total_ms, abs=100)  # MP3 frames
    assert str(ID3(path)["TIT2"]) == "Tiny (full)"  # tagged: written after the encoder ended
    return False


def stratified(count: int, rng: random.Random) -> list[float]:
    """Return count fractions spread uniformly over [0, LATE): one in each equal slice, shuffled."""
    fractions = [LATE * (i + rng.random()) / count for i in range(count)]
    rng.shuffle(fractions)
    return fractions


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name
)
def test_an_export_killed_at_any_moment_leaves_the_old_file_or_the_new_one(
    tmp_path: Path, reference: Reference, sig: signal.Signals
) -> None:
    rng = random.Random(f"{SEED}-{sig.name}")
    env = run_env(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "tiny.mp3"
    log = tmp_path / "log"
    cache = tmp_path / "cache"
    export_now(target, env, log)  # the earlier file, and a warm cache
    # Most kills at a delay drawn uniformly over the whole run, from start-up to
    # exit; a few just after the encoder finishes, to land in tagging and renaming.
    rounds: list[float | None] = [*stratified(UNIFORM_ROUNDS, rng), *[None] * LATE_ROUNDS]
    seen: Counter[str] = Counter()
    delays: list[float] = []
    for round_, fraction in enumerate(rounds):
        earlier = round_ % 2 == 0
        cold = (round_ // 2) % 2 == 1 and fraction is not None  # these may land in synthesis
        if not earlier:
            target.unlink()
        before = (digest(target), target.stat().st_ino) if earlier else None
        if cold:
            shutil.rmtree(cache)
            cache.mkdir()

        process = start_export(target, env, log)
        if fraction is None:
            extra = rng.uniform(0, 0.03)
            delay = after_encoding(process, out) + extra
            time.sleep(extra)
        else:
            delay = fraction * (reference.cold_s if cold else reference.warm_s)
            time.sleep(delay)
        delays.append(delay)
        process.send_signal(sig)  # not sent if it has ended (and then it exits with 0)
        code = process.wait(timeout=60)
        what = f"round {round_} ({sig.name} after {delay:.3f} s, exit {code}): {log.read_text()}"
        seen[f"exit {code}"] += 1
        finished_first = code == 0
        if finished_first:
            assert log.read_text().startswith(f"wrote {target} ("), what

        if sig is signal.SIGKILL:
            # The encoder sees the end of its input and stops by itself.
            gone_ms = round(1000 * wait_for_no_encoders(tmp_path, timeout=3.0))
            seen["encoder gone after (max ms)"] = max(seen["encoder gone after (max ms)"], gone_ms)
        else:
            # Ctrl-C and SIGTERM stop the encoder, and remove the temp files, before exiting.
            assert temps_in(out) == [] and temps_in(cache) == [], what
            assert ours_in(tmp_path / "tmp") == [], what
            assert finished_first or code in EXIT_CODES[sig], what
            assert encoders(tmp_path) == [], what

        # The target: what it was, or the complete new file, never a part of one.
        if target.exists() and (before is None or target.stat().st_ino != before[1]):
            seen["new file in place"] += 1
            if not is_complete(target, reference, env):
                seen["new file differs from the reference (the system voice)"] += 1
        elif before is not None:
            assert digest(target) == before[0], what
            seen["earlier file untouched"] += 1
        else:
            seen["nothing at the target"] += 1
        if temps_in(out):
            seen["temp files left"] += 1
        if finished_first:
            seen["finished before the signal"] += 1

        # The next run succeeds and leaves nothing behind, in the output folder or the cache.
        export_now(target, env, log)
        if not is_complete(target, reference, env):
            seen["next run differs from the reference (the system voice)"] += 1
        assert sorted(out.iterdir()) == [target], what
        assert temps_in(cache) == [], what
        assert encoders(tmp_path) == []
    late = delays[UNIFORM_ROUNDS:]
    print(
        f"\n{sig.name}: {len(rounds)} kills, {UNIFORM_ROUNDS} at {min(delays):.2f}-"
        f"{max(delays[:UNIFORM_ROUNDS]):.2f} s (normal run {reference.warm_s:.2f} s warm, "
        f"{reference.cold_s:.2f} s cold), {LATE_ROUNDS} just after encoding "
        f"({', '.join(f'{d:.3f}' for d in late)} s): {dict(sorted(seen.items()))}; "
        f"left in TMPDIR: {len(ours_in(tmp_path / 'tmp'))}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_interrupting_several_exports_at_once_stops_them_all(
    tmp_path: Path, sig: signal.Signals
) -> None:
    env = run_env(tmp_path)
    out = tmp_path / "out"
    log = tmp_path / "log"
    args = ["export", "lower-back", "--all-variants", "--engine", "system", "-o", f"{out}/"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*VOICEGUIDE, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while len(encoders(out)) < 2:  # both sessions encoding, each in its own thread
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)
    time.sleep(0.3)
    process.send_signal(sig)
    sent = time.monotonic()
    code = process.wait(timeout=60)
    took = time.monotonic() - sent
    assert code == EXIT_CODES[sig][0], log.read_text()
    assert log.read_text().strip() == ("interrupted" if sig is signal.SIGINT else "terminated")
    # Both stopped within moments: no file appeared after the interruption (it
    # used to take 14 s, and publish both files, as each ran to its end).
    assert list(out.iterdir()) == []
    assert encoders(tmp_path) == []
    assert took < 1.0, took


@pytest.mark.slow
def test_ctrl_c_at_the_terminal_during_an_export(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole foreground process group; the encoder is kept out of it."""
    env = run_env(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "long.mp3"
    process, master, slave = spawn_in_pty(
        ["export", "lower-back", "--engine", "system", "-o", str(target)], env
    )
    seen = bytearray()
    try:
        read_until(master, b"exporting long.mp3", seen)  # the progress bar: encoding
        os.write(master, b"\x03")
        assert process.wait(timeout=30) == 130
        read_until(master, b"interrupted", seen)
    finally:
        process.kill()
        os.close(master)
        os.close(slave)
    assert list(out.iterdir()) == []
    assert encoders(tmp_path) == []


# SIGTERM and SIGHUP in process: the same clean-up as Ctrl-C, exit code 143 or 129.


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGTERM, ExitCode.TERMINATED, "terminated"),
        (signal.SIGHUP, ExitCode.HUNG_UP, "hung up"),  # the terminal was closed
    ],
)
def test_sigterm_or_sighup_during_a_command_exits_143_or_129(
    runner: CliRunner,
    fake_env: Environment,
    monkeypatch: pytest.MonkeyPatch,
    signum: signal.Signals,
    code: ExitCode,
    said: str,
) -> None:
    caught: list[int] = []
    # Should the CLI not take the signal over, this catches it (instead of the test run ending).
    previous = signal.signal(signum, lambda signum, frame: caught.append(signum))
    try:

        def stopped(*args: object, **kwargs: object) -> None:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises long before this ends
            raise AssertionError(f"{signum.name} did not stop the command")

        monkeypatch.setattr("voiceguide.pipeline.build_session", stopped)
        ours = signal.getsignal(signum)
        result = runner.invoke(app, ["show", "lower-back"], obj=fake_env)
        assert result.exit_code == code == 128 + signum
        assert result.stderr == f"{said}\n"
        assert caught == []
        assert signal.getsignal(signum) is ours  # put back once the command ends
    finally:
        signal.signal(signum, previous)


def test_sigterm_during_play_saves_the_resume_point(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    from voiceguide.pipeline import SessionOptions, build_session
    from voiceguide.routine.library import load_builtin
    from voiceguide.routine.model import Variant

    speech = fake_env.speech(fake_env.settings())
    options = SessionOptions(Variant.SHORT)
    timeline = build_session(load_builtin("lower-back"), speech, options).timeline
    output = TerminatedOutput(ms_to_frames(timeline.steps[2].start_ms + 5_000))
    env = replace(fake_env, open_output=lambda b, d: output, state_dir=tmp_path)
    stopped = runner.invoke(app, ["play", "lower-back", "--short"], obj=env)
    assert stopped.exit_code == ExitCode.TERMINATED
    assert stopped.stderr == "terminated\n"
    assert output.closed and output.discards == 1  # silenced at once, then closed
    assert json.loads((tmp_path / "resume.json").read_text()) == {"lower-back|short": 3}


def test_a_cancelled_export_stops_while_its_renderer_is_still_busy(tmp_path: Path) -> None:
    def slow_blocks() -> Iterator[Block]:
        time.sleep(3)  # as planning the mix takes, before the first block
        yield np.zeros((4410, 2), dtype=np.int16)

    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ExportCancelledError):
        export(slow_blocks(), tmp_path / "out.wav", cancel=cancel)
    assert time.monotonic() - started < 1.0
    assert list(tmp_path.iterdir()) == []  # no temp file, no target


# Play: Ctrl-C or SIGTERM stops the sound at once, restores the terminal, and
# saves the resume point.


def windows_rms(samples: npt.NDArray[np.float64], size: int = 441) -> npt.NDArray[np.float64]:
    n = len(samples) // size
    return np.sqrt(np.mean(samples[: n * size].reshape(n, size) ** 2, axis=1))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupting_play_stops_the_sound_at_once(
    pulse: PulseServer, tmp_path: Path, how: str
) -> None:
    env = dict(pulse.env, COLUMNS="120")
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_STATE_HOME=str(tmp_path / "state"))
    store = tmp_path / "state" / "voiceguide" / "resume.json"
    store.parent.mkdir(parents=True)
    key = f"{TINY.resolve()}|full"
    store.write_text(json.dumps({key: 2}))  # from an earlier session
    seen = bytearray()
    # The surf bed sounds all the time, so the moment the sound stops shows.
    args = ["play", str(TINY), "--engine", "system", "--music", "surf"]
    with pulse.record() as recording:
        process, master, slave = spawn_in_pty(args, env)
        before = termios.tcgetattr(slave)
        try:
            read_until(master, b"introduction", seen)  # playing
            time.sleep(2.0)
            sent = time.monotonic()
            if how == "ctrl-c":
                os.write(master, b"\x03")
            else:
                process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=20)
            took = time.monotonic() - sent
            read_until(master, b"interrupted" if how == "ctrl-c" else b"terminated", seen)
            after = termios.tcgetattr(slave)
        finally:
            process.kill()
            os.close(master)
            os.close(slave)
    assert code == (130 if how == "ctrl-c" else 143), bytes(seen)
    assert after == before, "the terminal was not restored"
    # The introduction was playing: the next play --resume starts at step 1.
    assert json.loads(store.read_text()) == {key: 1}

    levels = windows_rms(recording.samples())
    stamps = recording.stamps()[::441][: len(levels)]
    sounding = levels > 1e-4  # the null sink's monitor is exactly zero when nothing plays
    just_before = sounding[(stamps > sent - 1.0) & (stamps <= sent)]
    assert just_before.size > 50 and just_before.all()
    last_sound = stamps[sounding & (stamps > sent)].max(initial=sent)
    print(
        f"\n{how}: sound stopped {1000 * (last_sound - sent):.0f} ms after the signal; "
        f"exit {code} after {1000 * took:.0f} ms"
    )
    assert last_sound - sent <= 0.100


def test_a_signal_while_a_child_is_started_is_raised_after_it_with_the_handler_back() -> None:
    from voiceguide.sinks.spawn import signals_deferred

    # As main() has it (importing voiceguide.cli leaves SIGINT at its default action).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        reached_end = False
        with pytest.raises(KeyboardInterrupt), signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # Python runs handlers between bytecodes: it has had the chance
            reached_end = True
        assert reached_end  # held to the end of the block, raised after it
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with signals_deferred():  # nothing caught: nothing raised
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
