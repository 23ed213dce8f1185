"""A private D-Bus session bus (a real dbus-daemon) and small MPRIS players on it, for tests.

with session_bus() as address:
    player = MprisPlayer(address, "vlc", status="Playing")
    player.set_status("Paused")  # as if paused in the player's window
    player.close()               # the player quits
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from jeepney import (
    DBusAddress,
    HeaderFields,
    Message,
    MessageType,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

MPRIS_PATH = "/org/mpris/MediaPlayer2"
PLAYER_INTERFACE = "org.mpris.MediaPlayer2.Player"
ROOT_INTERFACE = "org.mpris.MediaPlayer2"
PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties"
STATUS_AFTER = {"Play": "Playing", "Pause": "Paused", "Stop": "Stopped"}


@contextmanager
def session_bus(address: str | None = None) -> Iterator[str]:
    """Run a dbus-daemon with the session configuration, listening at `address` (such as
    unix:path=/tmp/x/bus, so that a bus started again there has the same address) or the
    configuration's; yields its address."""
    listen = [f"--address={address}"] if address else []
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1", *listen],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        yield daemon.stdout.readline().strip()
    finally:
        daemon.terminate()
        daemon.communicate(timeout=5)  # also closes its stdout


class MprisPlayer:
    """An MPRIS player serving the Player methods and properties the media skill uses, and
    announcing PlaybackStatus changes with PropertiesChanged, as real players do; a hung one
    (`answers=False`) takes requests and answers none until `release()`, a slow one
    (`late=SECONDS`) changes its status that long after it answered a play or pause, as some
    real players do. A browser
    may have no volume control (`volume=None`) and a player nothing to skip to
    (`can_skip=False`); `identity` is its name for people (default: `name`)."""

    def __init__(
        self,
        address: str,
        name: str,
        status: str = "Paused",
        volume: float | None = 0.5,
        answers: bool = True,
        late: float = 0.0,
        identity: str = "",
        can_skip: bool = True,
    ):
        self.identity = identity or name
        self.can_skip = can_skip
        self.answers = answers
        self.late = late
        self.calls: list[str] = []
        self.status = status
        self.volume = volume
        self._stop = threading.Event()
        self._sending = threading.RLock()  # an answer is sent as the status it tells is
        self._holding = threading.Lock()
        self._held: list[Message] = []
        self._announcing: list[threading.Timer] = []  # late status changes still to come
        self.connection = open_dbus_connection(address)
        self.connection.send_and_get_reply(
            message_bus.RequestName(f"org.mpris.MediaPlayer2.{name}")
        )
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def set_status(self, status: str) -> None:
        """Change PlaybackStatus and announce it."""
        emitter = DBusAddress(MPRIS_PATH, interface=PROPERTIES_INTERFACE)
        changed = (PLAYER_INTERFACE, {"PlaybackStatus": ("s", status)}, [])
        with self._sending:
            self.status = status
            self._send(new_signal(emitter, "PropertiesChanged", "sa{sv}as", changed))

    @property
    def held(self) -> int:
        """How many requests a hung player holds unanswered."""
        return len(self._held)

    def release(self) -> None:
        """A hung player recovers: it answers the requests it holds, and those to come."""
        with self._holding:
            self.answers = True
            held, self._held = self._held, []
        for message in held:
            self._reply(message)

    def _send(self, message) -> None:
        with self._sending:
            self.connection.send(message)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.connection.receive(timeout=0.1)
            except TimeoutError:
                continue
            except OSError:  # the bus went away
                return
            if message.header.message_type != MessageType.method_call:
                continue
            with self._holding:
                if not self.answers:
                    self._held.append(message)
                    continue
            self._reply(message)

    def _reply(self, message) -> None:
        """Answer `message` in order with the signals, as a player's main loop does."""
        with self._sending:
            self._send(self._answer(message))

    def _answer(self, message):
        member = message.header.fields[HeaderFields.member]
        interface = message.header.fields.get(HeaderFields.interface)
        if interface == PLAYER_INTERFACE:
            self.calls.append(member)
            if member == "PlayPause":
                self._become("Paused" if self.status == "Playing" else "Playing")
            elif member in STATUS_AFTER:
                self._become(STATUS_AFTER[member])
            return new_method_return(message)
        if interface == PROPERTIES_INTERFACE and member == "Get":
            value = self._properties().get(message.body)
            if value is None:
                return new_error(message, "org.freedesktop.DBus.Error.InvalidArgs")
            return new_method_return(message, "v", (value,))
        if interface == PROPERTIES_INTERFACE and member == "Set" and self.volume is not None:
            self.calls.append(f"Set {message.body[1]}")
            self.volume = message.body[2][1]
            return new_method_return(message)
        return new_error(message, "org.freedesktop.DBus.Error.UnknownMethod")

    def _properties(self) -> dict[tuple[str, str], tuple[str, object]]:
        """The properties served, by interface and name."""
        served = {
            (PLAYER_INTERFACE, "PlaybackStatus"): ("s", self.status),
            (PLAYER_INTERFACE, "CanGoNext"): ("b", self.can_skip),
            (PLAYER_INTERFACE, "CanGoPrevious"): ("b", self.can_skip),
            (ROOT_INTERFACE, "Identity"): ("s", self.identity),
        }
        if self.volume is not None:
            served[(PLAYER_INTERFACE, "Volume")] = ("d", self.volume)
        return served

    def _become(self, status: str) -> None:
        """Change status as a play or pause asked: now, or `late` seconds after answering."""
        if self.late:
            announce = threading.Timer(self.late, self.set_status, (status,))
            announce.daemon = True
            announce.start()
            self._announcing.append(announce)
        else:
            self.set_status(status)

    def close(self) -> None:
        """Quit: the player's name leaves the bus (announcing no late status change)."""
        for announce in self._announcing:
            announce.cancel()
        self._stop.set()
        self._thread.join(2)
        self.connection.close()
