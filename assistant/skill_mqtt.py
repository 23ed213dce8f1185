"""A skill's MQTT connection (`SkillContext.connect_mqtt`): the assistant's own client
(assistant/rooms/mqtt_client.py) with what an action needs around a message: a wait for a
connection that may come, a wait for the broker's confirmation, both ended by the call's
cancellation, and why it failed in words."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import paho.mqtt.client as paho

from assistant.plugin import MQTT_CONNECTION_SETTINGS, MQTT_RECONNECT_MAX, Cancellation, MqttError
from assistant.rooms.mqtt_client import MqttConnection, advice_apart
from assistant.rooms.settings import MqttSettings

CONNECTION_WAIT = MQTT_RECONNECT_MAX + 1.0
"""Seconds a publish waits for the connection when there is none (being made, or lost with a
broker that restarts): longer than a wait between two attempts to reconnect, so a message sent
while the broker restarts, or just after, goes out once it is back."""
CONFIRM_WAIT = 3.0
"""Seconds a publish waits for the broker to confirm its message."""
CANCEL_POLL = 0.1
"""Seconds between looks at the call's cancellation while a publish waits: how late a wait ends
once the call is abandoned or the skill stopped."""
RESTART_SECONDS = 10.0
"""How long after the connection was lost a publish still waits for it although the broker
cannot be reached: a broker restarting is back by then. Later (and with a broker never reached,
as with no broker at all) a publish that cannot reach it fails at once."""


class SkillMqtt:
    """The MqttLink of the plugin API, for the skill whose `settings` (under `section`, such as
    `skills.lights`) include MQTT_CONNECTION_SETTINGS; it logs to `logger` and reads the
    cancellation of the call running from `cancelled()`. Connects in the background at once."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        section: str,
        logger: logging.Logger,
        cancelled: Callable[[], Cancellation],
    ):
        names = [setting.name for setting in MQTT_CONNECTION_SETTINGS]
        missing = [name for name in names if name not in settings]
        if missing:
            raise TypeError(
                f"{section}: connect_mqtt needs the skill's settings to include "
                f"*MQTT_CONNECTION_SETTINGS (missing: {', '.join(missing)})"
            )
        self._settings = MqttSettings.from_section({name: settings[name] for name in names})
        self._cancelled = cancelled
        self._stopped = False
        self._lost_at: float | None = None
        """When (time.monotonic()) the connection was last lost (None: never)."""
        self._connection = MqttConnection(
            self._settings,
            client_id=f"assistant-{section.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:8]}",
            on_disconnected=self._lost,
            topics_resent_by_caller=["#"],
            section=section,
            logger=logger,
        )
        self._connection.start()

    @property
    def broker(self) -> str:
        return self._settings.broker

    @property
    def connected(self) -> bool:
        return self._connection.connected

    def status(self) -> list[str]:
        if self.connected:
            return [f"connected to the MQTT broker at {self.broker}"]
        return advice_apart(self._why_not_connected().replace("; try again", ""))

    def publish(self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> None:
        connected, unreachable = self._connection_that_may_come()
        self._raise_if_cancelled(f"before the message was sent to the MQTT broker at {self.broker}")
        if not connected:
            raise MqttError(self._why_not_connected(unreachable), "unreachable")
        data = payload.encode() if isinstance(payload, str) else payload
        info = self._connection.publish(topic, data, qos=qos, retain=retain)
        try:
            self._wait(info.is_published, CONFIRM_WAIT, info.wait_for_publish)
        except (RuntimeError, ValueError) as error:  # not connected, or paho's queue full
            message = f"the broker at {self.broker} dropped the message ({error})"
            raise MqttError(message, "unreachable") from None
        if info.rc != paho.MQTT_ERR_SUCCESS:  # the connection was lost meanwhile
            message = (
                f"the broker at {self.broker} dropped the message ({paho.error_string(info.rc)})"
            )
            raise MqttError(message, "unreachable")
        if not info.is_published():
            self._raise_if_cancelled(
                f"before the MQTT broker at {self.broker} confirmed the message"
            )
            if self._stopped:
                raise MqttError(self._why_not_connected(), "unreachable")
            raise MqttError(
                f"the broker at {self.broker} did not confirm the message", "unconfirmed"
            )

    def stop(self) -> None:
        """Disconnect; a second stop (the skill's, then the host's) does nothing."""
        if self._stopped:
            return
        self._stopped = True  # a publish from now on fails at once
        self._connection.stop()

    def _connection_that_may_come(self) -> tuple[bool, OSError | None]:
        """Whether there is a connection, once one that may come within CONNECTION_WAIT has:
        one being made to a broker that answers, or one lost moments ago (RESTART_SECONDS: the
        broker restarts). Not waited for: a broker that refused the connection (it refuses the
        next) or that cannot be reached and was not lost moments ago; the error of reaching
        such a one comes second (None otherwise)."""
        if self.connected or self._connection.refusal or self._stopped:
            return self.connected, None
        lost_at = self._lost_at
        restarting = lost_at is not None and time.monotonic() - lost_at < RESTART_SECONDS
        if not restarting:
            unreachable = self._connection.unreachable()
            if unreachable:
                return False, unreachable
        self._wait(
            lambda: self.connected or self._connection.refusal,
            CONNECTION_WAIT,
            self._connection.wait_connected,
        )
        return self.connected, None

    def _wait(
        self, done: Callable[[], object], seconds: float, sleep: Callable[[float], object]
    ) -> None:
        """Until `done()`, for up to `seconds`, sleeping with `sleep(timeout)` (which may wake
        early); at most CANCEL_POLL longer once the call is cancelled or the link stopped."""
        deadline = time.monotonic() + seconds
        cancelled = self._cancelled()
        while not done() and not cancelled.is_set() and not self._stopped:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sleep(min(left, CANCEL_POLL))

    def _raise_if_cancelled(self, when: str) -> None:
        """MqttError saying `when` the call was cancelled, if it was."""
        if self._cancelled().is_set():
            raise MqttError(f"cancelled (skill_timeout, reload or shutdown) {when}", "cancelled")

    def _why_not_connected(self, unreachable: OSError | None = None) -> str:
        """Why there is no connection, as the connection words it in the log (with the
        settings to check): `unreachable` (the error of a look at the broker just made), else
        the problem of its last attempt (unreachable, refused, TLS); else that it is being
        made. It looks at the broker for none of it."""
        if self._stopped:
            return f"the connection to the MQTT broker at {self.broker} was stopped"
        if unreachable:
            return self._connection.describe_socket_error(unreachable)
        if self._connection.problem:
            return self._connection.problem
        return f"not connected to the MQTT broker at {self.broker} yet; try again"

    def _lost(self) -> None:
        self._lost_at = time.monotonic()
