"""Assemble a session: routine + speech + options -> Timeline, mix plan and audio.

This is the one place where the stages meet: the CLI (and any other front
end) asks it for sessions and for what the stages know (lengths, voices,
beds), and hands the session's timeline and blocks to a sink.

A session whose lines are all cached is compiled and planned exactly before
the first block. When lines are missing and the engine is slow (the neural
voice), `SessionOptions(stream=True)` starts synthesizing them in timeline
order in the background and the session plays or encodes as far as its
lines are known: the start of the session sounds after its first line, not
after its last.

What is settled while lines are still missing:
- the intro is laid out line after line, so everything before its first
  missing line is final;
- a step's cues are placed relative to the step's length, which may stretch
  with any of its lines, so a step is final only when all of its lines are;
- holds fitted with --minutes depend on every line, so only the intro is
  final until all lines are known;
- the music bed fades out over the last 8 s, so nothing that close to the
  (still unknown) end is rendered early (a sleep ending's music and its
  fade come after the closing words, later still).
The session gain is chosen once, when the first block is wanted, from the
lines that sound in it and stand-ins for the rest (see MixPlanner.stand_in),
and then kept, so levels never jump mid-session.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voiceguide.audio.defaults import BED_FADE_OUT_MS, DEFAULT_VOLUME_DB, TARGET_LUFS
from voiceguide.audio.manifest import open_manifest, plan_facts, plan_key
from voiceguide.catalog import (
    BedLoader,
    ambiences,
    can_decode_music,
    chime_ms,
    lengths,
    load_asset,
    load_chime,
    load_tones,
    music_for,
    require_encoder,
    voices,
)
from voiceguide.errors import DoesNotFitError
from voiceguide.routine.model import Routine, Variant
from voiceguide.speech.clip import Clip
from voiceguide.speech.library import SpeechLibrary
from voiceguide.spoken import DEFAULT_RATE_WPM, estimate_ms
from voiceguide.timeline.compile import compile_timeline
from voiceguide.timeline.model import Kind, Measure, Timeline
from voiceguide.timeline.script import spoken_texts, where_text

if TYPE_CHECKING:  # the audio stack (numpy) loads only for audio: `show` needs none
    from voiceguide.audio.format import Block
    from voiceguide.audio.mix import Mix, MixPlanner
    from voiceguide.sinks.player import Status

__all__ = [
    "FIRST_BLOCK_MS",
    "Session",
    "SessionOptions",
    "ambiences",
    "build_session",
    "can_decode_music",
    "chime_ms",
    "lengths",
    "load_asset",
    "load_chime",
    "load_tones",
    "music_for",
    "require_encoder",
    "settled_ms",
    "voices",
]

# The first block of a session, or after a jump, is short: the player's first
# sound (or the next step's chime) waits for it. Blocks do not change the samples.
FIRST_BLOCK_MS = 250
# Settled audio the renderer has not reached yet beyond which only one thread
# synthesizes (SpeechLibrary.pace): about 0.3 s of work for the encoder.
PACE_AHEAD_MS = 30_000


@dataclass(frozen=True)
class SessionOptions:
    """Everything that shapes a session besides the routine and the voice."""

    variant: Variant = Variant.FULL
    minutes: float | None = None  # fit the holds to this many minutes
    lead_in_ms: int = 0  # a spoken invitation and quiet before the session
    skip_intro: bool = False  # leave out the intro (never the safety notes)
    start_step: int = 1  # start here, as when resuming
    music: Path | None = None  # the bed's file
    music_volume_db: float = DEFAULT_VOLUME_DB
    target_lufs: float = TARGET_LUFS
    stream: bool = False  # a slow voice's missing lines are synthesized while it plays
    # A sleep ending (no closing chime, the closing words softer) with this much of
    # the music bed after the last words, fading out; None: the usual ending.
    sleep_ms: int | None = None


def settled_ms(timeline: Timeline, known: Callable[[str], bool], *, scaled: bool) -> int:
    """Return how far into timeline nothing can change when the unknown lines arrive.

    timeline was compiled with estimates for the lines `known` says are not
    ready; scaled says its holds were fitted to a length (--minutes).
    """
    missing = next(
        (s for s in timeline.segments if s.kind in (Kind.SPEECH, Kind.CUE) and not known(s.text)),
        None,
    )
    if missing is None:
        return timeline.total_ms

    def section_start(section: int) -> int:
        return next((s.start_ms for s in timeline.segments if s.step >= section), timeline.total_ms)

    limit = missing.start_ms if missing.step == 0 else section_start(missing.step)
    if scaled:
        limit = min(limit, section_start(1))
    last = max((s.step for s in timeline.segments), default=0)
    return max(min(limit, section_start(last) - BED_FADE_OUT_MS), 0)


class Session:
    """A compiled timeline, its mix plan, and its audio, block by block.

    `timeline` is final (it waits for lines still being synthesized);
    `preview()` is the timeline as far as it is known now, with the length of
    lines not synthesized yet estimated from their words.
    """

    def __init__(
        self,
        compile_with: Callable[[Measure], Timeline],
        speech: SpeechLibrary,
        planner: Callable[[], MixPlanner],
        *,
        scaled: bool = False,
        rate_wpm: int = DEFAULT_RATE_WPM,
        remembered_gain: Callable[[Timeline], float | None] | None = None,
        on_planned: Callable[[Timeline, Mix], None] | None = None,
        streamed: bool | None = None,
    ) -> None:
        """compile_with(measure) compiles the session's timeline with those line lengths;
        planner() makes its mix planner; scaled says the holds are fitted to --minutes;
        remembered_gain(timeline) is the session gain solved for it before, if known;
        on_planned(timeline, mix) is told the final mix (the manifest is saved);
        streamed says lines were missing when it began (by default: the library is
        busy now), which decides how its gain is chosen, however soon they came."""
        self._compile_with = compile_with
        self.speech = speech
        self._make_planner = planner
        self._scaled = scaled
        self._rate_wpm = rate_wpm
        self._remembered_gain = remembered_gain
        self._on_planned = on_planned
        self._planner_lock = threading.Lock()
        self._made_planner: MixPlanner | None = None
        self._final: Timeline | None = None
        self._preview: tuple[int, Timeline, frozenset[str]] | None = None
        self._session_db: float | None = None
        self._streamed = speech.busy() if streamed is None else streamed
        self._first_block: tuple[int, int] | None = None  # the frames the first block spans
        if not speech.busy():
            self._final = compile_with(speech.duration_ms)

    @property
    def ready(self) -> bool:
        """True once every line is synthesized (the timeline is final)."""
        return self._final is not None or not self.speech.busy()

    @property
    def timeline(self) -> Timeline:
        """The final timeline; waits for any lines still being synthesized."""
        if self._final is None:
            self.speech.pace(rest=False)  # every line is wanted now
            while self.speech.busy():
                self.speech.wait_for_more(self.speech.known_count())
            self._final = self._compile_with(self.speech.duration_ms)
        return self._final

    def preview(self) -> Timeline:
        """The timeline as known now: final where lines are ready, estimated elsewhere."""
        return self.timeline if self.ready else self._snapshot()[1]

    def _snapshot(self) -> tuple[int, Timeline, frozenset[str]]:
        """Return the preview with how many lines were ready and which were used as known.

        Lines keep arriving while it is compiled, so it records the ones it
        measured: only they count as known in it.
        """
        count = self.speech.known_count()
        if self._preview is None or self._preview[0] != count:
            timeline, used = self._estimated(self.speech.known_duration_ms)
            self._preview = (count, timeline, used)
        return self._preview

    def _estimated(self, known: Callable[[str], int | None]) -> tuple[Timeline, frozenset[str]]:
        """Compile with the lengths `known` gives, estimates for the rest; say which were used."""
        used: set[str] = set()

        def measure(text: str, unknown_ms: Callable[[str], int]) -> int:
            length = known(text)
            if length is None:
                return unknown_ms(text)
            used.add(text)
            return length

        try:
            timeline = self._compile_with(
                lambda text: measure(text, lambda t: estimate_ms(t, self._rate_wpm))
            )
        except DoesNotFitError:
            # The estimates do not fit --minutes; the lines may. Laying the
            # unknown lines out as silent is as good for what is settled.
            used.clear()
            timeline = self._compile_with(lambda text: measure(text, lambda _: 0))
        return timeline, frozenset(used)

    @property
    def _planner(self) -> MixPlanner:
        with self._planner_lock:  # made once, here or by plan_ahead's thread
            if self._made_planner is None:
                self._made_planner = self._make_planner()
            return self._made_planner

    def plan_ahead(self) -> None:
        """Start measuring the chime and the bed in a thread, so the first block waits less
        (hashing and measuring release the GIL: they overlap what the caller does meanwhile)."""

        def make() -> None:
            with contextlib.suppress(Exception):  # raised again where the planner is wanted
                self._planner  # noqa: B018

        threading.Thread(target=make, name="voiceguide-plan", daemon=True).start()

    def _plan(self, timeline: Timeline) -> Mix:
        """Plan timeline's mix, at the session gain, which is chosen once and then kept.

        A streamed session chooses it from the lines that sound in its first
        block and stand-ins for the rest (see _first_block_gain), whenever it
        is first wanted, and measures each line when the renderer first wants
        it (see MixPlanner.plan), so a cold export is the same audio however
        its threads were scheduled. Otherwise every line is known: it is solved.
        """
        planner = self._planner
        if self._streamed:
            if self._session_db is None:
                self._session_db = self._first_block_gain(timeline)
            return planner.plan(timeline, self._session_db)
        planner.analyse(timeline.spoken_texts())  # every line (a manifest keeps them)
        mix = planner.plan(timeline, self._session_db)
        self._session_db = mix.session_db
        return mix

    def _first_block_gain(self, timeline: Timeline) -> float:
        """Return the session gain solved for the lines of the first block, as they are, and
        every other line as estimated from its words (the same whichever lines are ready)."""
        from voiceguide.audio.format import ms_to_frames
        from voiceguide.audio.render import BLOCK_MS

        begin, end = self._first_block or (0, ms_to_frames(BLOCK_MS))
        first = list(  # in the order spoken: the stand-ins are averaged in this order
            dict.fromkeys(
                s.text
                for s in timeline.segments
                if s.kind in (Kind.SPEECH, Kind.CUE)
                and ms_to_frames(s.start_ms) < end
                and ms_to_frames(s.start_ms + s.duration_ms) > begin
            )
        )
        alike, _ = self._estimated(
            lambda t: self.speech.known_duration_ms(t) if t in first else None
        )
        self._planner.analyse(first)
        return self._planner.plan(alike).session_db

    @functools.cached_property
    def mix(self) -> Mix:
        """The levels of every clip and of the bed (final: waits for every line)."""
        timeline = self.timeline
        if not self._streamed and self._session_db is None and self._remembered_gain is not None:
            self._session_db = self._remembered_gain(timeline)  # solved before: the same
        mix = self._plan(timeline)
        if self._on_planned is not None:
            self._on_planned(timeline, mix)
        return mix

    def blocks(self, start_frame: int = 0) -> Iterator[Block]:
        """Yield the session from start_frame on, block by block.

        While lines are still being synthesized, this renders what is settled
        and waits for the next line when it runs out.
        """
        from voiceguide.audio.format import ms_to_frames
        from voiceguide.audio.render import BLOCK_MS, render, total_frames

        frame = max(start_frame, 0)
        first: int | None = FIRST_BLOCK_MS  # a short first block: it sounds sooner
        if self._first_block is None:
            self._first_block = (frame, frame + ms_to_frames(BLOCK_MS))
        if not self.ready:
            self._planner  # noqa: B018 - measure the chime and bed while the first line is made
        while not self.ready:
            count, timeline, known = self._snapshot()
            total = total_frames(timeline)
            settled = ms_to_frames(settled_ms(timeline, known.__contains__, scaled=self._scaled))
            if frame >= total or settled < min(frame + ms_to_frames(BLOCK_MS), total):
                self.speech.pace(rest=count == 0)  # after the first line, every thread
                self.speech.wait_for_more(count)
                continue
            for block in render(
                timeline,
                self._plan(timeline),
                start_frame=frame,
                end_frame=settled,
                first_block_ms=first,
            ):
                # With plenty rendered ahead the consumer (the encoder, or a player
                # in real time) is what waits: one thread synthesizes and the
                # encoder has the other core, so it is not left a backlog at the end.
                self.speech.pace(rest=settled - frame > ms_to_frames(PACE_AHEAD_MS))
                yield block
                frame += len(block)
                first = None
        yield from render(self.timeline, self.mix, start_frame=frame, first_block_ms=first)

    def aside(self, text: str) -> Block:
        """Return text spoken at the session's level, to play over it (the player's "i").

        Synthesized through the same cache as the session's lines (waiting if
        the background thread is using the engine).
        """
        from voiceguide.audio.render import to_pcm

        session_db = self._session_db if self._session_db is not None else 0.0
        return to_pcm(self._planner.aside(self.speech.aside(text), session_db))

    def where_am_i(self, status: Status) -> Block:
        """Return the spoken answer to "where am I?" for where the player is (the i key)."""
        if status.step is not None:
            section, title = status.step.index, status.step.title
        else:
            section, title = (0 if status.section == 0 else status.step_count + 1), ""
        text = where_text(
            section, status.step_count, title, status.left_in_section_ms, status.left_ms
        )
        return self.aside(text)

    def expected_frames(self) -> int:
        """Return how many frames the session has, as far as it is known now."""
        from voiceguide.audio.render import total_frames

        return total_frames(self.preview())

    def close(self) -> None:
        """Stop synthesizing lines no one will hear (quitting early)."""
        self.speech.stop()


def build_session(
    routine: Routine,
    speech: SpeechLibrary,
    options: SessionOptions,
    *,
    chime: Clip | None = None,
) -> Session:
    """Synthesize (or fetch from cache) every line, compile the timeline, plan the mix.

    With options.stream and an engine that declares `parallel_synthesis`,
    missing lines are synthesized in the background instead, in the order
    they are spoken, and the session is ready to play at once.
    """
    opts = options
    chime_length = chime.duration_ms if chime is not None else chime_ms()

    def compile_with(measure: Measure) -> Timeline:
        return compile_timeline(
            routine,
            opts.variant,
            measure,
            chime_ms=chime_length,
            minutes=opts.minutes,
            lead_in_ms=opts.lead_in_ms,
            skip_intro=opts.skip_intro,
            start_step=opts.start_step,
            sleep_ms=opts.sleep_ms,
        )

    texts = spoken_texts(routine, opts.variant, lead_in_ms=opts.lead_in_ms)  # in order spoken
    manifest = open_manifest(speech, texts)
    # Decoded (or read from the cache, if built-in) in a thread meanwhile.
    bed = BedLoader(opts.music, speech.cache.folder if speech.cache is not None else None)
    missing = speech.missing(texts) if opts.stream else []
    if missing and speech.engine.parallel_synthesis:
        # Fail now on what no line length can fix (e.g. --minutes too short for the holds).
        compile_with(lambda text: speech.known_duration_ms(text) or 0)
        # The first line alone first: it is what the first sound waits for.
        speech.pace(rest=True)
        speech.synthesize_in_background(missing)  # first, so the first line comes soonest
        try:
            bed.wait()
        except BaseException:
            speech.stop()
            raise
    else:
        if not bed.builtin:
            bed.wait()  # a bad music file of the user's fails before any work
        speech.prepare(texts)
        manifest.save()  # the lengths, for `show` and `list` (the analyses once planned)

    def planner() -> MixPlanner:
        from voiceguide.audio.mix import MixPlanner

        return MixPlanner.create(
            speech.clip,
            chime if chime is not None else load_chime(),
            bed_loop=bed.wait(),
            music_volume_db=opts.music_volume_db,
            cache_key=speech.cache_key,
            analyses=manifest.analyses(),
            target_lufs=opts.target_lufs,
        )

    def plan_of(timeline: Timeline) -> str:
        return plan_key(timeline, plan_facts(opts.music, opts.music_volume_db, opts.target_lufs))

    def planned(timeline: Timeline, mix: Mix) -> None:
        solved = math.isfinite(mix.predicted_lufs)  # with every line known, not chosen early
        manifest.save((plan_of(timeline), mix.session_db) if solved else None)

    scaled = opts.minutes is not None
    return Session(
        compile_with,
        speech,
        planner,
        scaled=scaled,
        rate_wpm=speech.engine.rate_wpm,
        remembered_gain=lambda timeline: manifest.gain(plan_of(timeline)),
        on_planned=planned,
        streamed=bool(missing) and speech.engine.parallel_synthesis,
    )
