"""The audio stack's names and defaults, for commands that load no audio (no numpy here).

The built-in music beds and how a bed is named, the bed's level and fade, and
the loudness target: `show` and `list` need them to lay out a session, `play`
and `export` to mix one.
"""

from __future__ import annotations

from pathlib import Path

from voiceguide.audio.assets import asset_path
from voiceguide.errors import AudioError

BUILTIN: dict[str, str] = {
    "surf": "soft surf: filtered noise rising and falling in slow waves, four to a loop",
    "drone": "a warm pad: a quiet A major chord whose detuned voices slowly beat and breathe",
    "bowls": "singing bowls struck softly every seven and a half seconds, ringing into each other",
}
NONE = "none"
DEFAULT_VOLUME_DB = -12.0  # the bed in holds, relative to the voice
BED_FADE_OUT_MS = 8000  # the bed fades out over the session's last 8 s
TARGET_LUFS = -16.0  # spoken-word podcasts


def builtin_names() -> list[str]:
    """Return the names of the built-in ambiences."""
    return list(BUILTIN)


def is_builtin(path: Path) -> bool:
    """Return True when path is one of the built-in beds (as resolve names them)."""
    return path.parent.name == "ambience" and path.stem in BUILTIN


def resolve(spec: str, base: Path | None = None, *, origin: str | None = None) -> Path | None:
    """Return the music file a spec names: none, a built-in name, or a path.

    A relative path is taken from `base` (the routine file's folder) when given;
    `origin` ("FILE:LINE") says where the spec was written, for the error.
    The spec is only ever a file name: nothing in it is expanded but a leading ~.
    """
    name = spec.strip()
    if name.lower() == NONE or not name:
        return None
    if name in BUILTIN:
        return asset_path(f"ambience/{name}.ogg")
    path = Path(name).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        names = ", ".join([*BUILTIN, NONE])
        where = f"{origin}: " if origin else ""
        looked = f" ({path})" if path != Path(name) else ""
        raise AudioError(
            f"{where}music {spec!r}: no such file{looked}, and not a built-in ({names})"
        )
    return path
