#!/usr/bin/env python3
"""Measure how quickly voiceguide answers (a benchmark, not a test).

    .venv/bin/python scripts/first_sound.py [--runs N]

Prints, as medians of N runs (5 unless told) with a warm cache, beside the
floors measured in the same run (`python -c pass` and `voiceguide --version`):
the wall time of `--help`, `list`, `show lower-back --short` and `check
lower-back`; and the time to first sound of `play`, from starting the command
to the first frame reaching an ALSA `file` device (no sound card needed), for
the 5-minute short lower-back session and for a 60-minute session.
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
QUICK = {
    "python -c pass": ["-c", "pass"],
    "voiceguide --version (floor)": ["-m", "voiceguide", "--version"],
    "voiceguide --help": ["-m", "voiceguide", "--help"],
    "voiceguide list": ["-m", "voiceguide", "list"],
    "voiceguide show lower-back --short": ["-m", "voiceguide", "show", "lower-back", "--short"],
    "voiceguide check lower-back": ["-m", "voiceguide", "check", "lower-back"],
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


def wall_s(args: list[str], env: dict[str, str]) -> float:
    """Return the wall time of `python ARGS`, which must succeed."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *args],
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def warm_up(env: dict[str, str], folder: Path) -> None:
    """Fill the cache for every case: clips, analyses, session manifests, the bed."""
    for args in CASES.values():
        out = str(folder / "warm.wav")
        subprocess.run(
            [sys.executable, "-m", "voiceguide", "export", *args, "-o", out],
            env=env,
            check=True,
            capture_output=True,
        )
    for args in QUICK.values():
        wall_s(args, env)


def print_instant(env: dict[str, str], capture: Path, runs: int = 5) -> None:
    """Print the quick commands' wall times and play's first sound, as medians of runs.

    The cases take turns within each round, so that other work on the machine
    weighs on all of them alike.
    """
    quick: dict[str, list[float]] = {name: [] for name in QUICK}
    sound: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(runs):
        for name, args in QUICK.items():
            quick[name].append(wall_s(args, env))
        for name, args in CASES.items():
            sound[name].append(first_sound_s(args, env, capture))
    print(f"how quickly it answers, warm cache, median of {runs}")
    for name, times in [*quick.items(), *(("first sound, " + n, t) for n, t in sound.items())]:
        print(
            f"  {name:<40} {statistics.median(times):6.3f} s"
            f"  (min {min(times):.3f}, max {max(times):.3f})"
        )


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
        warm_up(env, root)
        print_instant(env, capture, options.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
