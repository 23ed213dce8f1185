"""One connection to the MQTT broker (paho-mqtt 2.x), shared by the satellite and the hub roles
and by the skills (assistant/skill_mqtt.py): credentials, TLS, a last will, subscriptions renewed
on every connection, and reconnection with exponential backoff. A failure is logged once,
clearly, and retried until it is fixed (or, for a one-shot command, left to its caller)."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from assistant.plugin import tls_context
from assistant.ratelimit import WarningLimiter
from assistant.rooms.ignored import RoomStats
from assistant.rooms.settings import MqttSettings

OTHER_HOST_CODES = frozenset({62, 64})
"""OpenSSL's verify codes of a certificate made for another host name (X509_V_ERR_HOSTNAME_
MISMATCH) or IP address (X509_V_ERR_IP_ADDRESS_MISMATCH) than the one connected to."""
TAKEN_OVER_SECONDS = 5.0
"""A connection dropped sooner than this after it was made, while the broker still listens,
counts as taken over."""
TAKEN_OVER_DROPS = 3
"""Quick drops in a row (each while the broker still listens) that mean another client has this
client's id."""
TAKEN_OVER_WAIT = 30.0
"""Seconds a connection taken over (TAKEN_OVER_DROPS) waits before it connects again: the two
clients of one id then swap the connection every so often, not several times a second (each
swap a log line on both, a satellite offline and online again for the hub and Home
Assistant)."""
LISTENS_TIMEOUT_SECONDS = 2.0
"""How long a look at whether the broker still listens, after a quick drop, may take."""

log = logging.getLogger("assistant.mqtt")

Handler = Callable[[str, bytes], None]
"""Called with (topic, payload) for each message on a subscription, on the network thread."""


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


def advice_apart(problem: str) -> list[str]:
    """A `problem` as the connection words it, on two lines for a status that keeps its lines
    short: what failed, then its last sentence, the settings to check (one line if it has no
    such sentence)."""
    failed, stop, advice = problem.rpartition(". ")
    return [f"{failed}.", advice] if stop else [problem]


