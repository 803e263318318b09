"""Fuzz and property tests: no input file ends in a traceback, a wrong line, or a hang.

Generated routines, config files and articles (random bytes and text, TOML with a
wrong or absurd value for every key, deep nesting, huge files) must each load, or
fail with the error for their kind: RoutineError (exit code 3) or ConfigError
(exit code 8), whose every problem names the file, a line inside it, and says in
one printable line what is wrong. Every input is handled within CPU_LIMIT_S.

Hypothesis runs derandomized and without its example database, so every run
fuzzes the same inputs. Run with -s to see how many inputs each property fuzzed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import fake_measure
from voiceguide.config import Overrides, resolve
from voiceguide.errors import ConfigError, ExitCode, RoutineError
from voiceguide.routine.format import parse_routine
from voiceguide.routine.library import load_article, load_routine_file
from voiceguide.routine.model import Routine, Variant
from voiceguide.routine.writing import to_toml
from voiceguide.timeline.compile import compile_timeline
from voiceguide.units import MAX_SESSION_MS, parse_duration

T = TypeVar("T")

CPU_LIMIT_S = 2.0  # CPU seconds any one input may take, however large
MAX_MESSAGE = 400  # characters in one problem's message
ROOT = Path(__file__).parents[2]

FUZZED: Counter[str] = Counter()


def fuzz(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Hypothesis settings for a property: reproducible, no deadline (CPU time is checked)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            # The autouse fixture that isolates XDG folders is function-scoped; it is
            # set once for all examples, which is what these tests want.
            HealthCheck.function_scoped_fixture,
        ],
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def line_count(raw: bytes) -> int:
    """Return the lines of a TOML file (a final newline opens an empty one)."""
    return raw.count(b"\n") + 1


def article_line_count(raw: bytes) -> int:
    """Return the lines of an article, where a lone carriage return ends a line too."""
    return len(re.split(rb"\r\n|\r|\n", raw))


def timed(call: Callable[[], T]) -> T:
    """Call, and fail if it took more than CPU_LIMIT_S of CPU time."""
    start = time.process_time()
    try:
        return call()
    finally:
        spent = time.process_time() - start
        assert spent < CPU_LIMIT_S, f"took {spent:.2f} s of CPU time"


def assert_reported(err: RoutineError, source: str, last: int) -> None:
    """Assert every problem names the file, a line from 1 to last, and one printable line."""
    assert err.problems, "an error without problems"
    for problem in err.problems:
        assert problem.path == source
        assert problem.line is not None, problem
        assert 1 <= problem.line <= last, f"line {problem.line} of a {last}-line file: {problem}"
        message = problem.message
        assert message.strip(), problem
        assert message.isprintable(), f"unprintable message: {message!r}"
        assert len(message) <= MAX_MESSAGE, f"{len(message)}-character message: {message[:200]}"
    assert err.lines() == [f"{source}:{p.line}: {p.message}" for p in err.problems]


def load_or_report(
    path: Path, raw: bytes, load: Callable[[Path], T], last: int
) -> T | RoutineError:
    """Write raw to path and load it; return the value or the RoutineError it raised."""
    path.write_bytes(raw)
    try:
        return timed(lambda: load(path))
    except RoutineError as err:
        assert_reported(err, str(path), last)
        return err


# -- strategies: bytes and text ------------------------------------------------------------

TOKENS = [
    *(b"[", b"]", b"[[", b"]]", b"{", b"}", b"=", b" = ", b",", b".", b" ", b"\t", b"#"),
    *(b'"', b"'", b'"""', b"'''", b"\\", b"\\u", b"\\n", b"\n", b"\r\n", b"\r"),
    *(b"title", b"steps", b"[[steps]]", b"[[steps.cues]]", b"[variants]", b"id", b"text"),
    *(b"duration", b"short", b"full", b"at", b"say", b"cues", b"category", b"music"),
    *(b"1", b"-5", b"1e308", b"nan", b"inf", b"true", b"1979-05-27", b"0", b"half"),
    *(b'"99999h"', b'"-5s"', b'"45s"', b'"a"', b"[pause 0s]", b"[pause]"),
    *(b"\x00", b"\x1b", b"\x7f", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\xed\xa0\x80"),
    *("\u2028".encode(), "\x85".encode(), "é".encode(), "\U0001f600".encode()),
]
token_soup = st.lists(st.sampled_from(TOKENS), max_size=120).map(b"".join)

# Any code point, with extra weight on the awkward ones: lone surrogates (made into
# invalid UTF-8 by surrogatepass), NUL, escape, BOM, and the line breaks that
# str.splitlines knows but TOML does not.
AWKWARD = "\x00\r\n\t\x0b\x0c\x1b\x1c\x7f\x85\ufeff\u2028\u2029\ud800\udfff"
characters = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from(AWKWARD),
    st.integers(0xD800, 0xDFFF).map(chr),
)
any_text = st.text(characters, max_size=200)


def encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@st.composite
def text_file(draw: st.DrawFn) -> bytes:
    """Random text with random line endings and maybe a BOM."""
    text = draw(any_text)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    raw = encoded(text)
    return (b"\xef\xbb\xbf" + raw) if draw(st.booleans()) else raw


garbage = st.one_of(st.binary(max_size=2000), token_soup, text_file())


# -- strategies: TOML with a known line for every value -------------------------------------


def toml_string(value: str) -> str:
    """Return value as a TOML basic string."""
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif char != "\t" and (ord(char) < 0x20 or ord(char) == 0x7F):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


# Printable text, but also the unicode line and paragraph separators, which are
# valid inside TOML strings but end lines for str.splitlines.
words = st.text(
    st.one_of(st.characters(exclude_categories=("Cs", "Cc")), st.sampled_from(" \u2028\u2029\x85")),
    min_size=1,
    max_size=16,
).filter(str.strip)
spoken_words = st.lists(
    st.one_of(words, st.sampled_from(["[pause]", "[pause 3s]", "[PAUSE 1m]", "Hold."])),
    min_size=1,
    max_size=4,
).map(" ".join)


@st.composite
def string_literal(draw: st.DrawFn, text: str) -> str:
    """Return text as some TOML string: basic, multi-line, or literal when it can be."""
    form = draw(st.sampled_from(["basic", "multi", "literal"]))
    controls = any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in text)
    if form == "multi" and not controls and not re.search(r'"""|\\|"$', text):
        return '"""\n' + text.replace(" ", "\n", draw(st.integers(0, 3))) + '"""'
    if form == "literal" and not re.search(r"['\x00-\x08\x0a-\x1f\x7f]", text):
        return f"'{text}'"
    return toml_string(text)


# Values of every TOML type but text, and absurd ones.
WRONG_TYPE = [
    *("1", "-5", "0", "1e308", "-1e308", "nan", "+inf", "-inf", "true", "false"),
    *("1979-05-27", "07:32:00", "1979-05-27T07:32:00Z", "[]", "[1, 2]", '["a", 1]'),
    *("{}", "{ a = 1 }", "[[[[]]]]", "0x7fffffffffffffff", "99999999999999999999999"),
]
BAD_DURATION = [
    *("99999h", "-5s", "1e308s", "nan", "inf", "0", "0s", "0m0s", "", "   ", "25h"),
    *("24h0m0.5s", "1h1h", "5", "5 seconds", "1.5.5s", "s", "h", "0.0001s", "\u0000"),
    *("9" * 400 + "s", "1" * 5000, "45s\n", "four minutes"),
]
BAD_AT = ["soon", "99999h", "--5s", "", "1e308s", "nan", "-", "half-", "+5s", "-0s ms"]
BAD_ID = ["Step One", "-a", "A", "a b", "é", "a\nb", "a\x1b[2Jb", "", "  ", "a_b", "X" * 3000]
BAD_TEXT = ["", "   ", "\n\t"]
BAD_PAUSE = ["[pause 0s]", "[pause 99999h]", "[pause -5s]", "[pause nan]", "[pause 11m]"]
GOOD_DURATION = ["1s", "45s", "1m30s", "2m", "1.5s", "250ms", " 45 s ", "1h", "0.5m"]
GOOD_AT = ["half", "10s", "-10s", " half ", "0s", "1m"]


@st.composite
def bad_value(draw: st.DrawFn, kind: str) -> str:
    """Return a TOML value that must be an error for a key of this kind."""
    wrong_type = st.sampled_from(WRONG_TYPE)
    choices: dict[str, st.SearchStrategy[str]] = {
        # Blank text is fine where the key is optional, so those get a wrong type only.
        "optional": wrong_type,
        "required": st.one_of(wrong_type, st.sampled_from(BAD_TEXT).map(toml_string)),
        "spoken": st.one_of(
            wrong_type,
            st.builds(
                lambda a, p, b: toml_string(f"{a} {p} {b}"),
                words,
                st.sampled_from(BAD_PAUSE),
                words,
            ),
        ),
        "category": st.one_of(
            wrong_type,
            st.sampled_from(["Massage", "yoga", "Other", "x" * 2000, "a\nb"]).map(toml_string),
        ),
        "id": st.one_of(wrong_type, st.sampled_from(BAD_ID).map(toml_string)),
        "duration": st.one_of(
            wrong_type,
            st.sampled_from(BAD_DURATION).map(toml_string),
            st.sampled_from(BAD_DURATION).map(
                lambda d: f'{{ short = {toml_string(d)}, full = "1m" }}'
            ),
            st.just('{ short = "30s" }'),
            st.just('{ short = "30s", full = "1m", half = "40s" }'),
        ),
        "at": st.one_of(wrong_type, st.sampled_from(BAD_AT).map(toml_string)),
        "variant": st.one_of(
            st.sampled_from(
                ["1", '"a"', "true", "{}", "[]", '["nope"]', "[1]", "[[]]", '["", "x"]']
            ),
            st.just("DUPLICATE"),
        ),
    }
    return draw(choices[kind])


