"""MPRIS2: the playing session as a media player on the D-Bus session bus.

Desktops route headset buttons and media keys to MPRIS players; `playerctl`,
the desktop's media controls, and KDE Connect or GSConnect (a phone as a
remote) drive them too. `play` registers `org.mpris.MediaPlayer2.voiceguide`
(with `.instance<pid>` added when another voiceguide has the name) and turns
the methods called into the player's orders. Each section of the session is
a track: the introduction, "3/8 · Kneading" for step 3, the closing.

dbus-fast runs an asyncio loop in a thread of its own: method calls put
orders in a queue that the player polls, and the player's status reports
become properties and PropertiesChanged signals. Where there is no session
bus (SSH, a headless machine) nothing is started and nothing is said.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voiceguide.sinks.player import QueuedControls, Status

if TYPE_CHECKING:
    import asyncio


BUS_NAME = "org.mpris.MediaPlayer2.voiceguide"
OBJECT_PATH = "/org/mpris/MediaPlayer2"
TRACK_PATH = "/org/voiceguide/section/"  # + the section number (mpris_bus.py has it too)
CONNECT_TIMEOUT_S = 3.0


def session_bus_address() -> str | None:
    """Return the session bus's address, or None when there is none (SSH, headless)."""
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and (Path(runtime) / "bus").is_socket():  # a systemd user bus
        return f"unix:path={Path(runtime) / 'bus'}"
    return None


def track_title(status: Status) -> str:
    """Return the title of the section playing, like '3/8 · Kneading'."""
    if status.step is not None:
        return f"{status.step.index}/{status.step_count} · {status.step.title}"
    if status.sleeping:
        return "Sleep"  # as the exported file's last chapter
    return "Introduction" if status.section == 0 else "Closing"


class _State:
    """What the bus sees, from the player's last report (shared by two threads)."""

    def __init__(self, album: str, art_url: str | None) -> None:
        self.album = album
        self.art_url = art_url
        self.lock = threading.Lock()
        self.status: Status | None = None
        self.stamp = 0.0  # when status came (time.monotonic)
        self.stopped = False

    def playback_status(self) -> str:
        with self.lock:
            if self.stopped or self.status is None:
                return "Stopped"
            return "Paused" if self.status.paused else "Playing"

    def position_us(self) -> int:
        """The position in the section playing, in µs (moving on since the last report)."""
        with self.lock:
            status, stamp = self.status, self.stamp
        if status is None:
            return 0
        ms: float = status.position_ms - status.section_start_ms
        if not status.paused and not self.stopped:
            ms += (time.monotonic() - stamp) * 1000
        length = status.section_end_ms - status.section_start_ms
        return round(min(max(ms, 0), length) * 1000)

    def metadata(self) -> dict[str, tuple[str, Any]]:
        """The section playing as MPRIS metadata: name -> (D-Bus signature, value)."""
        with self.lock:
            status = self.status
        if status is None:
            return {}
        data: dict[str, tuple[str, Any]] = {
            "mpris:trackid": ("o", f"{TRACK_PATH}{status.section}"),
            "mpris:length": ("x", (status.section_end_ms - status.section_start_ms) * 1000),
            "xesam:title": ("s", track_title(status)),
            "xesam:album": ("s", self.album),
            "xesam:artist": ("as", ["voiceguide"]),
            "xesam:trackNumber": ("i", status.section + 1),
        }
        if self.art_url is not None:
            data["mpris:artUrl"] = ("s", self.art_url)
        return data

    def can_go_previous(self) -> bool:
        return self.status is not None

    def can_go_next(self) -> bool:
        with self.lock:
            status = self.status
        return status is not None and status.section < status.section_count - 1

    def section_start_ms(self, section: int) -> int | None:
        """Return where a section starts in the session (None: not known)."""
        with self.lock:
            status = self.status
        if status is None or section != status.section:
            return None
        return status.section_start_ms


class MprisControls(QueuedControls):
    """The player's remote on the session bus: a source of orders and a sink of status."""

    def __init__(
        self,
        album: str,
        art_url: Callable[[], str | None] = lambda: None,
        *,
        name: str = BUS_NAME,
    ) -> None:
        """art_url is asked once, in the bus's thread (the cover may have to be made)."""
        super().__init__()
        self.name = name
        self._art_url = art_url
        self._state = _State(album, None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._player: Any = None
        self._thread: threading.Thread | None = None
        self._closed: asyncio.Event | None = None

    def start(self) -> bool:
        """Connect in the background once the player first reports (its first sound is
        out: importing dbus-fast and connecting take about 0.1 s that it need not wait
        for); return False at once when there is no session bus."""
        address = session_bus_address()
        if address is None:
            return False
        self._thread = threading.Thread(
            target=self._run, args=(address,), name="voiceguide-mpris", daemon=True
        )
        return True

    def _run(self, address: str) -> None:
        import asyncio  # here, in the thread: 0.1 s that the first sound need not wait for

        # Any failure (no bus after all, a refused name) leaves play as it was: keys only.
        with contextlib.suppress(Exception):
            asyncio.run(self._serve(address))

    async def _serve(self, address: str) -> None:
        import asyncio

        from dbus_fast import BusType, RequestNameReply
        from dbus_fast.aio import MessageBus

        from voiceguide.sinks.mpris_bus import interfaces

        self._loop = asyncio.get_running_loop()
        self._closed = asyncio.Event()
        self._state.art_url = self._art_url()
        bus = await asyncio.wait_for(
            MessageBus(bus_address=address, bus_type=BusType.SESSION).connect(),
            CONNECT_TIMEOUT_S,
        )
        root, player = interfaces(self._state, self.orders)
        self._player = player
        bus.export(OBJECT_PATH, root)
        bus.export(OBJECT_PATH, player)
        reply = await bus.request_name(self.name)
        if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            self.name = f"{self.name}.instance{os.getpid()}"  # as the specification says
            await bus.request_name(self.name)
        await self._closed.wait()
        player.changed({"PlaybackStatus": "Stopped"})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bus.release_name(self.name), 1.0)
        bus.disconnect()

    def update(self, status: Status) -> None:
        """Take the player's report; tell the bus what changed (from the player's thread)."""
        state = self._state
        with state.lock:
            old = state.status
            state.status, state.stamp = status, time.monotonic()
        if self._thread is not None and self._thread.ident is None:
            self._thread.start()  # see start: the first sound is out
        loop = self._loop
        if loop is None or self._player is None:
            return
        changed: dict[str, Any] = {}
        if old is None or old.paused != status.paused:
            changed["PlaybackStatus"] = state.playback_status()
        if old is None or (
            old.section,
            old.section_end_ms,
            old.section_start_ms,
            old.sleeping,
        ) != (status.section, status.section_end_ms, status.section_start_ms, status.sleeping):
            changed["Metadata"] = state.metadata()
            changed["CanGoNext"] = state.can_go_next()
            changed["CanGoPrevious"] = True
        player = self._player
        if changed:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(player.changed, changed)
        if status.moved:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(player.Seeked, state.position_us())

    def close(self) -> None:
        """Say the session stopped, give up the name and disconnect."""
        self._state.stopped = True
        loop, closed = self._loop, self._closed
        if loop is not None and closed is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(closed.set)
        if self._thread is not None and self._thread.ident is not None:
            self._thread.join(2.0)
