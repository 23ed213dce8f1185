"""Media players over MPRIS (D-Bus): play/pause, next/previous and volume.

The active player is the one playing now (of several, the one that started playing last, as
playerctld chooses); else the one that started playing last or that the skill last played or
paused, whichever came later; else the one named in the `player` setting; else the first
found. Players are asked their PlaybackStatus all at once, and one that does not answer is not
asked again until it is heard from, so that a hung player does not hold up the commands to the
others. Every action opens a short connection to the session bus, so a restarted bus or player
is picked up without reconnecting (skills/media_bus.py says where the session bus is).

The skill holds focus while a player plays: a thread follows the players' PlaybackStatus
(PropertiesChanged) and their coming and going on the bus, handling each signal and answer as
it arrives, so that while a hung player is waited for the others are still followed (the last
that started playing gets the commands), and releases focus when playback stops or pauses, or
the last player quits. When the skill's own action stopped it (a "stop" heard), the skill
keeps focus for focus_seconds instead, as after any action, so that "go" can resume it, until
that player quits: then nothing is left to resume, and focus goes at once (a bus that stops,
taking the player with it, leaves the focus be: the player may be back on the bus restarted).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from jeepney import (
    DBusAddress,
    DBusErrorResponse,
    HeaderFields,
    Message,
    Properties,
    new_method_call,
)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection
from jeepney.wrappers import unwrap_msg

from assistant.plugin import CommandEvent, NothingToDo, Setting, Skill, SkillError, action
from skills.media_bus import SESSION, Unreachable, bus_name, connect
from skills.media_mpris import (
    MPRIS_PATH,
    MPRIS_PREFIX,
    PLAYER_INTERFACE,
    PLAYERS_SIGNAL,
    ROOT_INTERFACE,
    STATUS_SIGNAL,
    Asking,
    announced,
)

CALL_TIMEOUT = 2.0
WATCH_RETRY = 5.0
"""Seconds between attempts to follow the players while the bus cannot be reached."""
UNREACHABLE = "I cannot reach the media players"
"""Said when there is no D-Bus session bus to reach them by (the log says why)."""
ASKED_GRACE = 2.0
"""Seconds in which playback that stops counts as stopped by the skill's pause when the player
still said Playing once it answered it (some announce their new PlaybackStatus later)."""


def _chosen(statuses: dict[str, str], recent: list[str], preferred: str) -> str:
    """The player commands go to, of those in `statuses` (each one's PlaybackStatus, at least
    one): of those playing, the last in `recent` (players in the order they last started
    playing or the skill played or paused them), else the first playing; else the last in
    `recent`; else the one `preferred` names (such as vlc); else the first."""
    players = sorted(statuses)
    playing = [player for player in players if statuses[player] == "Playing"]
    last = [player for player in reversed(recent) if player in statuses]
    for candidates in ([player for player in last if player in playing], playing, last):
        if candidates:
            return candidates[0]
    for player in players:
        if preferred and player.removeprefix(MPRIS_PREFIX).split(".")[0] == preferred:
            return player
    return players[0]


def _playback(statuses: dict[str, str]) -> str:
    """Playing while any player plays; Idle while players are there but none plays, else Gone."""
    if "Playing" in statuses.values():
        return "Playing"
    return "Idle" if statuses else "Gone"


def _stepped(volume: float, step: float) -> float:
    """`volume` changed by `step`, kept between 0 and 1; a volume above 1 (players such as VLC
    and mpv go to 1.25 or 1.3) is never raised, nor lowered by a step up."""
    return max(0.0, min(max(volume, 1.0), volume + step))


def _short(player: str) -> str:
    """A player's bus name without the MPRIS prefix: vlc, spotify."""
    return player.removeprefix(MPRIS_PREFIX)


