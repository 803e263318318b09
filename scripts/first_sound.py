#!/usr/bin/env python3
"""Measure time to first sound of `voiceguide play` (a benchmark, not a test).

    .venv/bin/python scripts/first_sound.py [--runs N]

Plays through an ALSA `file` device (no sound card needed) and reports the
time from starting the command to the first frame reaching the device, for
the 5-minute short lower-back session and for a 60-minute session, with a
warm clip cache (every line already synthesized).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "short lower-back (5 min)": ["lower-back", "--short"],
    "lower-back --minutes 60": ["lower-back", "--minutes", "60"],
}


def capture_env(folder: Path) -> tuple[dict[str, str], Path]:
    """Return an environment whose ALSA default device is a file in folder, and that file."""
    capture = folder / "capture.raw"
    conf = folder / "asound.conf"
    conf.write_text(
        f'pcm.!default {{ type file slave.pcm "null" file "{capture}" format "raw" }}\n'
    )
    env = dict(os.environ)
    env["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{conf}"
    env["XDG_STATE_HOME"] = str(folder / "state")
    return env, capture


def first_sound_s(args: list[str], env: dict[str, str], capture: Path) -> float:
    capture.unlink(missing_ok=True)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "voiceguide", "play", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        while True:
            if capture.exists() and capture.stat().st_size > 0:
                return time.perf_counter() - started
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise SystemExit(f"voiceguide play stopped before any sound: {err}")
            time.sleep(0.001)
    finally:
        process.kill()
        process.wait()
        if process.stderr:
            process.stderr.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voiceguide-bench-") as folder:
        root = Path(folder)
        env, capture = capture_env(root)
        env["XDG_CACHE_HOME"] = str(root / "cache")
        print(f"time to first sound, warm cache, {options.runs} runs each")
        for name, args in CASES.items():
            # Warm the cache: synthesize and measure every line once.
            subprocess.run(
                [sys.executable, "-m", "voiceguide", "export", *args, "-o", str(root / "w.wav")],
                env=env,
                check=True,
                capture_output=True,
            )
            times = [first_sound_s(args, env, capture) for _ in range(options.runs)]
            print(
                f"  {name:<28} median {statistics.median(times):.3f} s"
                f"  (min {min(times):.3f}, max {max(times):.3f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
