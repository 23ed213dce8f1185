"""The MPRIS messages of the media skill: the signals that tell how players come, go and play,
and PlaybackStatus requests sent together and answered in any order, none waited for longer
than its deadline."""

from __future__ import annotations

import math
import time

from jeepney import DBusAddress, HeaderFields, MatchRule, Message, MessageType, Properties
from jeepney.io.blocking import DBusConnection

MPRIS_PREFIX = "org.mpris.MediaPlayer2."
MPRIS_PATH = "/org/mpris/MediaPlayer2"
PLAYER_INTERFACE = "org.mpris.MediaPlayer2.Player"
ROOT_INTERFACE = "org.mpris.MediaPlayer2"


def _rules() -> tuple[MatchRule, MatchRule]:
    """The signals of a player's PlaybackStatus (PropertiesChanged) and of players coming and
    going (NameOwnerChanged)."""
    status = MatchRule(
        type="signal",
        interface="org.freedesktop.DBus.Properties",
        member="PropertiesChanged",
        path=MPRIS_PATH,
    )
    status.add_arg_condition(0, PLAYER_INTERFACE)
    players = MatchRule(
        type="signal",
        sender="org.freedesktop.DBus",
        interface="org.freedesktop.DBus",
        member="NameOwnerChanged",
    )
    players.add_arg_condition(0, MPRIS_PREFIX.rstrip("."), kind="namespace")
    return status, players


STATUS_SIGNAL, PLAYERS_SIGNAL = _rules()


def announced(signal: Message) -> str | None:
    """The PlaybackStatus a STATUS_SIGNAL announces; "" when it says only that it changed (the
    player must be asked), None when it is not about PlaybackStatus."""
    _, changed, invalidated = signal.body
    if "PlaybackStatus" in changed:
        return str(changed["PlaybackStatus"][1])
    return "" if "PlaybackStatus" in invalidated else None


class Asking:
    """PlaybackStatus requests sent on `bus` and not answered yet, each waited for `timeout`
    seconds at most."""

    def __init__(self, bus: DBusConnection, timeout: float) -> None:
        self._bus = bus
        self._timeout = timeout
        self._sent: dict[int, tuple[str, float]] = {}
        """Each request's serial: the player asked and until when (time.monotonic)."""

    def __bool__(self) -> bool:
        return bool(self._sent)

    def ask(self, *players: str) -> None:
        """Ask each of `players` its PlaybackStatus (the answers are read as they come)."""
        for player in players:
            address = DBusAddress(MPRIS_PATH, bus_name=player, interface=PLAYER_INTERFACE)
            serial = next(self._bus.outgoing_serial)
            self._bus.send(Properties(address).get("PlaybackStatus"), serial=serial)
            self._sent[serial] = (player, time.monotonic() + self._timeout)

    def left(self) -> float:
        """Seconds until the first request falls due (infinite when none is waited for)."""
        return max(
            0.0, min((due for _, due in self._sent.values()), default=math.inf) - time.monotonic()
        )

    def answer(self, message: Message) -> tuple[str, str] | None:
        """The player that `message` answers and its PlaybackStatus (Unknown when it refused);
        None when it answers none of these requests."""
        sent = self._sent.pop(message.header.fields.get(HeaderFields.reply_serial, -1), None)
        if sent is None:
            return None
        if message.header.message_type == MessageType.method_return:
            return sent[0], str(message.body[0][1])
        return sent[0], "Unknown"

    def overdue(self) -> list[str]:
        """The players whose request fell due unanswered, waited for no more."""
        now = time.monotonic()
        due = [serial for serial, (_, until) in self._sent.items() if until <= now]
        return [self._sent.pop(serial)[0] for serial in due]
