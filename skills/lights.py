"""Lights over MQTT: on, off, brighter, dimmer and a spoken level ("fifty percent").

Each action publishes one message whose topic and payload come from a preset (Zigbee2MQTT or
Tasmota) or from the `templates` setting. Templates are `string.Template`s; they may use
$device, $step (percent), $step_254, $percent and $value_254. $device is the device of the room
the command was heard in (its site) when `rooms` names one, else `device`. The messages go
through the skill's connection from the plugin API (`context.connect_mqtt()`), which reconnects
by itself and waits for a connection that may come: each is sent, or fails clearly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from string import Template
from typing import Any

from assistant.plugin import (
    AMOUNT_WORDS,
    MQTT_CONNECTION_SETTINGS,
    CommandEvent,
    MqttError,
    Setting,
    SettingValueError,
    Skill,
    SkillError,
    action,
    ca_file_problem,
    parse_amount,
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
UNREACHABLE = "I cannot reach the lights"
"""Said when a message cannot reach the broker (the log has the broker and why)."""
SPOKEN = {
    "unreachable": UNREACHABLE,
    "unconfirmed": "The lights did not answer",
    "cancelled": "Lights command cancelled",
}
"""What is said for each kind of MqttError."""


class LightsSkill(Skill):
    name = "lights"
    description = "switches and dims lights over MQTT (Zigbee2MQTT, Tasmota or custom)"
    settings = (
        *(
            replace(setting, formerly=("ca_certs",)) if setting.name == "ca_file" else setting
            for setting in MQTT_CONNECTION_SETTINGS
        ),
        Setting("preset", str, "zigbee2mqtt", "message format", choices=tuple(PRESETS)),
        Setting(
            "device",
            str,
            "living_room",
            "Zigbee2MQTT friendly name or Tasmota topic (of the rooms not in `rooms`)",
        ),
        Setting(
            "rooms",
            dict,
            {},
            "device of each room (a command's site), e.g. {kitchen: kitchen_ceiling}",
            values=str,
        ),
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
            "listen_seconds",
            float,
            4.0,
            "how long `level` listens for a spoken level",
            minimum=0.5,
            maximum=60,
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
        self.mqtt = self.context.connect_mqtt()

    def stop(self) -> None:
        self.mqtt.stop()

    @property
    def connected(self) -> bool:
        return self.mqtt.connected

    def status_lines(self) -> list[str]:
        """For `assistant status`: the broker, and whether it is connected (else why not);
        with `rooms`, the device of each room."""
        rooms = self.context.settings["rooms"]
        if not rooms:
            return self.mqtt.status()
        devices = [f"{device} in {room}" for room, device in rooms.items()]
        other = f"{self.context.settings['device']} in other rooms"
        return [*self.mqtt.status(), f"devices: {', '.join([*devices, other])}"]

    @action(help="Switch the lights on")
    def on(self, event: CommandEvent) -> str:
        return self._switched(event, "on")

    @action(help="Switch the lights off")
    def off(self, event: CommandEvent) -> str:
        return self._switched(event, "off")

    @action(help="Make the lights brighter by one step")
    def brighter(self, event: CommandEvent) -> None:
        self._publish("brighter", event)

    @action(help="Make the lights dimmer by one step")
    def dimmer(self, event: CommandEvent) -> None:
        self._publish("dimmer", event)

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
        return self._switched(event, "level", f"at {percent} percent", percent)

    def _switched(self, event: CommandEvent, what: str, done: str = "", percent: int = 0) -> str:
        """Publish `what` for the room of `event`; the reply: "Lights <done>" (`what` by
        default), or with `rooms` the device's name ("Kitchen ceiling on")."""
        device = self._publish(what, event, percent)
        named = device.replace("_", " ") if self.context.settings["rooms"] else "lights"
        return f"{named[:1].upper()}{named[1:]} {done or what}"

    def _publish(self, what: str, event: CommandEvent, percent: int = 0) -> str:
        """Publish `what` to the device of `event`'s room, and return the device."""
        settings = self.context.settings
        device: str = settings["rooms"].get(event.site, settings["device"])
        try:
            self.mqtt.publish(*self._message(what, device, percent))
        except MqttError as error:
            raise SkillError(f"Lights: {error}", spoken=SPOKEN[error.kind]) from None
        return device

    def _message(self, what: str, device: str, percent: int) -> tuple[str, str]:
        step = self.context.settings["step"]
        values = {
            "device": device,
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