@dataclass
class Entry:
    """One key = value line (the value may span lines), or a table header."""

    text: str
    label: str | None = None
    kind: str = ""


@dataclass
class Doc:
    """A generated TOML document and the line of every labelled entry."""

    text: str
    lines: dict[str, int] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)  # label -> the bad value written


# Ways to write a key: bare, quoted, single-quoted, or quoted with an escape for its
# first letter; each with some spacing around "=".
KEY_FORMS = [
    (form, space)
    for form in ("{k}", '"{k}"', "'{k}'", '"\\u{o:04x}{r}"')
    for space in (" = ", "=", "  =\t")
]
# What may come before an entry: nothing (most often), blank lines, comments.
PREFIXES = ["", "", "", "", "", "\n", "# a comment\n", "   \n\t# [[steps]] = 1\n", "\n\n"]


@st.composite
def render(draw: st.DrawFn, entries: list[Entry], bad: dict[str, str]) -> Doc:
    """Write entries with random spacing, comments and line endings; record the lines."""
    out: list[str] = []
    lines: dict[str, int] = {}
    for entry in entries:
        out.extend(draw(st.sampled_from(PREFIXES)).split("\n")[:-1])
        text = entry.text
        if entry.label is not None:
            lines[entry.label] = len(out) + 1
        if entry.label is not None and not text.startswith("["):
            key, _, value = text.partition(" = ")
            value = bad.get(entry.label, value)
            form, space = draw(st.sampled_from(KEY_FORMS))
            if not key.startswith('"'):
                key = form.format(k=key, o=ord(key[0]), r=key[1:])
            text = f"{key}{space}{value}"
        out.extend(text.split("\n"))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return Doc(newline.join(out) + draw(st.sampled_from(["", newline])), lines, bad)


@dataclass
class Plan:
    """A valid routine's entries, and what each variant and step holds, for checking."""

    entries: list[Entry]
    variants: dict[str, list[str]]
    durations: dict[str, tuple[int, int]]  # step id -> (short_ms, full_ms)


@st.composite
def routine_plan(draw: st.DrawFn, *, long: bool = False) -> Plan:
    """Return a valid routine; with long, steps may last up to 24 hours each."""
    entries: list[Entry] = []

    def text(key: str, kind: str, strategy: st.SearchStrategy[str], label: str) -> None:
        entries.append(Entry(f"{key} = {draw(string_literal(draw(strategy)))}", label, kind))

    text("title", "required", words, "title")
    has_safety = draw(st.booleans())
    category = draw(st.sampled_from(["massage", "stretch", "breathing", "relaxation", "other"]))
    if category == "massage":
        has_safety = True
    for key in ("description", "intro", "outro", "music"):
        if draw(st.booleans()):
            kind = "spoken" if key in ("intro", "outro") else "optional"
            text(key, kind, spoken_words if kind == "spoken" else words, key)
    if has_safety:
        text("safety", "spoken", spoken_words, "safety")
    if draw(st.booleans()) or category == "massage":
        entries.append(Entry(f'category = "{category}"', "category", "category"))

    count = draw(st.integers(1, 4))
    ids = [f"s{i}{draw(st.text('az09-', max_size=6))}" for i in range(count)]
    full = draw(st.permutations(ids))
    short = draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
    entries.append(Entry("[variants]"))
    entries.append(
        Entry(f"short = [{', '.join(map(toml_string, short))}]", "variants.short", "variant")
    )
    entries.append(
        Entry(f"full = [{', '.join(map(toml_string, full))}]", "variants.full", "variant")
    )

    pool = [*GOOD_DURATION, "24h", "12h", "23h59m59s"] if long else GOOD_DURATION
    durations: dict[str, tuple[int, int]] = {}
    for i, step_id in enumerate(ids):
        entries.append(Entry("[[steps]]"))
        entries.append(Entry(f"id = {toml_string(step_id)}", f"steps.{i}.id", "id"))
        text("title", "required", words, f"steps.{i}.title")
        text("text", "spoken", spoken_words, f"steps.{i}.text")
        if draw(st.booleans()):
            text("short_text", "spoken", spoken_words, f"steps.{i}.short_text")
        if draw(st.booleans()):
            value = draw(st.sampled_from(pool))
            short_ms = full_ms = parse_duration(value)
            literal = toml_string(value)
        else:
            a, b = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
            short_ms, full_ms = parse_duration(a), parse_duration(b)
            literal = f"{{ short = {toml_string(a)}, full = {toml_string(b)} }}"
        durations[step_id] = (short_ms, full_ms)
        entries.append(Entry(f"duration = {literal}", f"steps.{i}.duration", "duration"))
        for j in range(draw(st.integers(0, 2))):
            entries.append(Entry("[[steps.cues]]"))
            at = toml_string(draw(st.sampled_from(GOOD_AT)))
            entries.append(Entry(f"at = {at}", f"steps.{i}.cues.{j}.at", "at"))
            text("say", "required", words, f"steps.{i}.cues.{j}.say")
    return Plan(entries, {"short": short, "full": full}, durations)


