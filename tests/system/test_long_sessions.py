"""Long sessions: a 2-hour session exports in the same bounded memory as a 15-minute one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ffprobe_duration_ms

EXPORT = [sys.executable, "-m", "voiceguide", "export", "lower-back", "--engine", "system"]


def peak_rss_mb(pid: int) -> float:
    """Return a process's own peak resident set size (VmHWM) so far, or 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measured(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run a command; return its wall time in seconds and its own peak RSS in MB.

    The peak is read from /proc while it runs (as scripts/bench does), so the
    encoder it starts is not counted.
    """
    started = time.monotonic()
    process = subprocess.Popen(
        args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, peak_rss_mb(process.pid))
        time.sleep(0.02)
    took = time.monotonic() - started
    out, err = process.communicate()
    assert process.returncode == 0, err.decode()
    assert out.startswith(b"wrote "), out
    return took, peak


@pytest.mark.slow
def test_a_two_hour_export_needs_no_more_memory_than_a_quarter_hour(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    # WAV: the cheapest encoder, so the time goes to our side of the pipe.
    quarter, two_hours = tmp_path / "quarter.wav", tmp_path / "two-hours.wav"
    measured([*EXPORT, "--minutes", "15", "-o", str(quarter)], env)  # synthesizes every line
    quarter_s, quarter_mb = measured([*EXPORT, "--minutes", "15", "-o", str(quarter)], env)
    long_s, long_mb = measured([*EXPORT, "--minutes", "120", "-o", str(two_hours)], env)
    try:
        assert ffprobe_duration_ms(two_hours) == pytest.approx(120 * 60_000, abs=50)
        assert ffprobe_duration_ms(quarter) == pytest.approx(15 * 60_000, abs=50)
    finally:
        two_hours.unlink()  # 1.3 GB
    print(
        f"\npeak RSS: 15 minutes {quarter_mb:.0f} MB ({quarter_s:.1f} s), "
        f"2 hours {long_mb:.0f} MB ({long_s:.1f} s)"
    )
    # Eight times the audio, and (within the noise of thread timing) the same memory.
    assert long_mb <= 1.2 * quarter_mb, (quarter_mb, long_mb)
