#!/usr/bin/env python3
"""Generate voiceguide's audio assets (no third-party recordings).

    python scripts/make_assets.py [OUTPUT_DIR]

Writes into assets/:
- chime.wav: a soft, bell-like tone that opens each step;
- pause.wav and resume.wav: two short, quiet notes, falling and rising, that
  confirm a pause and a resume;
- ambience/*.ogg: 30-second music beds that loop seamlessly (every component
  repeats a whole number of times in the loop, so the end meets the start):
  surf, drone and bowls. Encoded with ffmpeg (Vorbis).
The WAV output is deterministic, so running this again gives identical bytes;
the Ogg files depend on the Vorbis encoder, so they are compared by ear and by
measurement, not byte for byte.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

RATE = 44_100


def chime(length_s: float = 1.5, peak_dbfs: float = -14.0) -> np.ndarray:
    """Return a soft bell: a few inharmonic partials with gentle attack and long decay."""
    t = np.arange(round(length_s * RATE)) / RATE
    fundamental = 528.0
    # (ratio to the fundamental, relative level, decay time in seconds)
    partials = [(1.0, 1.0, 0.55), (2.01, 0.35, 0.35), (2.76, 0.18, 0.25), (5.40, 0.06, 0.12)]
    tone = np.zeros_like(t)
    for ratio, level, decay in partials:
        tone += level * np.sin(2 * np.pi * fundamental * ratio * t) * np.exp(-t / decay)
    attack = np.minimum(t / 0.012, 1.0)
    attack = 0.5 - 0.5 * np.cos(np.pi * attack)  # raised cosine: no click
    release = np.clip((length_s - t) / 0.15, 0.0, 1.0)
    tone *= attack * release
    tone *= 10 ** (peak_dbfs / 20) / np.max(np.abs(tone))
    return tone


def two_notes(first_hz: float, second_hz: float, peak_dbfs: float = -24.0) -> np.ndarray:
    """Return two short soft notes, each with a smooth rise and fall (no clicks)."""
    note_s = 0.09
    n = round(note_s * RATE)
    t = np.arange(n) / RATE
    window = np.sin(np.pi * t / note_s) ** 2
    notes = [np.sin(2 * np.pi * hz * t) * window for hz in (first_hz, second_hz)]
    gap = np.zeros(round(0.02 * RATE))
    tone = np.concatenate([notes[0], gap, notes[1]])
    return tone * 10 ** (peak_dbfs / 20) / np.max(np.abs(tone))


LOOP_S = 30.0


def _loop_noise(
    rng: np.random.Generator, n: int, slope: float, cutoff_hz: float, floor_hz: float = 150.0
) -> np.ndarray:
    """Return periodic coloured noise: shaped in the frequency domain, so it loops exactly.

    Below floor_hz it is rolled off: rumble adds peaks, not audible softness.
    """
    spectrum = rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    freqs[0] = freqs[1]
    shape = freqs**-slope / (1 + (freqs / cutoff_hz) ** 4) / (1 + (floor_hz / freqs) ** 2)
    shape[0] = 0.0
    noise = np.fft.irfft(spectrum * shape, n)
    return noise / np.max(np.abs(noise))


def _periodic(t: np.ndarray, period_s: float, phase: float = 0.0) -> np.ndarray:
    """A raised-cosine swell from 0 to 1 that repeats every period_s."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * (t / period_s + phase))


def surf() -> np.ndarray:
    """Soft surf: filtered noise with slow swells, a little different left and right."""
    rng = np.random.default_rng(20261125)
    n = round(LOOP_S * RATE)
    t = np.arange(n) / RATE
    channels = []
    for phase in (0.0, 0.08):
        low = _loop_noise(rng, n, 0.9, 500.0)
        high = _loop_noise(rng, n, 0.5, 2500.0)
        swell = _periodic(t, 7.5, phase) ** 1.5  # four waves in the loop
        channels.append(0.55 * low * (0.45 + 0.55 * swell) + 0.3 * high * swell**2)
    return np.stack(channels, axis=1)


