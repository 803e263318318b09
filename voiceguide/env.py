"""The environment a command runs in: the user's folders and the factories for devices.

This is the one place that knows where the user's files live; everything
below is given its folders. Tests replace any part (a fake engine, a
temporary cache, a recording output).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voiceguide.config import Overrides, Settings
    from voiceguide.routine.library import RoutineLibrary
    from voiceguide.sinks.outputs import AudioOutput
    from voiceguide.sinks.practice import PracticeLog
    from voiceguide.sinks.resume import ResumeStore
    from voiceguide.speech.engine import EngineFactory, SpeechEngine
    from voiceguide.speech.library import SpeechLibrary

OutputFactory = Callable[[str, str], "AudioOutput"]
APP = "voiceguide"


def user_cache_dir() -> Path:
    """Return voiceguide's cache folder (XDG_CACHE_HOME/voiceguide on Linux)."""
    import platformdirs

    return platformdirs.user_cache_path(APP)


def _create_engine(name: str, voice: str | None, rate_wpm: int) -> SpeechEngine:
    """Create a real engine; the voice digests are remembered in the user's cache folder."""
    from voiceguide.speech.engines import create_engine

    cache = user_cache_dir()
    return create_engine(
        name,
        voice,
        rate_wpm,
        digest_memo=cache / "voice-digests.json",
        model_folder=cache / "voices",
    )


def _open_output(backend: str, device: str) -> AudioOutput:
    from voiceguide.sinks.outputs import open_output

    return open_output(backend, device)


@dataclass(frozen=True)
class Environment:
    """What a command needs from the outside world; None means the user's own folder."""

    make_engine: EngineFactory = _create_engine
    cache_dir: Path | None = None  # clips and analyses: XDG_CACHE_HOME/voiceguide/clips
    state_dir: Path | None = None  # resume points, practice log: XDG_STATE_HOME/voiceguide
    config_path: Path | None = None  # XDG_CONFIG_HOME/voiceguide/config.toml
    routines_dir: Path | None = None  # the user's routines: XDG_CONFIG_HOME/voiceguide/routines
    voices_dir: Path | None = None  # extra Piper voices: XDG_DATA_HOME/voiceguide/voices
    open_output: OutputFactory = _open_output
    workers: int = 0  # processes for synthesis; 0: one per core
    renders_dir: Path | None = None  # served sessions: XDG_CACHE_HOME/voiceguide/renders
    token_path: Path | None = None  # serve's secret: XDG_CONFIG_HOME/voiceguide/serve-token

    def clip_dir(self) -> Path:
        """Return the clip cache's folder."""
        return self.cache_dir if self.cache_dir is not None else user_cache_dir() / "clips"

    def config_file(self) -> Path:
        """Return the config file's path (it need not exist)."""
        if self.config_path is not None:
            return self.config_path
        import platformdirs

        return platformdirs.user_config_path(APP) / "config.toml"

    def routines_folder(self) -> Path:
        """Return the folder of the user's own routines (it need not exist)."""
        if self.routines_dir is not None:
            return self.routines_dir
        import platformdirs

        return platformdirs.user_config_path(APP) / "routines"

    def voices_folder(self) -> Path:
        """Return the folder where extra Piper voices (.onnx + .onnx.json) are looked for."""
        if self.voices_dir is not None:
            return self.voices_dir
        import platformdirs

        return platformdirs.user_data_path(APP) / "voices"

    def renders_folder(self) -> Path:
        """Return the folder of sessions rendered for `serve` (cached by content)."""
        return self.renders_dir if self.renders_dir is not None else user_cache_dir() / "renders"

    def token_file(self) -> Path:
        """Return the file that keeps `serve`'s secret token (it need not exist)."""
        if self.token_path is not None:
            return self.token_path
        import platformdirs

        return platformdirs.user_config_path(APP) / "serve-token"

    def state_folder(self) -> Path:
        """Return the folder of resume points and the practice log."""
        if self.state_dir is not None:
            return self.state_dir
        import platformdirs

        return platformdirs.user_state_path(APP)

    def cover_file(self) -> Path | None:
        """Return the cover art as a PNG file (made once), for media players; None if unwritable."""
        path = user_cache_dir() / "cover.png"
        if not path.exists():
            from voiceguide.files import atomic_write
            from voiceguide.sinks.feed import cover_png  # the feed's modules: only to make it

            try:
                atomic_write(path, cover_png(), make_parents=True)
            except OSError:
                return None
        return path

    def memo_path(self, name: str) -> Path:
        """Return where a small measurement kept between runs lives (beside the voice digests)."""
        return user_cache_dir() / name

    def library(self) -> RoutineLibrary:
        """Return the routines a user can name: their own, then the built-in ones."""
        from voiceguide.routine.library import RoutineLibrary

        return RoutineLibrary(self.routines_folder())

    def settings(self, overrides: Overrides | None = None) -> Settings:
        """Return the settings in force: these options over the config file over defaults."""
        from voiceguide.config import Overrides, resolve

        return resolve(overrides if overrides is not None else Overrides(), self.config_file())

    def speech(self, settings: Settings) -> SpeechLibrary:
        """Return a speech library for the settings, backed by the clip cache."""
        from voiceguide.speech.cache import ClipCache
        from voiceguide.speech.engine import EngineRecipe
        from voiceguide.speech.library import SpeechLibrary

        name, voice, rate = settings.engine.value, settings.voice.value, settings.rate.value
        return SpeechLibrary(
            self.make_engine(name, voice, rate),
            ClipCache(self.clip_dir()),
            recipe=EngineRecipe(self.make_engine, name, voice, rate),
            workers=self.workers or os.cpu_count() or 1,
        )

    def resume_store(self) -> ResumeStore:
        """Return the store of remembered playback positions."""
        from voiceguide.sinks.resume import ResumeStore

        return ResumeStore(self.state_folder())

    def practice_log(self, warn: Callable[[str], None] | None = None) -> PracticeLog:
        """Return the log of sessions played (STATE/practice.db); warn gets its problems."""
        from voiceguide.sinks.practice import PracticeLog

        return PracticeLog(self.state_folder(), warn=warn)
