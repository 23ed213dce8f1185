"""Lights over MQTT: on, off, brighter, dimmer and a spoken level ("fifty percent").

Each action publishes one message whose topic and payload come from a preset (Zigbee2MQTT or
Tasmota) or from the `templates` setting. Templates are `string.Template`s; they may use
$device, $step (percent), $step_254, $percent and $value_254. The client reconnects by itself
after a broker restart, within MQTT_RECONNECT_MAX seconds of the broker being back, and an action
that finds no connection waits up to CONNECTION_WAIT seconds for one when one may come (the broker
answers, or was lost moments ago): sent, or a clear failure; at once when none can. Its waits end
early when the call is cancelled (abandoned, or the skill stopped).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from string import Template
from typing import Any

import paho.mqtt.client as mqtt

from assistant.plugin import (
    AMOUNT_WORDS,
    MQTT_CONNECTION_SETTINGS,
    MQTT_RECONNECT_MAX,
    MQTT_RECONNECT_MIN,
    CommandEvent,
    Setting,
    SettingValueError,
    Skill,
    SkillError,
    action,
    ca_file_problem,
    parse_amount,
    tls_context,
    valid_choices,
)

ACTIONS = ("on", "off", "brighter", "dimmer", "level")

_Z2M = "zigbee2mqtt/$device/set"
_TASMOTA = "cmnd/$device/"
PRESETS: dict[str, dict[str, dict[str, str]]] = {
    "zigbee2mqtt": {
        "on": {"topic": _Z2M, "payload": '{"state": "ON"}'},
        "off": {"topic": _Z2M, "payload": '{"state": "OFF"}'},
        "brighter": {"topic": _Z2M, "payload": '{"brightness_step_onoff": $step_254}'},
        "dimmer": {"topic": _Z2M, "payload": '{"brightness_step_onoff": -$step_254}'},
        "level": {"topic": _Z2M, "payload": '{"brightness": $value_254}'},
    },
    "tasmota": {
        "on": {"topic": _TASMOTA + "POWER", "payload": "ON"},
        "off": {"topic": _TASMOTA + "POWER", "payload": "OFF"},
        "brighter": {"topic": _TASMOTA + "Dimmer", "payload": "+"},
        "dimmer": {"topic": _TASMOTA + "Dimmer", "payload": "-"},
        "level": {"topic": _TASMOTA + "Dimmer", "payload": "$percent"},
    },
}
"""Ready-made messages. Zigbee2MQTT steps with on/off (`brightness_step_onoff`): a plain
`brightness_step` leaves a light that is off dark and stops at the lowest level, whereas brighter
should light it and dimmer may switch it off, as Home Assistant's brightness_step does. Tasmota
steps by the device's own DimmerStep."""

GRAMMAR = [*AMOUNT_WORDS, "[unk]"]
REPLIES = {"on": "Lights on", "off": "Lights off"}
UNREACHABLE = "I cannot reach the lights"
"""Said when a message cannot reach the broker (the log has the broker and why)."""
CONNECTION_WAIT = MQTT_RECONNECT_MAX + 1.0
"""Seconds an action waits for the connection when there is none (being made, or lost with a
broker that restarts): longer than a wait between two attempts to reconnect, so a command given
while the broker restarts, or just after, is sent once it is back."""
CONFIRM_WAIT = 3.0
"""Seconds an action waits for the broker to confirm its message."""
CANCEL_POLL = 0.1
"""Seconds between looks at the call's cancellation while an action waits for the connection or
a confirmation: how late a wait ends once the call is abandoned or the skill stopped."""
RESTART_SECONDS = 10.0
"""How long after the connection was lost an action still waits for it although the broker
cannot be reached: a broker restarting is back by then. Later (and with a broker never reached,
as with no broker at all) an action that cannot reach it fails at once."""


