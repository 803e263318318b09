"""What the stages know, asked without making a session: sounds, music, voices, lengths.

The CLI reaches these through `pipeline.py` (which re-exports them). Nothing
here loads numpy until a sound is wanted: `list` asks for a routine's lengths
from the session manifests and the cached clips alone.
"""

from __future__ import annotations

import math
import shutil
import threading
import wave
from pathlib import Path
from typing import TYPE_CHECKING

from voiceguide.audio import defaults
from voiceguide.audio.manifest import open_manifest
from voiceguide.routine.model import Routine, Variant
from voiceguide.speech.clip import Clip
from voiceguide.spoken import estimate_ms
from voiceguide.timeline.compile import compile_timeline
from voiceguide.timeline.script import spoken_texts

if TYPE_CHECKING:
    from voiceguide.audio.music import FloatArray
    from voiceguide.config import Settings
    from voiceguide.files import CacheFolder
    from voiceguide.sinks.player import Tones
    from voiceguide.speech.engines import VoiceList
    from voiceguide.speech.library import SpeechLibrary


def load_asset(name: str) -> Clip:
    """Return a generated sound from assets/."""
    from voiceguide.audio.assets import asset_path
    from voiceguide.audio.format import read_wav_mono

    samples, rate = read_wav_mono(asset_path(name))
    return Clip(samples, rate)


def load_chime() -> Clip:
    """Return the chime that opens each step."""
    return load_asset("chime.wav")


def load_tones() -> Tones:
    """Return the soft sounds that confirm pause and resume, ready to play."""
    from voiceguide.audio.analysis import prepare
    from voiceguide.audio.render import to_pcm
    from voiceguide.sinks.player import Tones

    return Tones(
        to_pcm(prepare(load_asset("pause.wav"))), to_pcm(prepare(load_asset("resume.wav")))
    )


def chime_ms() -> int:
    """Return the chime's length in ms (as load_chime().duration_ms), from its header alone."""
    from voiceguide.audio.assets import asset_path

    path = asset_path("chime.wav")
    try:
        with wave.open(str(path), "rb") as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
    except (OSError, EOFError, wave.Error):
        return load_chime().duration_ms  # which says what is wrong with it
    return math.ceil(frames * 1000 / rate)


def music_for(settings: Settings, routine: Routine) -> tuple[Path | None, float]:
    """Return the music file and volume: command line, then routine, then config file."""
    volume = float(settings.music_volume.value)
    if settings.music.source == "command line":
        return defaults.resolve(str(settings.music.value)), volume
    if routine.music is not None:
        line = f":{routine.music_line}" if routine.music_line is not None else ""
        origin = f"{routine.source}{line}"
        return defaults.resolve(routine.music, routine.folder, origin=origin), volume
    if settings.music.value is not None:
        return defaults.resolve(str(settings.music.value)), volume
    return None, volume


def can_decode_music() -> bool:
    """Return True when ffmpeg, which decodes music beds, is installed."""
    return shutil.which("ffmpeg") is not None


def require_encoder() -> None:
    """Raise AudioError, naming the package, unless ffmpeg (the encoder) is installed."""
    from voiceguide.audio.format import find_ffmpeg

    find_ffmpeg()


def ambiences() -> dict[str, str]:
    """Return the built-in music beds, by name, with a line about each."""
    return dict(defaults.BUILTIN)


def voices(voice_dir: Path) -> VoiceList:
    """Return every working engine's voices (extra Piper voices from voice_dir)."""
    from voiceguide.speech.engines import list_voices

    return list_voices(voice_dir)


def lengths(routine: Routine, speech: SpeechLibrary, rate_wpm: int) -> list[tuple[int, bool]]:
    """Return each version's length (short, full) and whether it is estimated.

    Lengths come from the cached clips; lines not synthesized yet are
    estimated from their word count. Nothing is synthesized.
    """
    chime = chime_ms()
    found = []
    for variant in (Variant.SHORT, Variant.FULL):
        estimated = False
        manifest = open_manifest(speech, spoken_texts(routine, variant))

        def measure(text: str) -> int:
            nonlocal estimated
            known = speech.cached_duration_ms(text)
            if known is not None:
                return known
            estimated = True
            return estimate_ms(text, rate_wpm)

        timeline = compile_timeline(routine, variant, measure, chime_ms=chime)
        manifest.save()  # the lengths of the lines cached, for the next time
        found.append((timeline.total_ms, estimated))
    return found


class BedLoader:
    """A music bed decoded in a thread (ffmpeg does the work in its own process)."""

    def __init__(self, path: Path | None, cache: CacheFolder | None = None) -> None:
        self.cache = cache
        self.builtin = path is None or defaults.is_builtin(path)
        self._loop: FloatArray | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if path is not None:
            self._thread = threading.Thread(
                target=self._load, args=(path,), name="voiceguide-bed", daemon=True
            )
            self._thread.start()

    def _load(self, path: Path) -> None:
        from voiceguide.audio.music import load_bed

        try:
            self._loop = load_bed(path, self.cache)
        except BaseException as err:  # raised where the bed is wanted
            self._error = err

    def wait(self) -> FloatArray | None:
        """Return the bed's loop (None without music), or raise what decoding it raised."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._loop
