"""The server sink: a private podcast feed and a bedtime web player, on Starlette.

Every route but the page's two static files sits under a secret token; a
wrong token is a 404. Routines and sessions are addressed by id and key,
looked up in the server's own tables: no file name or path is ever taken
from a request. Nothing a request does changes anything but the render
cache, the resume points and the practice log.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from voiceguide.files import atomic_write
from voiceguide.routine.model import Variant
from voiceguide.routine.writing import content_hash
from voiceguide.sinks.feed import Episode, chapters_json, cover_png, rss
from voiceguide.sinks.practice import Play, PracticeLog
from voiceguide.sinks.renders import Choice, Entry, Rendered, RenderQueue, failed
from voiceguide.sinks.resume import ResumeStore

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

WEB = Path(__file__).parent / "web"
# The only files served by name: the name is looked up here, never joined to a path.
STATIC = {
    "player.js": (WEB / "player.js", "text/javascript"),
    "player.css": (WEB / "player.css", "text/css"),
}
FEED_WAIT_S = 20.0  # a feed asked for while its sessions render waits this long for them
MINUTES_RANGE = (1, 240)
KEY = re.compile(r"[0-9a-f]{32}")
PLAY_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_REPORT_BYTES = 2048
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")

# A rendered file is named by its content and never changes: it may be kept for good.
KEPT_FOR_GOOD = {"Cache-Control": "private, max-age=31536000, immutable"}


def load_token(path: Path) -> str:
    """Return the server's secret token, made once and kept in path (readable by the user only)."""
    try:
        token = path.read_text(encoding="utf-8").strip()
        if TOKEN.fullmatch(token):
            return token
    except OSError:
        pass
    token = secrets.token_urlsafe(18)
    atomic_write(path, (token + "\n").encode("ascii"), make_parents=True)
    path.chmod(0o600)
    return token


@dataclass
class Server:
    """What the app serves: the routines, their renders, and where plays are recorded."""

    entries: tuple[Entry, ...]
    renders: RenderQueue
    token: str
    resume: ResumeStore
    log: PracticeLog
    beds: tuple[str, ...]  # the built-in music beds a listener may choose
    _cover: bytes | None = field(default=None, repr=False)
    _cover_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def entry(self, routine_id: str) -> Entry | None:
        """Return the routine with this id."""
        return next((e for e in self.entries if e.id == routine_id), None)

    def feed_choices(self) -> list[tuple[Entry, Choice]]:
        """Return the feed's sessions: every routine, short and full, as written."""
        return [
            (entry, Choice(entry.id, variant))
            for entry in self.entries
            for variant in (Variant.SHORT, Variant.FULL)
        ]

    def render_feed(self) -> None:
        """Start rendering the feed's sessions in the background (cached ones are ready at once)."""
        for entry, choice in self.feed_choices():
            self.renders.submit(entry, choice, urgent=False)

    def cover(self) -> bytes:
        """Return the cover art (made once)."""
        with self._cover_lock:
            if self._cover is None:
                self._cover = cover_png()
            return self._cover


class BadRequestError(Exception):
    """A request's values are wrong; the message is the one-line reason."""


def parse_choice(server: Server, query: dict[str, list[str]]) -> tuple[Entry, Choice]:
    """Return the routine and the choice a query asks for, or raise BadRequestError saying why."""
    known = {"routine", "variant", "minutes", "music"}
    for name, values in query.items():
        if name not in known:
            raise BadRequestError(
                f"unknown parameter {name!r}; use routine, variant, minutes, music"
            )
        if len(values) > 1:
            raise BadRequestError(f"{name} is given {len(values)} times; give it once")
    value = {name: values[0] for name, values in query.items()}
    entry = server.entry(value.get("routine", ""))
    if entry is None:
        raise BadRequestError("routine must be one of: " + ", ".join(e.id for e in server.entries))
    try:
        variant = Variant(value.get("variant", "full"))
    except ValueError:
        raise BadRequestError("variant must be short or full") from None
    minutes = None
    if value.get("minutes", "") != "":
        low, high = MINUTES_RANGE
        text = value["minutes"]
        # Whole minutes only: each length is a render of its own, kept in the cache.
        if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
            raise BadRequestError(f"minutes must be a whole number from {low} to {high}")
        minutes = float(int(text))
    music = value.get("music", "") or None
    if music is not None and music not in (*server.beds, "none"):
        raise BadRequestError("music must be one of: " + ", ".join((*server.beds, "none")))
    return entry, Choice(entry.id, variant, minutes, music)


