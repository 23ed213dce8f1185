"""The satellite role: forwards its board's commands to the hub through the broker, speaks the
replies the hub sends back to its site, and listens for the follow-up phrases the hub asks for."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from assistant.clocks import elapsed
from assistant.phrase import Heard
from assistant.plugin import CommandEvent
from assistant.rooms import topics as wire
from assistant.rooms.home_assistant import HomeAssistant
from assistant.rooms.ignored import RoomStats
from assistant.rooms.mqtt_client import MqttConnection, Will
from assistant.rooms.settings import MqttSettings

log = logging.getLogger("assistant.satellite")

Hear = Callable[[list[str], float, Callable[[], bool], str], Heard]
"""Listens for a follow-up phrase here: (grammar, seconds, stopped, prompt), as
PhraseListener.hear."""

MAX_PENDING = 10_000
"""Detections kept while the hub is unreachable; the oldest go first beyond this."""
RESEND_AFTER = 5.0
"""Seconds without acknowledgement after which a detection is sent again (a broker drops
messages for a subscriber that falls too far behind); doubled after each unanswered resend,
up to 16 × RESEND_AFTER, so that a hub catching up is not flooded."""
PHRASE_AFTER_COMMAND = 30.0
"""Seconds after a detection of this room was last sent to the hub within which the satellite
listens for the hub's follow-up phrases (the hub asks when it runs the command's action, which
may wait for the skill's earlier calls). A request at any other time is refused: only a command
heard in the room (or sent there with `assistant send`) opens its microphone, whoever else may
publish on the broker."""


@dataclass
class _Pending:
    event: CommandEvent
    sent_at: float | None = None
    sends: int = 0

    def resend_due(self, now: float) -> bool:
        if self.sent_at is None:
            return True
        return now - self.sent_at >= RESEND_AFTER * 2 ** min(self.sends - 1, 4)


@dataclass
class SatelliteStats(RoomStats):
    forwarded: int = 0
    sent: int = 0
    """Messages published, resends included."""
    acknowledged: int = 0
    dropped: int = 0
    """Detections given up: older than mqtt.max_delay, or beyond MAX_PENDING."""
    replies: int = 0
    """Replies received from the hub."""
    spoken_replies: int = 0
    """Replies of the hub handed to the speech engine."""
    late_replies: int = 0
    """Replies not spoken: older than wire.REPLY_LIFETIME by the time they would be."""
    repeated_replies: int = 0
    """Copies of a reply received before (the hub sends one again when it cannot know whether
    the broker took it), not spoken."""
    phrases: int = 0
    """Follow-up phrases the hub asked for and that were listened for (answered)."""
    late_phrases: int = 0
    """Follow-up phrase requests not acted on: older than their window."""
    refused_phrases: int = 0
    """Follow-up phrase requests refused: no command was heard in the room lately."""
    accepted: int = 0
    """Commands of this room the hub's dispatcher took (it says so on `accepted`)."""
    late_tones: int = 0
    """Acknowledgement tones not played: the hub took the command more than
    wire.TONE_LIFETIME after it was heard here."""


