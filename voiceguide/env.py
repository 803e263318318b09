"""The environment the CLI runs in; tests replace parts of it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voiceguide.config import Settings
    from voiceguide.outputs import AudioOutput
    from voiceguide.speech.base import EngineFactory, SpeechEngine, SpeechLibrary
    from voiceguide.state import ResumeStore

OutputFactory = Callable[[str, str], "AudioOutput"]


def _create_engine(name: str, voice: str | None, rate_wpm: int) -> SpeechEngine:
    from voiceguide.speech.engines import create_engine

    return create_engine(name, voice, rate_wpm)


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

    make_engine: EngineFactory = _create_engine
    cache_dir: Path | None = None  # None: the user's cache folder
    state_dir: Path | None = None  # None: the user's state folder
    config_path: Path | None = None  # None: the user's config.toml
    open_output: OutputFactory = _open_output
    workers: int = 0  # processes for synthesis; 0: one per core

    def settings(
        self,
        engine: str | None = None,
        voice: str | None = None,
        rate: int | None = None,
        music: str | None = None,
        music_volume: float | None = None,
    ) -> Settings:
        """Return the settings in force: these options over the config file over defaults."""
        from voiceguide.config import resolve

        options = {
            "engine": engine,
            "voice": voice,
            "rate": rate,
            "music": music,
            "music_volume": music_volume,
        }
        return resolve(options, self.config_path)

    def speech(self, settings: Settings) -> SpeechLibrary:
        """Return a speech library for the settings, backed by the clip cache."""
        from voiceguide.speech.base import EngineRecipe, SpeechLibrary
        from voiceguide.speech.cache import ClipCache

        name, voice, rate = settings.engine.value, settings.voice.value, settings.rate.value
        return SpeechLibrary(
            self.make_engine(name, voice, rate),
            ClipCache(self.cache_dir if self.cache_dir is not None else default_cache_dir()),
            recipe=EngineRecipe(self.make_engine, name, voice, rate),
            workers=self.workers or os.cpu_count() or 1,
        )

    def memo_path(self, name: str) -> Path:
        """Return where a small measurement kept between runs lives (beside the voice digests)."""
        import platformdirs

        return platformdirs.user_cache_path("voiceguide") / name

    def resume_store(self) -> ResumeStore:
        """Return the store of remembered playback positions."""
        from voiceguide.state import ResumeStore, default_state_dir

        return ResumeStore(self.state_dir if self.state_dir is not None else default_state_dir())
