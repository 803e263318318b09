"""The system voice: pyttsx3, which on Linux speaks through espeak-ng."""

from __future__ import annotations

import contextlib
import io
import wave
from typing import Any

from voiceguide.errors import RateOutOfRangeError, SpeechError
from voiceguide.files import temp_dir
from voiceguide.speech.clip import Clip, VoiceInfo, plain_text
from voiceguide.spoken import DEFAULT_RATE_WPM

# The shared library pyttsx3's espeak driver loads (it tries these names on Linux).
ESPEAK_LIBRARIES = ("libespeak-ng.so.1", "/usr/local/lib/libespeak-ng.so.1", "libespeak.so.1")
INSTALL_COMMAND = "sudo apt install espeak-ng"
# espeak's rate parameter runs fast: at 150 it speaks about 166 words per minute
# (measured over the lower-back routine, silence trimmed). Dividing by this
# makes --rate mean real words per minute.
ESPEAK_SPEEDUP = 1.105


def espeak_rate(rate_wpm: int) -> int:
    """Return espeak's rate parameter for a speaking rate in words per minute."""
    return round(rate_wpm / ESPEAK_SPEEDUP)


class SystemEngine:
    """Speech through pyttsx3. Made lazily: creating one starts no audio."""

    name = "system"
    parallel_synthesis = False  # about 10 ms a line; and espeak cannot run in a forked worker

    def __init__(self, voice: str | None = None, rate_wpm: int = DEFAULT_RATE_WPM) -> None:
        if not 60 <= rate_wpm <= 400:
            raise RateOutOfRangeError(rate_wpm)
        self.rate_wpm = rate_wpm
        self._requested_voice = voice
        self._engine: Any = None
        self._voice_id: str | None = None

    def _driver(self) -> Any:
        if self._engine is None:
            self._engine = _start_pyttsx3()
            # The voice and rate are set before each line (see _speak_with), not
            # through pyttsx3: it queues settings while busy and applies them at
            # its next run, after (and over) the ones another engine set.
            self._voice_id = self._resolve_voice(self._requested_voice)
        return self._engine

    def default_voice_id(self) -> str:
        """Return the voice used when none is chosen (US English when there is one)."""
        voices = self.voices()
        for candidate in ("gmw/en-us", "gmw/en"):
            if any(v.id == candidate for v in voices):
                return candidate
        return voices[0].id if voices else "en"

    def _resolve_voice(self, wanted: str | None) -> str:
        voices = self.voices()
        if wanted is None:
            return self.default_voice_id()
        lowered = wanted.lower()
        for voice in voices:
            if lowered in (voice.id.lower(), voice.name.lower()):
                return voice.id
        for voice in voices:
            if lowered in (lang.lower() for lang in voice.languages):
                return voice.id
        raise SpeechError(
            f'unknown voice "{wanted}"; use a voice id such as gmw/en-us, '
            "or a language such as en-us (espeak-ng --voices lists them)"
        )

    def single_threaded(self) -> None:
        """espeak-ng computes on the calling thread already."""

    @property
    def identity(self) -> str:
        self._driver()
        return f"pyttsx3-espeak|{self._voice_id}|{self.rate_wpm}|{espeak_rate(self.rate_wpm)}"

    def voices(self) -> list[VoiceInfo]:
        # Listing voices needs the driver but not a voice choice.
        engine = self._engine if self._engine is not None else _start_pyttsx3()
        return [
            VoiceInfo(
                str(v.id),
                str(v.name),
                tuple(str(lang) for lang in (v.languages or [])),
            )
            for v in engine.getProperty("voices")
        ]

    def synthesize(self, text: str) -> Clip:
        engine = self._driver()
        _speak_with(self._voice_id, espeak_rate(self.rate_wpm))
        with temp_dir() as folder:
            path = folder / "clip.wav"
            # The espeak driver prints "Audio saved to ..." on stdout; keep it quiet.
            with contextlib.redirect_stdout(io.StringIO()):
                engine.save_to_file(plain_text(text), str(path))
                engine.runAndWait()
                _wait_for_espeak()
            try:
                with wave.open(str(path), "rb") as wav:
                    rate = wav.getframerate()
                    frames = wav.readframes(wav.getnframes())
            except (OSError, EOFError, wave.Error) as err:
                raise SpeechError(
                    f"the system voice produced no audio for {text!r} ({err})"
                ) from None
        import numpy as np  # here: a timeline from cached clips needs none

        return Clip(np.frombuffer(frames, dtype="<i2").astype(np.int16), rate)


def _speak_with(voice: str | None, rate: int) -> None:
    """Set espeak-ng's voice and rate for the next line, straight on the library.

    pyttsx3 keeps one espeak-ng engine per process for every SystemEngine, and a
    rate set through it after another engine spoke was not always heard
    (measured: a 120 wpm engine spoke at 240 after a 240 wpm one, about one time
    in three). Set on the library once its queue is empty, it always is.
    """
    from pyttsx3.drivers import _espeak

    _espeak.Synchronize()
    if voice is not None:
        _espeak.SetVoiceByName(voice.encode("utf-8"))
    _espeak.SetParameter(_espeak.RATE, rate, 0)
    _espeak.Synchronize()


def _start_pyttsx3() -> Any:
    """Return pyttsx3's espeak engine, or raise a SpeechError naming the fix."""
    try:
        import pyttsx3
    except ImportError as err:  # pragma: no cover - a broken install
        raise SpeechError(f"pyttsx3 is not installed ({err}); run scripts/run") from None
    try:
        return pyttsx3.init("espeak")
    except Exception as err:  # pyttsx3 raises RuntimeError, OSError, ...
        if not _espeak_library_loads():
            raise SpeechError(_espeak_missing()) from None
        raise SpeechError(
            f"the system voice cannot start ({err}); reinstall espeak-ng with: "
            f"sudo apt install --reinstall espeak-ng{_or_piper()}"
        ) from None


def _espeak_missing() -> str:
    """Return the message for a missing espeak-ng."""
    return (
        f"the system voice needs espeak-ng, which is not installed; "
        f"install it with: {INSTALL_COMMAND}{_or_piper()}"
    )


def _or_piper() -> str:
    from voiceguide.speech import piper

    return " (or use --engine piper)" if piper.installed() else ""


def _espeak_library_loads() -> bool:
    """Return True when the espeak-ng library pyttsx3 uses can be loaded."""
    import ctypes

    for name in ESPEAK_LIBRARIES:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def _wait_for_espeak() -> None:
    """Wait until espeak-ng has finished the utterance pyttsx3 asked for.

    pyttsx3's espeak driver returns from runAndWait as soon as synthesis has
    started: espeak-ng speaks in a thread of its own, and the driver writes the
    WAV file when that thread reports the end. A line that takes espeak more
    than about 10 ms (a long first line, a busy machine) was then read before
    it was written, or its end was written over the next line's file.
    """
    from pyttsx3.drivers import _espeak

    _espeak.Synchronize()