@st.composite
def broken_routine(draw: st.DrawFn) -> Doc:
    """A valid routine with one to three values replaced by wrong or absurd ones."""
    plan = draw(routine_plan())
    entries = plan.entries
    structural = draw(st.sampled_from(["", "", "", "steps", "variants", "cues", "unknown"]))
    if structural == "steps":  # steps as a plain value instead of [[steps]] tables
        cut = next(i for i, e in enumerate(entries) if e.text == "[variants]")
        steps = Entry(f"steps = {draw(st.sampled_from(WRONG_TYPE))}", "steps", "")
        entries = [*entries[:cut], steps, *entries[cut : 3 + cut]]
    elif structural == "variants":
        cut = next(i for i, e in enumerate(entries) if e.text == "[variants]")
        value = draw(st.sampled_from(["1", '"short"', "[]", '["a"]']))
        entries = [
            *entries[:cut],
            Entry(f"variants = {value}", "variants", ""),
            *entries[cut + 3 :],
        ]
    elif structural == "cues":
        first_step = next(i for i, e in enumerate(entries) if e.text == "[[steps]]")
        not_list = [w for w in WRONG_TYPE if w != "[]"]
        cues = Entry(f"cues = {draw(st.sampled_from(not_list))}", "steps.0.cues", "")
        entries = [*entries[: first_step + 2], cues, *entries[first_step + 2 :]]
        # The first step's own [[steps.cues]] tables would now clash with it.
        entries = [e for e in entries if not (e.label or "").startswith("steps.0.cues.")]
        entries = _drop_orphan_cue_headers(entries)
    elif structural == "unknown":
        places = [i for i, e in enumerate(entries) if not e.text.startswith("[")]
        at = draw(st.sampled_from(places))
        name = draw(st.sampled_from(["colour", "Title", "durations", "steps2", "x y"]))
        key = toml_string(name) if " " in name else name
        entries = [
            *entries[: at + 1],
            Entry(f"{key} = {draw(st.sampled_from(WRONG_TYPE))}", "unknown", ""),
            *entries[at + 1 :],
        ]
    labelled = [e for e in entries if e.label and e.kind]
    chosen = draw(
        st.lists(
            st.sampled_from(labelled),
            min_size=0 if structural else 1,
            max_size=3,
            unique_by=lambda e: e.label,
        )
    )
    bad: dict[str, str] = {}
    for entry in chosen:
        assert entry.label is not None
        value = draw(bad_value(entry.kind))
        if value == "DUPLICATE":
            ids = plan.variants[entry.label.split(".")[1]]
            value = f"[{', '.join(map(toml_string, [*ids, ids[0]]))}]"
        bad[entry.label] = value
    for entry in entries:
        if entry.label in ("steps", "variants", "steps.0.cues", "unknown"):
            bad[entry.label] = entry.text.partition(" = ")[2]
    return draw(render(entries, bad))


def _drop_orphan_cue_headers(entries: list[Entry]) -> list[Entry]:
    """Drop [[steps.cues]] headers left with no keys under them."""
    kept: list[Entry] = []
    for index, entry in enumerate(entries):
        following = entries[index + 1] if index + 1 < len(entries) else None
        if entry.text == "[[steps.cues]]" and (following is None or following.text.startswith("[")):
            continue
        kept.append(entry)
    return kept


# -- routines --------------------------------------------------------------------------------


def check_routine_bytes(
    folder: Path, raw: bytes, name: str = "fuzzed.toml"
) -> Routine | RoutineError:
    """Load raw as a routine file and compile it: a Routine, or the RoutineError it raised."""
    result = load_or_report(folder / name, raw, load_routine_file, line_count(raw))
    if isinstance(result, RoutineError):
        assert type(result) is RoutineError
        assert result.exit_code == ExitCode.ROUTINE == 3
        return result
    return check_compiles(result, line_count(raw)) or result


def check_compiles(routine: Routine, last: int) -> RoutineError | None:
    """Compile both variants: bounded timelines, or the routine error (with a line) of one."""
    found = None
    for variant in Variant:
        try:
            timeline = timed(
                lambda v=variant: compile_timeline(routine, v, fake_measure, chime_ms=1500)
            )
        except RoutineError as err:
            assert_reported(err, routine.source, last)
            found = err
            continue
        assert 0 < timeline.total_ms <= MAX_SESSION_MS
        cursor = 0
        for segment in timeline.segments:
            assert segment.start_ms == cursor and segment.duration_ms >= 0
            cursor += segment.duration_ms
        assert cursor == timeline.total_ms
    return found


@given(raw=garbage)
@fuzz(1500)
def test_any_bytes_load_as_a_routine_or_fail_with_lines(folder: Path, raw: bytes) -> None:
    FUZZED["routine: random bytes and text"] += 1
    check_routine_bytes(folder, raw)


