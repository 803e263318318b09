"""The user's config file: defaults for engine, voice and rate, overridden by options.

Precedence, highest first: the command line, config.toml in the user's config
folder ($XDG_CONFIG_HOME/voiceguide/config.toml), voiceguide's own defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from voiceguide.errors import ConfigError, Diagnostic
from voiceguide.spoken import DEFAULT_RATE_WPM
from voiceguide.textfile import TextFileError, decode, parse_toml, quote
from voiceguide.tomlpos import TomlPositions


@dataclass(frozen=True)
class Overrides:
    """The settings given on the command line (None: not given)."""

    engine: str | None = None
    voice: str | None = None
    rate: int | None = None
    music: str | None = None
    music_volume: float | None = None


KEYS = tuple(f.name for f in fields(Overrides))


@dataclass(frozen=True)
class Setting:
    """A value in force and where it came from."""

    value: Any
    source: str


@dataclass(frozen=True)
class Settings:
    """The settings in force for one command."""

    engine: Setting
    voice: Setting
    rate: Setting
    music: Setting
    music_volume: Setting
    path: Path

    def items(self) -> list[tuple[str, Setting]]:
        """Return (name, setting) pairs in display order."""
        return [
            ("engine", self.engine),
            ("voice", self.voice),
            ("rate", self.rate),
            ("music", self.music),
            ("music_volume", self.music_volume),
        ]


def _load(path: Path) -> dict[str, tuple[Any, int]]:
    """Return the config file's values with their lines; {} when there is no file."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise ConfigError(
            [Diagnostic(source, None, f"cannot read the config file: {err.strerror}")]
        ) from None
    try:
        text = decode(raw, "a config file")
        data = parse_toml(text)
    except TextFileError as err:
        raise ConfigError([Diagnostic(source, err.line, err.message)]) from None
    positions = TomlPositions(text)
    problems: list[Diagnostic] = []
    values: dict[str, tuple[Any, int]] = {}

    def line(key: str) -> int:
        return positions.line_of((key,)) or 1

    from voiceguide.speech.engines import ENGINES  # deferred: it brings numpy

    for key, value in data.items():
        if key not in KEYS:
            problems.append(
                Diagnostic(
                    source,
                    line(key),
                    f"unknown key {quote(key)}; expected one of: {', '.join(KEYS)}",
                )
            )
        elif key == "engine" and value not in ENGINES:
            problems.append(
                Diagnostic(source, line(key), f"engine must be one of: {', '.join(ENGINES)}")
            )
        elif key == "voice" and not (isinstance(value, str) and value.strip()):
            problems.append(
                Diagnostic(source, line(key), "voice must be a voice name or .onnx path in quotes")
            )
        elif key == "rate" and (
            isinstance(value, bool) or not isinstance(value, int) or not 60 <= value <= 400
        ):
            problems.append(
                Diagnostic(
                    source, line(key), "rate must be a whole number of words per minute, 60 to 400"
                )
            )
        elif key == "music" and not (isinstance(value, str) and value.strip()):
            problems.append(
                Diagnostic(
                    source, line(key), 'music must be a built-in name, a file path or "none"'
                )
            )
        elif key == "music_volume" and (
            isinstance(value, bool) or not isinstance(value, int | float) or not -40 <= value <= 0
        ):
            problems.append(
                Diagnostic(source, line(key), "music_volume must be a number of dB from -40 to 0")
            )
        else:
            values[key] = (value, line(key))
    if problems:
        raise ConfigError(problems)
    return values


def resolve(overrides: Overrides, path: Path) -> Settings:
    """Return the settings in force: command-line options over the config file over defaults."""
    # Deferred: `voiceguide --help` needs no config.
    from voiceguide.audio.defaults import DEFAULT_VOLUME_DB
    from voiceguide.speech.engines import default_engine

    stored = _load(path)

    def pick(key: str, fallback: Any, fallback_source: str) -> Setting:
        given = getattr(overrides, key)
        if given is not None:
            return Setting(given, "command line")
        if key in stored:
            value, line = stored[key]
            return Setting(value, f"{path}:{line}")
        return Setting(fallback, fallback_source)

    engine = pick("engine", None, "default")
    if engine.value is None:
        chosen = default_engine()
        why = "piper-tts is installed" if chosen == "piper" else "piper-tts is not installed"
        engine = Setting(chosen, f"default ({why})")
    voice = pick("voice", None, "default (the engine's own)")
    configured_engine = stored.get("engine", (engine.value, 0))[0]
    if voice.source.startswith(str(path)) and configured_engine != engine.value:
        # A voice in the config file belongs to the engine configured there.
        voice = Setting(None, "default (the engine's own)")
    rate = pick("rate", DEFAULT_RATE_WPM, "default")
    music = pick("music", None, "default (the routine's, or none)")
    volume = pick("music_volume", DEFAULT_VOLUME_DB, "default")
    return Settings(engine, voice, rate, music, volume, path)
