"""The hub role: hears every satellite through the broker, runs each command once (from the
room that heard it best), sends spoken replies back to the room that asked, and asks it for the
follow-up phrases its skills listen for."""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.clocks import elapsed
from assistant.plugin import CommandEvent
from assistant.rooms import topics as wire
from assistant.rooms.dedup import Deduplicator
from assistant.rooms.home_assistant import HomeAssistant
from assistant.rooms.ignored import RoomStats
from assistant.rooms.mqtt_client import MqttConnection, Will
from assistant.rooms.phrases import RemotePhrases
from assistant.rooms.replies import Replies
from assistant.rooms.settings import MqttSettings

log = logging.getLogger("assistant.hub")

REMEMBERED_IDS = 100_000
"""Detection ids remembered to recognise a detection sent again."""
MAX_SATELLITES = 256
"""Satellites the hub keeps as online: an `online` from one more site is ignored, so a client
of the broker sending statuses of made-up sites cannot grow the hub's memory (and the line
`assistant status` shows) without end."""
ACK_INTERVAL = 0.2
"""Seconds the hub collects acknowledgements before sending them, one message per site."""


@dataclass
class HubStats(RoomStats):
    received: int = 0
    repeated: int = 0
    """Detections received again (a satellite resends what was not acknowledged)."""
    stale: int = 0
    """Detections older than mqtt.max_delay, dropped."""
    dispatched: int = 0


@dataclass(frozen=True)
class SatelliteCommand(CommandEvent):
    """A command a satellite heard, as the hub dispatches it: with its detection's id, which
    the hub's message to the satellite when its dispatcher takes the command names."""

    detection_id: str = field(kw_only=True)


