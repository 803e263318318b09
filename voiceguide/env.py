"""The environment the CLI runs in; tests replace parts of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voiceguide.outputs import AudioOutput
    from voiceguide.speech.base import SpeechEngine, SpeechLibrary
    from voiceguide.state import ResumeStore

EngineFactory = Callable[[str | None, int], "SpeechEngine"]
OutputFactory = Callable[[str, str], "AudioOutput"]


def _system_engine(voice: str | None, rate_wpm: int) -> SpeechEngine:
    from voiceguide.speech.system import SystemEngine

    return SystemEngine(voice, rate_wpm)


def _open_output(backend: str, device: str) -> AudioOutput:
    from voiceguide.outputs import open_output

    return open_output(backend, device)


def default_cache_dir() -> Path:
    """Return the user's clip cache folder (XDG_CACHE_HOME/voiceguide/clips on Linux)."""
    import platformdirs

    return platformdirs.user_cache_path("voiceguide") / "clips"


@dataclass(frozen=True)
class Environment:
    """What the CLI needs from the outside world."""

    make_engine: EngineFactory = _system_engine
    cache_dir: Path | None = None  # None: the user's cache folder
    state_dir: Path | None = None  # None: the user's state folder
    open_output: OutputFactory = _open_output

    def speech(self, voice: str | None, rate_wpm: int) -> SpeechLibrary:
        """Return a speech library for a voice and rate, backed by the clip cache."""
        from voiceguide.speech.base import SpeechLibrary
        from voiceguide.speech.cache import ClipCache

        folder = self.cache_dir if self.cache_dir is not None else default_cache_dir()
        return SpeechLibrary(self.make_engine(voice, rate_wpm), ClipCache(folder))

    def resume_store(self) -> ResumeStore:
        """Return the store of remembered playback positions."""
        from voiceguide.state import ResumeStore, default_state_dir

        return ResumeStore(self.state_dir if self.state_dir is not None else default_state_dir())