def drone() -> np.ndarray:
    """A warm pad: a quiet A major chord of detuned pairs that slowly beat and breathe."""
    n = round(LOOP_S * RATE)
    t = np.arange(n) / RATE
    # Every frequency is a whole number of cycles per 30 s loop (a multiple of 1/30 Hz).
    chord = [(110.0, 1.0), (164.8, 0.6), (220.0, 0.5), (277.2, 0.3), (330.0, 0.2)]
    left = np.zeros(n)
    right = np.zeros(n)
    for index, (freq, level) in enumerate(chord):
        for detune, side in ((-0.1, left), (0.1, right)):
            for harmonic, weight in ((1, 1.0), (2, 0.25), (3, 0.08)):
                partial = (
                    level
                    * weight
                    * np.sin(2 * np.pi * (freq + detune) * harmonic * t + index * 0.7)
                )
                np.add(side, partial, out=side)
    breathe = 0.7 + 0.3 * _periodic(t, 15.0)
    return np.stack([left * breathe, right * breathe], axis=1) / len(chord)


def bowls() -> np.ndarray:
    """Singing bowls struck softly every 7.5 s, ringing into the next strike."""
    n = round(LOOP_S * RATE)
    out = np.zeros((n, 2))
    ring = round(12 * RATE)
    t = np.arange(ring) / RATE
    for strike, (pitch, pan) in enumerate(
        [(196.0, 0.35), (261.6, 0.65), (220.0, 0.45), (293.7, 0.55)]
    ):
        tone = np.zeros(ring)
        for ratio, level, decay in ((1.0, 1.0, 5.0), (2.76, 0.4, 3.0), (5.40, 0.15, 1.5)):
            beat = 1 + 0.3 * np.cos(2 * np.pi * 0.6 * t)  # the slow wobble of a real bowl
            tone += level * beat * np.sin(2 * np.pi * pitch * ratio * t) * np.exp(-t / decay)
        tone *= np.minimum(t / 0.03, 1.0)  # a soft mallet
        start = round(strike * 7.5 * RATE)
        index = (start + np.arange(ring)) % n  # the tail wraps into the loop's start
        np.add.at(out[:, 0], index, tone * (1 - pan))
        np.add.at(out[:, 1], index, tone * pan)
    return out


AMBIENCES = {"surf": surf, "drone": drone, "bowls": bowls}


def write_ogg(path: Path, samples: np.ndarray, peak_dbfs: float = -6.0) -> None:
    """Encode stereo float samples as Ogg Vorbis with ffmpeg."""
    samples = samples * 10 ** (peak_dbfs / 20) / np.max(np.abs(samples))
    pcm = np.round(samples * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "loop.raw"
        raw.write_bytes(pcm.tobytes())
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "s16le",
                "-ar",
                str(RATE),
                "-ac",
                "2",
                "-i",
                str(raw),
                "-c:a",
                "libvorbis",
                "-q:a",
                "3",
                "-map_metadata",
                "-1",
                "-fflags",
                "+bitexact",
                str(path),
            ],
            check=True,
        )


def write_wav(path: Path, samples: np.ndarray) -> None:
    """Write mono float samples as 16-bit PCM WAV."""
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm.tobytes())


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    out = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "assets"
    assets = {
        "chime.wav": chime(),
        "pause.wav": two_notes(660.0, 495.0),
        "resume.wav": two_notes(495.0, 660.0),
    }
    for name, samples in assets.items():
        write_wav(out / name, samples)
        print(f"wrote {out / name}")
    if "--no-ambience" not in argv:
        for name, make in AMBIENCES.items():
            write_ogg(out / "ambience" / f"{name}.ogg", make())
            print(f"wrote {out / 'ambience' / name}.ogg")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
