"""Speech: the engine interface, clips, and the on-disk clip cache."""

from voiceguide.speech.base import (
    DEFAULT_RATE_WPM,
    Clip,
    SpeechEngine,
    SpeechLibrary,
    VoiceInfo,
)
from voiceguide.speech.cache import ClipCache

__all__ = [
    "DEFAULT_RATE_WPM",
    "Clip",
    "ClipCache",
    "SpeechEngine",
    "SpeechLibrary",
    "VoiceInfo",
]
