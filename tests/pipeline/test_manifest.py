"""Session manifests: a warm session laid out and planned without opening a clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import FakeEngine
from voiceguide.audio.manifest import FOLDER, manifest_key
from voiceguide.audio.music import resolve
from voiceguide.pipeline import Session, SessionOptions, build_session, lengths
from voiceguide.routine.library import load_builtin
from voiceguide.routine.model import Variant
from voiceguide.speech.cache import ClipCache
from voiceguide.speech.library import SpeechLibrary
from voiceguide.speech.system import SystemEngine
from voiceguide.timeline.script import spoken_texts

ROUTINE = load_builtin("lower-back")


class CountingCache(ClipCache):
    """A clip cache that counts the clips read from it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads = 0

    def get(self, key: str):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super().get(key)


def library(folder: Path, engine: FakeEngine | SystemEngine | None = None) -> SpeechLibrary:
    return SpeechLibrary(engine or FakeEngine(), CountingCache(folder))


def audio(session: Session) -> np.ndarray:
    return np.concatenate(list(session.blocks()))


def manifests(folder: Path) -> list[Path]:
    return sorted((folder / FOLDER).glob("*/*.json"))


def test_a_warm_session_is_planned_from_its_manifest_without_reading_a_clip(
    tmp_path: Path,
) -> None:
    options = SessionOptions(Variant.SHORT, music=resolve("surf"))
    first = build_session(ROUTINE, library(tmp_path), options)
    first_audio = audio(first)  # synthesizes, measures, and saves the manifest
    assert len(manifests(tmp_path)) == 2  # the lengths and the analyses

    speech = library(tmp_path)
    again = build_session(ROUTINE, speech, options)
    assert again.timeline == first.timeline
    again.mix  # noqa: B018 - planned: every length and analysis known
    assert speech.cache.reads == 0  # type: ignore[union-attr]
    assert speech.synthesized == 0
    np.testing.assert_array_equal(audio(again), first_audio)  # clips read only to render
    assert speech.cache.reads > 0  # type: ignore[union-attr]


def test_show_and_list_read_lengths_from_the_manifest(tmp_path: Path) -> None:
    build_session(ROUTINE, library(tmp_path), SessionOptions(Variant.FULL)).timeline  # noqa: B018
    speech = library(tmp_path)
    timeline = build_session(ROUTINE, speech, SessionOptions(Variant.FULL)).timeline
    assert speech.cache.reads == 0  # type: ignore[union-attr]
    assert lengths(ROUTINE, speech, 150)[1] == (timeline.total_ms, False)


def built_once(
    tmp_path: Path, options: SessionOptions, line: int
) -> tuple[SpeechLibrary, str, str]:
    """Build a session once (clips and manifest cached); return its library, and that
    line's text and clip key."""
    first = library(tmp_path)
    build_session(ROUTINE, first, options).timeline  # noqa: B018
    text = spoken_texts(ROUTINE, options.variant)[line]
    key = first.cache_key(text)
    assert key is not None
    return first, text, key


def test_a_changed_clip_is_measured_again_never_taken_from_the_manifest(tmp_path: Path) -> None:
    options = SessionOptions(Variant.SHORT)
    first, text, key = built_once(tmp_path, options, 0)
    # Another clip for the first line, twice as long (as if made again by another voice).
    clip = first.clip(text)
    entry = tmp_path / ClipCache.name(key)
    entry.unlink()
    longer = type(clip)(np.concatenate([clip.samples, clip.samples]), clip.sample_rate)
    ClipCache(tmp_path).put(key, longer)

    speech = library(tmp_path)
    timeline = build_session(ROUTINE, speech, options).timeline
    assert speech.cache.reads == 1  # type: ignore[union-attr] # that line, and only it
    spoken = next(s for s in timeline.segments if s.text == text)
    assert spoken.duration_ms == longer.duration_ms


