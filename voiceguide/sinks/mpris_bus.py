"""The two MPRIS2 interfaces, as dbus-fast services (imported only in the bus's thread).

This module does not postpone its annotations (no `from __future__ import
annotations`): dbus-fast reads each method's D-Bus signature from the
annotations at definition time, and a postponed `-> None` reads as a
signature of None. The Annotated aliases below carry the signatures.
"""

import queue
from typing import Annotated, Any, Protocol

from dbus_fast import DBusError, ErrorType, PropertyAccess, Variant
from dbus_fast.annotations import DBusSignature
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

from voiceguide.sinks.player import Command, Order, Seek

ROOT_INTERFACE = "org.mpris.MediaPlayer2"
PLAYER_INTERFACE = "org.mpris.MediaPlayer2.Player"
TRACK_PATH = "/org/voiceguide/section/"  # + the section number

Str = Annotated[str, DBusSignature("s")]
Bool = Annotated[bool, DBusSignature("b")]
Strs = Annotated[list[str], DBusSignature("as")]
Double = Annotated[float, DBusSignature("d")]
Int64 = Annotated[int, DBusSignature("x")]
ObjectPath = Annotated[str, DBusSignature("o")]
Metadata = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
READ = PropertyAccess.READ


class BusState(Protocol):
    """What the interfaces show: the player's last report (see mpris._State)."""

    def playback_status(self) -> str: ...
    def position_us(self) -> int: ...
    def metadata(self) -> dict[str, tuple[str, Any]]: ...
    def can_go_next(self) -> bool: ...
    def can_go_previous(self) -> bool: ...
    def section_start_ms(self, section: int) -> int | None: ...


def _variants(data: dict[str, tuple[str, Any]]) -> dict[str, Variant]:
    return {name: Variant(signature, value) for name, (signature, value) in data.items()}


class Root(ServiceInterface):
    """org.mpris.MediaPlayer2: who the player is; Quit stops the session (as q does)."""

    def __init__(self, orders: "queue.Queue[Order]") -> None:
        super().__init__(ROOT_INTERFACE)
        self.orders = orders

    @dbus_method()
    def Raise(self):  # type: ignore[no-untyped-def]  # noqa: N802 - D-Bus names
        pass

    @dbus_method()
    def Quit(self):  # type: ignore[no-untyped-def]  # noqa: N802
        self.orders.put(Command.QUIT)

    @dbus_property(access=READ)
    def CanQuit(self) -> Bool:  # noqa: N802
        return True

    @dbus_property(access=READ)
    def CanRaise(self) -> Bool:  # noqa: N802
        return False

    @dbus_property(access=READ)
    def HasTrackList(self) -> Bool:  # noqa: N802
        return False

    @dbus_property(access=READ)
    def Identity(self) -> Str:  # noqa: N802
        return "voiceguide"

    @dbus_property(access=READ)
    def SupportedUriSchemes(self) -> Strs:  # noqa: N802
        return []

    @dbus_property(access=READ)
    def SupportedMimeTypes(self) -> Strs:  # noqa: N802
        return []


class Player(ServiceInterface):
    """org.mpris.MediaPlayer2.Player: each method becomes an order for the player."""

    def __init__(self, state: BusState, orders: "queue.Queue[Order]") -> None:
        super().__init__(PLAYER_INTERFACE)
        self.state = state
        self.orders = orders

    def changed(self, properties: dict[str, Any]) -> None:
        """Emit PropertiesChanged (metadata given as (signature, value) pairs)."""
        if "Metadata" in properties:
            properties = {**properties, "Metadata": _variants(properties["Metadata"])}
        self.emit_properties_changed(properties)

    @dbus_method()
    def Next(self):  # type: ignore[no-untyped-def]  # noqa: N802
        self.orders.put(Command.NEXT)

    @dbus_method()
    def Previous(self):  # type: ignore[no-untyped-def]  # noqa: N802
        self.orders.put(Command.BACK)

    @dbus_method()
    def Pause(self):  # type: ignore[no-untyped-def]  # noqa: N802
        self.orders.put(Command.PAUSE)

    @dbus_method()
    def PlayPause(self):  # type: ignore[no-untyped-def]  # noqa: N802
        self.orders.put(Command.TOGGLE)

    @dbus_method()
    def Stop(self):  # type: ignore[no-untyped-def]  # noqa: N802
        self.orders.put(Command.QUIT)

    @dbus_method()
    def Play(self):  # type: ignore[no-untyped-def]  # noqa: N802
        self.orders.put(Command.PLAY)

    @dbus_method()
    def Seek(self, offset: Int64):  # type: ignore[no-untyped-def]  # noqa: N802
        self.orders.put(Seek(round(offset / 1000), relative=True))

    @dbus_method()
    def SetPosition(self, track: ObjectPath, position: Int64):  # type: ignore[no-untyped-def]  # noqa: N802
        # Only for the track playing, as the specification asks: a request
        # that comes after the track changed is ignored.
        if not track.startswith(TRACK_PATH) or position < 0:
            return
        number = track.removeprefix(TRACK_PATH)
        start = self.state.section_start_ms(int(number)) if number.isdigit() else None
        if start is not None:
            self.orders.put(Seek(start + round(position / 1000)))

    @dbus_method()
    def OpenUri(self, uri: Str):  # type: ignore[no-untyped-def]  # noqa: ARG002, N802
        raise DBusError(ErrorType.NOT_SUPPORTED, "voiceguide plays its own sessions")

    @dbus_signal()
    def Seeked(self, position: Int64) -> Int64:  # noqa: N802
        return position

    @dbus_property(access=READ)
    def PlaybackStatus(self) -> Str:  # noqa: N802
        return self.state.playback_status()

    @dbus_property(access=READ)
    def Rate(self) -> Double:  # noqa: N802
        return 1.0

    @dbus_property(access=READ)
    def MinimumRate(self) -> Double:  # noqa: N802
        return 1.0

    @dbus_property(access=READ)
    def MaximumRate(self) -> Double:  # noqa: N802
        return 1.0

    @dbus_property(access=READ)
    def Volume(self) -> Double:  # noqa: N802
        return 1.0

    @dbus_property(access=READ)
    def Metadata(self) -> Metadata:  # noqa: N802
        return _variants(self.state.metadata())

    @dbus_property(access=READ)
    def Position(self) -> Int64:  # noqa: N802
        return self.state.position_us()

    @dbus_property(access=READ)
    def CanGoNext(self) -> Bool:  # noqa: N802
        return self.state.can_go_next()

    @dbus_property(access=READ)
    def CanGoPrevious(self) -> Bool:  # noqa: N802
        return self.state.can_go_previous()

    @dbus_property(access=READ)
    def CanPlay(self) -> Bool:  # noqa: N802
        return True

    @dbus_property(access=READ)
    def CanPause(self) -> Bool:  # noqa: N802
        return True

    @dbus_property(access=READ)
    def CanSeek(self) -> Bool:  # noqa: N802
        return True

    @dbus_property(access=READ)
    def CanControl(self) -> Bool:  # noqa: N802
        return True


def interfaces(state: BusState, orders: "queue.Queue[Order]") -> tuple[Root, Player]:
    """Return the MPRIS root and player interfaces, ready to export."""
    return Root(orders), Player(state, orders)