@given(doc=broken_routine())
@fuzz(1000)
def test_every_wrong_value_is_reported_at_its_line(folder: Path, doc: Doc) -> None:
    FUZZED["routine: wrong or absurd values"] += 1
    raw = doc.text.encode()
    err = check_routine_bytes(folder, raw)
    assert isinstance(err, RoutineError), f"loaded despite {doc.bad}:\n{doc.text}"
    reported = {p.line for p in err.problems}
    for label in doc.bad:
        line = doc.lines[label]
        assert line in reported, (
            f"{label} = {doc.bad[label]} on line {line}, but errors are on lines "
            f"{sorted(reported)}:\n{err}\n---\n{doc.text}"
        )


@given(plan=routine_plan(long=True), data=st.data())
@fuzz(400)
def test_valid_routines_load_and_compile_within_a_day(
    folder: Path, plan: Plan, data: st.DataObject
) -> None:
    FUZZED["routine: valid, up to 24 h a step"] += 1
    doc = data.draw(render(plan.entries, {}))
    raw = doc.text.encode()
    too_long = {
        variant: sum(plan.durations[i][variant == "full"] for i in ids) > MAX_SESSION_MS
        for variant, ids in plan.variants.items()
    }
    result = load_or_report(folder / "fuzzed.toml", raw, load_routine_file, line_count(raw))
    if not any(too_long.values()):
        assert isinstance(result, Routine), f"{result}\n---\n{doc.text}"
        assert [s.id for s in result.steps_of(Variant.FULL)] == plan.variants["full"]
        # Steps that fill a day leave no room for the intro and chimes: that is an error,
        # at a line; anything else must compile to at most 24 hours.
        err = check_compiles(result, line_count(raw))
        assert err is None or "runs past 24 hours here" in str(err), err
        return
    assert isinstance(result, RoutineError)
    for variant, over in too_long.items():
        if over:
            line = doc.lines[f"variants.{variant}"]
            assert any(
                p.line == line and "more than 24 hours" in p.message for p in result.problems
            ), f"no 24-hour error at line {line}:\n{result}"


# -- config files ----------------------------------------------------------------------------


CONFIG_BAD = {
    "engine": ['"festival"', '""', '"PIPER"', '"piper "', *WRONG_TYPE],
    "voice": ['""', '"   "', *WRONG_TYPE],
    "rate": ["59", "401", "0", "-150", "1e308", "nan", "150.0", '"150"', "true", "9" * 30, "[]"],
    "music": ['""', '"\\t"', *WRONG_TYPE],
    "music_volume": ["1", "0.1", "-41", "-40.0001", "nan", "+inf", "-inf", '"-12"', "true", "[]"],
}
CONFIG_GOOD = {
    "engine": ['"piper"', '"system"'],
    "voice": ['"en-gb"', '"/voices/a b.onnx"', "'é'"],
    "rate": ["60", "150", "400"],
    "music": ['"none"', '"rain"', '"./bed.mp3"'],
    "music_volume": ["-40", "0", "-12.5", "-0.0"],
}


@st.composite
def config_doc(draw: st.DrawFn) -> Doc:
    """A config file with some keys good, some wrong or absurd, some unknown."""
    keys = draw(st.lists(st.sampled_from(list(CONFIG_BAD)), unique=True, max_size=5))
    entries: list[Entry] = []
    bad: dict[str, str] = {}
    for key in keys:
        if draw(st.booleans()):
            bad[key] = draw(st.sampled_from(CONFIG_BAD[key]))
        entries.append(Entry(f"{key} = {draw(st.sampled_from(CONFIG_GOOD[key]))}", key, "c"))
    if draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(["colour", "Rate", "volume", "engine2"]))
        bad["unknown"] = draw(st.sampled_from(WRONG_TYPE))
        entries.insert(draw(st.integers(0, len(entries))), Entry(f"{name} = 1", "unknown", "c"))
    unused = [k for k in CONFIG_BAD if k not in keys]
    if unused and draw(st.integers(0, 5)) == 0:  # a table where a value belongs, last
        key = draw(st.sampled_from(unused))
        entries.append(Entry(f"[{key}]", key))
        bad[key] = "a table"
    return draw(render(entries, bad))


def check_config_bytes(folder: Path, raw: bytes) -> ConfigError | None:
    """Resolve settings from raw as config.toml: a result, or a ConfigError reported properly."""
    path = folder / "config.toml"
    path.write_bytes(raw)
    try:
        settings = timed(lambda: resolve(Overrides(), path))
    except ConfigError as err:
        assert err.exit_code == ExitCode.CONFIG == 8
        assert_reported(err, str(path), line_count(raw))
        return err
    assert settings.engine.value in ("piper", "system")
    assert 60 <= settings.rate.value <= 400
    assert -40 <= settings.music_volume.value <= 0
    return None


@given(raw=garbage)
@fuzz(1200)
def test_any_bytes_as_config_load_or_fail_with_lines(folder: Path, raw: bytes) -> None:
    FUZZED["config: random bytes and text"] += 1
    check_config_bytes(folder, raw)


