"""Media keys: `play` as an MPRIS2 player on a private session bus (dbus-run-session),
driven by playerctl and by a dbus-fast client, measured on a PulseAudio null sink."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import DATA
from tests.sinks.test_playback import voiceguide, with_dirs
from tests.sound import PulseServer, Recording, file_device_env
from voiceguide.audio.analysis import prepare
from voiceguide.pipeline import load_chime

TINY = DATA / "routines" / "tiny.toml"
NAME = "org.mpris.MediaPlayer2.voiceguide"
PATH = "/org/mpris/MediaPlayer2"
PLAYER = "org.mpris.MediaPlayer2.Player"
WINDOW = 441  # 10 ms


@pytest.fixture
def session_bus() -> Iterator[str]:
    """A private session bus, started by dbus-run-session; yields its address."""
    if shutil.which("dbus-run-session") is None or shutil.which("playerctl") is None:
        pytest.fail(
            "dbus-run-session or playerctl not found: install dbus playerctl (scripts/test does)"
        )
    keeper = subprocess.Popen(
        ["dbus-run-session", "--", "sh", "-c", 'echo "$DBUS_SESSION_BUS_ADDRESS"; exec sleep 600'],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert keeper.stdout is not None
    address = keeper.stdout.readline().strip()
    assert address.startswith("unix:"), address
    yield address
    keeper.terminate()
    keeper.wait(timeout=5)
    keeper.stdout.close()


class Client:
    """A dbus-fast client of the player, connected before any call is timed."""

    def __init__(self, address: str) -> None:
        from dbus_fast.aio import MessageBus

        async def connect() -> MessageBus:
            return await MessageBus(bus_address=address).connect()

        self.loop = asyncio.new_event_loop()
        self.bus = self.loop.run_until_complete(connect())
        self.changes: list[dict[str, Any]] = []  # PropertiesChanged, as they come
        self.seeked: list[int] = []
        self.bus.add_message_handler(self._signal)
        for member in ("PropertiesChanged", "Seeked"):
            self._bus_call("AddMatch", "s", [f"type='signal',member='{member}',path='{PATH}'"])

    def _signal(self, message: Any) -> None:
        if message.member == "PropertiesChanged" and message.body[0] == PLAYER:
            self.changes.append({k: v.value for k, v in message.body[1].items()})
        elif message.member == "Seeked":
            self.seeked.append(message.body[0])

    def _bus_call(self, member: str, signature: str, body: list[Any]) -> None:
        from dbus_fast import Message

        message = Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member=member,
            signature=signature,
            body=body,
        )
        self.loop.run_until_complete(self.bus.call(message))

    def call(self, member: str, signature: str = "", body: list[Any] | None = None) -> float:
        """Call a Player method; return when it was sent (time.monotonic)."""
        from dbus_fast import Message, MessageType

        message = Message(
            destination=NAME,
            path=PATH,
            interface=PLAYER,
            member=member,
            signature=signature,
            body=body or [],
        )
        sent = time.monotonic()
        reply = self.loop.run_until_complete(self.bus.call(message))
        assert reply is not None and reply.message_type is MessageType.METHOD_RETURN, reply
        return sent

    def get(self, name: str) -> Any:
        from dbus_fast import Message

        message = Message(
            destination=NAME,
            path=PATH,
            interface="org.freedesktop.DBus.Properties",
            member="Get",
            signature="ss",
            body=[PLAYER, name],
        )
        reply = self.loop.run_until_complete(self.bus.call(message))
        assert reply is not None
        return reply.body[0].value

    def close(self) -> None:
        self.bus.disconnect()
        self.loop.run_until_complete(self.bus.wait_for_disconnect())
        self.loop.close()


def playerctl(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        ["playerctl", "--player=voiceguide", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout.strip()


def wait_until(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def levels(recording: Recording) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    samples = recording.samples()
    n = len(samples) // WINDOW
    rms = np.sqrt(np.mean(samples[: n * WINDOW].reshape(n, WINDOW) ** 2, axis=1))
    stamps = recording.stamps()[::WINDOW][:n]
    return samples, rms, stamps


def chime_onset_after(samples: np.ndarray, stamps: np.ndarray, after: float) -> float:
    """Return when the chime first sounds after a time, located by cross-correlation."""
    chime = prepare(load_chime())[:4410].astype(np.float64)  # its first 100 ms
    start = int(np.searchsorted(stamps, after - 0.05)) * WINDOW
    piece = samples[start : start + 44_100]
    size = 1 << int(np.ceil(np.log2(len(piece) + len(chime))))
    corr = np.fft.irfft(np.fft.rfft(piece, size) * np.conj(np.fft.rfft(chime, size)), size)
    found = start + int(np.argmax(corr[: len(piece)]))
    return float(stamps[found // WINDOW])


@pytest.mark.slow
def test_media_keys_drive_a_real_session(
    pulse: PulseServer, session_bus: str, tmp_path: Path
) -> None:
    env = with_dirs(pulse.env, tmp_path)
    env["DBUS_SESSION_BUS_ADDRESS"] = session_bus
    with pulse.record() as recording:
        process = subprocess.Popen(
            [sys.executable, "-m", "voiceguide", "play", str(TINY), "--engine", "system"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        client = Client(session_bus)
        try:
            wait_until(lambda: playerctl(env, "status") == "Playing")
            assert playerctl(env, "metadata", "xesam:title") == "Introduction"
            assert playerctl(env, "metadata", "xesam:album") == "Tiny"
            assert playerctl(env, "metadata", "mpris:artUrl").startswith("file:///")
            time.sleep(2.0)  # the introduction is speaking
            next_at = client.call("Next")
            wait_until(lambda: client.get("Metadata")["xesam:title"].value == "1/2 · Breathe in")
            assert client.get("Metadata")["mpris:length"].value == 8_000_000
            assert client.get("CanGoNext") is True
            time.sleep(2.0)  # into step 1's words
            pause_at = client.call("Pause")
            wait_until(lambda: client.get("PlaybackStatus") == "Paused")
            time.sleep(1.0)
            position = client.get("Position")
            time.sleep(0.5)
            assert client.get("Position") == position  # paused: the position stands
            resume_at = client.call("Play")
            wait_until(lambda: client.get("PlaybackStatus") == "Playing")
            time.sleep(1.0)
            # Seek and SetPosition move within the session (SetPosition: in the track playing).
            track = client.get("Metadata")["mpris:trackid"].value
            client.call("SetPosition", "ox", [track, 5_000_000])
            wait_until(lambda: abs(client.get("Position") - 5_000_000) < 300_000)
            client.call("Seek", "x", [-3_000_000])
            wait_until(lambda: abs(client.get("Position") - 2_000_000) < 300_000)
            assert len(client.seeked) >= 2
            playerctl(env, "next")
            wait_until(lambda: playerctl(env, "metadata", "xesam:title") == "2/2 · Breathe out")
            time.sleep(1.0)
            playerctl(env, "stop")
            out, err = process.communicate(timeout=20)
            client._bus_call("GetId", "", [])  # take in the signals sent before it ended
        finally:
            client.close()
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, err
    assert "stopped at step 2 of 2" in out
    resume = json.loads((tmp_path / "state" / "voiceguide" / "resume.json").read_text())
    assert 2 in resume.values() or any(v == 2 for v in resume.get("positions", {}).values()), resume

    # PropertiesChanged told of every change: the track, pause and play, the end.
    # (The client connected after the player's first report: that one is not among them.)
    titles = [c["Metadata"]["xesam:title"].value for c in client.changes if "Metadata" in c]
    assert titles[-2:] == ["1/2 · Breathe in", "2/2 · Breathe out"], titles
    statuses = [c["PlaybackStatus"] for c in client.changes if "PlaybackStatus" in c]
    assert statuses[-3:] == ["Paused", "Playing", "Stopped"], statuses

    samples, rms, stamps = levels(recording)
    loud = rms > 10 ** (-45 / 20)
    # Next: the next step's chime sounds within 150 ms of the call.
    next_latency = chime_onset_after(samples, stamps, next_at) - next_at
    # Pause: sound before the call, silence within 50 ms of it.
    before = (stamps > pause_at - 0.3) & (stamps < pause_at)
    assert loud[before].any(), "nothing was playing when Pause was called"
    silent = np.flatnonzero((stamps >= pause_at) & ~loud)
    pause_latency = float(stamps[silent[0]]) - pause_at
    # ...and it stays silent but for the soft pause tone until Play.
    print(
        f"\nMPRIS latency: Next -> chime {next_latency * 1000:.0f} ms, "
        f"Pause -> silence {pause_latency * 1000:.0f} ms"
    )
    assert 0 <= next_latency <= 0.150, next_latency
    assert pause_latency <= 0.050, pause_latency
    assert not loud[(stamps > pause_at + 0.6) & (stamps < resume_at)].any()


def test_without_a_session_bus_play_is_unaffected(tmp_path: Path) -> None:
    capture = tmp_path / "capture.raw"
    env = with_dirs(file_device_env(tmp_path, capture), tmp_path)
    for name in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "DISPLAY"):
        env.pop(name, None)
    quiet = voiceguide(["play", str(TINY), "--engine", "system"], env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.startswith("finished Tiny")
    assert quiet.stderr == ""
    played = capture.read_bytes()
    # A bus address that leads nowhere: the same, without a word.
    env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-bus'}"
    capture.unlink()
    broken = voiceguide(["play", str(TINY), "--engine", "system"], env)
    assert broken.returncode == 0, broken.stderr
    assert broken.stderr == ""
    assert capture.read_bytes() == played
    assert os.environ.get("DBUS_SESSION_BUS_ADDRESS") != env["DBUS_SESSION_BUS_ADDRESS"]
