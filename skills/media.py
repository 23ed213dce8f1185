"""Media players over MPRIS (D-Bus): play/pause, next/previous and volume.

The active player is the one playing now; else the one named in the `player` setting; else the
first found. Every action opens a short connection to the session bus, so a restarted bus or
player is picked up without reconnecting.
"""

from __future__ import annotations

from typing import Any

from jeepney import DBusAddress, DBusErrorResponse, Properties, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.wrappers import unwrap_msg

from assistant.plugin import CommandEvent, Setting, Skill, SkillError, action

MPRIS_PREFIX = "org.mpris.MediaPlayer2."
MPRIS_PATH = "/org/mpris/MediaPlayer2"
PLAYER_INTERFACE = "org.mpris.MediaPlayer2.Player"
CALL_TIMEOUT = 2.0


class MediaSkill(Skill):
    name = "media"
    description = "controls the active media player (MPRIS over D-Bus)"
    settings = (
        Setting("player", str, "", "preferred player, e.g. vlc or spotify; empty: any"),
        Setting(
            "volume_step", float, 0.1, "volume change of volume_up/down", minimum=0.01, maximum=1
        ),
        Setting("bus", str, "SESSION", "D-Bus address; SESSION: the desktop session bus"),
    )

    def start(self) -> None:
        """Say at start when media control cannot work yet (it is checked again each time)."""
        try:
            with self._connection() as bus:
                self._active_player(bus)
        except SkillError as error:
            self.context.log.warning("%s (checked again at each command)", error)

    @action(help="Play, or pause when playing")
    def play_pause(self, event: CommandEvent) -> None:
        with self._connection() as bus:
            player = self._active_player(bus)
            self._call(bus, player, "PlayPause")
            self._follow(self._status(bus, player))

    @action(help="Pause playback")
    def pause(self, event: CommandEvent) -> None:
        with self._connection() as bus:
            self._call(bus, self._active_player(bus), "Pause")
        self.context.release_focus()

    @action(help="Start playback")
    def play(self, event: CommandEvent) -> None:
        with self._connection() as bus:
            self._call(bus, self._active_player(bus), "Play")
        self.context.hold_focus()

    @action(name="next", help="Next track")
    def next_track(self, event: CommandEvent) -> None:
        with self._connection() as bus:
            self._call(bus, self._active_player(bus), "Next")

    @action(help="Previous track")
    def previous(self, event: CommandEvent) -> None:
        with self._connection() as bus:
            self._call(bus, self._active_player(bus), "Previous")

    @action(help="Turn the volume up by one step")
    def volume_up(self, event: CommandEvent) -> None:
        self._change_volume(self.context.settings["volume_step"])

    @action(help="Turn the volume down by one step")
    def volume_down(self, event: CommandEvent) -> None:
        self._change_volume(-self.context.settings["volume_step"])

    def _change_volume(self, step: float) -> None:
        with self._connection() as bus:
            player = self._active_player(bus)
            volume = self._get(bus, player, "Volume")
            self._set(bus, player, "Volume", ("d", min(1.0, max(0.0, volume + step))))
        self.context.hold_focus()

    def _follow(self, status: str) -> None:
        """Keep focus while playing, so that up and down change the volume."""
        if status == "Playing":
            self.context.hold_focus()
        else:
            self.context.release_focus()

    def _connection(self) -> DBusConnection:
        bus = self.context.settings["bus"]
        try:
            return open_dbus_connection(bus)
        except KeyError:
            raise SkillError(
                "Media: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set); "
                "media control needs a desktop session"
            ) from None
        except (OSError, ValueError) as error:
            raise SkillError(f"Media: cannot connect to the D-Bus bus {bus}: {error}") from None

    def _active_player(self, bus: DBusConnection) -> str:
        names = self._reply(bus, message_bus.ListNames())[0]
        players = sorted(name for name in names if name.startswith(MPRIS_PREFIX))
        if not players:
            raise SkillError("Media: no media player is running (none offers MPRIS on D-Bus)")
        for player in players:
            if self._status(bus, player) == "Playing":
                return player
        preferred = self.context.settings["player"]
        for player in players:
            if preferred and player.removeprefix(MPRIS_PREFIX).split(".")[0] == preferred:
                return player
        return players[0]

    def _status(self, bus: DBusConnection, player: str) -> str:
        try:
            return str(self._get(bus, player, "PlaybackStatus"))
        except SkillError:
            return "Unknown"

    def _call(self, bus: DBusConnection, player: str, method: str) -> None:
        address = DBusAddress(MPRIS_PATH, bus_name=player, interface=PLAYER_INTERFACE)
        self._reply(bus, new_method_call(address, method), player)

    def _get(self, bus: DBusConnection, player: str, name: str) -> Any:
        address = DBusAddress(MPRIS_PATH, bus_name=player, interface=PLAYER_INTERFACE)
        return self._reply(bus, Properties(address).get(name), player)[0][1]

    def _set(self, bus: DBusConnection, player: str, name: str, value: tuple[str, Any]) -> None:
        address = DBusAddress(MPRIS_PATH, bus_name=player, interface=PLAYER_INTERFACE)
        self._reply(bus, Properties(address).set(name, *value), player)

    def _reply(self, bus: DBusConnection, message: Any, player: str = "the bus") -> tuple:
        """Send a request and wait for its answer; a cancelled action sends nothing more (a
        late play/pause would undo what the user did since)."""
        if self.context.cancelled.is_set():
            raise SkillError(f"Media: cancelled before asking {player}")
        try:
            reply = bus.send_and_get_reply(message, timeout=CALL_TIMEOUT)
        except TimeoutError:
            raise SkillError(f"Media: {player} did not answer within {CALL_TIMEOUT} s") from None
        try:
            return unwrap_msg(reply)
        except DBusErrorResponse as error:
            raise SkillError(f"Media: {player} refused the request: {error}") from None
