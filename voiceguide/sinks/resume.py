"""Remembered playback positions, in the user's state folder."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from voiceguide.files import atomic_write


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
        text = json.dumps(data, indent=1, sort_keys=True)
        with contextlib.suppress(OSError):
            atomic_write(self.path, text.encode("utf-8"), make_parents=True)