def _send_without_delay(client, userdata, sock) -> None:
    """Turn off Nagle's algorithm: every MQTT packet leaves at once. With it, a packet written
    while the previous one is unacknowledged waits for the peer's delayed TCP acknowledgement
    (up to 40 ms on Linux), and a satellite writes two packets per detection (the detection
    and its Home Assistant event), so the next detection waited behind the event."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Client(paho.Client):
    """paho's client, whose connect opens its socket (name lookup, TCP connect, TLS handshake:
    seconds when the broker's host does not answer) with `lock` released. The caller holds
    `lock` across the rest of the connect, which paho does not guard against a publish (one
    between the socket's opening and the CONNECT packet would go out first). While the socket
    is being opened there is none yet, so a publish meanwhile returns at once, its message
    queued (QoS 1) or refused (QoS 0). `_create_socket` is paho 2's step that opens it; the
    broker tests fail should it ever be renamed.

    A message on one of `topics_resent_by_caller` is sent on the connection it was published on
    or not at all: paho sends an unconfirmed QoS 1 message again, unchanged, on its next
    connection, which may come hours after the last was lost unnoticed (Wi-Fi gone, a laptop's
    lid closed), and the caller sends these again itself, as they are then.
    `_messages_reconnect_reset_out` is paho 2's step, at the start of every connect, that readies
    its messages to be sent again."""

    def __init__(
        self, lock: threading.Lock, topics_resent_by_caller: Sequence[str], **options: object
    ) -> None:
        super().__init__(**options)
        self._released_while_opening = lock
        self._topics_resent_by_caller = tuple(topics_resent_by_caller)

    def resent_by_caller(self, topic: str) -> bool:
        return any(paho.topic_matches_sub(each, topic) for each in self._topics_resent_by_caller)

    def forget(self, mids: Iterable[int]) -> None:
        """Drop these messages paho keeps to send, while no count of those in flight matters
        (no connection, or a reconnection, which recounts): their `wait_for_publish` says they
        were lost, as paho's does for lost QoS 0 ones."""
        with self._out_message_mutex:
            for mid in mids:
                message = self._out_messages.pop(mid, None)
                if message is not None:
                    if message.info.rc == paho.MQTT_ERR_SUCCESS:
                        message.info.rc = paho.MQTT_ERR_CONN_LOST
                    message.info._set_as_published()

    def _messages_reconnect_reset_out(self) -> None:
        with self._out_message_mutex:
            self.forget(
                [mid for mid, m in self._out_messages.items() if self.resent_by_caller(m.topic)]
            )
            super()._messages_reconnect_reset_out()

    def _create_socket(self) -> socket.socket:
        self._released_while_opening.release()
        try:
            return super()._create_socket()
        finally:
            self._released_while_opening.acquire()

    def loop_stop(self) -> paho.MQTTErrorCode:
        """Stop the network thread, and close the socket pair it was woken through: paho leaves
        it open until the next `loop_start` replaces it or the garbage collector comes
        (eclipse-paho/paho.mqtt.python#627). Closed under `lock`, as a publish writes to it."""
        stopped = super().loop_stop()
        with self._released_while_opening:
            self._reset_sockets(sockpair_only=True)
        return stopped


class MqttConnection:
    """Keeps one client connected to the broker of `settings` until `stop()`.

    `on_connected` runs on the network thread after each successful connection, once the
    subscriptions have been sent (so anything it publishes follows them); `on_disconnected` there
    once a connection is lost. What either raises is logged.

    `topics_resent_by_caller`: topic filters of messages the caller sends again itself until
    they are acknowledged, each time as it is then (a detection or a reply, with its age then):
    such a message is never sent on a connection other than the one it was published on.

    `stats`: where the messages the connection ignores are counted and warned about (the
    caller's). `section`: where the configuration sets `settings`, named in the problems logged
    (`mqtt`, `skills.lights`); `logger`: where they are logged.

    `once`: one attempt to connect, never repeated, whose failure is not logged but left in
    `problem` for the caller (a one-shot command: `wait_settled`)."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        will: Will | None = None,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: Callable[[], None] | None = None,
        topics_resent_by_caller: Sequence[str] = (),
        stats: RoomStats | None = None,
        section: str = "mqtt",
        logger: logging.Logger = log,
        once: bool = False,
    ):
        self.settings = settings
        self.once = once
        self.section = section
        self.log = logger
        self.stats = stats or RoomStats()
        self.client_id = client_id
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._subscriptions: dict[str, tuple[int, Handler]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._loop_ended = threading.Event()
        self._connected = threading.Event()
        self._settled = threading.Event()
        """Set once an attempt to connect succeeded or failed."""
        self.problem: str | None = None
        """Why the last attempt to connect failed, as logged (None: none failed since the last
        connection)."""
        self.refusal = ""
        """Why the broker refused the last attempt to connect ("": it did not refuse it)."""
        self._supervisor: threading.Thread | None = None
        self.connections = 0
        """Successful connections so far (a reconnection counts again)."""
        self._connected_at = 0.0
        self._answered = False  # the broker answered this attempt (CONNACK)
        self._quick_drops = 0
        """Connections the broker dropped soon after making them, in a row."""

        self._dropped = WarningLimiter(per_window=1)
        client = _Client(
            self._lock,
            topics_resent_by_caller,
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
            clean_session=True,
            reconnect_on_failure=False,
        )
        if settings.username:
            client.username_pw_set(settings.username, settings.password or None)
        if settings.tls:
            client.tls_set_context(tls_context(settings.ca_file))
        if will:
            client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.on_socket_open = _send_without_delay
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        self._client = client

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def status(self) -> list[str]:
        """The connection's parts of `assistant status`: the broker, whether connected now and
        how many times it reconnected, then the messages ignored (`stats`)."""
        state = "connected" if self.connected else "NOT CONNECTED (retrying)"
        reconnections = max(0, self.connections - 1)
        return [
            f"broker: {self.settings.broker} {state}, reconnections {reconnections}",
            self.stats.summary(),
        ]

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def wait_settled(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for an attempt to connect to succeed or fail (then
        `connected`, or `problem` says why); False if none did meanwhile."""
        return self._settled.wait(timeout)

    def subscribe(
        self, topic_filter: str, handler: Handler, qos: int = 1, retained: bool = True
    ) -> None:
        """Call `handler` for messages on `topic_filter`, now and after every reconnection.
        `retained=False`: a message the broker kept (sent again at every subscription) is
        ignored with a warning, for topics whose messages are acted on once and never kept."""
        self._subscriptions[topic_filter] = (qos, handler)
        self._client.message_callback_add(
            topic_filter, lambda _c, _u, message: self._deliver(message, handler, retained)
        )
        with self._lock:
            if self.connected:
                self._client.subscribe(topic_filter, qos)

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo:
        """Send a message; `is_published()` of the answer turns true once the broker has
        confirmed a QoS 1 message. Without a connection (also while one is being made) this
        returns at once: a QoS 1 message is queued by paho and sent after the next connection, a
        QoS 0 one is dropped with a warning (at most one a minute), and one on
        `topics_resent_by_caller` is dropped (the caller sends it again)."""
        with self._lock:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
            if info.rc == paho.MQTT_ERR_NO_CONN and self._client.resent_by_caller(topic):
                self._client.forget([info.mid])
                self.log.debug(
                    "%s: not connected: dropped a message on %s, which its sender sends again",
                    self.client_id,
                    topic,
                )
                return info
        if qos == 0 and info.rc == paho.MQTT_ERR_NO_CONN:
            self._dropped.warning(
                self.log,
                "mqtt-not-connected",
                "%s: not connected to the MQTT broker at %s: dropped a message on %s (messages "
                "of QoS 0, such as Home Assistant events, are not sent later)",
                self.client_id,
                self.settings.broker,
                topic,
            )
        return info

    def start(self) -> None:
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"mqtt-{self.client_id}", daemon=True
        )
        self._supervisor.start()

    def stop(self, last_words: tuple[str, bytes] | None = None, timeout: float = 2.0) -> None:
        """Disconnect cleanly, first publishing `last_words` (topic, retained payload) if
        connected, since a clean disconnect does not send the will. `_stopping` is set before
        `_lock` is taken: the supervisor checks it under the lock before it connects and once its
        socket is open, so no connection is kept after this disconnects."""
        self._stopping.set()
        if last_words and self.connected:
            with self._lock:
                info = self._client.publish(*last_words, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                self.log.debug("%s: last words not confirmed by the broker", self.client_id)
        with self._lock:
            self._client.disconnect()
        self._loop_ended.set()
        if self._supervisor:
            self._supervisor.join(timeout)
        self._client.loop_stop()

    def _supervise(self) -> None:
        delay = self.settings.reconnect_min
        while not self._stopping.is_set():
            connections_before = self.connections
            try:
                with self._lock:
                    if self._stopping.is_set():  # stop() came after the check above
                        return
                    self._loop_ended.clear()
                    self._client.connect(  # releases the lock while it opens the socket
                        self.settings.host, self.settings.port, self.settings.keepalive
                    )
                    self._client.loop_start()
                    if self._stopping.is_set():  # stop() came while the socket was opened
                        self._client.disconnect()
            except (OSError, ValueError) as error:
                self._report(self.describe_socket_error(error))
            else:
                self._loop_ended.wait()
                self._client.loop_stop()
            if self._stopping.is_set() or self.once:
                return
            if self.connections > connections_before:
                delay = self.settings.reconnect_min
            taken_over = self._quick_drops >= TAKEN_OVER_DROPS
            self._stopping.wait(TAKEN_OVER_WAIT if taken_over else delay)
            delay = min(delay * 2, self.settings.reconnect_max)

    def describe_socket_error(self, error: Exception) -> str:
        """Why connecting failed with `error`, and the settings to check, as logged (its last
        sentence, as in every `problem`: `advice_apart` parts them)."""
        broker, section = self.settings.broker, self.section
        if (
            isinstance(error, ssl.SSLCertVerificationError)
            and error.verify_code in OTHER_HOST_CODES
        ):
            return (
                f"TLS with the MQTT broker at {broker} failed: {error}. The broker's certificate "
                f"is made for another name than {self.settings.host!r}: set {section}.host to "
                "the name or address the certificate holds"
            )
        if isinstance(error, ssl.SSLError):
            return (
                f"TLS with the MQTT broker at {broker} failed: {error}. Check {section}.tls and "
                f"{section}.ca_file in the configuration"
            )
        return (
            f"cannot reach the MQTT broker at {broker}: {error}. Is the broker running, and "
            f"are {section}.host and {section}.port right?"
        )

    def _report(self, problem: str) -> None:
        """Log a problem once per run of identical failures (`once`: the caller says it)."""
        if problem != self.problem and not self.once:
            self.log.error("%s; retrying until it works", problem)
        else:
            self.log.debug("%s", problem)
        self.problem = problem
        self._settled.set()

    def _handle_connect(self, client, userdata, flags, reason: ReasonCode, properties) -> None:
        self._answered = True
        if reason.is_failure:
            self.refusal = str(reason)
            who = f"user {self.settings.username!r}" if self.settings.username else "anonymous"
            self._report(
                f"the MQTT broker at {self.settings.broker} refused the connection ({who}): "
                f"{reason}. Check {self.section}.username and {self.section}.password in the "
                "configuration"
            )
            return
        self.log.info(
            "%s: connected to the MQTT broker at %s", self.client_id, self.settings.broker
        )
        self.problem = None
        self.refusal = ""
        self.connections += 1
        self._connected_at = time.monotonic()
        for topic_filter, (qos, _handler) in list(self._subscriptions.items()):
            client.subscribe(topic_filter, qos)
        self._connected.set()
        self._settled.set()
        if self._on_connected:
            self._guarded("handling the new connection failed", self._on_connected)

    def _handle_disconnect(self, client, userdata, flags, reason: ReasonCode, properties) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected and not self._stopping.is_set():
            self.log.warning(
                "lost the connection to the MQTT broker at %s (%s)%s",
                self.settings.broker,
                reason,
                "" if self.once else "; reconnecting",
            )
            self._note_drop()
        if not self._answered and not self._stopping.is_set():
            hint = f"check that {self.section}.port is its MQTT port"
            if not self.settings.tls:
                hint = (
                    f"if it is a TLS port (8883 is usual), set {self.section}.tls: true; else "
                    f"{hint}"
                )
            self._report(
                f"the MQTT broker at {self.settings.broker} closed the connection without "
                f"answering: {hint}"
            )
        self._answered = False
        if was_connected and self._on_disconnected:
            self._guarded("handling the lost connection failed", self._on_disconnected)
        self._loop_ended.set()

    def _note_drop(self) -> None:
        """A broker gives a client id to the newest connection: drops right after each connect,
        while the broker keeps running, mean another client has this id. Said once, on the third
        drop in a row; while they go on, the supervisor waits TAKEN_OVER_WAIT. A broker that
        closed its connections because it stops (a restart) no longer listens, and a lost
        network does not answer: such a drop is no take-over. (MQTT 3.1.1 gives no reason for a
        drop; the reason code of MQTT 5 is not sent by every broker, mosquitto before 2.0.15
        among them.)"""
        lasted = time.monotonic() - self._connected_at
        taken_over = lasted < TAKEN_OVER_SECONDS and not self.unreachable()
        self._quick_drops = self._quick_drops + 1 if taken_over else 0
        if self._quick_drops == TAKEN_OVER_DROPS:
            self.log.error(
                "the MQTT broker keeps dropping %s right after it connects: another client uses "
                "the same id (`site:` given to two satellites, or two hubs with one "
                "mqtt.topic_prefix?); reconnecting every %g s while this lasts",
                self.client_id,
                TAKEN_OVER_WAIT,
            )

    def unreachable(self) -> OSError | None:
        """Why the broker's port does not accept a TCP connection now (None: it does; the
        connection is opened and closed at once)."""
        address = (self.settings.host, self.settings.port)
        try:
            socket.create_connection(address, timeout=LISTENS_TIMEOUT_SECONDS).close()
        except OSError as error:
            return error
        return None

    def _guarded(self, failure: str, action: Callable[..., None], *args: object) -> None:
        """Run `action` on the network thread; whatever it raises is logged with `failure`, since
        paho lets a callback's exception end that thread, and with it every later message, the
        notice of a lost connection and so the reconnection."""
        try:
            action(*args)
        except Exception:
            self.log.exception("%s: %s", self.client_id, failure)

    def _deliver(self, message: paho.MQTTMessage, handler: Handler, retained: bool) -> None:
        """Hand `message` to `handler`, guarded: no message, however malformed, stops the
        network thread."""
        if message.retain and not retained:
            self.stats.ignore(
                self.log,
                "retained-message",
                "%s: ignored a retained message on %s: the assistant never retains these, so "
                "another client did; clear it with `%s`",
                self.client_id,
                message.topic,
                self.settings.clearing_command(message.topic),
            )
            return
        failure = f"a message on {message.topic} could not be handled"
        self._guarded(failure, handler, message.topic, message.payload)

    def _handle_message(self, client, userdata, message: paho.MQTTMessage) -> None:
        self.log.debug("%s: message on %s not subscribed to", self.client_id, message.topic)
