"""Session manifests: what a warm session needs to be laid out and planned without a clip.

A session's lines are known before any audio: its manifest, in the clip
cache's folder, keeps each line's length (with the size and modification
time its clip file had) and the analyses the mix planner needs (every line's,
the chime's and the bed's). `show` and `list` then lay a session out, and
`play` plans its mix, without opening one clip; clips are read, and their
checksums verified, only when they are rendered.

A manifest is keyed by content: the engine's identity (engine, voice digest,
rate) and every line spoken, in order (which the routine's text, the version
and the options that change lines decide). A line whose clip file is missing
or is not the one measured (another size or modification time) is measured
from its clip as before, never taken from the manifest. A manifest that is
damaged or of another version is ignored, and written again. Two files: the
lengths, small, which `show` and `list` read; the analyses, which only
planning a mix reads.

No numpy here: `show` and `list` use it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voiceguide.audio.assets import asset_path
from voiceguide.files import CacheFolder, atomic_write, seal, unseal_json
from voiceguide.speech.cache import ClipCache

if TYPE_CHECKING:
    from voiceguide.audio.analysis import AnalysisCache
    from voiceguide.speech.library import SpeechLibrary

MANIFEST_VERSION = 1
FOLDER = "sessions"  # in the clip cache's folder
# Bump when the mix planner would solve another session gain from the same
# timeline, analyses and bed (audio/mix.py's predict and solve_gain).
GAIN_VERSION = 1


@dataclass(frozen=True)
class LineFacts:
    """A line's length, and the clip file it was measured from (size, modification time)."""

    key: str  # the clip's cache key
    ms: int
    size: int
    mtime_ns: int

    def matches(self, stat: os.stat_result) -> bool:
        """Return True when stat is of the clip file this line was measured from."""
        return stat.st_size == self.size and stat.st_mtime_ns == self.mtime_ns


def manifest_key(identity: str, texts: Sequence[str]) -> str:
    """Return a session's manifest key: its engine identity and every line, in order."""
    digest = hashlib.sha256(f"{MANIFEST_VERSION}\0{identity}\0".encode())
    for text in texts:
        digest.update(text.encode() + b"\0")
    return digest.hexdigest()


def plan_key(timeline: object, facts: str) -> str:
    """Return the key of a session gain: its final timeline, and what else planning reads.

    facts names the rest: the bed's file, its volume, the target, the analyses' version.
    """
    return hashlib.sha256(f"{GAIN_VERSION}\0{facts}\0{timeline!r}".encode()).hexdigest()


def plan_facts(music: Path | None, music_volume_db: float, target_lufs: float) -> str:
    """Return what planning reads besides the timeline: the chime's and the bed's files
    (by size and modification time), the bed's volume, the target, the analyses' version."""
    from voiceguide.audio.analysis import ANALYSIS_VERSION  # only when a mix is planned

    files = [asset_path("chime.wav"), *([music] if music is not None else [])]
    stats = [(path, path.stat()) for path in files]
    sounds = "|".join(f"{path}:{st.st_size}:{st.st_mtime_ns}" for path, st in stats)
    return f"{sounds}|{music_volume_db!r}|{target_lufs!r}|{ANALYSIS_VERSION}"


def _gains(data: object) -> dict[str, float]:
    stored = data.get("gains") if isinstance(data, dict) else None
    if not isinstance(stored, dict):
        return {}
    return {
        key: float(db)
        for key, db in stored.items()
        if isinstance(key, str) and type(db) is float and math.isfinite(db)
    }


def unseal(key: str, entry: bytes | None) -> object:
    """Return the values in a sealed entry; None if it is missing, damaged or another version."""
    data = unseal_json(key, entry)
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        return None
    return data


def _lines(data: object) -> dict[str, LineFacts]:
    """Return the lines a manifest's values hold (those that are well formed)."""
    lines: dict[str, LineFacts] = {}
    items = data.get("lines") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        text, key = item.get("text"), item.get("key")
        numbers = [item.get(name) for name in ("ms", "size", "mtime_ns")]
        if (
            isinstance(text, str)
            and isinstance(key, str)
            and all(type(n) is int and n >= 0 for n in numbers)
        ):
            ms, size, mtime_ns = (int(n) for n in numbers)  # type: ignore[arg-type]
            lines[text] = LineFacts(key, ms, size, mtime_ns)
    return lines


