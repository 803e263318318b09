"""Find the generated audio assets (made by scripts/make_assets.py)."""

from __future__ import annotations

from pathlib import Path

from voiceguide.errors import AudioError

_PACKAGE = Path(__file__).resolve().parents[1]  # voiceguide/


def asset_path(name: str) -> Path:
    """Return the path of an asset, from the installed package or the source tree."""
    for folder in (_PACKAGE / "assets", _PACKAGE.parent / "assets"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise AudioError(
        f"audio asset {name} is missing; regenerate it with python scripts/make_assets.py"
    )
