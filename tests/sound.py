"""Sound-card stand-ins for playback tests: an ALSA `file` device and a PulseAudio null sink."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

SYSTEM_ALSA_CONF = "/usr/share/alsa/alsa.conf"


def alsa_env(folder: Path, device_conf: str) -> dict[str, str]:
    """Return an environment whose ALSA default device is defined by device_conf."""
    conf = folder / "asound.conf"
    conf.write_text(device_conf)
    env = dict(os.environ)
    # The system file first (it defines "null", "pulse" and friends), then ours.
    env["ALSA_CONFIG_PATH"] = f"{SYSTEM_ALSA_CONF}:{conf}"
    return env


def file_device_env(folder: Path, capture: Path) -> dict[str, str]:
    """ALSA's default device writes every frame it gets to `capture` and discards it."""
    return alsa_env(
        folder,
        "pcm.!default {\n"
        "    type file\n"
        '    slave.pcm "null"\n'
        f'    file "{capture}"\n'
        '    format "raw"\n'
        "}\n",
    )


def read_raw(path: Path) -> npt.NDArray[np.int16]:
    """Read raw 16-bit stereo frames."""
    return np.frombuffer(path.read_bytes(), dtype="<i2").reshape(-1, 2)


@dataclass
class Recording:
    """Audio from a PulseAudio monitor, each 10 ms chunk stamped with its arrival time."""

    chunks: list[tuple[float, bytes]] = field(default_factory=list)

    def samples(self) -> npt.NDArray[np.float64]:
        data = b"".join(chunk for _, chunk in self.chunks)
        frames = np.frombuffer(data[: len(data) // 4 * 4], dtype="<i2").reshape(-1, 2)
        return frames[:, 0].astype(np.float64) / 32768

    def stamps(self) -> npt.NDArray[np.float64]:
        """Return, for each frame, when the chunk holding it arrived (time.monotonic)."""
        out = []
        for stamp, chunk in self.chunks:
            out.append(np.full(len(chunk) // 4, stamp))
        return np.concatenate(out)[: len(self.samples())] if out else np.zeros(0)


@dataclass
class PulseServer:
    """A private PulseAudio daemon with one null sink, reached through ALSA."""

    folder: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    @contextmanager
    def record(self) -> Iterator[Recording]:
        """Record the null sink's monitor while the block runs."""
        recording = Recording()
        parec = subprocess.Popen(
            [
                "parec",
                "-d",
                "voiceguide_test.monitor",
                "--raw",
                "--format=s16le",
                "--rate=44100",
                "--channels=2",
                "--latency-msec=10",
            ],
            stdout=subprocess.PIPE,
            env=self.env,
        )
        assert parec.stdout is not None
        stream = parec.stdout

        def read() -> None:
            while chunk := stream.read(1764):
                recording.chunks.append((time.monotonic(), chunk))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(0.8)  # let the monitor stream start before anything plays
        try:
            yield recording
        finally:
            time.sleep(0.5)
            parec.terminate()
            parec.wait(timeout=5)
            reader.join(timeout=5)
            stream.close()


def start_pulse() -> PulseServer:
    """Start PulseAudio with a null sink; fail with the fix when it is not installed."""
    missing = [tool for tool in ("pulseaudio", "parec", "pactl") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not found: install pulseaudio pulseaudio-utils "
            "libasound2-plugins (scripts/test does)"
        )
    folder = Path(tempfile.mkdtemp(prefix="voiceguide-pulse-"))
    socket = folder / "native"
    env = alsa_env(folder, "pcm.!default { type pulse }\nctl.!default { type pulse }\n")
    env.update(
        PULSE_SERVER=f"unix:{socket}",
        PULSE_RUNTIME_PATH=str(folder / "runtime"),
        PULSE_STATE_PATH=str(folder / "state"),
        HOME=str(folder),
    )
    process = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--use-pid-file=no",
            "--log-target=stderr",
            "--log-level=error",
            "-L",
            "module-null-sink sink_name=voiceguide_test rate=44100 channels=2",
            "-L",
            f"module-native-protocol-unix auth-anonymous=1 socket={socket}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = subprocess.run(["pactl", "info"], env=env, capture_output=True, check=False)
        if probe.returncode == 0:
            return PulseServer(folder, process, env)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    _, err = process.communicate()
    raise RuntimeError(f"PulseAudio did not start: {err.decode(errors='replace').strip()}")


def stop_pulse(server: PulseServer) -> None:
    server.process.terminate()
    try:
        server.process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.communicate()
    shutil.rmtree(server.folder, ignore_errors=True)
