"""Importing how-to articles, and writing and checking your own routines."""

from __future__ import annotations

import functools
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from tests.helpers import ffprobe_duration_ms
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.errors import ExitCode, RoutineError, UsageError
from voiceguide.routine.article import import_article
from voiceguide.routine.cleanup import normalise, speakable
from voiceguide.routine.fetch import fetch
from voiceguide.routine.library import (
    builtin_names,
    load_article,
    load_article_result,
    load_builtin,
    load_routine_file,
)
from voiceguide.routine.model import Routine, Variant
from voiceguide.routine.writing import to_toml
from voiceguide.textfile import MAX_FILE_BYTES
from voiceguide.timeline.lint import lint
from voiceguide.units import MAX_SESSION_MS

ARTICLES = DATA / "articles"
IMPORTABLE = sorted(
    p for p in ARTICLES.iterdir() if p.suffix in (".txt", ".md", ".html") and p.stem != "no-steps"
)
UPDATE = os.environ.get("VOICEGUIDE_UPDATE_GOLDEN") == "1"


def test_there_are_thirty_articles_each_with_its_expectations() -> None:
    assert len(IMPORTABLE) + 1 >= 30
    assert (ARTICLES / "no-steps.txt").exists()
    for article in IMPORTABLE:
        assert (ARTICLES / f"{article.stem}.expect.json").exists(), article.name


def spoken_text(routine: Routine) -> str:
    """Return everything a session of the routine says."""
    return " ".join(
        [routine.safety, routine.intro, *(f"{s.title}. {s.text}" for s in routine.steps)]
    )


@pytest.mark.parametrize("article", IMPORTABLE, ids=[p.name for p in IMPORTABLE])
def test_import_meets_its_expectations(article: Path) -> None:
    expect = json.loads((ARTICLES / f"{article.stem}.expect.json").read_text())
    result = load_article_result(article)
    routine = result.routine
    assert routine.title == expect["title"]
    assert [s.title for s in routine.steps] == expect["titles"]
    if "category" in expect:
        assert routine.category == expect["category"]
    assert result.summary.safety_source == expect["safety"]
    for phrase in expect["safety_phrases"]:
        assert phrase.lower() in routine.safety.lower(), phrase
    said = spoken_text(routine)
    assert [n for n in expect["noise"] if n in said] == []
    for phrase in expect["spoken"]:
        assert phrase in said, phrase
    if "each_hold_s" in expect:
        assert result.summary.each_hold_ms == expect["each_hold_s"] * 1000
    full = sum(s.full_ms for s in routine.steps_of(Variant.FULL))
    short = sum(s.short_ms for s in routine.steps_of(Variant.SHORT))
    assert short < full
    if "max_full_minutes" in expect:
        assert full <= expect["max_full_minutes"] * 60_000


@pytest.mark.parametrize("article", IMPORTABLE, ids=[p.name for p in IMPORTABLE])
def test_import_matches_golden(article: Path) -> None:
    routine = load_article_result(article).routine
    golden = article.with_suffix(".toml")
    if UPDATE:
        golden.write_text(to_toml(routine))
    assert to_toml(routine) == golden.read_text()