class LightsSkill(Skill):
    name = "lights"
    description = "switches and dims lights over MQTT (Zigbee2MQTT, Tasmota or custom)"
    settings = (
        *(
            replace(setting, formerly=("ca_certs",)) if setting.name == "ca_file" else setting
            for setting in MQTT_CONNECTION_SETTINGS
        ),
        Setting("preset", str, "zigbee2mqtt", "message format", choices=tuple(PRESETS)),
        Setting("device", str, "living_room", "Zigbee2MQTT friendly name or Tasmota topic"),
        Setting("templates", dict, {}, "per action {topic, payload}, replacing the preset's"),
        Setting(
            "step",
            int,
            20,
            "brightness change of brighter and dimmer, in percent",
            minimum=1,
            maximum=100,
        ),
        Setting(
            "listen_seconds", float, 4.0, "how long `level` listens for a spoken level", minimum=0.5
        ),
    )

    def start(self) -> None:
        settings = self.context.settings
        try:
            self.check_settings(settings)
        except SettingValueError as error:  # config check reports it first; started otherwise
            raise SkillError(
                f"Lights: skills.lights.{error}", spoken="The lights are not set up right"
            ) from None
        self.templates = _templates(settings)
        self.broker = f"{settings['host']}:{settings['port']}"
        self._changed = threading.Condition()
        """Notified when the connection is made, refused or lost (`_connected`, `_refusal`)."""
        self._connected = False
        self._lost_at: float | None = None
        """When (time.monotonic()) the connection was last lost (None: never)."""
        self._refusal = ""
        self._failure_logged = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="")
        if settings["username"]:
            self.client.username_pw_set(settings["username"], settings["password"] or None)
        if settings["tls"]:
            self.client.tls_set_context(tls_context(settings["ca_file"]))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.reconnect_delay_set(min_delay=MQTT_RECONNECT_MIN, max_delay=MQTT_RECONNECT_MAX)
        self.client.connect_async(settings["host"], settings["port"], keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        with self._changed:
            self._connected = False  # what disconnects now is the stop, not a lost broker
        self.client.disconnect()
        self.client.loop_stop()
        # paho leaves open the socket pair that woke its network thread until the garbage
        # collector comes (eclipse-paho/paho.mqtt.python#627): two sockets at each restart of
        # the skill (a reload that changes its settings), piling up in a daemon that runs for
        # months; the assistant's own MQTT client closes it the same way
        self.client._reset_sockets(sockpair_only=True)

    @property
    def connected(self) -> bool:
        return self._connected

    def status_lines(self) -> list[str]:
        """For `assistant status`: the broker, and whether it is connected (else why not)."""
        if self.connected:
            return [f"connected to the MQTT broker at {self.broker}"]
        return [self._not_connected()]

    @action(help="Switch the lights on")
    def on(self, event: CommandEvent) -> str:
        self._publish("on")
        return REPLIES["on"]

    @action(help="Switch the lights off")
    def off(self, event: CommandEvent) -> str:
        self._publish("off")
        return REPLIES["off"]

    @action(help="Make the lights brighter by one step")
    def brighter(self, event: CommandEvent) -> None:
        self._publish("brighter")

    @action(help="Make the lights dimmer by one step")
    def dimmer(self, event: CommandEvent) -> None:
        self._publish("dimmer")

    @action(
        params=(Setting("percent", int, -1, "brightness; -1: ask for it", minimum=-1, maximum=100),)
    )
    def level(self, event: CommandEvent, percent: int = -1) -> str:
        """Set the brightness to a level, said after the command when not configured."""
        if percent < 0:
            heard = self.context.listen_for_phrase(
                GRAMMAR, self.context.settings["listen_seconds"], "What level?"
            )
            if heard is None:
                raise SkillError("No brightness level heard")
            try:
                amount = parse_amount(heard)
            except ValueError:
                raise SkillError(
                    f"I did not understand {heard!r} as a brightness",
                    spoken=f"I did not understand {heard}",
                ) from None
            if amount.unit == "seconds":
                raise SkillError(f"{heard.capitalize()} is not a brightness")
            percent = round(amount.value)
        if not 0 <= percent <= 100:
            raise SkillError(
                f"Brightness must be 0 to 100 percent, not {percent}",
                spoken="I can set the lights from 0 to 100 percent",
            )
        self._publish("level", percent)
        return f"Lights at {percent} percent"

    def _publish(self, what: str, percent: int = 0) -> None:
        connected = self._connection()
        self._raise_if_cancelled(f"before the message was sent to the MQTT broker at {self.broker}")
        if not connected:
            raise SkillError(f"Lights: {self._why_not_connected()}", spoken=UNREACHABLE)
        topic, payload = self._message(what, percent)
        info = self.client.publish(topic, payload, qos=1)
        try:
            self._wait(info.is_published, CONFIRM_WAIT, info.wait_for_publish)
        except RuntimeError as error:
            message = f"Lights: the broker at {self.broker} dropped the message ({error})"
            raise SkillError(message, spoken=UNREACHABLE) from None
        if not info.is_published():
            self._raise_if_cancelled(
                f"before the MQTT broker at {self.broker} confirmed the message"
            )
            raise SkillError(
                f"Lights: the broker at {self.broker} did not confirm the message",
                spoken="The lights did not answer",
            )

    def _connection(self) -> bool:
        """Whether there is a connection, once one that may come within CONNECTION_WAIT has:
        one being made to a broker that answers, or one lost moments ago (RESTART_SECONDS: the
        broker restarts). Not waited for: a broker that refused the connection (it refuses the
        next) or that cannot be reached and was not lost moments ago."""
        with self._changed:
            if self._connected or self._refusal:
                return self._connected
            lost_at = self._lost_at
        restarting = lost_at is not None and time.monotonic() - lost_at < RESTART_SECONDS
        if not restarting and self._unreachable():
            return False
        with self._changed:
            self._wait(
                lambda: self._connected or self._refusal, CONNECTION_WAIT, self._changed.wait
            )
            return self._connected

    def _wait(
        self, done: Callable[[], object], seconds: float, sleep: Callable[[float], object]
    ) -> None:
        """Until `done()`, for up to `seconds`, sleeping with `sleep(timeout)` (which may wake
        early); at most CANCEL_POLL longer once the call is cancelled."""
        deadline = time.monotonic() + seconds
        cancelled = self.context.cancelled
        while not done() and not cancelled.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sleep(min(left, CANCEL_POLL))

    def _raise_if_cancelled(self, when: str) -> None:
        """SkillError saying `when` the call was cancelled, if it was (a wait for the broker
        ended for it)."""
        if self.context.cancelled.is_set():
            raise SkillError(
                f"Lights: cancelled (skill_timeout, reload or shutdown) {when}",
                spoken="Lights command cancelled",
            )

    def _message(self, what: str, percent: int) -> tuple[str, str]:
        step = self.context.settings["step"]
        values = {
            "device": self.context.settings["device"],
            "step": step,
            "step_254": round(step * 254 / 100),
            "percent": percent,
            "value_254": round(percent * 254 / 100),
        }
        template = self.templates[what]
        return (
            Template(template["topic"]).substitute(values),
            Template(template["payload"]).substitute(values),
        )

    @classmethod
    def check_settings(cls, settings: Mapping[str, Any]) -> None:
        _templates(settings)
        problem = ca_file_problem(settings["tls"], settings["ca_file"])
        if problem:
            raise SettingValueError(problem, "ca_file")

    def _why_not_connected(self) -> str:
        if self._refusal:
            return f"the broker at {self.broker} refused the connection: {self._refusal}"
        reason = self._unreachable()
        if reason:
            return f"cannot reach the MQTT broker at {self.broker} ({reason}); is it running?"
        return f"not connected to the MQTT broker at {self.broker} yet; try again"

    def _unreachable(self) -> str:
        """Why the broker's port cannot be connected to now ("": it can)."""
        host, port = self.context.settings["host"], self.context.settings["port"]
        try:
            socket.create_connection((host, port), timeout=1.0).close()
        except OSError as error:
            return error.strerror or str(error)
        return ""

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            refusal = str(reason_code)
            if reason_code.value in (0x86, 0x87, 4, 5):  # bad credentials / not authorised
                refusal += " (check skills.lights.username and password)"
            if refusal != self._refusal:  # once, not at every attempt
                self.context.log.warning("MQTT broker %s refused us: %s", self.broker, refusal)
            with self._changed:
                self._refusal = refusal
                self._changed.notify_all()
            return
        self._failure_logged = False
        with self._changed:
            self._refusal = ""
            self._connected = True
            self._changed.notify_all()
        self.context.log.info("connected to the MQTT broker at %s", self.broker)

    def _not_connected(self) -> str:
        """Why the broker is not connected, for the log and `assistant status`."""
        return self._why_not_connected().replace("; try again", "")

    def _on_connect_fail(self, client, userdata) -> None:
        if not self._failure_logged:
            self._failure_logged = True
            self.context.log.warning("%s (retrying in the background)", self._not_connected())

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._changed:
            was_connected, self._connected = self._connected, False
            if was_connected:
                self._lost_at = time.monotonic()
        if was_connected:
            self.context.log.warning("lost the MQTT broker at %s; reconnecting", self.broker)


def _templates(settings: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The preset's messages with the configured ones laid over; SettingValueError naming the
    template that cannot be used."""
    merged = {name: dict(message) for name, message in PRESETS[settings["preset"]].items()}
    for name, message in settings["templates"].items():
        if name not in ACTIONS:
            raise SettingValueError(
                f"templates: unknown action {name!r}; {valid_choices(name, ACTIONS)}",
                f"templates.{name}",
            )
        if not isinstance(message, dict) or set(message) - {"topic", "payload"}:
            raise SettingValueError(
                f"templates.{name}: expected a mapping with topic and payload", f"templates.{name}"
            )
        merged[name].update({key: str(value) for key, value in message.items()})
    probe = {"device": "x", "step": 1, "step_254": 1, "percent": 1, "value_254": 1}
    for name, message in merged.items():
        for part, text in message.items():
            try:
                Template(text).substitute(probe)
            except (KeyError, ValueError) as error:
                raise SettingValueError(
                    f"templates.{name}.{part}: bad placeholder {error} in "
                    f"{text!r}; valid: $device, $step, $step_254, $percent, $value_254",
                    f"templates.{name}.{part}",
                ) from None
    return merged