class MediaSkill(Skill):
    name = "media"
    description = "controls the active media player (MPRIS over D-Bus)"
    settings = (
        Setting("player", str, "", "preferred player, e.g. vlc or spotify; empty: any"),
        Setting(
            "volume_step", float, 0.1, "volume change of volume_up/down", minimum=0.01, maximum=1
        ),
        Setting("bus", str, SESSION, "D-Bus address; SESSION: the desktop session bus"),
    )

    def start(self) -> None:
        """Say at start when media control cannot work yet (it is checked again each time), and
        start following the players."""
        self._seen: dict[str, str] | None = None
        """Each player's PlaybackStatus as last seen (None: not seen yet)."""
        self._followed = ""
        """The playback focus last followed: Playing, Idle or Gone ("": none yet)."""
        self._recent: list[str] = []
        """The players in the order they last started playing or the skill played or paused
        them (the last one last): commands go to the last of them that plays, else the last."""
        self._silent: dict[str, str] = {}
        """The players that did not answer when asked their status, with their unique bus
        names: not asked again until a signal comes from that name or the player leaves (read
        and changed with `_following` held, by the watcher and the actions alike)."""
        self._signals = 0
        """How many signals of players the watcher heard: an action that a player did not
        answer finds it silent only if none came meanwhile (it may have come from that one)."""
        self._asked_until = 0.0
        """Until when (time.monotonic) playback that stops was stopped by the skill's pause."""
        self._changes = 0
        """How many times the watcher heard what a player does, so that an action follows what
        it heard since rather than what the action was told before."""
        self._unfollowed = ""
        """Why the watcher cannot follow the players now ("": it can)."""
        self._following = threading.RLock()
        """Held from noting what players do to following it (held briefly: nothing is asked of
        the players meanwhile)."""
        try:
            with self._connection() as bus:
                self._active(bus)
        except SkillError as error:
            self.context.log.warning("%s (checked again at each command)", error)
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="media-watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        """Stop following the players; a skill that is not running holds no focus."""
        self._stopping.set()
        self._watcher.join()
        self.context.release_focus()

    def status_lines(self) -> list[str]:
        """For `assistant status`: the player commands go to and its playback, then the other
        players', as the skill follows them (no request to the bus)."""
        if self._unfollowed:  # why on a line of its own, which the status does not cut
            retrying = f"trying again every {WATCH_RETRY:g} s"
            return [f"cannot follow the players ({retrying}):", self._unfollowed]
        seen = self._seen
        if seen is None:
            return ["looking for the players"]
        if not seen:
            return ["no media player is running"]
        followed = _chosen(seen, self._recent, self.context.settings["player"])
        others = [f"{_short(p)} ({s.lower()})" for p, s in sorted(seen.items()) if p != followed]
        return [
            f"following {_short(followed)} ({seen[followed].lower()})"
            + (f", also {', '.join(others)}" if others else "")
        ]

    @action(help="Play, or pause when playing")
    def play_pause(self, event: CommandEvent) -> None:
        self._control("PlayPause")

    @action(help="Pause playback")
    def pause(self, event: CommandEvent) -> None:
        self._control("Pause")

    @action(help="Start playback (nothing to do when it plays already)")
    def play(self, event: CommandEvent) -> None:
        self._control("Play")

    @action(name="next", help="Next track")
    def next_track(self, event: CommandEvent) -> None:
        self._skip("Next", "CanGoNext", "cannot skip to the next track")

    @action(help="Previous track")
    def previous(self, event: CommandEvent) -> None:
        self._skip("Previous", "CanGoPrevious", "cannot go back to the previous track")

    @action(help="Turn the volume up by one step")
    def volume_up(self, event: CommandEvent) -> None:
        self._change_volume(self.context.settings["volume_step"])

    @action(help="Turn the volume down by one step")
    def volume_down(self, event: CommandEvent) -> None:
        self._change_volume(-self.context.settings["volume_step"])

    def _change_volume(self, step: float) -> None:
        """Change the active player's volume; one without a Volume it lets be set (a browser,
        say) is named as having no volume control."""
        with self._connection() as bus:
            player = self._active(bus)[0]
            try:
                volume = self._get(bus, player, "Volume")
                self._set(bus, player, "Volume", ("d", _stepped(volume, step)))
            except Refused as refused:
                raise self._unable(bus, player, "has no volume control", refused.detail) from None

    def _skip(self, method: str, able: str, unable: str) -> None:
        """Call `method` (Next, Previous) of the active player, unless its property `able`
        (CanGoNext, CanGoPrevious) says it cannot: it would do nothing, so the skill says so
        (a player that does not say is asked all the same)."""
        with self._connection() as bus:
            player = self._active(bus)[0]
            try:
                can = bool(self._get(bus, player, able))
            except Refused:
                can = True
            if not can:
                raise self._unable(bus, player, unable, f"{able} is false")
            self._call(bus, player, method)

    def _unable(self, bus: DBusConnection, player: str, what: str, why: str) -> SkillError:
        """The error that `player`, named by its MPRIS Identity (such as "VLC media player"),
        `what` ("has no volume control"), `why` being the detail for the log."""
        try:
            name = str(self._get(bus, player, "Identity", ROOT_INTERFACE))
        except SkillError:
            name = _short(player)
        return SkillError(f"Media: {name} ({_short(player)}) {what}: {why}", f"{name} {what}")

    def _control(self, method: str) -> None:
        """Call `method` of the active player, which commands then go to while none plays, and
        follow the playback it leaves as left by this action. NothingToDo for Play when the player
        plays already (so that a `when:` rule's `do:` runs: "go" starts a timer)."""
        with self._connection() as bus:
            player, statuses = self._active(bus)
            playing = statuses[player] == "Playing"
            if method == "Play" and playing:
                raise NothingToDo(f"Media: {_short(player)} plays already", "It is playing")
            self._call(bus, player, method)
            pausing = method == "Pause" or (method == "PlayPause" and playing)
            changes = self._changes
            now = self._status(bus, player)
            with self._following:
                self._played(player)
                if self._seen is None:  # not followed: as this action found the players
                    seen = statuses | {player: now}
                elif changes == self._changes:  # the watcher heard nothing newer
                    seen = self._seen = self._seen | {player: now}
                else:
                    seen = self._seen
                if pausing and now == "Playing":  # it may say so later
                    self._asked_until = time.monotonic() + ASKED_GRACE
                self._follow(_playback(seen), asked=player in seen)  # not when it left

    def _follow(self, playback: str, asked: bool = False) -> None:
        """Hold focus while a player plays (until released), so that up and down change the
        volume. Once none plays, give focus up, but keep it for focus_seconds when the skill's
        own action stopped playback (`asked`, or its pause within ASKED_GRACE), so that "go"
        resumes it and up and down change its volume."""
        with self._following:
            self._followed = playback
            if playback == "Playing":
                self.context.hold_focus(math.inf)
                return
            self.context.release_focus()
            if asked or time.monotonic() < self._asked_until:
                self._asked_until = 0.0
                self.context.hold_focus()

    def _watch(self) -> None:
        """Follow the players until the skill stops: hold focus while one plays, release it
        when none does or none is left. Runs on its own thread, with its own connection."""
        setting = self.context.settings["bus"]
        failing = False
        while not self._stopping.is_set():
            try:
                bus, address = connect(setting)
                with bus:
                    queued: deque[Message] = deque()  # signals that come while the bus answers
                    with bus.filter(STATUS_SIGNAL, queue=queued):
                        with bus.filter(PLAYERS_SIGNAL, queue=queued):
                            owners, asking = self._look(bus)
                    if failing:
                        self.context.log.info(
                            "following the players again: %s is back (at %s)",
                            bus_name(setting),
                            address,
                        )
                    failing, self._unfollowed = False, ""
                    self._follow_players(bus, owners, asking, queued)
            except (Unreachable, SkillError, OSError) as error:
                why = (
                    f"{bus_name(setting)} went away"
                    if isinstance(error, OSError)  # its connection broke
                    else str(error).removeprefix("Media: ")
                )
                with self._following:  # what was followed stays: a pause asked for keeps focus
                    if self._followed == "Playing":  # no telling now: the focus goes
                        self._follow("Gone")
                    self._seen, self._unfollowed = None, why
                if not failing:
                    self.context.log.warning(
                        "cannot follow the players, so focus does not follow playback: %s "
                        "(trying again every %g s)",
                        why,
                        WATCH_RETRY,
                    )
                failing = True
                self._stopping.wait(WATCH_RETRY)

    def _look(self, bus: DBusConnection) -> tuple[dict[str, str], Asking]:
        """Start following the players on `bus`: their signals, then who is there (each
        player's unique bus name) and what each does, asked of all but the silent ones (the
        answers are handled as they come)."""
        self._reply(bus, message_bus.AddMatch(STATUS_SIGNAL))
        self._reply(bus, message_bus.AddMatch(PLAYERS_SIGNAL))
        owners = {player: self._owner(bus, player) for player in self._players(bus)}
        owners = {player: owner for player, owner in owners.items() if owner}
        with self._following:
            for player, owner in list(self._silent.items()):
                if owners.get(player) != owner:  # another process has the name (a new bus)
                    self._silent.pop(player, None)
            silent = {player: "Unknown" for player in owners if player in self._silent}
        asking = Asking(bus, CALL_TIMEOUT)
        asking.ask(*(player for player in owners if player not in silent))
        with self._following:
            self._recent = [player for player in self._recent if player in owners]
            self._seen = None
            if silent or not asking:  # else "looking for the players" until one answers
                self._heard(silent, started=False)
        return owners, asking

    def _follow_players(
        self, bus: DBusConnection, owners: dict[str, str], asking: Asking, queued: deque[Message]
    ) -> None:
        """Follow the players on `bus` until the skill stops, handling each signal and answer
        as it comes, so that none is held up by a player that does not answer. `owners`: each
        player's unique bus name; `asking`: the PlaybackStatus requests not answered yet;
        `queued`: signals received before."""
        found = set(owners)  # found at the start: their first answer is no start of playback
        while not self._stopping.is_set():
            for player in asking.overdue():
                if player in owners:
                    self._fell_silent(player, owners[player])
                    self._heard({player: "Unknown"}, started=False)
            try:
                message = (
                    queued.popleft() if queued else bus.receive(timeout=min(asking.left(), 0.5))
                )
            except TimeoutError:
                continue
            if answer := asking.answer(message):
                player, status = answer
                if player in owners:
                    self._heard({player: status}, started=player not in found)
                    found.discard(player)
            elif STATUS_SIGNAL.matches(message):
                self._heard_status(message, owners, asking)
            elif PLAYERS_SIGNAL.matches(message):
                player, old, new = message.body  # queued ones may be known already
                if old and owners.get(player) == old:  # it left, or another process took it
                    self._bus_answers(bus, queued)  # else the bus stops (its players go first)
                    owners.pop(player)
                    with self._following:
                        self._silent.pop(player, None)
                    self._heard({player: None})
                if new and owners.get(player) != new:
                    owners[player] = new
                    asking.ask(player)

    def _bus_answers(self, bus: DBusConnection, queued: deque[Message]) -> None:
        """Wait for `bus` to answer a request, keeping the messages that come meanwhile in
        `queued`: a bus that stops may show its players leaving, then OSError (TimeoutError
        too) says it went away, so that a player is not taken for gone when its bus is."""
        serial = next(bus.outgoing_serial)
        bus.send(message_bus.GetId(), serial=serial)
        until = time.monotonic() + CALL_TIMEOUT
        while True:
            message = bus.receive(timeout=max(0.0, until - time.monotonic()))
            if message.header.fields.get(HeaderFields.reply_serial) == serial:
                return
            queued.append(message)

    def _heard_status(self, signal: Message, owners: dict[str, str], asking: Asking) -> None:
        """A STATUS_SIGNAL: the PlaybackStatus it announces is what its player does now; a
        player whose signal only says that it changed is asked, as is one that was silent."""
        sender = signal.header.fields.get(HeaderFields.sender, "")
        players = [player for player, owner in owners.items() if owner == sender]
        with self._following:
            self._signals += 1
            silent = {player for player in players if self._silent.pop(player, None)}  # heard
        status = announced(signal)
        for player in players:
            if status:
                self._heard({player: status})
            elif status == "" or player in silent:
                asking.ask(player)

    def _heard(self, statuses: Mapping[str, str | None], started: bool = True) -> None:
        """Note what players do now (None: it left; `started`: playing counts as a start of
        playback, of one not playing before), for `status_lines` and the choice of a player,
        and follow the playback; focus goes when the player commands went to left while none
        plays, whether or not the skill paused it (nothing is left to resume)."""
        with self._following:
            seen = dict(self._seen or {})
            followed = _chosen(seen, self._recent, self.context.settings["player"]) if seen else ""
            for player, status in statuses.items():
                if status is None:
                    seen.pop(player, None)
                    self._recent = [other for other in self._recent if other != player]
                    continue
                if started and status == "Playing" and seen.get(player) != "Playing":
                    self._played(player)
                seen[player] = status
            self._seen = seen
            self._changes += 1
            playback = _playback(seen)
            if followed and followed not in seen and playback != "Playing":
                self._asked_until = 0.0  # its pause keeps no focus: there is nothing to resume
                self._follow(playback)
            elif (playback == "Playing") != (self._followed == "Playing"):
                self._follow(playback)
            else:  # focus kept after the skill's pause lasts, the bus going down included
                self._followed = playback

    def _played(self, player: str) -> None:
        """`player` is now the last that started playing or that the skill played or paused."""
        self._recent = [other for other in self._recent if other != player] + [player]

    def _connection(self) -> DBusConnection:
        try:
            return connect(self.context.settings["bus"])[0]
        except Unreachable as error:
            raise SkillError(f"Media: {error}", spoken=UNREACHABLE) from None

    def _players(self, bus: DBusConnection) -> list[str]:
        names = self._reply(bus, message_bus.ListNames())[0]
        players = sorted(name for name in names if name.startswith(MPRIS_PREFIX))
        with self._following:
            for player in list(self._silent):
                if player not in players:  # it left: one of that name is asked again
                    self._silent.pop(player, None)
        return players

    def _active(self, bus: DBusConnection) -> tuple[str, dict[str, str]]:
        """The player commands go to, and what each player does (NothingToDo with none)."""
        players = self._players(bus)
        if not players:
            raise NothingToDo(
                "Media: no media player is running (none offers MPRIS on D-Bus)",
                spoken="No media player is running",
            )
        statuses = self._statuses(bus, players)
        return _chosen(statuses, self._recent, self.context.settings["player"]), statuses

    def _status(self, bus: DBusConnection, player: str) -> str:
        return self._statuses(bus, [player])[player]

    def _statuses(self, bus: DBusConnection, players: list[str]) -> dict[str, str]:
        """Each player's PlaybackStatus, asked of all at once and waited for CALL_TIMEOUT at
        most: Unknown for one that refuses, and for one that does not answer, which is not
        asked again until it is heard from (`_silent`)."""
        statuses = dict.fromkeys(players, "Unknown")
        with self._following:
            signals = self._signals
            silent = set(self._silent)
        asking = Asking(bus, CALL_TIMEOUT)
        asking.ask(*(player for player in players if player not in silent))
        overdue = []
        while asking:
            try:
                answer = asking.answer(bus.receive(timeout=asking.left()))
            except TimeoutError:
                answer = None
            if answer:
                statuses[answer[0]] = answer[1]
            overdue += asking.overdue()
        for player in overdue:  # once all are in: the bus is asked on the same connection
            if owner := self._owner(bus, player):
                self._fell_silent(player, owner, signals)
        return statuses

    def _owner(self, bus: DBusConnection, player: str) -> str:
        """The unique bus name of `player` ("": it left)."""
        try:
            return str(self._reply(bus, message_bus.GetNameOwner(player))[0])
        except Refused:
            return ""

    def _fell_silent(self, player: str, owner: str, signals: int | None = None) -> None:
        """Ask `player` nothing more until a signal comes from `owner`, its unique name.
        `signals`: for an action, the watcher's count of signals when it asked; when one came
        since (from `player`, maybe), the player is asked again next time instead."""
        with self._following:
            if signals is not None and signals != self._signals:
                return
            self._silent[player] = owner
        self.context.log.warning(
            "%s did not answer within %g s; it is not asked again until it is heard from",
            _short(player),
            CALL_TIMEOUT,
        )

    def _call(self, bus: DBusConnection, player: str, method: str) -> None:
        address = DBusAddress(MPRIS_PATH, bus_name=player, interface=PLAYER_INTERFACE)
        self._reply(bus, new_method_call(address, method), player)

    def _get(
        self, bus: DBusConnection, player: str, name: str, interface: str = PLAYER_INTERFACE
    ) -> Any:
        address = DBusAddress(MPRIS_PATH, bus_name=player, interface=interface)
        return self._reply(bus, Properties(address).get(name), player)[0][1]

    def _set(self, bus: DBusConnection, player: str, name: str, value: tuple[str, Any]) -> None:
        address = DBusAddress(MPRIS_PATH, bus_name=player, interface=PLAYER_INTERFACE)
        self._reply(bus, Properties(address).set(name, *value), player)

    def _reply(self, bus: DBusConnection, message: Any, player: str = "the bus") -> tuple[Any, ...]:
        """Send a request and wait for its answer; a cancelled action sends nothing more (a
        late play/pause would undo what the user did since)."""
        if self.context.cancelled.is_set():
            raise SkillError(
                f"Media: cancelled before asking {player}", spoken="Media control cancelled"
            )
        try:
            reply = bus.send_and_get_reply(message, timeout=CALL_TIMEOUT)
        except TimeoutError:
            raise SkillError(
                f"Media: {player} did not answer within {CALL_TIMEOUT} s",
                spoken="The media player did not answer",
            ) from None
        try:
            body: tuple[Any, ...] = unwrap_msg(reply)
            return body
        except DBusErrorResponse as error:
            raise Refused(str(error), player) from None


class Refused(SkillError):
    """A request the player (or the bus) answered with an error; `detail` is the error."""

    def __init__(self, detail: str, player: str = "the player"):
        super().__init__(
            f"Media: {_short(player)} refused the request: {detail}",
            spoken="The media player refused that",
        )
        self.detail = detail