class SessionManifest:
    """One session's manifest: read when the session is built, saved once it is planned."""

    def __init__(self, speech: SpeechLibrary, texts: Sequence[str]) -> None:
        self.speech = speech
        self.texts = list(dict.fromkeys(texts))
        self.folder: CacheFolder | None = speech.cache.folder if speech.cache else None
        self.key = manifest_key(speech.engine.identity, self.texts) if self.folder else ""
        self.lines: dict[str, LineFacts] = {}  # the lines whose clip is the one measured
        self._stored: dict[str, LineFacts] = {}
        self._analyses: AnalysisCache | None = None
        self._stored_analyses: dict[str, object] = {}
        self._gains: dict[str, float] = {}
        if self.folder is not None:
            stored = unseal(self.key, self.folder.read(self._name()))
            self._stored, self._gains = _lines(stored), _gains(stored)
            for text, facts in self._stored.items():
                stat = self._clip_stat(facts.key)
                if stat is not None and facts.matches(stat) and facts.key == self._key(text):
                    self.lines[text] = facts
            speech.remember_lengths({text: facts.ms for text, facts in self.lines.items()})

    def _name(self, suffix: str = "") -> str:
        return f"{FOLDER}/{self.key[:2]}/{self.key}{suffix}.json"

    def _key(self, text: str) -> str | None:
        return self.speech.cache_key(text)

    def _clip_stat(self, key: str) -> os.stat_result | None:
        if self.folder is None:
            return None
        try:
            return (self.folder.root / ClipCache.name(key)).stat()
        except OSError:
            return None

    def gain(self, plan: str) -> float | None:
        """Return the session gain solved before for a plan (see plan_key), if every line's
        clip is the one measured then; None to solve it."""
        if len(self.lines) < len([t for t in self.texts if t]):
            return None
        return self._gains.get(plan)

    def analyses(self) -> AnalysisCache:
        """Return the analysis cache for planning: the manifest's analyses first, then files.

        Only analyses of lines whose clip is the one measured are taken from
        the manifest (and the chime's and the bed's, keyed by their audio).
        """
        from voiceguide.audio.analysis import AnalysisCache

        known: dict[str, object] = {}
        if self.folder is not None:
            data = unseal(self.key, self.folder.read(self._name(".analyses")))
            stored = data.get("analyses") if isinstance(data, dict) else None
            if isinstance(stored, dict):
                self._stored_analyses = stored
                trusted = {facts.key for facts in self.lines.values()}
                known = {
                    key: value
                    for key, value in stored.items()
                    if key in trusted or key.startswith(("chime-", "bed-"))
                }
        self._analyses = AnalysisCache(self.folder, known)
        return self._analyses

    def save(self, gain: tuple[str, float] | None = None) -> None:
        """Save what is known now, if it differs from what was read (never raises).

        gain is a session gain solved with every line known, and its plan key.
        """
        if self.folder is None or self.folder.problem is not None:
            return
        lines: dict[str, LineFacts] = {}
        for text in self.texts:
            key, ms = self._key(text), self.speech.known_duration_ms(text)
            stat = self._clip_stat(key) if key is not None else None
            if key is None or ms is None or stat is None:
                continue  # not cached (yet): measured from its clip next time
            known = self.lines.get(text)
            lines[text] = (
                known if known is not None else LineFacts(key, ms, stat.st_size, stat.st_mtime_ns)
            )
        gains = self._gains if gain is None else {**self._gains, gain[0]: gain[1]}
        try:
            if lines != self._stored or gains != self._gains:
                rows = [{"text": t, **vars(f)} for t, f in lines.items()]
                self._write("", {"lines": rows, "gains": gains})
                self._stored, self._gains = lines, gains
            seen = self._analyses.seen if self._analyses is not None else {}
            merged = {**self._stored_analyses, **seen}
            if merged != self._stored_analyses:
                self._write(".analyses", {"analyses": dict(sorted(merged.items()))})
                self._stored_analyses = merged
        except OSError:
            pass  # a cache only saves time; the clip cache reports an unwritable folder

    def _write(self, suffix: str, values: Mapping[str, object]) -> None:
        assert self.folder is not None
        data = {"version": MANIFEST_VERSION, **values}
        target = self.folder.root / self._name(suffix)
        text = json.dumps(data, separators=(",", ":")).encode()
        atomic_write(target, seal(self.key, text), make_parents=True)


def open_manifest(speech: SpeechLibrary, texts: Sequence[str]) -> SessionManifest:
    """Read a session's manifest: the lengths it knows go to speech (see remember_lengths)."""
    return SessionManifest(speech, texts)
