"""The render queue: one render per worker, a listener's first, each key once, cached by content."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.sinks.conftest import ROUTINES
from voiceguide.env import Environment
from voiceguide.errors import DoesNotFitError
from voiceguide.pipeline import Session, SessionOptions, build_session
from voiceguide.routine.library import load_routine_file
from voiceguide.routine.model import Routine, Variant
from voiceguide.sinks.renders import Choice, Entry, RenderQueue


def test_a_waiting_listener_goes_first_and_each_key_renders_once(
    tmp_path: Path, fake_env: Environment
) -> None:
    routine = load_routine_file(ROUTINES / "tiny.toml")
    entry = Entry("tiny", routine, "tiny")
    opened: list[Choice] = []
    hold = threading.Event()

    def open_session(routine: Routine, choice: Choice) -> Session:
        opened.append(choice)
        if len(opened) == 1:
            hold.wait(10)  # the first render holds the only worker while the rest queue
        speech = fake_env.speech(fake_env.settings())
        return build_session(routine, speech, SessionOptions(choice.variant, choice.minutes))

    queue = RenderQueue(tmp_path / "renders", open_session, sound="fake", workers=1)
    try:
        background = [Choice("tiny", Variant.SHORT, minutes=m) for m in (0.5, 0.6, 0.7)]
        jobs = [queue.submit(entry, c, urgent=False) for c in background]
        urgent = Choice("tiny", Variant.FULL)
        wanted = queue.submit(entry, urgent)
        assert queue.submit(entry, urgent) is wanted  # asked twice, rendered once
        progress = queue.progress(queue.key(entry, urgent))
        assert progress is not None and progress.state == "queued"
        hold.set()
        done = wanted.result(timeout=60)
        for job in jobs:
            job.result(timeout=60)
        assert opened == [background[0], urgent, background[1], background[2]]
        assert done.audio.stat().st_size == done.size
        assert [c.title for c in done.chapters] == [
            "Introduction",
            "Breathe in",
            "Breathe out",
            "Closing",
        ]
    finally:
        queue.close()
    # A new queue over the same folder (a restart) finds it rendered: nothing is opened.
    again = RenderQueue(tmp_path / "renders", open_session, sound="fake", workers=1)
    try:
        before = len(opened)
        assert again.submit(entry, urgent).result(timeout=1) == done
        assert len(opened) == before
    finally:
        again.close()


def test_a_session_that_cannot_be_made_reports_why(tmp_path: Path, fake_env: Environment) -> None:
    routine = load_routine_file(ROUTINES / "tiny.toml")
    entry = Entry("tiny", routine, "tiny")

    def open_session(routine: Routine, choice: Choice) -> Session:
        speech = fake_env.speech(fake_env.settings())
        return build_session(routine, speech, SessionOptions(choice.variant, choice.minutes))

    queue = RenderQueue(tmp_path / "renders", open_session, sound="fake", workers=1)
    try:
        choice = Choice("tiny", Variant.SHORT, minutes=0.1)  # shorter than its words
        job = queue.submit(entry, choice)
        with pytest.raises(DoesNotFitError):
            job.result(timeout=30)
        progress = queue.progress(queue.key(entry, choice))
        assert progress is not None and progress.state == "failed"
        assert progress.error and "\n" not in progress.error
        assert queue.ready(queue.key(entry, choice)) is None
        assert not list((tmp_path / "renders").glob("*.part"))
    finally:
        queue.close()
