#!/usr/bin/env python3
"""Generate voiceguide's audio assets (no third-party recordings).

    python scripts/make_assets.py [OUTPUT_DIR]

Writes into assets/:
- chime.wav: a soft, bell-like tone that opens each step;
- pause.wav and resume.wav: two short, quiet notes, falling and rising, that
  confirm a pause and a resume.
The output is deterministic, so running this again gives identical bytes.
"""

from __future__ import annotations

import sys
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
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "assets"
    assets = {
        "chime.wav": chime(),
        "pause.wav": two_notes(660.0, 495.0),
        "resume.wav": two_notes(495.0, 660.0),
    }
    for name, samples in assets.items():
        write_wav(out / name, samples)
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