class Satellite:
    """Publishes each detection (QoS 1) and keeps it until the hub acknowledges it; while the
    hub is offline detections wait, and they are sent again whenever the hub comes online, or
    after RESEND_AFTER seconds without acknowledgement, so a broker or hub restart loses none.
    The hub recognises repeats by their id. Only this sends a detection again, each time with
    its age then: the connection forgets one not confirmed when its connection is lost.
    Replies from the hub are spoken one after another, each only while it is younger than
    wire.REPLY_LIFETIME (its age from the hub plus its time here).

    With mqtt.discovery on, each detection also fires the Home Assistant event entity of its
    command, once, whether or not a hub is running (QoS 0: now or never, not late). The
    entities announced are those of `commands` (default: the committed model's); `state_dir`
    keeps the record of what was announced, to remove what no longer is (None: no record).

    `hear` listens for the follow-up phrases the hub asks for (one at a time, each within the
    request's window, and only within PHRASE_AFTER_COMMAND of a detection of this room sent to
    the hub); None: the satellite says it has no phrase listener.

    `acknowledge` plays the acknowledgement tone (`speech.acknowledge: tone`; None: `none`),
    for each command of this room the hub's dispatcher took, when the hub says so within
    wire.TONE_LIFETIME of the command being heard; in turn with the replies, before the
    command's own."""

    def __init__(
        self,
        settings: MqttSettings,
        site: str,
        speak: Callable[[str], None],
        commands: Sequence[str] | None = None,
        clock: Callable[[], float] = elapsed,
        state_dir: Path | None = None,
        hear: Hear | None = None,
        acknowledge: Callable[[], None] | None = None,
    ):
        self.settings = settings
        self.topics = wire.Topics(settings.topic_prefix)
        self.site = wire.check_level(site, "site")
        self.clock = clock
        self.stats = SatelliteStats()
        self._speak = speak
        self._speaker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"speak-{site}")
        self._hear = hear
        self._acknowledge = acknowledge
        self._listener = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"phrase-{site}")
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._resender = threading.Thread(
            target=self._resend_loop, name=f"resend-{site}", daemon=True
        )
        self._hub_online = False
        self._sent_at: float | None = None
        """When a detection of this room was last sent to the hub (None: never)."""
        self._ids = wire.message_ids()
        self._replies_heard: OrderedDict[str, float] = OrderedDict()
        """Ids of the replies received lately, with when: a copy of one is not spoken again."""
        self.connection = MqttConnection(
            settings,
            client_id=f"assistant-satellite-{settings.topic_prefix}-{site}",
            will=Will(self.topics.status(site), wire.OFFLINE),
            on_connected=self._announce,
            on_disconnected=self._hub_unreachable,
            topics_resent_by_caller=[
                self.topics.detection(site, "+"),
                self.topics.phrase_answer(site),
            ],
            stats=self.stats,
        )
        self.home_assistant = HomeAssistant(
            self.connection,
            settings,
            self.topics,
            "satellite",
            site,
            self.topics.status(site),
            commands,
            state_dir,
            clock,
        )
        self.connection.subscribe(self.topics.reply(site), self._on_reply, retained=False)
        self.connection.subscribe(self.topics.ack(site), self._on_ack, qos=0, retained=False)
        self.connection.subscribe(
            self.topics.phrase_request(site), self._on_phrase_request, retained=False
        )
        self.connection.subscribe(self.topics.accepted(site), self._on_accepted, retained=False)
        # Last: once the hub's status arrives, the broker has taken the other subscriptions.
        self.connection.subscribe(self.topics.hub_status, self._on_hub_status)

    def start(self) -> None:
        self.connection.start()
        self._resender.start()

    def stop(self) -> None:
        self._stopping.set()
        self._resender.join()
        self.home_assistant.stop()
        self.connection.stop(last_words=(self.topics.status(self.site), wire.OFFLINE))
        self.stats.warnings.flush(everything=True)
        self.home_assistant.forget_cleared()
        self._speaker.shutdown(wait=False)
        self._listener.shutdown(wait=False, cancel_futures=True)
        if self._pending:
            log.warning("%d detection(s) were not acknowledged by the hub", len(self._pending))

    @property
    def hub_online(self) -> bool:
        return self._hub_online

    @property
    def pending(self) -> int:
        """Detections not yet acknowledged by the hub."""
        return len(self._pending)

    def status(self) -> list[str]:
        """Its parts of `assistant status` (see Role.status)."""
        stats = self.stats
        with self._lock:  # one moment's counts: a detection acknowledged leaves `pending`
            hub = "online" if self._hub_online else "OFFLINE (detections wait)"
            detections = (
                f"detections to the hub: pending {len(self._pending)}, forwarded "
                f"{stats.forwarded}, acknowledged {stats.acknowledged}, dropped {stats.dropped}"
            )
        replies = (
            f"replies from the hub: received {stats.replies}, spoken {stats.spoken_replies}, "
            f"late {stats.late_replies}, repeated {stats.repeated_replies}"
        )
        phrases = (
            f"follow-up phrases for the hub: answered {stats.phrases}, late {stats.late_phrases}, "
            f"refused {stats.refused_phrases}"
        )
        accepted = (
            f"commands the hub took: {stats.accepted}, too late for a tone {stats.late_tones}"
        )
        return [
            "role: satellite",
            f"site: {self.site}",
            f"hub: {hub}",
            detections,
            replies,
            phrases,
            accepted,
            *self.connection.status(),
        ]

    def forward(self, event: CommandEvent) -> None:
        """Send a detection of this satellite's board to the hub (the DeviceSession's
        `on_command`)."""
        detection_id = next(self._ids)
        entry = _Pending(event)
        with self._lock:
            self.stats.forwarded += 1
            self._pending[detection_id] = entry
            self._drop_expired()
            online = self._hub_online
        if online:
            self._send(detection_id, entry)
        self.home_assistant.fire(event)

    def reply(self, text: str, site: str | None = None) -> None:
        """Speak a reply of this machine here (replies from the hub arrive by themselves)."""
        self._speaker.submit(self._say, text)

    def _send(self, detection_id: str, entry: _Pending) -> None:
        event = entry.event
        entry.sent_at = self._sent_at = self.clock()
        entry.sends += 1
        detection = wire.Detection(
            id=detection_id,
            command=event.command,
            score=event.score,
            site=self.site,
            source=event.source,
            age=max(0.0, entry.sent_at - event.received),
            seq=event.seq,
            device_ms=event.device_ms,
            heard=event.heard,
        )
        self.stats.sent += 1
        self.connection.publish(
            self.topics.detection(self.site, event.command), wire.encode_detection(detection)
        )

    def _drop_expired(self) -> None:
        """Forget detections too old to act on, or beyond MAX_PENDING (called under the lock)."""
        now = self.clock()
        dropped = 0
        while self._pending:
            oldest = next(iter(self._pending.values()))
            too_old = now - oldest.event.received > self.settings.max_delay
            if not too_old and len(self._pending) <= MAX_PENDING:
                break
            self._pending.popitem(last=False)
            dropped += 1
        if dropped:
            self.stats.dropped += dropped
            log.warning(
                "dropped %d detection(s) the hub could not take within mqtt.max_delay "
                "(%.0f s); is `assistant run --role hub` running and connected?",
                dropped,
                self.settings.max_delay,
            )

    def _announce(self) -> None:
        status = self.topics.status(self.site)
        self.connection.publish(status, wire.ONLINE, retain=True)
        self.home_assistant.announce()

    def _hub_unreachable(self) -> None:
        self._hub_online = False

    def _on_hub_status(self, topic: str, payload: bytes) -> None:
        online = payload == wire.ONLINE
        with self._lock:
            was_online, self._hub_online = self._hub_online, online
            self._drop_expired()
            waiting = list(self._pending.items()) if online else []
        if online != was_online:
            log.info("the hub is %s", "online" if online else "offline: detections will wait")
        for detection_id, entry in waiting:
            self._send(detection_id, entry)

    def _resend_loop(self) -> None:
        """Sends what is due again, and sums up the warnings of each minute that ended."""
        while not self._stopping.wait(RESEND_AFTER / 2):
            self.stats.warnings.flush()
            now = self.clock()
            with self._lock:
                self._drop_expired()
                due = [
                    (detection_id, entry)
                    for detection_id, entry in self._pending.items()
                    if self._hub_online and entry.resend_due(now)
                ]
            if due:
                log.info("sending %d unacknowledged detection(s) again", len(due))
            for detection_id, entry in due:
                self._send(detection_id, entry)

    def _on_ack(self, topic: str, payload: bytes) -> None:
        try:
            ids = wire.decode_ack(payload)
        except wire.PayloadError as error:
            self.stats.ignore(
                log, "malformed-ack", "ignored an acknowledgement on %s: %s", topic, error
            )
            return
        with self._lock:
            for detection_id in ids:
                if self._pending.pop(detection_id, None) is not None:
                    self.stats.acknowledged += 1

    def _on_reply(self, topic: str, payload: bytes) -> None:
        received = self.clock()
        try:
            reply = wire.decode_reply(payload)
        except wire.PayloadError as error:
            self.stats.ignore(log, "malformed-reply", "ignored a reply on %s: %s", topic, error)
            return
        if self._heard_before(reply, received):
            self.stats.repeated_replies += 1
            log.info("ignored a copy of a reply already received: %s", reply.text)
            return
        self.stats.replies += 1
        self._speaker.submit(self._say_in_time, reply, received)

    def _on_accepted(self, topic: str, payload: bytes) -> None:
        """The hub took a command of this room: play the acknowledgement now, on the network
        thread (it is only queued), so that it comes before the replies that follow, unless it
        has become too old to mean anything."""
        try:
            accepted = wire.decode_accepted(payload)
        except wire.PayloadError as error:
            self.stats.ignore(
                log, "malformed-accepted", "ignored a message on %s: %s", topic, error
            )
            return
        self.stats.accepted += 1
        if self._acknowledge is None:
            return
        if accepted.age > wire.TONE_LIFETIME:
            self.stats.late_tones += 1
            self.stats.warnings.warning(
                log,
                "late-tone",
                "played no acknowledgement for %r (%s): the hub took it %.1f s after it was "
                "heard, and the tone is played within %g s or not at all",
                accepted.command,
                accepted.id,
                accepted.age,
                wire.TONE_LIFETIME,
            )
            return
        self._acknowledge()

    def _on_phrase_request(self, topic: str, payload: bytes) -> None:
        received = self.clock()
        try:
            request = wire.decode_phrase_request(payload)
        except wire.PayloadError as error:
            self.stats.ignore(
                log, "malformed-phrase-request", "ignored a message on %s: %s", topic, error
            )
            return
        self._listener.submit(self._answer, request, received + request.window - request.age)

    def _answer(self, request: wire.PhraseRequest, deadline: float) -> None:
        """Listen for the phrase the hub asked for, until `deadline` (this machine's clock) at
        the latest, and answer; not at all once the deadline has passed (the hub no longer
        waits), and answer without listening when no command of this room asked for it."""

        def stopped() -> bool:
            return self.clock() >= deadline or self._stopping.is_set()

        if stopped():
            self.stats.late_phrases += 1
            self.stats.warnings.warning(
                log,
                "late-phrase-request",
                "did not listen for the hub's follow-up phrase %s: its window of %g s had passed",
                request.id,
                request.window,
            )
            return
        if not self._sent_lately():
            heard = self._refuse(request)
        else:
            if self._hear is None:
                heard = Heard(problem="this satellite has no follow-up phrase listener")
            else:
                heard = self._hear(request.grammar, request.seconds, stopped, request.prompt)
            self.stats.phrases += 1
        answer = wire.PhraseAnswer(
            request.id, heard.text, heard.problem and heard.problem[: wire.MAX_PROMPT]
        )
        self.connection.publish(
            self.topics.phrase_answer(self.site), wire.encode_phrase_answer(answer)
        )

    def _sent_lately(self) -> bool:
        """Whether a detection of this room was sent to the hub within PHRASE_AFTER_COMMAND."""
        sent_at = self._sent_at
        return sent_at is not None and self.clock() - sent_at <= PHRASE_AFTER_COMMAND

    def _refuse(self, request: wire.PhraseRequest) -> Heard:
        """The answer to a follow-up phrase request that no command of this room asked for:
        counted, warned about, and not listened for."""
        self.stats.refused_phrases += 1
        self.stats.warnings.warning(
            log,
            "unasked-phrase-request",
            "did not listen for the follow-up phrase %s: no command was heard in this room in "
            "the last %g s, and only one opens the microphone; if no hub asked for it, check who "
            "may publish on %s (docs/mqtt.md, Broker set-up, in the source repository)",
            request.id,
            PHRASE_AFTER_COMMAND,
            self.topics.phrase_request(self.site),
        )
        return Heard(
            problem=f"no command was heard in site {self.site!r} in the last "
            f"{PHRASE_AFTER_COMMAND:g} s"
        )

    def _heard_before(self, reply: wire.Reply, received: float) -> bool:
        """Whether a reply with this id came lately; remembers it. A copy arrives at most
        wire.REPLY_LIFETIME after the first (older, it is not spoken anyway); ids are kept twice
        as long, for clocks that run at slightly different rates, and MAX_PENDING at most."""
        heard = self._replies_heard
        while heard and (
            received - next(iter(heard.values())) > 2 * wire.REPLY_LIFETIME
            or len(heard) >= MAX_PENDING
        ):
            heard.popitem(last=False)
        if reply.id is None:
            return False
        if reply.id in heard:
            return True
        heard[reply.id] = received
        return False

    def _say_in_time(self, reply: wire.Reply, received: float) -> None:
        """Speak a reply of the hub unless it has become too old: its age when the hub sent it
        plus the time it has been here (behind other replies being spoken, say)."""
        age = reply.age + self.clock() - received
        if age > wire.REPLY_LIFETIME:
            self.stats.late_replies += 1
            self.stats.warnings.warning(
                log,
                "late-reply",
                "dropped a reply of the hub made %.0f s ago: a reply is spoken within %g s or "
                "not at all: %s",
                age,
                wire.REPLY_LIFETIME,
                reply.text,
            )
            return
        if self._say(reply.text):
            self.stats.spoken_replies += 1

    def _say(self, text: str) -> bool:
        """Speak `text`; False, with the error logged, if the speech engine failed."""
        try:
            self._speak(text)
        except Exception:
            log.exception("could not speak the reply %r", text)
            return False
        return True
