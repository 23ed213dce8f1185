"""Home Assistant at run time, one implementation for the satellite and the hub: announce the
machine's site as a device (retained discovery configs), fire its event entities, and clear the
configs it announced before and no longer wants.

Home Assistant keeps an entity as long as its retained config does, so the retained topics this
machine may have left on the broker (its configs, and its status, the entities' availability)
are recorded in `<state_dir>/home-assistant-<role>.json`. On every connection each recorded
topic that is no longer wanted (a renamed site or topic prefix, a command the model no longer
has, discovery turned off) gets an empty retained message, and leaves the record once the broker
has confirmed it.

Home Assistant says `online` on `<discovery_prefix>/status` (its birth message) each time it
connects; the configs are published again then, as they may have been removed meanwhile (a
device deleted in Home Assistant, retained messages lost) while this machine stayed connected.
Any client of the broker can say so too, as often as it likes: at most one announcement every
BIRTH_INTERVAL answers them, the births within the interval after one answered together when
it ends."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import paho.mqtt.client as paho

from assistant.clocks import elapsed
from assistant.config import model_commands
from assistant.plugin import CommandEvent
from assistant.rooms.coalesce import Coalesced
from assistant.rooms.discovery import Device, discovery_messages, encode_event
from assistant.rooms.mqtt_client import MqttConnection
from assistant.rooms.settings import MqttSettings
from assistant.rooms.topics import ONLINE, Topics

log = logging.getLogger("assistant.home_assistant")

BIRTH_INTERVAL = 5.0
"""Seconds from one announcement a birth message brings to the next: a client that says
`online` many times a second (a script, a misconfigured bridge) costs one announcement and one
log line every BIRTH_INTERVAL, not one per message, and a real Home Assistant start is answered
at once, or at the latest this long after the announcement before."""


class RetainedRecord:
    """The topics this machine may have left retained on the broker (discovery configs and its
    status), kept as JSON in `path` (None: nothing is remembered, so nothing retained earlier is
    cleared)."""

    def __init__(self, path: Path | None):
        self.path = path

    def load(self) -> set[str]:
        if self.path is None or not self.path.exists():
            return set()
        try:
            topics = json.loads(self.path.read_text(encoding="utf-8"))["retained"]
            if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
                raise ValueError("'retained' is not a list of topics")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            log.warning(
                "could not read %s (%s): Home Assistant entities announced before are not "
                "removed; the file is written anew",
                self.path,
                error,
            )
            return set()
        return set(topics)

    def save(self, topics: set[str]) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(json.dumps({"retained": sorted(topics)}, indent=1) + "\n")
            temporary.replace(self.path)
        except OSError as error:
            log.error(
                "could not write %s (%s): Home Assistant entities this machine stops "
                "announcing will not be removed",
                self.path,
                error,
            )


class HomeAssistant:
    """The Home Assistant side of a satellite or hub connection, on the `topics` it uses. With
    mqtt.discovery on, the device of `site` has an event entity per command in `commands`
    (None: those of the committed model; empty: nothing to announce), available while
    `availability_topic` says online, announced again at each birth message of Home
    Assistant (at most once every BIRTH_INTERVAL of `clock`)."""

    def __init__(
        self,
        connection: MqttConnection,
        settings: MqttSettings,
        topics: Topics,
        role: str,
        site: str,
        availability_topic: str,
        commands: Sequence[str] | None,
        state_dir: Path | None,
        clock: Callable[[], float] = elapsed,
    ):
        self._connection = connection
        self._topics = topics
        self.device = Device(
            site,
            tuple(model_commands() if commands is None else commands),
            role,
            availability_topic,
        )
        self.configs = (
            dict(discovery_messages(self._topics, settings.discovery_prefix, self.device))
            if settings.discovery
            else {}
        )
        """The retained (topic: payload) configs wanted now."""
        self._retained = self.configs.keys() | {availability_topic}
        """Every topic this machine keeps a retained message on now: its configs and its
        status (which its role publishes, and its last will says offline on)."""
        record = state_dir / f"home-assistant-{role}.json" if state_dir else None
        self._record = RetainedRecord(record)
        self._clearing: dict[str, paho.MQTTMessageInfo] = {}
        self._lock = threading.Lock()
        self._birth_topic = f"{settings.discovery_prefix}/status"
        self._births = Coalesced(
            self._announce_again, BIRTH_INTERVAL, clock, f"home-assistant-{role}"
        )
        if settings.discovery:
            connection.subscribe(self._birth_topic, self._on_birth, qos=0)

    def announce(self) -> None:
        """Clear the retained topics no longer wanted (the configs and the status of a site
        gone) and publish the wanted configs (on every connection: the broker may have lost its
        retained messages)."""
        with self._lock:
            retained = self._record.load() - self._confirmed_clears()
            stale = sorted(retained - self._retained)
            # Recorded before anything is published: a crash cannot forget a retained config.
            self._record.save(retained | self._retained)
            for topic in stale:
                self._clearing[topic] = self._connection.publish(topic, b"", retain=True)
        if stale:
            log.info(
                "removing Home Assistant entities and statuses no longer announced: %s",
                ", ".join(stale),
            )
        for topic, payload in self.configs.items():
            self._connection.publish(topic, payload, retain=True)

    def _on_birth(self, topic: str, payload: bytes) -> None:
        if payload == ONLINE:
            self._births.request()

    def _announce_again(self, births: int) -> None:
        """Announce again for `births` birth messages (more than one: put off together)."""
        if births == 1:
            log.info("Home Assistant is online (%s): announcing this site again", self._birth_topic)
        else:
            log.info(
                "Home Assistant said it is online %d times (%s) within %g s: announcing this "
                "site again, once",
                births,
                self._birth_topic,
                BIRTH_INTERVAL,
            )
        self.announce()

    def stop(self) -> None:
        """Drop the birth messages not answered yet (before the connection stops)."""
        self._births.stop()

    def fire(self, event: CommandEvent) -> None:
        """Fire the event entity of `event.command`, now or never (QoS 0: not late)."""
        if self.configs:
            topic = self._topics.event(self.device.site, event.command)
            self._connection.publish(topic, encode_event(event), qos=0)

    def forget_cleared(self) -> None:
        """Take the clears the broker has confirmed off the record (once the connection has
        stopped, after its last words were confirmed)."""
        with self._lock:
            cleared = self._confirmed_clears()
            if cleared:
                self._record.save(self._record.load() - cleared)

    def _confirmed_clears(self) -> set[str]:
        confirmed = {topic for topic, info in self._clearing.items() if info.is_published()}
        for topic in confirmed:
            del self._clearing[topic]
        return confirmed