@given(doc=config_doc())
@fuzz(1000)
def test_every_wrong_config_value_is_reported_at_its_line(folder: Path, doc: Doc) -> None:
    FUZZED["config: wrong or absurd values"] += 1
    err = check_config_bytes(folder, doc.text.encode())
    if not doc.bad:
        assert err is None, f"{err}\n---\n{doc.text}"
        return
    assert err is not None, f"loaded despite {doc.bad}:\n{doc.text}"
    reported = {p.line for p in err.problems}
    for label in doc.bad:
        assert doc.lines[label] in reported, f"{label}: {err}\n---\n{doc.text}"


# -- articles --------------------------------------------------------------------------------

line_text = st.text(
    st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(AWKWARD[3:-2])),
    max_size=80,
).map(lambda s: s.replace("\n", " ").replace("\r", " "))
ARTICLE_LINES = [
    *("# How to stretch", "## Safety", "## Benefits", "## Instructions", "## What you need"),
    *("Step 1: Reach up", "Step 99999: Hold", "1. Sit down.", "2) Breathe in.", "- a bullet"),
    *("• bullet", "+", "Share", "Advertisement", "", "   ", "Hold for 30 seconds.", "Step"),
    *("Repeat 5 times.", "Massage gently.", "e.g. etc. approx. 5 x 3-4 reps", "#", "###### "),
    *("**Bold**: text", "![img](x.png)", "[a link](http://x)", "<b>", "</b>", "```", "> q"),
    *("Optional: roll the ankle", "| a | b |", "Hold for 99999999999999999999 minutes."),
    *("[pause]", "[pause 3s]", "Step 2: [pause 0s]", "[pause 99999h]", "[pause -5s]"),
    *("Rest. [pause nan] Then go on.", "Breathe [pause 11m] out.", "[PAUSE 1e308s]"),
    *("Step 3: x [pause]", "1. [pause 0s]", "\x00", "\x1b[2J", "\ufeff# Title"),
    *(f"Repeat {'9' * 5000} times.", f"Hold for {'9' * 400}.5 minutes.", "a\rStep 4: b"),
    *("# a" + " " * 3000 + "b", "[pause " * 50, " **a" * 50, "[a](" * 50, "<a" * 50),
    *("Hold [pause 3s]", "[pause\u2028 0s]", "1. Rest [pause 2m]", "\ue000 [pause] x"),
]
article_line = st.one_of(
    st.sampled_from(ARTICLE_LINES),
    line_text,
    st.builds(lambda n, t: f"Step {n}: {t}", st.integers(0, 10**30), line_text),
    st.builds(lambda n, t: f"{n}. {t}", st.integers(0, 99), line_text),
    st.builds(
        lambda n, u: f"Hold for {n} {u}.",
        st.one_of(st.integers(0, 10**20), st.floats(min_value=0, allow_infinity=False)),
        st.sampled_from(["seconds", "minutes", "times", "breaths"]),
    ),
)


@st.composite
def article_file(draw: st.DrawFn) -> bytes:
    text = "\n".join(draw(st.lists(article_line, max_size=40)))
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return encoded(text)


# The errors an article itself can cause: anything else is the importer's fault.
ARTICLE_ERRORS = re.compile(
    r"^(no steps found|not UTF-8|pause marker|too many steps|the full version lasts over 24 h"
    r"|the file is [\d.]+ MB, too big)"
)


def check_article_bytes(folder: Path, raw: bytes) -> Routine | RoutineError:
    """Import raw as an article and compile it: a Routine, or the RoutineError it raised."""
    last = article_line_count(raw)
    result = load_or_report(folder / "article.md", raw, load_article, last)
    if isinstance(result, RoutineError):
        assert type(result) is RoutineError
        for problem in result.problems:
            assert ARTICLE_ERRORS.match(problem.message), problem
        return result
    # What import writes is what check reads; and the steps' lines are the article's.
    written = to_toml(result)
    assert to_toml(parse_routine(written, source=result.source, name=result.name)) == written
    for step in result.steps:
        assert step.line is not None and 1 <= step.line <= last, step
    assert all(1 <= line <= last for line in result.key_lines.values()), result.key_lines
    return check_compiles(result, last) or result


@given(raw=st.one_of(article_file(), garbage))
@fuzz(1200)
def test_any_article_imports_or_fails_with_lines(folder: Path, raw: bytes) -> None:
    FUZZED["article: random lines, bytes and text"] += 1
    check_article_bytes(folder, raw)


# -- huge and deep inputs --------------------------------------------------------------------

STEP_TOML = '[[steps]]\nid = "{id}"\ntitle = "A"\ntext = {text}\nduration = "{duration}"\n'


def routine_text(steps: int = 1, text: str = '"Go."', duration: str = "1s", extra: str = "") -> str:
    ids = [f"s{i}" for i in range(steps)]
    head = f'title = "t"\n[variants]\nshort = ["s0"]\nfull = [{", ".join(map(toml_string, ids))}]\n'
    body = "".join(STEP_TOML.format(id=i, text=text, duration=duration) + extra for i in ids)
    return head + body


