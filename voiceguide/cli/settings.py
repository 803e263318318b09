"""Commands about settings: config, voices and music."""

from __future__ import annotations

import typer

from voiceguide.cli.core import guarded, run_of, stderr
from voiceguide.cli.options import Engine, Music, MusicVolume, Rate, Voice


@guarded
def voices(ctx: typer.Context) -> None:
    """List every engine's voices; * marks the one used by default."""
    from voiceguide.pipeline import voices as list_voices

    found = list_voices(run_of(ctx).env.voices_folder())
    listed = found.voices
    width = max(len(v.voice.name) for v in listed)
    typer.echo(f"  {'engine':<7} {'name':<{width}}  {'language':<10} voice")
    for item in listed:
        mark = "*" if item.default else " "
        language = ",".join(item.voice.languages) or "?"
        typer.echo(
            f"{mark} {item.engine:<7} {item.voice.name:<{width}}  {language:<10} {item.voice.id}"
        )
    for problem in found.unavailable:
        stderr(f"warning: {problem}")


@guarded
def music_list(ctx: typer.Context) -> None:
    """List the built-in ambiences for --music."""
    from voiceguide.pipeline import ambiences

    builtin = ambiences()
    width = max(len(name) for name in builtin)
    for name, description in builtin.items():
        typer.echo(f"{name:<{width}}  {description}")
    typer.echo(f"{'none':<{width}}  no music")


@guarded
def config(
    ctx: typer.Context,
    engine: Engine = None,
    voice: Voice = None,
    rate: Rate = None,
    music: Music = None,
    music_volume: MusicVolume = None,
) -> None:
    """Show each setting in force and where it comes from."""
    from voiceguide.config import Overrides

    settings = run_of(ctx).env.settings(Overrides(engine, voice, rate, music, music_volume))
    exists = "" if settings.path.exists() else " (not there yet)"
    typer.echo(f"config file: {settings.path}{exists}")
    for name, setting in settings.items():
        empty = "(engine default)" if name == "voice" else "(none)"
        value = empty if setting.value is None else str(setting.value)
        typer.echo(f"{name:<12} {value:<24} {setting.source}")
