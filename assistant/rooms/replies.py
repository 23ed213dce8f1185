"""The hub's replies to satellites, spoken promptly or not at all: each is kept until the broker
confirms it, and one whose copy was lost with a connection is sent again, with its age then,
while it is younger than wire.REPLY_LIFETIME; older, it is dropped with a warning."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as paho

from assistant.rooms import topics as wire
from assistant.rooms.mqtt_client import MqttConnection

log = logging.getLogger("assistant.hub")


@dataclass
class _Reply:
    site: str
    text: str
    made: float
    id: str
    sent: paho.MQTTMessageInfo | None = None

    @property
    def confirmed(self) -> bool:
        """The broker has it (looked at last: paho's is_published() raises for a lost copy)."""
        return self.sent is not None and not self.lost and self.sent.is_published()

    @property
    def lost(self) -> bool:
        """Not sent yet, or its copy is gone: published without a connection, or not confirmed
        when its connection was lost (the connection forgets it: its `topics_resent_by_caller`)."""
        return self.sent is None or self.sent.rc != paho.MQTT_ERR_SUCCESS


class Replies:
    """Sends replies on `connection` (whose `topics_resent_by_caller` must take
    `topics.all_replies`); `online(site)` says whether the site's satellite is online, and
    `speak_here(site, text)` speaks a reply whose satellite is not. `clock` counts seconds,
    suspend included."""

    def __init__(
        self,
        connection: MqttConnection,
        topics: wire.Topics,
        clock: Callable[[], float],
        online: Callable[[str], bool],
        speak_here: Callable[[str, str], None],
    ):
        self.connection = connection
        self.topics = topics
        self.clock = clock
        self._online = online
        self._speak_here = speak_here
        self._kept: list[_Reply] = []
        self._ids = wire.message_ids()
        self._lock = threading.Lock()

    def send(self, site: str, text: str) -> None:
        with self._lock:
            self._kept.append(_Reply(site, text, self.clock(), next(self._ids)))
        self.deliver(site)

    def deliver(self, site: str) -> None:
        """Send each reply for `site` whose copy is lost, with its age now, or speak it here
        if the site is offline; drop those too old, here and for every site. Called for each
        new reply and for each status of the site (which every new connection brings)."""
        here: list[str] = []
        with self._lock:
            now = self.clock()
            kept = []
            for reply in self._kept:
                age = now - reply.made
                if reply.confirmed:
                    continue
                if reply.lost and age > wire.REPLY_LIFETIME:
                    self._drop(reply, age)
                    continue
                if reply.site == site and reply.lost:
                    if not self._online(site):
                        here.append(reply.text)
                        continue
                    payload = wire.encode_reply(wire.Reply(reply.text, age, reply.id))
                    reply.sent = self.connection.publish(self.topics.reply(site), payload)
                kept.append(reply)
            self._kept = kept
        for text in here:
            self._speak_here(site, text)

    def _drop(self, reply: _Reply, age: float) -> None:
        log.warning(
            "dropped the reply for %r, made %.0f s ago: the connection to the MQTT broker was "
            "lost before the broker took it, and a reply is spoken within %g s or not at all: %s",
            reply.site,
            age,
            wire.REPLY_LIFETIME,
            reply.text,
        )
