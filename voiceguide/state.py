"""Remembered playback positions, in the user's state folder."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


def default_state_dir() -> Path:
    """Return the user's state folder (XDG_STATE_HOME/voiceguide on Linux)."""
    import platformdirs

    return platformdirs.user_state_path("voiceguide")


class ResumeStore:
    """Where each routine and variant was left off, as a step number."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "resume.json"

    @staticmethod
    def key(routine: str, variant: str) -> str:
        """Return the key for a routine (built-in name or resolved path) and variant."""
        return f"{routine}|{variant}"

    def _load(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int)}

    def get(self, key: str) -> int | None:
        """Return the saved step number for key, if any."""
        return self._load().get(key)

    def set(self, key: str, step: int | None) -> None:
        """Save (or, with None, forget) the step number for key. Best effort."""
        data = self._load()
        if step is None:
            if key not in data:
                return
            del data[key]
        else:
            data[key] = step
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".resume.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, indent=1, sort_keys=True)
                Path(tmp).replace(self.path)
            finally:
                Path(tmp).unlink(missing_ok=True)
