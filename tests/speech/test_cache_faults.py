"""Cache faults: damaged entries are synthesized again, exports running at once share a
cache, and a cache that cannot be written is one warning, not a failure.

Every fault is injected into a real cache entry. The module reports how many it
injected ("faults injected: N") when it finishes.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from tests.helpers import FakeEngine, NoiseEngine, ffprobe_duration_ms, read_wav_frames
from voiceguide.audio.analysis import ANALYSIS_VERSION, Analysis, AnalysisCache
from voiceguide.audio.manifest import FOLDER, unseal
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.files import CacheFolder, checksum
from voiceguide.pipeline import SessionOptions, build_session
from voiceguide.routine.library import load_routine_file
from voiceguide.routine.model import Variant
from voiceguide.speech.cache import CHECK_END, CHECK_START, HEADER_BYTES, ClipCache
from voiceguide.speech.clip import Clip
from voiceguide.speech.library import SpeechLibrary

TINY = DATA / "routines" / "tiny.toml"
TEXT = "Breathe in slowly, and let your shoulders drop."
TEXT_OF_TINY = "Breathe in slowly."  # a line of tests/data/routines/tiny.toml
OTHER = "Rest for a moment."
AS_ROOT = os.geteuid() == 0
needs_permissions = pytest.mark.skipif(AS_ROOT, reason="root ignores file permissions")
FAULTS = [0]  # cache entries damaged by this module


@pytest.fixture(scope="module", autouse=True)
def _report_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # as capsys.disabled() does
            reporter.write(f"\nfaults injected: {FAULTS[0]}\n")


Fault = Callable[[Path], None]


def inject(path: Path, fault: Fault) -> None:
    """Damage a cache entry, and count it."""
    fault(path)
    FAULTS[0] += 1


def truncate_at(offset: int | Callable[[int], int]) -> Fault:
    def fault(path: Path) -> None:
        data = path.read_bytes()
        end = offset(len(data)) if callable(offset) else offset
        assert 0 <= end < len(data)
        path.write_bytes(data[:end])

    return fault


def flip_bit_at(offset: int | Callable[[int], int], bit: int = 0) -> Fault:
    def fault(path: Path) -> None:
        data = bytearray(path.read_bytes())
        at = offset(len(data)) if callable(offset) else offset
        data[at] ^= 1 << bit
        path.write_bytes(bytes(data))

    return fault


def overwrite(offset: int, data: bytes) -> Fault:
    def fault(path: Path) -> None:
        entry = bytearray(path.read_bytes())
        entry[offset : offset + len(data)] = data
        path.write_bytes(bytes(entry))

    return fault


def append(extra: bytes) -> Fault:
    def fault(path: Path) -> None:
        path.write_bytes(path.read_bytes() + extra)

    return fault


def garbage(size: int | None = None) -> Fault:
    def fault(path: Path) -> None:
        length = len(path.read_bytes()) if size is None else size
        path.write_bytes(random.Random(length).randbytes(length))

    return fault


def plain_wav(channels: int, width: int) -> Fault:
    """Replace the entry by a valid WAV file without a checksum (e.g. an older version's)."""

    def fault(path: Path) -> None:
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(channels)
            wav.setsampwidth(width)
            wav.setframerate(22_050)
            wav.writeframes(bytes(22_050 * channels * width // 10))

    return fault


def a_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside").write_text("a folder where the entry belongs")


def dangling_symlink(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.with_name("nowhere"))


def unreadable(path: Path) -> None:
    path.chmod(0)


def misfiled(path: Path) -> None:
    """Put the sound entry of another text in this one's place."""
    other = next(p for p in path.parent.parent.rglob(f"*{path.suffix}") if p != path)
    shutil.copyfile(other, path)


def _middle(n: int) -> int:
    return n // 2


def _last(n: int) -> int:
    return n - 1


CLIP_FAULTS: dict[str, Fault] = {
    "empty": truncate_at(0),
    "cut inside RIFF header": truncate_at(6),
    "cut inside fmt chunk": truncate_at(30),
    "cut inside checksum": truncate_at(CHECK_START + 13),
    "cut after checksum": truncate_at(CHECK_END),
    "cut inside data header": truncate_at(HEADER_BYTES - 3),
    "cut before samples": truncate_at(HEADER_BYTES),
    "cut inside a sample": truncate_at(HEADER_BYTES + 1),
    "cut mid samples": truncate_at(_middle),
    "last byte missing": truncate_at(_last),
    "extra sample": append(b"\x00\x00"),
    "random garbage": garbage(),
    "short garbage": garbage(7),
    "bit flip in samples": flip_bit_at(_middle),
    "bit flip in last sample": flip_bit_at(_last, 7),
    "bit flip in checksum": flip_bit_at(CHECK_START + 5),
    "bit flip in sample rate": flip_bit_at(25, 3),
    "bit flip in data size": flip_bit_at(HEADER_BYTES - 4, 1),
    "huge sample rate": overwrite(24, b"\xff\xff\xff\xff"),
    "zero sample rate": overwrite(24, bytes(4)),
    "plain 16-bit mono WAV": plain_wav(1, 2),
    "stereo WAV": plain_wav(2, 2),
    "8-bit WAV": plain_wav(1, 1),
    "24-bit WAV": plain_wav(1, 3),
    "another text's entry": misfiled,
    "directory": a_directory,
    "dangling symlink": dangling_symlink,
    "unreadable (chmod 000)": unreadable,
}


def fill(root: Path) -> tuple[SpeechLibrary, Path]:
    """Cache two clips under root; return the library and TEXT's entry."""
    library = SpeechLibrary(FakeEngine(), ClipCache(root))
    library.prepare([TEXT, OTHER])
    assert library.cache is not None
    key = library.cache.key(library.engine.identity, TEXT)
    return library, root / ClipCache.name(key)


@pytest.mark.parametrize("fault", CLIP_FAULTS)
def test_a_damaged_clip_is_synthesized_again_and_rewritten(tmp_path: Path, fault: str) -> None:
    if fault.startswith("unreadable") and AS_ROOT:
        pytest.skip("root ignores file permissions")
    first, entry = fill(tmp_path)
    original = first.clip(TEXT).samples
    inject(entry, CLIP_FAULTS[fault])

    engine = FakeEngine()
    again = SpeechLibrary(engine, ClipCache(tmp_path))
    again.prepare([TEXT, OTHER])
    assert engine.calls == [TEXT]  # exactly once, and only the damaged one
    assert np.array_equal(again.clip(TEXT).samples, original)

    cache = ClipCache(tmp_path)
    assert cache.folder.problem is None  # healing an entry is not a cache failure
    assert entry.is_file() and not entry.is_symlink()
    clip = cache.get(cache.key(engine.identity, TEXT))
    assert clip is not None and np.array_equal(clip.samples, original)
    third = FakeEngine()
    SpeechLibrary(third, cache).prepare([TEXT, OTHER])
    assert third.calls == []


def test_entries_are_wav_files_that_players_can_read(tmp_path: Path) -> None:
    library, entry = fill(tmp_path)
    with wave.open(str(entry)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22_050)
        frames = wav.readframes(wav.getnframes())
    assert np.array_equal(np.frombuffer(frames, "<i2"), library.clip(TEXT).samples)
    assert abs(ffprobe_duration_ms(entry) - library.duration_ms(TEXT)) <= 1


def test_an_empty_clip_is_cached_too(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    cache.put("ab" * 32, Clip(np.zeros(0, np.int16), 16_000))
    clip = cache.get("ab" * 32)
    assert clip is not None and len(clip.samples) == 0 and clip.sample_rate == 16_000


def test_readers_never_see_half_an_entry(tmp_path: Path) -> None:
    """Two writers replace the same entries over and over while a reader checks each read."""
    cache = ClipCache(tmp_path)
    keys = [cache.key("race", str(i)) for i in range(4)]
    clips = [Clip(np.full(20_000 + 2_000 * i, i + 1, np.int16), 22_050) for i in range(4)]
    for key, clip in zip(keys, clips, strict=True):
        cache.put(key, clip)
    bad: list[str] = []
    stop = threading.Event()

    def write() -> None:
        for _ in range(60):
            for key, clip in zip(keys, clips, strict=True):
                ClipCache(tmp_path).put(key, clip)

    def read() -> None:
        reads = 0
        while not stop.is_set() or reads < 100:
            for key, clip in zip(keys, clips, strict=True):
                got = cache.get(key)
                if got is None or not np.array_equal(got.samples, clip.samples):
                    bad.append(key)
                reads += 1

    writers = [threading.Thread(target=write) for _ in range(2)]
    reader = threading.Thread(target=read)
    for thread in [*writers, reader]:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    assert bad == []
    assert leftovers(tmp_path) == []


def test_the_first_sound_entry_stays(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    key = cache.key("fake", TEXT)
    first, second = FakeEngine().synthesize(TEXT), NoiseEngine().synthesize(TEXT)
    assert cache.put(key, first) is first
    kept = cache.put(key, second)
    assert np.array_equal(kept.samples, first.samples)
    inject(tmp_path / ClipCache.name(key), flip_bit_at(_middle))
    assert cache.put(key, second) is second  # a damaged entry is replaced
    stored = cache.get(key)
    assert stored is not None and np.array_equal(stored.samples, second.samples)


class RacedEngine(FakeEngine):
    """A voice that another process beats to the cache, with a take of its own."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def synthesize(self, text: str) -> Clip:
        rival = NoiseEngine().synthesize(text).trimmed()  # not alike, as a real voice may be
        cache = ClipCache(self.root)
        cache.put(cache.key(self.identity, text), rival)
        return super().synthesize(text)


def test_a_process_beaten_to_the_cache_goes_on_with_the_cached_clip(tmp_path: Path) -> None:
    """So that the timeline and the audio agree, and concurrent runs make the same session."""
    library = SpeechLibrary(RacedEngine(tmp_path), ClipCache(tmp_path))
    library.prepare([TEXT])
    rival = NoiseEngine().synthesize(TEXT).trimmed()
    assert np.array_equal(library.clip(TEXT).samples, rival.samples)
    assert library.duration_ms(TEXT) == rival.duration_ms
    later = SpeechLibrary(FakeEngine(), ClipCache(tmp_path))
    assert np.array_equal(later.clip(TEXT).samples, rival.samples)


# Analyses: checksummed JSON beside the clips.


def sealed(text: bytes) -> Fault:
    """Replace the analysis by text under a correct checksum: only from_json stands guard."""

    def fault(path: Path) -> None:
        key = path.name.removesuffix(".analysis.json")
        path.write_bytes(checksum(key.encode(), text).hex().encode() + b"\n" + text)

    return fault


def unsealed(path: Path) -> None:
    """Keep the JSON but drop the checksum line (the format before checksums)."""
    path.write_bytes(path.read_bytes().partition(b"\n")[2])


def bump_a_digit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    at = data.rindex(b"5")
    data[at] = ord("6")
    path.write_bytes(bytes(data))


def document(**fields: object) -> bytes:
    """Return a well-formed analysis document with some fields replaced."""
    good = {
        "version": ANALYSIS_VERSION,
        "loudness_lufs": -20.0,
        "true_peak": 0.5,
        "energy": [1.0, 2.0],
        "kept_after_limit": [1.0, 0.9],
    }
    return json.dumps(good | fields).encode()


ANALYSIS_FAULTS: dict[str, Fault] = {
    "empty": truncate_at(0),
    "cut inside checksum": truncate_at(10),
    "checksum only": truncate_at(64),
    "cut after checksum line": truncate_at(65),
    "cut mid JSON": truncate_at(_middle),
    "last byte missing": truncate_at(_last),
    "random garbage": garbage(),
    "bit flip in JSON": flip_bit_at(_middle, 2),
    "a digit changed": bump_a_digit,
    "old format without checksum": unsealed,
    "checksummed non-JSON": sealed(b"\xff\xfe not json"),
    "checksummed wrong types": sealed(
        document(loudness_lufs="loud", true_peak=[1], energy={"a": 1}, kept_after_limit=3)
    ),
    "checksummed NaN energy": sealed(document(energy=[1.0, float("nan")])),
    "checksummed negative energy": sealed(document(energy=[1.0, -1.0])),
    "checksummed no kept shares": sealed(document(kept_after_limit=[])),
    "checksummed old version": sealed(b'{"version": 1}'),
    "directory": a_directory,
    "dangling symlink": dangling_symlink,
    "another text's entry": misfiled,
    "unreadable (chmod 000)": unreadable,
}


@pytest.fixture
def counted_analyses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the clips the mix planner measures (cache misses)."""
    import voiceguide.audio.mix

    calls = [0]
    real = voiceguide.audio.mix.analyse

    def analyse(audio: np.ndarray, peaks: np.ndarray | None = None) -> Analysis:
        calls[0] += 1
        return real(audio, peaks)

    monkeypatch.setattr(voiceguide.audio.mix, "analyse", analyse)
    return calls


def plan(root: Path) -> tuple[SpeechLibrary, float]:
    """Plan the tiny session's mix on the fake voice; return its library and session gain.

    Without its session manifest, which keeps the analyses too: these tests are
    about the analysis files (test_manifest.py about the manifests).
    """
    shutil.rmtree(root / FOLDER, ignore_errors=True)
    speech = SpeechLibrary(FakeEngine(), ClipCache(root))
    session = build_session(load_routine_file(TINY), speech, SessionOptions(Variant.SHORT))
    return speech, session.mix.session_db


@pytest.mark.parametrize("fault", ANALYSIS_FAULTS)
def test_a_damaged_analysis_is_measured_again_and_rewritten(
    tmp_path: Path, fault: str, counted_analyses: list[int]
) -> None:
    if fault.startswith("unreadable") and AS_ROOT:
        pytest.skip("root ignores file permissions")
    speech, gain = plan(tmp_path)
    measured = counted_analyses[0]
    assert measured >= 4  # every line and the chime
    assert speech.cache is not None
    key = speech.cache.key(speech.engine.identity, TEXT_OF_TINY)
    entry = tmp_path / AnalysisCache.name(key)
    good = AnalysisCache(CacheFolder(tmp_path)).get(key)
    assert good is not None
    inject(entry, ANALYSIS_FAULTS[fault])
    assert AnalysisCache(CacheFolder(tmp_path)).get(key) is None

    _, again = plan(tmp_path)
    assert counted_analyses[0] == measured + 1
    assert again == gain
    healed = AnalysisCache(CacheFolder(tmp_path)).get(key)
    assert healed is not None and np.array_equal(healed.energy, good.energy)
    plan(tmp_path)
    assert counted_analyses[0] == measured + 1


def _random_json(rng: random.Random, depth: int = 0) -> object:
    leaves: list[object] = [None, True, False, 0, -1, 5, 10**400, 2**63, 0.0, -23.5, 1e308]
    leaves += [float("inf"), float("-inf"), float("nan"), "", "5", "energy", "\x00", [], {}]
    kind = rng.randrange(4 if depth < 4 else 1)
    if kind == 0:
        return rng.choice(leaves)
    if kind == 1:
        return [rng.random() for _ in range(rng.randrange(4))]
    if kind == 2:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["version", "loudness_lufs", "true_peak", "energy", "kept_after_limit", "x"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(6))}


def test_analysis_from_json_never_raises() -> None:
    """Truncated, retyped and random documents are either sound analyses or a clean miss."""
    good = Analysis(-23.0, 0.5, np.array([0.0, 1e-3, 2e-3]), (1.0, 0.9, 0.8))
    valid = good.to_json()
    documents = [valid[:end] for end in range(len(valid))]
    documents += ["[" * 100_000, '{"a":' * 100_000, "\ud800", "NaN", "null", "[]"]
    rng = random.Random(9)
    base = json.loads(valid)
    for field in base:
        for _ in range(40):
            changed = dict(base)
            changed[field] = _random_json(rng)
            documents.append(json.dumps(changed))
    documents += [json.dumps(_random_json(rng)) for _ in range(500)]
    misses = 0
    for document in documents:
        analysis = Analysis.from_json(document)
        if analysis is None:
            misses += 1
            continue
        assert analysis.energy.ndim == 1 and np.all(np.isfinite(analysis.energy))
        assert analysis.kept_after_limit and 0 <= analysis.true_peak < float("inf")
        assert np.isfinite(analysis.kept(3.0))
    assert Analysis.from_json(valid) is not None
    assert misses > len(documents) // 2


# Through the real pipeline: espeak-ng, the mix planner, ffmpeg.


def leftovers(root: Path) -> list[Path]:
    """Return temp files (hidden .tmp/.part files) left in a cache."""
    return [p for p in root.rglob(".*") if p.suffix in {".tmp", ".part"}]


def verify_cache(root: Path) -> int:
    """Check that every clip and analysis in a cache passes its check; return the count."""
    clips, analyses = ClipCache(root), AnalysisCache(CacheFolder(root))
    entries = 0
    for path in root.rglob("*"):
        if path.name.endswith(".analysis.json"):
            assert analyses.get(path.name.removesuffix(".analysis.json")) is not None, path
        elif path.suffix == ".wav":
            assert clips.get(path.stem) is not None, path
        elif path.parent.parent.name == FOLDER and path.suffix == ".json":
            assert unseal(path.stem.removesuffix(".analyses"), path.read_bytes()), path
        elif path.suffix == ".f32":  # a built-in bed, decoded
            data = path.read_bytes()
            assert checksum(data[32:]) == data[:32], path
        else:
            assert path.is_dir(), path
            continue
        entries += 1
    assert leftovers(root) == []
    return entries


@pytest.mark.slow
def test_an_export_heals_a_cache_whose_every_entry_is_damaged(tmp_path: Path) -> None:
    def export(name: str) -> Path:
        target = tmp_path / name
        args = ["export", str(TINY), "--engine", "system", "-o", str(target)]
        out, err = voiceguide(args, tmp_path).communicate(timeout=180)
        assert err == "" and out.startswith(f"wrote {target} ("), err
        return target

    cache = tmp_path / "voiceguide" / "clips"
    first = export("first.wav")
    entries = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}
    clips = [p for p in entries if p.suffix == ".wav"]
    # Each clip's analysis, the chime's, and the session's manifest (lengths, analyses).
    assert len(entries) == verify_cache(cache) == 2 * len(clips) + 1 + 2
    kinds = [truncate_at(0), truncate_at(_middle), flip_bit_at(_middle), garbage(), append(b"!")]
    for index, entry in enumerate(sorted(entries)):
        inject(entry, kinds[index % len(kinds)])

    second = export("second.wav")
    # Each entry was made again and checks out. (espeak-ng usually says a line
    # byte for byte alike in a new process, but not always: a few samples may
    # differ on a busy machine, so the session's length is compared to the ms.)
    assert sorted(p for p in cache.rglob("*") if p.is_file()) == sorted(entries)
    assert verify_cache(cache) == len(entries)
    assert abs(ffprobe_duration_ms(first) - ffprobe_duration_ms(second)) <= 2
    written = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    export("third.wav")
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*")} == written  # nothing to heal


def voiceguide(args: list[str], cache_home: Path) -> subprocess.Popen[str]:
    """Start the real CLI in its own process, with its own cache folder."""
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    return subprocess.Popen(
        [sys.executable, "-m", "voiceguide", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_two_exports_at_once_on_one_empty_cache(tmp_path: Path, attempt: int) -> None:
    targets = [tmp_path / f"out{i}.wav" for i in range(2)]
    processes = [
        voiceguide(["export", str(TINY), "--engine", "system", "-o", str(t)], tmp_path)
        for t in targets
    ]
    for process in processes:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        assert err == ""
        assert out.startswith("wrote ")
    durations = {ffprobe_duration_ms(t) for t in targets}
    assert len(durations) == 1
    assert np.array_equal(read_wav_frames(targets[0]), read_wav_frames(targets[1]))
    assert verify_cache(tmp_path / "voiceguide" / "clips") >= 5


# A cache that cannot be written: one warning, and the work still done.

WARNING = "warning: cannot write to the clip cache at {root} ({reason}); continuing without caching"


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


@pytest.mark.slow
def test_a_cache_under_a_file_is_one_warning_and_the_export_succeeds(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    target = tmp_path / "out.wav"
    process = voiceguide(["export", str(TINY), "--engine", "system", "-o", str(target)], blocker)
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    root = blocker / "voiceguide" / "clips"
    assert warnings_in(err) == [WARNING.format(root=root, reason="Not a directory")]
    assert out.startswith(f"wrote {target} (")
    assert ffprobe_duration_ms(target) > 16_000


def test_a_cache_under_a_file_warns_once_for_several_sessions(
    tmp_path: Path, runner: CliRunner, fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    env = Environment(make_engine=fake_env.make_engine, workers=1)  # the default cache folder
    result = runner.invoke(
        app, ["export", str(TINY), "--all-variants", "-o", f"{tmp_path}/out/"], obj=env
    )
    assert result.exit_code == 0, result.output
    root = blocker / "voiceguide" / "clips"
    assert warnings_in(result.stderr) == [WARNING.format(root=root, reason="Not a directory")]
    assert len(list((tmp_path / "out").iterdir())) == 2


@needs_permissions
def test_a_read_only_cache_is_one_warning(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    assert fake_env.cache_dir is not None
    fake_env.cache_dir.mkdir()
    fake_env.cache_dir.chmod(0o555)
    try:
        result = runner.invoke(app, ["show", str(TINY)], obj=fake_env)
        assert result.exit_code == 0, result.output
        reason = os.strerror(errno.EACCES)
        assert warnings_in(result.stderr) == [
            WARNING.format(root=fake_env.cache_dir, reason=reason)
        ]
    finally:
        fake_env.cache_dir.chmod(0o755)


def fill_the_disk(monkeypatch: pytest.MonkeyPatch, root: Path) -> list[Path]:
    """Make every write under root fail halfway with ENOSPC, as on a full disk."""
    real = Path.write_bytes
    attempts: list[Path] = []

    def write_bytes(self: Path, data: bytes) -> int:
        if not self.is_relative_to(root):
            return real(self, data)
        attempts.append(self)
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    return attempts


def test_a_full_disk_is_one_warning_and_the_same_audio(
    tmp_path: Path, runner: CliRunner, fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = tmp_path / "healthy.wav"
    other = Environment(make_engine=fake_env.make_engine, cache_dir=tmp_path / "c2", workers=1)
    result = runner.invoke(app, ["export", str(TINY), "-o", str(healthy)], obj=other)
    assert result.exit_code == 0, result.output

    assert fake_env.cache_dir is not None
    attempts = fill_the_disk(monkeypatch, fake_env.cache_dir)
    target = tmp_path / "full.wav"
    result = runner.invoke(app, ["export", str(TINY), "-o", str(target)], obj=fake_env)
    assert result.exit_code == 0, result.output
    reason = os.strerror(errno.ENOSPC)
    assert warnings_in(result.stderr) == [WARNING.format(root=fake_env.cache_dir, reason=reason)]
    assert len(attempts) == 1  # the first failure stops the writing
    assert leftovers(fake_env.cache_dir) == []
    assert [p for p in fake_env.cache_dir.rglob("*") if p.is_file()] == []
    assert np.array_equal(read_wav_frames(target), read_wav_frames(healthy))


def test_a_disk_that_fills_after_synthesis_still_warns_once(
    tmp_path: Path, runner: CliRunner, fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clips cached, analyses not: the failure comes while planning the mix, during the export."""
    assert fake_env.cache_dir is not None
    args = ["export", str(TINY), "-o", str(tmp_path / "out.wav")]
    assert runner.invoke(app, args, obj=fake_env).exit_code == 0
    for analysis in fake_env.cache_dir.rglob("*.analysis.json"):
        analysis.unlink()
    shutil.rmtree(fake_env.cache_dir / FOLDER)  # the session manifest keeps them too
    fill_the_disk(monkeypatch, fake_env.cache_dir)
    result = runner.invoke(app, args, obj=fake_env)
    assert result.exit_code == 0, result.output
    reason = os.strerror(errno.ENOSPC)
    assert warnings_in(result.stderr) == [WARNING.format(root=fake_env.cache_dir, reason=reason)]


def test_after_the_first_failed_write_the_cache_stops_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = fill_the_disk(monkeypatch, tmp_path)
    cache = ClipCache(tmp_path)
    engine = FakeEngine()
    library = SpeechLibrary(engine, cache)
    library.prepare([TEXT, OTHER, "A third line."])
    assert len(attempts) == 1
    assert cache.folder.problem is not None
    assert str(cache.folder.problem) == WARNING.format(
        root=tmp_path, reason=os.strerror(errno.ENOSPC)
    ).removeprefix("warning: ")
    assert library.duration_ms(TEXT) == engine.length_ms(TEXT)
    assert len(library.clip(TEXT).samples) > 0
    assert len(engine.calls) == 3  # each line synthesized once, then kept in memory