@pytest.mark.parametrize("article", IMPORTABLE, ids=[p.name for p in IMPORTABLE])
def test_every_imported_routine_checks_clean_and_exports(
    article: Path, tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    target = tmp_path / "imported.toml"
    imported = runner.invoke(app, ["import", str(article), "-o", str(target)], obj=fake_env)
    assert imported.exit_code == 0, imported.output
    checked = runner.invoke(app, ["check", str(target)], obj=fake_env)
    assert checked.exit_code == 0, checked.output
    assert checked.stderr == ""  # no warnings either
    wav = tmp_path / "imported.wav"
    exported = runner.invoke(app, ["export", str(target), "--short", "-o", str(wav)], obj=fake_env)
    assert exported.exit_code == 0, exported.output
    shown = runner.invoke(app, ["show", str(target), "--short", "--json"], obj=fake_env)
    total = json.loads(shown.stdout)["total_ms"]
    assert abs(ffprobe_duration_ms(wav) - total) < 50


def test_an_article_with_no_steps_is_a_clear_error(
    runner: CliRunner, fake_env: Environment
) -> None:
    result = runner.invoke(app, ["import", str(ARTICLES / "no-steps.txt")], obj=fake_env)
    assert result.exit_code == ExitCode.ROUTINE
    assert result.stderr == (
        f"error: {ARTICLES / 'no-steps.txt'}:3: no steps found: the text from here holds no "
        "instructions; mark the steps as 'Step 1: ...' lines, headings or a numbered list\n"
    )


def test_the_pasted_web_page_is_cleaned(tmp_path: Path) -> None:
    article = ARTICLES / "pasted-web-page.txt"
    routine = import_article(article.read_text(), source="x", name="feet")
    assert routine.title == "How to Massage Your Own Feet After a Long Day"
    assert routine.category == "massage"
    assert "varicose veins" in routine.safety  # the warnings section is spoken first
    spoken = " ".join([routine.intro, *(s.text for s in routine.steps)])
    for noise in ("Share", "Advertisement", "Benefits", "Frequently", "Related", "›", "+", "−"):
        assert noise not in spoken, noise
    assert [s.title for s in routine.steps] == [
        "Warm up",
        "Thumb strokes",
        "Knead the arch",
        "Toe stretch",
        "Switch feet",
    ]
    assert "1 minute" in routine.steps[2].text  # "1 min" expanded, and singular


def test_a_massage_article_without_safety_notes_gets_them() -> None:
    text = "Hand massage\n\n1. Rub lotion into your palms.\n2. Knead the base of each thumb.\n"
    routine = import_article(text, source="x", name="hands")
    assert routine.category == "massage"
    assert "stop if anything hurts" in routine.safety


def test_short_version_keeps_the_first_sentences_and_leaves_out_optional_steps() -> None:
    routine = import_article((ARTICLES / "numbered-list.txt").read_text(), source="x", name="calf")
    assert len(routine.variants[Variant.FULL]) == 5
    assert len(routine.variants[Variant.SHORT]) == 4  # "Optional: ..." is left out
    for step in routine.steps:
        assert step.short_ms <= step.full_ms
        if step.short_text:
            assert step.text.startswith(step.short_text)


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [
        (
            "Step 3: Hold for 30 secs, e.g. longer if you like",
            "Hold for 30 seconds, for example, longer if you like.",
        ),
        ("**Knead** the [arch](https://example.com) gently", "Knead the arch gently."),
        ("Repeat 10x & breathe", "Repeat 10 times and breathe."),
        ("Hold 20-30 s", "Hold 20 to 30 seconds."),
        ("Rest approx. 1 min", "Rest about 1 minute."),
        ("relax <b>now</b>[1]", "Relax now."),
        ("Try 4-7-8 breathing", "Try 4 7 8 breathing."),
        ("Stand 20 feet (6m) away", "Stand 20 feet (6 metres) away."),
        ("Move 1.5 cm (0.5 in.) back", "Move 1.5 centimetres (0.5 inches) back."),
        ("Hold 5 seconds, x10", "Hold 5 seconds, 10 times."),
        ("Repeat 2x a day", "Repeat twice a day."),
        ("Do 3 sets of 10 reps", "Do 3 sets of 10 repetitions."),
        ("Apply pressure1 here [2, 3] (Smith et al., 2019)", "Apply pressure here."),
        ("Relax 😌 now", "Relax now."),
        ("Rest. Write how it felt: ______", "Rest."),
    ],
)
def test_text_is_made_speakable(raw: str, spoken: str) -> None:
    assert speakable(raw) == spoken


def test_typographic_characters_become_plain() -> None:
    assert normalise("“Quote” – it’s\u00a0fine…\u200b") == '"Quote" - it\'s fine...'


