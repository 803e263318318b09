"""Test helpers: a fake speech engine, audio decoding and level measurement."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt

from voiceguide.errors import Terminated
from voiceguide.speech.clip import Clip, VoiceInfo

FAKE_RATE = 22_050


class FakeEngine:
    """Speaks a steady tone whose length depends only on the words and the rate."""

    parallel_synthesis = False  # fast: no pool, no background thread

    def __init__(self, voice: str | None = None, rate_wpm: int = 150) -> None:
        self.voice = voice or "fake"
        self.rate_wpm = rate_wpm
        self.calls: list[str] = []

    @property
    def identity(self) -> str:
        return f"fake|{self.voice}|{self.rate_wpm}"

    def length_ms(self, text: str) -> int:
        return 300 + round(60_000 * len(text.split()) / self.rate_wpm)

    def synthesize(self, text: str) -> Clip:
        self.calls.append(text)
        n = FAKE_RATE * self.length_ms(text) // 1000
        t = np.arange(n) / FAKE_RATE
        # Start at full amplitude so trimming leaves the length unchanged.
        tone = 0.25 * np.cos(2 * math.pi * 441 * t)
        return Clip(np.round(tone * 32767).astype(np.int16), FAKE_RATE)

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("fake", "Fake", ("en",))]

    def single_threaded(self) -> None:
        self.threads = 1


def fake_measure(text: str) -> int:
    """Return the fake engine's clip length for text at the default rate."""
    return FakeEngine().length_ms(text)


def ffprobe_duration_ms(path: Path) -> float:
    """Return the duration ffprobe reports for a file, in milliseconds."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return float(json.loads(out)["format"]["duration"]) * 1000


def decode(path: Path, rate: int = 44_100) -> npt.NDArray[np.float64]:
    """Decode any audio file to mono float samples with ffmpeg."""
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            str(rate),
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0


def rms_dbfs(samples: npt.NDArray[np.float64]) -> float:
    """Return the RMS level of samples in dBFS (-inf for digital silence)."""
    if samples.size == 0:
        return -math.inf
    rms = math.sqrt(float(np.mean(samples**2)))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


class FakeOutput:
    """A sound output that records what would have been heard.

    It holds back the last `latency_frames` written frames as "queued"; a
    discard drops them, as a real device drops its buffer.
    """

    def __init__(self, latency_frames: int = 2048) -> None:
        self.latency_frames = latency_frames
        self.heard: list[npt.NDArray[np.int16]] = []
        self.written_frames = 0
        self._unheard = 0
        self.discards = 0
        self.closed = False

    def write(self, frames: npt.NDArray[np.int16]) -> None:
        self.heard.append(frames.copy())
        self.written_frames += len(frames)
        self._unheard = min(self._unheard + len(frames), self.latency_frames)

    def queued_frames(self) -> int:
        return self._unheard

    def discard(self) -> None:
        drop = self._unheard
        while drop:
            last = self.heard[-1]
            if len(last) <= drop:
                drop -= len(last)
                self.heard.pop()
            else:
                self.heard[-1] = last[: len(last) - drop]
                drop = 0
        self._unheard = 0
        self.discards += 1

    def finish(self) -> None:
        self._unheard = 0

    def close(self) -> None:
        self.closed = True

    def audio(self) -> npt.NDArray[np.int16]:
        return np.concatenate(self.heard) if self.heard else np.zeros((0, 2), np.int16)


class TerminatedOutput(FakeOutput):
    """Raises Terminated (as SIGTERM would, through the CLI's handler) at a set frame."""

    def __init__(self, stop_at: int) -> None:
        super().__init__(2048)
        self.stop_at = stop_at

    def write(self, frames: npt.NDArray[np.int16]) -> None:
        if self.written_frames >= self.stop_at:
            raise Terminated
        super().write(frames)


class NoiseEngine(FakeEngine):
    """Like FakeEngine, but speaks seeded white noise, so any stretch of it can be located."""

    def synthesize(self, text: str) -> Clip:
        self.calls.append(text)
        n = FAKE_RATE * self.length_ms(text) // 1000
        seed = sum(text.encode())
        noise = np.random.default_rng(seed).uniform(-0.3, 0.3, n)
        return Clip(np.round(noise * 32767).astype(np.int16), FAKE_RATE)


class ParallelFakeEngine(FakeEngine):
    """A fake engine that asks for the process pool, as the neural voice does."""

    parallel_synthesis = True


def make_parallel_fake(engine: str, voice: str | None, rate: int) -> ParallelFakeEngine:
    """A module-level (so picklable) factory for worker processes."""
    return ParallelFakeEngine(voice, rate)


def read_wav_frames(path: Path) -> npt.NDArray[np.int16]:
    """Return a 16-bit WAV file's frames (frames x channels), whatever chunks follow the data."""
    import wave

    with wave.open(str(path)) as wav:
        data = wav.readframes(wav.getnframes())
        channels = wav.getnchannels()
    return np.frombuffer(data, dtype="<i2").reshape(-1, channels)