def test_a_missing_clip_is_synthesized_again(tmp_path: Path) -> None:
    options = SessionOptions(Variant.SHORT)
    _, _, key = built_once(tmp_path, options, 1)
    (tmp_path / ClipCache.name(key)).unlink()
    speech = library(tmp_path)
    build_session(ROUTINE, speech, options).timeline  # noqa: B018
    assert speech.synthesized == 1


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "directory"])
def test_a_damaged_manifest_is_ignored_and_written_again(tmp_path: Path, damage: str) -> None:
    options = SessionOptions(Variant.SHORT)
    expected = build_session(ROUTINE, library(tmp_path), options).timeline
    (path,) = manifests(tmp_path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff" * 100)
    elif damage == "flip":
        path.write_bytes(data[:-5] + bytes([data[-5] ^ 1]) + data[-4:])
    else:
        path.unlink()
        path.mkdir()
    speech = library(tmp_path)
    assert build_session(ROUTINE, speech, options).timeline == expected
    assert speech.cache.reads > 0  # type: ignore[union-attr] # measured from the clips
    if damage != "directory":
        assert path.read_bytes() == data  # and the manifest written again
        speech = library(tmp_path)
        build_session(ROUTINE, speech, options).timeline  # noqa: B018
        assert speech.cache.reads == 0  # type: ignore[union-attr]


def test_the_manifest_is_keyed_by_the_voice_the_rate_and_every_line(tmp_path: Path) -> None:
    short = spoken_texts(ROUTINE, Variant.SHORT)
    keys = {
        manifest_key("fake|a|150", short),
        manifest_key("fake|a|160", short),  # another rate
        manifest_key("fake|b|150", short),  # another voice
        manifest_key("fake|a|150", spoken_texts(ROUTINE, Variant.FULL)),  # another version
        manifest_key("fake|a|150", spoken_texts(ROUTINE, Variant.SHORT, lead_in_ms=10_000)),
        manifest_key("fake|a|150", [*short[:-1], short[-1] + " Changed."]),  # the text
    }
    assert len(keys) == 6
    # A faster voice: another manifest, and lengths measured from its own clips.
    build_session(ROUTINE, library(tmp_path), SessionOptions(Variant.SHORT)).timeline  # noqa: B018
    speech = library(tmp_path, FakeEngine(rate_wpm=300))
    build_session(ROUTINE, speech, SessionOptions(Variant.SHORT)).timeline  # noqa: B018
    assert speech.synthesized > 0
    assert len(manifests(tmp_path)) == 2


def test_an_unwritable_manifest_never_fails_the_session(tmp_path: Path) -> None:
    (tmp_path / FOLDER).write_text("a file where the manifests' folder should be")
    options = SessionOptions(Variant.SHORT)
    expected = build_session(ROUTINE, library(tmp_path), options).timeline
    speech = library(tmp_path)
    assert build_session(ROUTINE, speech, options).timeline == expected  # no manifest: clips
    assert speech.cache.reads > 0  # type: ignore[union-attr]
    assert speech.cache.folder.problem is None  # type: ignore[union-attr] # clips still cached


@pytest.mark.slow
def test_the_system_voice_plays_the_same_audio_from_its_manifest(tmp_path: Path) -> None:
    options = SessionOptions(Variant.SHORT)
    first = build_session(ROUTINE, library(tmp_path, SystemEngine(None, 150)), options)
    first_audio = audio(first)
    speech = library(tmp_path, SystemEngine(None, 150))
    again = build_session(ROUTINE, speech, options)
    again.mix  # noqa: B018
    assert speech.cache.reads == 0  # type: ignore[union-attr]
    np.testing.assert_array_equal(audio(again), first_audio)


def test_a_warm_session_keeps_the_gain_solved_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voiceguide.audio.mix import MixPlanner

    options = SessionOptions(Variant.FULL, minutes=20, music=resolve("drone"))
    first = build_session(ROUTINE, library(tmp_path), options).mix
    assert np.isfinite(first.predicted_lufs)  # solved
    solved: list[object] = []
    real = MixPlanner.solve_gain
    monkeypatch.setattr(
        MixPlanner, "solve_gain", lambda self, *a: solved.append(a) or real(self, *a)
    )
    again = build_session(ROUTINE, library(tmp_path), options).mix
    assert solved == []
    assert again.session_db == first.session_db
    # Another bed volume is another plan: solved again.
    louder = SessionOptions(Variant.FULL, minutes=20, music=resolve("drone"), music_volume_db=-6)
    build_session(ROUTINE, library(tmp_path), louder).mix  # noqa: B018
    assert len(solved) == 1