def test_show_play_and_export_accept_an_article_directly(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    article = ARTICLES / "markdown.md"
    shown = runner.invoke(app, ["show", str(article)], obj=fake_env)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("Box breathing for calm (full)")


def test_import_never_overwrites_without_force(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    target = tmp_path / "mine.toml"
    target.write_text("my own work")
    article = str(ARTICLES / "markdown.md")
    refused = runner.invoke(app, ["import", article, "-o", str(target)], obj=fake_env)
    assert refused.exit_code == ExitCode.USAGE
    assert target.read_text() == "my own work"
    forced = runner.invoke(app, ["import", article, "-o", str(target), "--force"], obj=fake_env)
    assert forced.exit_code == 0
    assert target.read_text().startswith("# Imported by voiceguide")


def test_new_writes_a_template_that_checks_clean(
    tmp_path: Path, runner: CliRunner, fake_env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    made = runner.invoke(app, ["new", "evening-stretch"], obj=fake_env)
    assert made.exit_code == 0, made.output
    checked = runner.invoke(app, ["check", "evening-stretch.toml"], obj=fake_env)
    assert checked.exit_code == 0 and checked.stderr == "", checked.output
    again = runner.invoke(app, ["new", "evening-stretch"], obj=fake_env)
    assert again.exit_code == ExitCode.USAGE


def test_user_routines_are_listed_and_played_by_name(
    runner: CliRunner, fake_env: Environment
) -> None:
    made = runner.invoke(app, ["new", "my-breath", "--user"], obj=fake_env)
    assert made.exit_code == 0, made.output
    assert (fake_env.routines_folder() / "my-breath.toml").exists()
    listed = runner.invoke(app, ["list"], obj=fake_env)
    row = next(line for line in listed.stdout.splitlines() if line.startswith("my-breath "))
    assert row.endswith("My breath (yours)")
    shown = runner.invoke(app, ["show", "my-breath"], obj=fake_env)
    assert shown.exit_code == 0, shown.output
    (fake_env.routines_folder() / "broken.toml").write_text("title = 1\n")
    listed = runner.invoke(app, ["list"], obj=fake_env)
    assert listed.exit_code == 0
    assert "has errors: voiceguide check" in listed.stdout


def test_check_reports_errors_and_warnings(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    wordy = tmp_path / "wordy.toml"
    long_sentence = " ".join(["slowly"] * 35) + "."
    wordy.write_text(
        'title = "Wordy"\n[variants]\nshort = ["a"]\nfull = ["a"]\n[[steps]]\nid = "a"\n'
        f'title = "A"\ntext = "{long_sentence}"\nduration = "5s"\n'
    )
    broken = DATA / "broken" / "bad-duration.toml"
    result = runner.invoke(app, ["check", str(wordy), str(broken)], obj=fake_env)
    assert result.exit_code == ExitCode.ROUTINE
    assert f"ok: {wordy}: 1 steps" in result.stdout
    assert f'warning: {wordy}:5: step "a" has a sentence of 35 words' in result.stderr
    assert "more than its duration of 5.0 s" in result.stderr
    assert f"error: {broken}:12:" in result.stderr


def test_built_in_routines_check_clean() -> None:
    assert {"lower-back", "neck-shoulders", "wind-down"} <= set(builtin_names())
    for name in builtin_names():
        routine = load_builtin(name)
        assert lint(routine) == [], name
        if routine.category == "massage":
            assert routine.safety


# -- articles that fuzzing (tests/system/test_fuzz.py) found mishandled ------------------------------


def write_article(folder: Path, text: str) -> Path:
    path = folder / "found.md"
    path.write_bytes(text.encode())
    return path


def test_a_step_line_alone_imports_with_its_title_as_text(tmp_path: Path) -> None:
    # Was '"text" is empty' on line 15 of a one-line article (a line of the TOML it writes).
    routine = load_article(write_article(tmp_path, "Step 0: "))
    assert [(s.title, s.text, s.line) for s in routine.steps] == [("Step 1", "Step 1.", 1)]


def test_imported_steps_point_at_their_lines_in_the_article(tmp_path: Path) -> None:
    # Were the lines of the routine file import writes, which check's warnings then named.
    path = write_article(
        tmp_path, "# Loosen up\n\nStep 1: Reach\nReach up.\n\nStep 2: Bend down slowly.\n"
    )
    routine = load_article(path)
    assert [s.line for s in routine.steps] == [3, 6]
    assert [s.duration_line for s in routine.steps] == [3, 6]


def test_pause_markers_in_an_article_are_kept_as_written(tmp_path: Path) -> None:
    # "[pause 3s]" became "[pause 3 seconds]", which import's own check then refused.
    path = write_article(tmp_path, "# T\nStep 1: Rest\nLie down [pause 3s] and rest [PAUSE  1m]\n")
    routine = load_article(path)
    assert routine.steps[0].text == "Lie down [pause 3s] and rest. [pause 1m]"


def test_a_wrong_pause_marker_in_an_article_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write_article(
        tmp_path, "# T\nStep 1: Rest\nLie down. [pause 0s]\nStep 2: Up\n[pause\n99h]\n"
    )
    with pytest.raises(RoutineError) as caught:
        load_article(path)
    assert [(p.line, p.message[:27]) for p in caught.value.problems] == [
        (3, 'pause marker "[pause 0s]": '),
        (5, 'pause marker "[pause\\n99h]"'),
    ]


def test_a_count_of_thousands_of_digits_imports(tmp_path: Path) -> None:
    # int() refuses more than 4300 digits: this was a ValueError traceback.
    routine = load_article(write_article(tmp_path, f"Step 1: Go\nRepeat {'9' * 5000} times.\n"))
    assert routine.steps[0].full_ms <= MAX_SESSION_MS


def test_carriage_returns_alone_end_article_lines(tmp_path: Path) -> None:
    # Old Mac line ends were dropped, which ran "Step 2" into the line before it.
    routine = load_article(write_article(tmp_path, "Title\rStep 1: Sit\rSit.\rStep 2: Stand\rUp."))
    assert [(s.title, s.line) for s in routine.steps] == [("Sit", 2), ("Stand", 4)]


def test_too_many_steps_in_an_article_points_at_the_first_one_too_many(tmp_path: Path) -> None:
    text = "How to\n" + "".join(f"Step {i}: Move {i}\n" for i in range(1, 251))
    with pytest.raises(RoutineError) as caught:
        load_article(write_article(tmp_path, text))
    assert [p.line for p in caught.value.problems] == [202]
    assert "too many steps (250)" in str(caught.value)


def test_import_prints_what_it_understood(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    target = tmp_path / "feet.toml"
    article = ARTICLES / "pasted-web-page.txt"
    result = runner.invoke(app, ["import", str(article), "-o", str(target)], obj=fake_env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "title: How to Massage Your Own Feet After a Long Day"
    assert lines[2] == "steps, read as numbered list:"
    assert lines[3].split()[:4] == ["1", "Warm", "up", "1:00"]
    assert "line 23" in lines[3] and "Sit down and rest one foot" in lines[3]
    assert lines[8] == "safety notes: from the article (line 17)"
    assert lines[9] == (
        "left out: Benefits of foot massage (line 31), Frequently Asked Questions (line 36), "
        "Related articles (line 46)"
    )


def test_import_json_summary_gives_the_same_for_scripts(
    tmp_path: Path, runner: CliRunner, fake_env: Environment
) -> None:
    target = tmp_path / "hands.toml"
    article = ARTICLES / "inline-steps.txt"
    result = runner.invoke(app, ["import", str(article), "-o", str(target), "--json"], obj=fake_env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["structure"] == "steps in a paragraph"
    assert [s["title"] for s in summary["steps"]] == [
        "Rub a little hand cream",
        "Press your thumb",
        "Gently pull each finger",
        "Squeeze the web",
    ]
    assert summary["safety"] == {"source": "default", "lines": []}
    assert summary["steps"][1]["full_ms"] >= 20_000 + 6_000  # its 20 seconds and the chime
    assert target.exists()


def test_a_one_megabyte_saved_page_imports_in_under_two_seconds(tmp_path: Path) -> None:
    page = (ARTICLES / "saved-neck-page.html").read_text()
    # A real page's weight is mostly around the article: menus, comments, related links.
    filler = "".join(
        f'<div class="comment"><p>Reader {i}: I tried the stretches at my desk today and my '
        f"neck feels looser, thank you for the clear pictures.</p></div>"
        f'<li class="related"><a href="/post/{i}">Another article about posture {i}</a></li>'
        for i in range(4500)
    )
    big = page.replace("</main>", f"</main><section class='comments'>{filler}</section>")
    assert 1_000_000 < len(big.encode()) <= MAX_FILE_BYTES  # a megabyte: as big as import takes
    path = tmp_path / "big.html"
    path.write_text(big)
    started = time.perf_counter()
    routine = load_article_result(path).routine
    took = time.perf_counter() - started
    assert took < 2.0, f"took {took:.2f} s"
    assert [s.title for s in routine.steps] == ["Chin tuck", "Side bend", "Shoulder rolls"]
    assert "Reader" not in spoken_text(routine)


def test_a_one_megabyte_pasted_page_imports_in_under_two_seconds(tmp_path: Path) -> None:
    text = (ARTICLES / "pasted-web-page.txt").read_text()
    comments = "".join(
        f"Reader {i}\nThis massage helped my tired feet a lot after work, thank you.\n\n"
        for i in range(13_500)
    )
    big = text + "\nComments\n" + comments
    assert 1_000_000 < len(big.encode()) <= MAX_FILE_BYTES
    path = tmp_path / "big.txt"
    path.write_text(big)
    started = time.perf_counter()
    routine = load_article_result(path).routine
    took = time.perf_counter() - started
    assert took < 2.0, f"took {took:.2f} s"
    assert len(routine.steps) == 5
    assert "Reader" not in spoken_text(routine)


@pytest.fixture
def page_server() -> Iterator[str]:
    """Serve tests/data/articles on 127.0.0.1 (never the network); yield its base URL."""

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # the requests would be printed on the stderr the tests read

    handler = functools.partial(Handler, directory=str(ARTICLES))

    class Quiet(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that hung up early is not a test failure

    server = Quiet(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_import_fetches_a_url(
    page_server: str, tmp_path: Path, runner: CliRunner, fake_env: Environment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    url = f"{page_server}/saved-massage-page.html"
    result = runner.invoke(app, ["import", url], obj=fake_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("wrote saved-massage-page.toml: 3 steps")
    routine = load_routine_file(tmp_path / "saved-massage-page.toml")
    assert [s.title for s in routine.steps] == [
        "Ball against the wall",
        "Hold the tender spot",
        "Other side",
    ]
    assert "Keep the ball off the spine itself" in routine.safety
    shown = runner.invoke(app, ["show", f"{page_server}/pasted-web-page.txt"], obj=fake_env)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("How to Massage Your Own Feet After a Long Day (full)")


def test_a_missing_page_is_one_clear_line(
    page_server: str, runner: CliRunner, fake_env: Environment
) -> None:
    url = f"{page_server}/no-such-page.html"
    result = runner.invoke(app, ["import", url], obj=fake_env)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == (
        f"error: {url}: the server answered 404 File not found; check the address\n"
    )


def test_an_unreachable_address_is_one_clear_line(runner: CliRunner, fake_env: Environment) -> None:
    # A port nothing listens on, on this machine: the same answer as being offline.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/guide.html"
    result = runner.invoke(app, ["play", url], obj=fake_env)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith(f"error: {url}: cannot fetch the page (")
    assert result.stderr.endswith(
        "check the address and that you are online, or save the page and import the file\n"
    )
    assert result.stderr.count("\n") == 1


def test_a_page_over_the_size_cap_is_refused(page_server: str) -> None:
    with pytest.raises(UsageError, match="too big for an article"):
        fetch(f"{page_server}/saved-neck-page.html", max_bytes=100)


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        (
            "Morning Breath\n\nStep One\nSit up tall.\n\nStep Two\nBreathe in for four counts.\n",
            ["Sit up tall", "Breathe in"],  # a title may end on a particle, never on "for"
        ),
        (
            "## 1. Cat pose\nOn all fours, round your back.\n\n## 2. Cow pose\nLet your belly sink.\n",
            ["Cat pose", "Cow pose"],  # the first numbered heading is a step, not the title
        ),
        (
            "# Ankle\n\n1. **Ankle pumps**\n   - Point and flex your foot.\n2. **Alphabet**\n"
            "   - Trace the alphabet with your big toe.\n",
            ["Ankle pumps", "Alphabet"],  # sub-bullets stay inside their step
        ),
    ],
)
def test_more_step_shapes(text: str, titles: list[str]) -> None:
    routine = import_article(text, source="x", name="x")
    assert [s.title for s in routine.steps] == titles
    assert all(s.text and not s.text.startswith(("-", "1.", "Step")) for s in routine.steps)