class Hub:
    """Subscribes to every site's detections and statuses; calls `dispatch` once per command
    heard (with the site that heard it best) and `speak` for replies to its own site.

    `listens_locally`: the hub has a board of its own (its detections come through `forward`),
    which counts as one more room that may hear each word. With mqtt.discovery on, it announces
    its site to Home Assistant like a satellite does (`commands` and `state_dir` as there),
    available while the hub's status says online, and fires those entities for what it hears."""

    def __init__(
        self,
        settings: MqttSettings,
        site: str,
        dispatch: Callable[[CommandEvent], object],
        speak: Callable[[str], None],
        listens_locally: bool = True,
        clock: Callable[[], float] = elapsed,
        commands: Sequence[str] | None = None,
        state_dir: Path | None = None,
    ):
        self.settings = settings
        self.topics = wire.Topics(settings.topic_prefix)
        self.site = wire.check_level(site, "site")
        self.clock = clock
        self.stats = HubStats()
        self._dispatch = dispatch
        self._speak = speak
        self._local = frozenset({site}) if listens_locally else frozenset()
        self._online: set[str] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._to_acknowledge: dict[str, list[str]] = {}
        self._dedup = Deduplicator(settings.dedup_window, memory=settings.max_delay)
        self._changed = threading.Condition()
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="hub-worker", daemon=True)
        self.connection = MqttConnection(
            settings,
            client_id=f"assistant-hub-{settings.topic_prefix}",
            will=Will(self.topics.hub_status, wire.OFFLINE),
            on_connected=self._announce,
            topics_resent_by_caller=[
                self.topics.all_replies,
                self.topics.all_phrase_requests,
                self.topics.all_accepted,
            ],
            stats=self.stats,
        )
        self.replies = Replies(
            self.connection,
            self.topics,
            clock,
            online=lambda each: each in self._online,
            speak_here=self._speak_for,
        )
        self.phrases = RemotePhrases(
            self.connection,
            self.topics,
            clock,
            online=lambda each: each in self._online,
            stats=self.stats,
        )
        self.listen_for_phrase = self.phrases.listen
        """Listen for a follow-up phrase in a satellite's site (see RemotePhrases.listen)."""
        self.home_assistant = HomeAssistant(
            self.connection,
            settings,
            self.topics,
            "hub",
            site,
            self.topics.hub_status,
            commands if listens_locally else (),
            state_dir,
            clock,
        )
        self.connection.subscribe(self.topics.all_statuses, self._on_status)
        self.connection.subscribe(self.topics.all_detections, self._on_detection, retained=False)
        self.connection.subscribe(
            self.topics.all_phrase_answers, self.phrases.on_answer, retained=False
        )

    def start(self) -> None:
        self._worker.start()
        self.connection.start()

    def stop(self) -> None:
        """Stop taking detections, run and acknowledge those taken (their windows cut short),
        then disconnect; what arrives meanwhile stays unacknowledged, so the satellites send it
        to the next hub."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._worker.join(timeout=2)
        self.home_assistant.stop()
        self.connection.stop(last_words=(self.topics.hub_status, wire.OFFLINE))
        self.stats.warnings.flush(everything=True)
        self.home_assistant.forget_cleared()

    @property
    def online_sites(self) -> frozenset[str]:
        """Satellites whose retained status says online."""
        with self._changed:
            return frozenset(self._online)

    def status(self) -> list[str]:
        """Its parts of `assistant status` (see Role.status)."""
        stats = self.stats
        return [
            "role: hub",
            f"site: {self.site}",
            f"satellites online: {', '.join(sorted(self.online_sites)) or 'none'}",
            f"detections from the rooms: received {stats.received}, repeated {stats.repeated}, "
            f"stale {stats.stale}, dispatched {stats.dispatched}",
            *self.connection.status(),
        ]

    def forward(self, event: CommandEvent) -> None:
        """A detection of the hub's own board: de-duplicated with the satellites' ones, and
        fired in Home Assistant."""
        self.home_assistant.fire(event)
        self._add(event)

    def sent(self, event: CommandEvent) -> None:
        """A command sent here with `assistant send` (run here, not de-duplicated: no room heard
        it): fired in Home Assistant as on a satellite, its `source` saying it was sent."""
        self.home_assistant.fire(event)

    def reply(self, text: str, site: str | None = None) -> None:
        """Speak `text` in `site`: here for the hub's own site (or None), else on the site's
        satellite; here as well, with a warning, when that satellite is offline. A reply is
        spoken within wire.REPLY_LIFETIME or not at all (see Replies)."""
        if site is None or site == self.site:
            self._speak(text)
        else:
            self.replies.send(site, text)

    def acknowledge(self, event: CommandEvent) -> bool:
        """The dispatcher took `event`: if a satellite heard it, tell that satellite, which then
        plays its acknowledgement (by its own `speech.acknowledge`), before the replies; one
        that comes later than wire.TONE_LIFETIME after the command was heard is not played.
        Sent once (a copy the broker has not confirmed when the connection is lost is
        forgotten). False, and nothing sent, for the hub's own commands."""
        if not isinstance(event, SatelliteCommand):
            return False
        accepted = wire.Accepted(event.detection_id, event.command, self.clock() - event.received)
        self.connection.publish(self.topics.accepted(event.site), wire.encode_accepted(accepted))
        return True

    def _speak_for(self, site: str, text: str) -> None:
        log.warning("site %r is offline; speaking its reply here: %s", site, text)
        self._speak(text)

    def _announce(self) -> None:
        self.connection.publish(self.topics.hub_status, wire.ONLINE, retain=True)
        self.home_assistant.announce()

    def _on_status(self, topic: str, payload: bytes) -> None:
        """Every new connection brings each site's retained status: the replies lost with the
        last connection go out then (or are spoken here if the site went offline)."""
        try:
            site = self.topics.site_of(topic)
        except wire.PayloadError as error:
            self.stats.ignore(log, "malformed-status", "ignored a status on %s: %s", topic, error)
            return
        online = payload == wire.ONLINE
        if online and site not in self._online and len(self._online) >= MAX_SATELLITES:
            self.stats.ignore(
                log,
                "too-many-satellites",
                "ignored %r saying it is online: %d satellites are online already, the most a "
                "hub keeps",
                site,
                MAX_SATELLITES,
            )
            return
        if online != (site in self._online):
            with self._changed:
                (self._online.add if online else self._online.discard)(site)
            if online:
                log.info("satellite %r is online", site)
            else:  # any client may say so, as often as it likes
                self.stats.warnings.warning(
                    log, "satellite-offline", "satellite %r is offline", site
                )
        self.replies.deliver(site)

    def _on_detection(self, topic: str, payload: bytes) -> None:
        received = self.clock()
        try:
            detection = wire.decode_detection(payload)
            if detection.site != self.topics.site_of(topic):
                raise wire.PayloadError(f"site {detection.site!r} differs from the topic's")
        except wire.PayloadError as error:
            self.stats.ignore(
                log, "malformed-detection", "ignored a message on %s: %s", topic, error
            )
            return
        with self._changed:
            if self._stopping:
                return
            self._to_acknowledge.setdefault(detection.site, []).append(detection.id)
        self.stats.received += 1
        if detection.id in self._seen:
            self.stats.repeated += 1
            return
        self._seen[detection.id] = None
        if len(self._seen) > REMEMBERED_IDS:
            self._seen.popitem(last=False)
        if detection.age > self.settings.max_delay:
            self.stats.stale += 1
            self.stats.warnings.warning(
                log,
                "stale-detection",
                "dropped %r from %r: heard %.0f s ago, longer than mqtt.max_delay",
                detection.command,
                detection.site,
                detection.age,
            )
            return
        self._add(
            SatelliteCommand(
                command=detection.command,
                score=detection.score,
                source=f"{detection.site}/{detection.source}",
                site=detection.site,
                received=received - detection.age,
                device_ms=detection.device_ms,
                seq=detection.seq,
                heard=detection.heard,
                detection_id=detection.id,
            )
        )

    def _add(self, event: CommandEvent) -> None:
        """De-duplicate `event`; what is due runs at once, on this thread, and the worker
        waits for the rest."""
        with self._changed:
            self._dedup.add(event, frozenset(self._online) | self._local)
            due = self._dedup.take_due(self.clock())
            if self._dedup.next_due() is not None:
                self._changed.notify()
        self._run(due)

    def _work(self) -> None:
        """The worker: runs the groups that wait for their window to pass, sends the
        acknowledgements every ACK_INTERVAL, and sums up the warnings of each minute ended."""
        next_ack = self.clock() + ACK_INTERVAL
        while True:
            self.stats.warnings.flush()
            with self._changed:
                now = self.clock()
                # Stopping: what is acknowledged below must run, window or not.
                due = self._dedup.take_due(math.inf if self._stopping else now)
                acknowledge: dict[str, list[str]] = {}
                if now >= next_ack or self._stopping:
                    acknowledge, self._to_acknowledge = self._to_acknowledge, {}
                    next_ack = now + ACK_INTERVAL
                if not due and not acknowledge:
                    if self._stopping:
                        return
                    next_due = self._dedup.next_due()
                    wake = next_ack if next_due is None else min(next_ack, next_due)
                    self._changed.wait(max(0.0, wake - now))
                    continue
            for site, ids in acknowledge.items():
                self.connection.publish(self.topics.ack(site), wire.encode_ack(ids), qos=0)
            self._run(due)

    def _run(self, due: list[CommandEvent]) -> None:
        for event in due:
            with self._changed:  # runs on the worker and on paho's and the board's threads
                self.stats.dispatched += 1
            try:
                self._dispatch(event)
            except Exception:
                log.exception("dispatching %r from %r failed", event.command, event.site)
