"""`voiceguide serve`: a real server on 127.0.0.1, the real pipeline (espeak-ng, ffmpeg)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import feedparser
import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from tests.helpers import decode, rms_dbfs
from tests.sinks.conftest import (
    ROUTINES,
    Served,
    free_port,
    serve_env,
    start_serve,
    stop_serve,
)
from voiceguide.cli import app
from voiceguide.env import Environment
from voiceguide.errors import ExitCode
from voiceguide.routine.library import load_routine_file
from voiceguide.routine.model import Variant
from voiceguide.sinks.practice import PracticeLog
from voiceguide.sinks.renders import Choice, session_key


def _feed(served: Served) -> feedparser.FeedParserDict:
    status, headers, body = served.request("GET", f"/feed/{served.token}.xml")
    assert status == 200
    assert headers["content-type"].startswith("application/rss+xml")
    return feedparser.parse(body)


def _path_of(url: str) -> str:
    return re.sub(r"^http://127\.0\.0\.1:\d+", "", url)


def _ffprobe_chapters(path: Path) -> list[tuple[int, int, str]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # ID3 keeps CHAP frames in no set order (the CTOC frame gives it): sort by start.
    return sorted(
        (
            round(float(c["start_time"]) * 1000),
            round(float(c["end_time"]) * 1000),
            c["tags"]["title"],
        )
        for c in json.loads(out)["chapters"]
    )


def test_start_prints_the_urls_then_a_qr_code(served: Served) -> None:
    player, feed = served.banner[0], served.banner[1]
    assert player == f"player: http://127.0.0.1:{served.port}/{served.token}/"
    assert feed == f"feed: http://127.0.0.1:{served.port}/feed/{served.token}.xml"
    qr = served.banner[2:-2]
    assert len(qr) >= 15  # a version-3+ code in half-height blocks
    assert all(set(line) <= set("█▀▄ ") for line in qr)
    assert "this machine only (127.0.0.1)" in served.banner[-2]
    token_file = served.home / "config" / "voiceguide" / "serve-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert len(served.token) >= 22


def test_the_feed_validates_and_matches_the_files(served: Served, tmp_path: Path) -> None:
    parsed = _feed(served)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.feed.title == "voiceguide"
    assert [e.title for e in parsed.entries] == ["Tiny (short)", "Tiny (full)"]
    image = parsed.feed.image.href
    status, headers, png = served.request("GET", _path_of(image))
    assert status == 200 and headers["content-type"] == "image/png"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert png.startswith(b"\x89PNG") and width >= 1400 and height >= 1400
    for entry in parsed.entries:
        enclosure = entry.enclosures[0]
        assert enclosure.type == "audio/mpeg"
        status, headers, audio = served.request("GET", _path_of(enclosure.href))
        assert status == 200
        assert int(enclosure.length) == len(audio) == int(headers["content-length"])
        file = tmp_path / f"{entry.id}.mp3"
        file.write_bytes(audio)
        # The chapters the feed points at are those in the served file, to the ms.
        status, _, body = served.request("GET", _path_of(entry.podcast_chapters["url"]))
        assert status == 200
        chapters = json.loads(body)["chapters"]
        in_json = [
            (round(c["startTime"] * 1000), round(c["endTime"] * 1000), c["title"]) for c in chapters
        ]
        assert in_json == _ffprobe_chapters(file)
        assert [c[2] for c in in_json] == ["Introduction", "Breathe in", "Breathe out", "Closing"]
        assert int(entry.itunes_duration) == round(in_json[-1][1] / 1000)
        # The Podlove chapters say the same.
        psc = re.findall(
            r'<psc:chapter start="(\d\d):(\d\d):(\d\d)\.(\d{3})" title="([^"]*)"',
            served.request("GET", f"/feed/{served.token}.xml")[2].decode(),
        )
        starts = [((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms) for h, m, s, ms, _ in psc]
        assert sorted({c[0] for c in in_json}) == sorted(set(starts))
        assert "Breathe in" in entry.description and "dizzy" in entry.description
        status, headers, vtt = served.request("GET", _path_of(entry.podcast_transcript["url"]))
        assert status == 200 and headers["content-type"].startswith("text/vtt")
        assert vtt.startswith(b"WEBVTT") and b"Breathe in slowly." in vtt


def test_the_chapters_are_the_timeline_to_the_ms(served: Served) -> None:
    env = Environment(cache_dir=served.home / "cache" / "voiceguide" / "clips")
    shown = CliRunner().invoke(
        app,
        ["show", str(ROUTINES / "tiny.toml"), "--short", "--engine", "system", "--json"],
        obj=env,
    )
    assert shown.exit_code == 0, shown.output
    timeline = json.loads(shown.stdout)
    answer = served.session("routine=tiny&variant=short")
    chapters = answer["chapters"]
    assert isinstance(chapters, list)
    steps = [(c["title"], c["start_ms"], c["end_ms"]) for c in chapters[1:-1]]
    expected = [
        (s["title"], s["start_ms"], s["start_ms"] + s["duration_ms"]) for s in timeline["steps"]
    ]
    assert steps == expected
    assert answer["total_ms"] == timeline["total_ms"]


def test_guids_are_stable_and_follow_the_content(tmp_path: Path) -> None:
    routine = load_routine_file(ROUTINES / "tiny.toml")
    choice = Choice("tiny", Variant.SHORT)
    key = session_key(routine, choice, "system|None|150")
    assert key == session_key(load_routine_file(ROUTINES / "tiny.toml"), choice, "system|None|150")
    changed = tmp_path / "tiny.toml"
    changed.write_text((ROUTINES / "tiny.toml").read_text().replace('"8s"', '"9s"', 1))
    assert session_key(load_routine_file(changed), choice, "system|None|150") != key
    assert session_key(routine, Choice("tiny", Variant.FULL), "system|None|150") != key
    assert session_key(routine, Choice("tiny", Variant.SHORT, minutes=2), "system|None|150") != key
    assert session_key(routine, choice, "system|en-gb|150") != key


def test_ranges_head_and_caching_headers(served: Served) -> None:
    answer = served.session("routine=tiny&variant=short")
    audio = str(answer["audio"])
    status, headers, whole = served.request("GET", audio)
    assert status == 200 and headers["accept-ranges"] == "bytes"
    assert "immutable" in headers["cache-control"] and headers["etag"]
    status, headers, part = served.request("GET", audio, {"Range": "bytes=100-1123"})
    assert status == 206
    assert part == whole[100:1124] and headers["content-length"] == "1024"
    assert headers["content-range"] == f"bytes 100-1123/{len(whole)}"
    status, _, tail = served.request("GET", audio, {"Range": "bytes=-500"})
    assert status == 206 and tail == whole[-500:]
    status, _, _ = served.request("GET", audio, {"Range": f"bytes={len(whole) + 10}-"})
    assert status == 416
    status, headers, body = served.request("HEAD", audio)
    assert status == 200 and body == b""
    assert int(headers["content-length"]) == len(whole)
    assert headers["etag"] and headers["last-modified"]


@pytest.mark.parametrize(
    "path",
    [
        "/feed/{wrong}.xml",
        "/{wrong}/",
        "/{wrong}/api/session?routine=tiny",
        "/{wrong}/audio/{key}.mp3",
        "/{wrong}/cover.png",
        "/",
        "/feed/.xml",
        "/{token}/audio/..%2F..%2F..%2Fetc%2Fpasswd.mp3",
        "/{token}/audio/../../etc/passwd",
        "/{token}/audio/{other}.mp3",
        "/{token}/chapters/%2E%2E%2F{key}.json",
        "/{token}/transcript/{key}.vtt/../../../../etc/passwd",
        "/static/..%2Fserve.py",
        "/static/../renders.py",
        "/static/player.html",
        "/{token}/static/player.js",
    ],
)
def test_a_wrong_token_or_path_is_not_found(served: Served, path: str) -> None:
    key = str(served.session("routine=tiny&variant=short")["key"])
    wrong = served.token[:-1] + ("A" if served.token[-1] != "A" else "B")
    url = path.format(wrong=wrong, token=served.token, key=key, other="0" * 32)
    status, _, body = served.request("GET", url)
    assert status == 404, (url, body)
    assert b"root:" not in body and b"import" not in body


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("routine=nope", "routine must be one of: tiny"),
        ("routine=../../etc/passwd", "routine must be one of: tiny"),
        ("routine=tiny&variant=medium", "variant must be short or full"),
        ("routine=tiny&minutes=abc", "minutes must be a whole number from 1 to 240"),
        ("routine=tiny&minutes=0", "minutes must be a whole number from 1 to 240"),
        ("routine=tiny&minutes=nan", "minutes must be a whole number from 1 to 240"),
        ("routine=tiny&minutes=2.5", "minutes must be a whole number from 1 to 240"),
        ("routine=tiny&minutes=241", "minutes must be a whole number from 1 to 240"),
        ("routine=tiny&minutes=%EF%BC%95", "minutes must be a whole number from 1 to 240"),
        ("routine=tiny&music=../../x.ogg", "music must be one of: surf, drone, bowls, none"),
        ("routine=tiny&volume=11", "unknown parameter 'volume'"),
        ("routine=tiny&variant=short&variant=full", "variant is given 2 times; give it once"),
    ],
)
def test_bad_values_get_a_400_with_a_reason(served: Served, query: str, reason: str) -> None:
    status, headers, body = served.request("GET", f"/{served.token}/api/session?{query}")
    assert status == 400
    assert headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert text.count("\n") == 1 and text.startswith(reason), text


def test_a_play_is_logged_and_resumes_at_its_step(served: Served) -> None:
    answer = served.session("routine=tiny&variant=full")
    chapters = answer["chapters"]
    assert isinstance(chapters, list)
    second = chapters[2]  # the second step, "Breathe out"
    report = {
        "play": "test-play-0001",
        "session": answer["key"],
        "started": "2026-01-01T22:00:00+00:00",
        "listened_ms": 12_000,
        "position_ms": second["start_ms"] + 1500,
        "finished": False,
    }
    post = "POST", f"/{served.token}/api/play"
    status, _, _ = served.request(*post, body=json.dumps(report).encode())
    assert status == 204
    again = served.session("routine=tiny&variant=full")
    assert again["resume_ms"] == second["start_ms"] and again["resume_step"] == 2
    # Under a minute: not in the practice log (yet).
    assert "test-play-0001" not in {p.play for p in PracticeLog(served.state).plays()}
    report |= {"listened_ms": 72_000}
    status, _, _ = served.request(*post, body=json.dumps(report).encode())
    assert status == 204
    (mine,) = [p for p in PracticeLog(served.state).plays() if p.play == "test-play-0001"]
    assert (mine.routine, mine.variant, mine.started) == (
        "tiny",
        "full",
        "2026-01-01T22:00:00+00:00",
    )
    assert (mine.listened_ms, mine.finished, mine.step, mine.step_count) == (72_000, False, 2, 2)
    assert (mine.title, mine.player) == ("Tiny", "serve")
    # The same resume store as `voiceguide play --resume`.
    resume = json.loads((served.state / "resume.json").read_text())
    assert resume[f"{(ROUTINES / 'tiny.toml').resolve()}|full"] == 2
    report |= {"finished": True, "listened_ms": 90_000, "position_ms": answer["total_ms"]}
    status, _, _ = served.request(*post, body=json.dumps(report).encode())
    assert status == 204
    assert served.session("routine=tiny&variant=full")["resume_ms"] == 0
    mine = [p for p in PracticeLog(served.state).plays() if p.play == "test-play-0001"]
    assert len(mine) == 1 and mine[0].finished and mine[0].listened_ms == 90_000
    assert mine[0].ended == "finished" and mine[0].step is None
    for body, reason in [
        (b"not json", "the report must be JSON"),
        (b"[]", "the report must be a JSON object"),
        (json.dumps(report | {"session": "0" * 32}).encode(), "session must be the key"),
        (json.dumps(report | {"listened_ms": -5}).encode(), "listened_ms must be"),
        (json.dumps(report | {"play": "../x"}).encode(), "play must be"),
        (b"{" + b" " * 4000 + b"}", "the report is too long"),
    ]:
        status, _, said = served.request(*post, body=body)
        assert status == 400 and said.decode().startswith(reason), said


def test_a_port_in_use_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port)], obj=Environment())
    assert result.exit_code == ExitCode.USAGE
    assert result.output == (
        f"error: port {port} is in use (another voiceguide serve?); choose another with --port\n"
    )


def test_a_missing_dir_is_one_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "voiceguide", "serve", "--port", str(free_port())]
    result = subprocess.run(
        [*command, "--dir", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        env=serve_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert result.returncode == ExitCode.USAGE
    assert result.stderr == (
        f"error: {tmp_path / 'nowhere'}: no such folder; "
        "give --dir a folder of routines or articles\n"
    )


def test_the_built_ins_are_served_by_default(tmp_path: Path) -> None:
    server = start_serve(tmp_path, "--engine", "system")
    try:
        assert server.banner[-2].endswith("3 routines")
        status, _, page = server.request("GET", f"/{server.token}/")
        assert status == 200
        for routine in ("lower-back", "neck-shoulders", "wind-down"):
            assert f'value="{routine}"' in page.decode()
    finally:
        stop_serve(server)


def test_the_music_chosen_on_the_page_plays_in_the_holds(served: Served, tmp_path: Path) -> None:
    def hold_level(query: str) -> float:
        answer = served.session(query)
        status, _, audio = served.request("GET", str(answer["audio"]))
        assert status == 200
        file = tmp_path / f"{answer['key']}.mp3"
        file.write_bytes(audio)
        samples = decode(file)
        step = answer["chapters"][1]
        end = step["end_ms"] * 44_100 // 1000
        return rms_dbfs(samples[end - 2 * 44_100 : end])  # the last 2 s of the hold

    quiet = hold_level("routine=tiny&variant=short")
    bowls = hold_level("routine=tiny&variant=short&music=bowls")
    assert quiet < -60
    assert bowls > -45


def test_dir_serves_routine_files_and_articles_and_skips_broken_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from voiceguide.cli.core import Run
    from voiceguide.cli.serve import _entries

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "tiny.toml").write_bytes((ROUTINES / "tiny.toml").read_bytes())
    (folder / "Back Care.md").write_bytes((DATA / "articles" / "markdown.md").read_bytes())
    (folder / "broken.toml").write_bytes((DATA / "broken" / "syntax-error.toml").read_bytes())
    (folder / "notes.pdf").write_bytes(b"%PDF")
    (folder / "no-steps.txt").write_bytes((DATA / "articles" / "no-steps.txt").read_bytes())
    run = Run(Environment(routines_dir=tmp_path / "none"))
    entries = _entries(run, [folder, folder], builtins=False)
    assert [e.id for e in entries] == ["back-care", "tiny", "back-care-2", "tiny-2"]
    assert entries[1].resume_key == str((folder / "tiny.toml").resolve())
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 4
    assert warnings[0].startswith(f"warning: skipping {folder / 'broken.toml'}:")
    # The importer points at the line where the article's body starts.
    assert warnings[1].startswith(f"warning: skipping {folder / 'no-steps.txt'}:3: no steps found")