def parse_play(server: Server, body: bytes) -> tuple[Play, Entry]:
    """Return a play report (with its step, unless finished) and its routine, or raise
    BadRequestError."""
    if len(body) > MAX_REPORT_BYTES:
        raise BadRequestError("the report is too long")
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequestError("the report must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequestError("the report must be a JSON object")
    play, key = data.get("play"), data.get("session")
    if not isinstance(play, str) or not PLAY_ID.fullmatch(play):
        raise BadRequestError("play must be 8 to 64 letters, digits, - or _")
    rendered = server.renders.ready(key) if isinstance(key, str) and KEY.fullmatch(key) else None
    found = server.renders.choice_of(rendered.key) if rendered is not None else None
    if rendered is None or found is None:
        raise BadRequestError("session must be the key of a session rendered by this server")
    entry, choice = found
    numbers = {}
    for name in ("listened_ms", "position_ms"):
        number = data.get(name)
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 86_400_000:
            raise BadRequestError(f"{name} must be a whole number of ms from 0 to 86400000")
        numbers[name] = number
    finished = data.get("finished")
    if not isinstance(finished, bool):
        raise BadRequestError("finished must be true or false")
    started = data.get("started")
    try:
        datetime.datetime.fromisoformat(str(started))
    except ValueError:
        raise BadRequestError("started must be an ISO 8601 time") from None
    position_ms = numbers["position_ms"]
    step = next(
        (n for n, s in enumerate(rendered.steps, 1) if s.start_ms <= position_ms < s.end_ms),
        None,
    )
    record = Play(
        play,
        entry.id,
        choice.variant.value,
        str(started),
        numbers["listened_ms"],
        finished,
        step=None if finished else step,
        step_count=len(rendered.steps),
        ended="finished" if finished else None,
        title=entry.routine.title,
        content=content_hash(entry.routine),
        player="serve",
    )
    return record, entry


def make_app(server: Server) -> Starlette:
    """Return the ASGI app serving the feed, the page and the sessions."""
    import jinja2
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.responses import (
        FileResponse,
        HTMLResponse,
        JSONResponse,
        PlainTextResponse,
        Response,
    )
    from starlette.routing import Route

    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(WEB), autoescape=True, undefined=jinja2.StrictUndefined
    )
    page = templates.get_template("player.html")
    token = server.token

    def check(request: Request) -> None:
        """Answer 404, as for any unknown address, unless the token is right."""
        given = str(request.path_params.get("token", ""))
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(404, "not found")

    def bad(reason: str) -> Response:
        return PlainTextResponse(reason + "\n", status_code=400)

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def rendered_or_404(request: Request) -> Rendered:
        check(request)
        key = str(request.path_params["key"])
        rendered = server.renders.ready(key) if KEY.fullmatch(key) else None
        if rendered is None:
            raise HTTPException(404, "not found")
        return rendered

    async def home(request: Request) -> Response:
        check(request)
        html = page.render(
            base=f"/{token}",
            routines=[(e.id, e.routine.title) for e in server.entries],
            beds=server.beds,
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def static(request: Request) -> Response:
        found = STATIC.get(str(request.path_params["name"]))
        if found is None:
            raise HTTPException(404, "not found")
        path, media_type = found
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=300"})

    async def feed(request: Request) -> Response:
        check(request)
        jobs = [
            (entry, choice, server.renders.submit(entry, choice))
            for entry, choice in server.feed_choices()
        ]
        if jobs:
            waits = [asyncio.wrap_future(job) for _, _, job in jobs]
            await asyncio.wait(waits, timeout=FEED_WAIT_S)
        root = f"{base_url(request)}/{token}"
        episodes = []
        for entry, choice, job in jobs:
            if job.done() and not failed(job):
                done = job.result()
                episodes.append(
                    Episode(
                        entry.routine,
                        choice.variant,
                        done,
                        f"{root}/audio/{done.key}.mp3",
                        f"{root}/chapters/{done.key}.json",
                        f"{root}/transcript/{done.key}.vtt",
                    )
                )
        body = rss(
            episodes,
            feed_url=f"{base_url(request)}/feed/{token}.xml",
            player_url=f"{root}/",
            cover_url=f"{root}/cover.png",
        )
        return Response(
            body,
            media_type="application/rss+xml; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def audio(request: Request) -> Response:
        rendered = rendered_or_404(request)
        return FileResponse(
            rendered.audio,
            media_type="audio/mpeg",
            headers=KEPT_FOR_GOOD,
        )

    async def chapters(request: Request) -> Response:
        rendered = rendered_or_404(request)
        return Response(
            chapters_json(rendered.chapters, rendered.title),
            media_type="application/json+chapters",
            headers=KEPT_FOR_GOOD,
        )

    async def transcript(request: Request) -> Response:
        rendered = rendered_or_404(request)
        return FileResponse(
            rendered.transcript,
            media_type="text/vtt",
            headers=KEPT_FOR_GOOD,
        )

    async def cover(request: Request) -> Response:
        check(request)
        png = await run_in_threadpool(server.cover)
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=86400"})

    async def session(request: Request) -> Response:
        check(request)
        query = {name: request.query_params.getlist(name) for name in request.query_params}
        try:
            entry, choice = parse_choice(server, query)
        except BadRequestError as err:
            return bad(str(err))
        server.renders.submit(entry, choice)
        key = server.renders.key(entry, choice)
        progress = server.renders.progress(key)
        assert progress is not None
        body: dict[str, object] = {
            "key": key,
            "state": progress.state,
            "done": progress.done_frames,
            "total": progress.total_frames,
            "error": progress.error,
        }
        rendered = server.renders.ready(key)
        if rendered is not None:
            step = server.resume.get(ResumeStore.key(entry.resume_key, choice.variant.value))
            resume_ms = 0
            if step is not None and 1 <= step <= len(rendered.steps):
                resume_ms = rendered.steps[step - 1].start_ms
            body |= {
                "audio": f"/{token}/audio/{key}.mp3",
                "title": rendered.title,
                "variant": choice.variant.value,
                "total_ms": rendered.total_ms,
                "chapters": [
                    {"title": c.title, "start_ms": c.start_ms, "end_ms": c.end_ms}
                    for c in rendered.chapters
                ],
                "resume_ms": resume_ms,
                "resume_step": step if resume_ms else None,
            }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def played(request: Request) -> Response:
        check(request)
        try:
            play, entry = parse_play(server, await request.body())
        except BadRequestError as err:
            return bad(str(err))
        resume_key = ResumeStore.key(entry.resume_key, play.variant)
        if play.finished:
            await run_in_threadpool(server.resume.set, resume_key, None)
        elif play.step is not None:
            await run_in_threadpool(server.resume.set, resume_key, play.step)
        await run_in_threadpool(server.log.record, play)
        return Response(status_code=204)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code)

    routes = [
        Route("/static/{name}", static),
        Route("/feed/{token}.xml", feed),
        Route("/{token}/", home),
        Route("/{token}/cover.png", cover),
        Route("/{token}/api/session", session),
        Route("/{token}/api/play", played, methods=["POST"]),
        Route("/{token}/audio/{key}.mp3", audio),
        Route("/{token}/chapters/{key}.json", chapters),
        Route("/{token}/transcript/{key}.vtt", transcript),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})