# name -> (contents, the line of every problem; 0: an error on any lines, None: may load)
HUGE_ROUTINES: dict[str, tuple[bytes, int | None]] = {
    "5 MB": (b"a = 1\n" * 900_000, 1),
    "1 MB line": (b'a = "' + b"x" * 1_000_000 + b'"\n', 0),
    "1 MB of [": (b"a = " + b"[" * 1_000_000, 1),
    "deep list": (b"\n\na = " + b"[" * 10_000 + b"]" * 10_000, 3),
    "deep inline table": (b"a = " + b"{b=" * 5_000 + b"1" + b"}" * 5_000, 1),
    "deep table header": (b"\n[" + b".".join([b"a"] * 10_000) + b"]\n", 2),
    "100 000-part key": (b".".join([b"a"] * 100_000) + b" = 1\n", 1),
    "100 000 steps": (b"[[steps]]\n" * 100_000, 0),
    "100 000 variant ids": (
        routine_text().replace('full = ["s0"]', "full = [" + '"zz", ' * 100_000 + "]").encode(),
        4,
    ),
    "50 000 unknown keys": ("".join(f"k{i} = 1\n" for i in range(50_000)).encode(), 0),
    "1 MB of blank lines": (b"\n" * 1_000_000, 0),
    "1 MB of narration": (routine_text(text='"""' + "a " * 500_000 + '"""').encode(), 5),
    "200 steps of 24 h": (routine_text(200, duration="24h").encode(), 4),
    "cues a day late": (
        routine_text(200, extra='[[steps.cues]]\nat = "23h59m"\nsay = "x"\n').encode(),
        0,
    ),
    "100 000 [pause": (routine_text(text='"' + "[pause " * 100_000 + '"').encode(), None),
    "80 000 bad pauses": (routine_text(text='"' + "[pause 0s] " * 80_000 + '"').encode(), 8),
}
HUGE_ARTICLES: dict[str, tuple[bytes, int | None]] = {
    "5 MB": (b"Step 1: x\n" * 500_000, 1),
    "1 MB line of words": (b"Step 1: Go\n" + b"breathe " * 130_000, None),
    "1 MB of spaces in a heading": (b"# a" + b" " * 1_000_000 + b"b\nStep 1: x\n", None),
    "100 000 bad pauses": (b"Step 1: x\n" + b"[pause 0s]\n" * 90_000, 0),
    "100 000 numbered items": (b"".join(b"%d. item\n" % (i % 99) for i in range(100_000)), 201),
    "emphasis without closers": (b"Step 1: x\n" + b" **a" * 250_000, 1),
    "links without closers": (b"Step 1: x\n" + b"[a](" * 250_000, None),
    "tags without closers": (b"Step 1: x\n" + b"<a" * 500_000, None),
    "unclosed pause markers": (b"Step 1: x\n" + b"[pause " * 140_000, None),
    "markers at the end": (b"Step 1: x\n" + b"[pause] " * 120_000, 1),
    "a day of words": (b"Step 1: x\n" + b"a " * 500_000, 1),
    "5000-digit count": (b"Step 1: x\nRepeat " + b"9" * 5000 + b" times.", None),
}


@pytest.mark.parametrize("name", list(HUGE_ROUTINES))
def test_huge_and_deep_routines_are_handled_quickly(folder: Path, name: str) -> None:
    raw, line = HUGE_ROUTINES[name]
    FUZZED["routine: huge and deep"] += 1
    result = check_routine_bytes(folder, raw, "huge.toml")
    if line is not None:
        assert isinstance(result, RoutineError)
    if line:
        assert isinstance(result, RoutineError)
        assert {p.line for p in result.problems} == {line}, result.lines()[:3]


@pytest.mark.parametrize("name", list(HUGE_ARTICLES))
def test_huge_articles_are_handled_quickly(folder: Path, name: str) -> None:
    raw, line = HUGE_ARTICLES[name]
    FUZZED["article: huge"] += 1
    result = check_article_bytes(folder, raw)
    if line is not None:
        assert isinstance(result, RoutineError)
    if line:
        assert isinstance(result, RoutineError)
        assert {p.line for p in result.problems} == {line}, result.lines()[:3]


@pytest.mark.parametrize("raw", [b"rate = " + b"[" * 10_000, b"x" * 2_000_000, b"a.b" * 50_000])
def test_huge_and_deep_configs_fail_quickly_with_lines(folder: Path, raw: bytes) -> None:
    FUZZED["config: huge and deep"] += 1
    err = check_config_bytes(folder, raw)
    assert err is not None and [p.line for p in err.problems] == [1]


# -- regressions: inputs fuzzing found (articles' are in tests/routine/test_article.py) ----


def test_a_config_file_that_is_not_utf8_names_a_line(folder: Path) -> None:
    err = check_config_bytes(folder, b'engine = "system"\nvoice = "caf\xe9"\n')
    assert err is not None
    assert err.lines() == [f"{folder / 'config.toml'}:2: not UTF-8 text; save the file as UTF-8"]


