"""Choosing and creating speech engines by name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voiceguide.errors import SpeechError, UsageError
from voiceguide.speech.clip import VoiceInfo
from voiceguide.speech.engine import SpeechEngine

ENGINES = ("piper", "system")


def default_engine() -> str:
    """Return the engine used when none is chosen: piper when installed, else system."""
    from voiceguide.speech import piper

    return "piper" if piper.installed() else "system"


def create_engine(
    name: str,
    voice: str | None,
    rate_wpm: int,
    *,
    digest_memo: Path | None = None,
    model_folder: Path | None = None,
) -> SpeechEngine:
    """Create an engine by name ("piper" or "system").

    digest_memo is where the voice files' checksums are remembered between runs;
    model_folder where Piper voices made deterministic are kept (see speech/noise.py).
    """
    if name == "piper":
        from voiceguide.speech.piper import PiperEngine

        return PiperEngine(voice, rate_wpm, digest_memo=digest_memo, model_folder=model_folder)
    if name == "system":
        from voiceguide.speech.system import SystemEngine

        return SystemEngine(voice, rate_wpm)
    raise UsageError(f'unknown engine "{name}"; use one of: {", ".join(ENGINES)}')


@dataclass(frozen=True)
class ListedVoice:
    """A voice in `voiceguide voices`."""

    engine: str
    voice: VoiceInfo
    default: bool


@dataclass(frozen=True)
class VoiceList:
    """Every voice that works, and why an engine that does not, does not."""

    voices: tuple[ListedVoice, ...]
    unavailable: tuple[SpeechError, ...]


def list_voices(voice_dir: Path) -> VoiceList:
    """Return every working engine's voices; the default voice of the default engine is marked.

    voice_dir is the folder where extra Piper voices (.onnx + .onnx.json) are looked for.
    An engine that cannot start is left out and said why; if none can, that is an error.
    """
    from voiceguide.speech import piper
    from voiceguide.speech.system import SystemEngine

    chosen = default_engine()
    found: list[ListedVoice] = []
    if piper.installed():
        default_model = piper.default_voice_path()
        models = [default_model, *sorted(voice_dir.glob("*.onnx"))]
        for model in models:
            if not Path(f"{model}.json").is_file():
                continue
            (info,) = piper.PiperEngine(str(model)).voices()
            found.append(ListedVoice("piper", info, chosen == "piper" and model == default_model))
    unavailable: list[SpeechError] = []
    try:
        system = SystemEngine()
        default_id = system.default_voice_id()
        for info in system.voices():
            found.append(ListedVoice("system", info, chosen == "system" and info.id == default_id))
    except SpeechError as err:  # espeak-ng missing: the Piper voices still work
        unavailable.append(err)
    if not found:
        raise unavailable[0]
    return VoiceList(tuple(found), tuple(unavailable))