def test_config_problems_point_at_dotted_and_escaped_keys(folder: Path) -> None:
    raw = b'# defaults\n\n"\\u0065ngine" = "festival"\nvoice.name = "x"\n[music.x]\n'
    err = check_config_bytes(folder, raw)
    assert err is not None and [p.line for p in err.problems] == [3, 4, 5]


def test_a_byte_order_mark_is_allowed(folder: Path) -> None:
    assert check_config_bytes(folder, b'\xef\xbb\xbfengine = "system"\n') is None
    raw = b"\xef\xbb\xbf" + routine_text().encode()
    assert isinstance(check_routine_bytes(folder, raw), Routine)


def test_check_goes_on_to_the_next_file_after_a_day_long_routine(folder: Path) -> None:
    long = folder / "long.toml"
    long.write_text(routine_text(text='"""' + "a " * 250_000 + '"""'))
    good = folder / "good.toml"
    good.write_text(routine_text(2))
    result = run_cli(folder, "check", str(long), str(good))
    assert result.returncode == ExitCode.ROUTINE
    assert result.stderr.startswith(f"error: {long}:5: the short version runs past 24 hours here")
    assert result.stdout.startswith(f"ok: {good}: 2 steps")


# -- the command line, end to end ------------------------------------------------------------


def run_cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run voiceguide in a fresh process, with its config in folder/config."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONIOENCODING": "utf-8",
        "XDG_CONFIG_HOME": str(folder / "config"),
        "XDG_CACHE_HOME": str(folder / "cache"),
        "XDG_STATE_HOME": str(folder / "state"),
    }
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "voiceguide", *args],
        capture_output=True,
        check=False,
        env=env,
        timeout=60,
    )
    assert time.monotonic() - start < 30
    # Strict decoding: a lone surrogate or stray byte in the output is a failure too.
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


ERROR_LINE = re.compile(r"^error: (?P<file>.+?):(?P<line>\d+): \S")


def assert_clean_output(result: subprocess.CompletedProcess[str], lines: dict[str, int]) -> None:
    """Assert stderr is only one-line errors (FILE:LINE, FILE among lines) and warnings."""
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr
    for text in result.stderr.splitlines():
        if text.startswith("warning: "):
            continue
        match = ERROR_LINE.match(text)
        assert match, f"not an error line: {text!r}"
        assert match["file"] in lines, text
        assert 1 <= int(match["line"]) <= lines[match["file"]], text


@st.composite
def cli_batch(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    """Six routine files and six articles, broken in all the ways above."""
    routines = st.one_of(garbage, broken_routine().map(lambda d: d.text.encode()))
    files = [(f"r{i}.toml", draw(routines)) for i in range(6)]
    return files + [(f"a{i}.md", draw(st.one_of(article_file(), garbage))) for i in range(6)]


@given(batch=cli_batch())
@fuzz(4)
def test_check_prints_each_problem_on_one_line_and_exits_3(
    folder: Path, batch: list[tuple[str, bytes]]
) -> None:
    lines: dict[str, int] = {}
    for name, raw in batch:
        FUZZED["command line: check"] += 1
        (folder / name).write_bytes(raw)
        count = article_line_count(raw) if name.endswith(".md") else line_count(raw)
        lines[str(folder / name)] = count
    result = run_cli(folder, "check", *lines)
    assert_clean_output(result, lines)
    failed = {m["file"] for m in map(ERROR_LINE.match, result.stderr.splitlines()) if m}
    passed = {line.split(": ")[1] for line in result.stdout.splitlines()}
    assert failed | passed == set(lines) and not failed & passed, result
    assert result.returncode == (ExitCode.ROUTINE if failed else ExitCode.OK)


@given(raw=st.one_of(config_doc().map(lambda d: d.text.encode()), garbage))
@fuzz(12)
def test_config_prints_each_problem_on_one_line_and_exits_8(folder: Path, raw: bytes) -> None:
    FUZZED["command line: config"] += 1
    path = folder / "config" / "voiceguide" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    result = run_cli(folder, "config")
    assert_clean_output(result, {str(path): line_count(raw)})
    assert result.returncode in (ExitCode.OK, ExitCode.CONFIG)
    assert (result.returncode == ExitCode.CONFIG) == bool(result.stderr), result


# -- the count -------------------------------------------------------------------------------

PROPERTIES = 11  # the keys of FUZZED a whole run of this file fills


def test_zz_report_how_many_inputs_were_fuzzed(capsys: pytest.CaptureFixture[str]) -> None:
    """Print the number of inputs each property handled (last in the file, so after them)."""
    if len(FUZZED) < PROPERTIES:
        pytest.skip("only part of the file ran; nothing to count")
    total = sum(FUZZED.values())
    with capsys.disabled():
        print()
        for name, count in FUZZED.items():
            print(f"  {count:6}  {name}")
        print(f"  inputs fuzzed: {total}")
    assert total >= 5000
