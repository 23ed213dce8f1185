"""The `mqtt:` section of config.yaml and its validated form."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.plugin import (
    MQTT_CONNECTION_SETTINGS,
    MQTT_RECONNECT_MAX,
    MQTT_RECONNECT_MIN,
    Setting,
    SettingValueError,
    ca_file_problem,
)
from assistant.rooms.topics import Topics, check_level
from assistant.settings import validate_settings

MQTT_SETTINGS = (
    *MQTT_CONNECTION_SETTINGS,
    Setting("topic_prefix", str, "assistant", "first level of every topic"),
    Setting("discovery", bool, True, "announce each room to Home Assistant (MQTT discovery)"),
    Setting("discovery_prefix", str, "homeassistant", "Home Assistant's discovery prefix"),
    Setting(
        "dedup_window",
        float,
        0.3,
        "seconds in which one word heard in two rooms runs once",
        minimum=0,
        maximum=60,
    ),
    Setting(
        "max_delay",
        float,
        60.0,
        "detections held longer than this (no hub) are dropped",
        minimum=0,
        maximum=3600,
    ),
    Setting(
        "keepalive",
        int,
        30,
        "seconds between keep-alive pings to the broker",
        minimum=5,
        maximum=65535,  # the most MQTT's CONNECT packet can carry
    ),
    Setting(
        "reconnect_min",
        float,
        MQTT_RECONNECT_MIN,
        "first wait before reconnecting, doubled each failure",
        minimum=0,
        maximum=3600,
    ),
    Setting(
        "reconnect_max",
        float,
        MQTT_RECONNECT_MAX,
        "longest wait between reconnection attempts",
        maximum=3600,
    ),
)


class MqttSettingsError(SettingValueError):
    """A value of the `mqtt:` section that has the right type but cannot work."""


@dataclass(frozen=True)
class MqttSettings:
    """The `mqtt:` section; the defaults and bounds live in MQTT_SETTINGS (build it with
    from_section, which checks them)."""

    host: str
    port: int
    username: str
    password: str
    tls: bool
    ca_file: str
    topic_prefix: str
    discovery: bool
    discovery_prefix: str
    dedup_window: float
    max_delay: float
    keepalive: int
    reconnect_min: float
    reconnect_max: float

    def __post_init__(self) -> None:
        if self.reconnect_max < self.reconnect_min:
            raise MqttSettingsError(
                f"mqtt.reconnect_max ({self.reconnect_max:g}; the default is "
                f"{MQTT_RECONNECT_MAX:g}) must be at least mqtt.reconnect_min "
                f"({self.reconnect_min:g}): raise reconnect_max or lower reconnect_min",
                "reconnect_max",
            )
        ca_file = ca_file_problem(self.tls, self.ca_file)
        if ca_file:
            raise MqttSettingsError(f"mqtt.{ca_file}", "ca_file")
        for name, check in (
            ("topic_prefix", Topics),
            ("discovery_prefix", lambda value: check_level(value, "mqtt.discovery_prefix")),
        ):
            try:
                check(getattr(self, name))
            except ValueError as error:
                raise MqttSettingsError(str(error), name) from None

    @classmethod
    def from_section(cls, values: Mapping[str, Any]) -> MqttSettings:
        """From the `mqtt:` section (Config.sections["mqtt"], or any subset of it)."""
        checked, problems = validate_settings(values, MQTT_SETTINGS)
        if problems:
            raise MqttSettingsError("; ".join(f"mqtt: {p.message}" for p in problems))
        return cls(**checked)

    @property
    def broker(self) -> str:
        return f"{self.host}:{self.port}"

    def clearing_command(self, topic: str) -> str:
        """The mosquitto_pub line that clears a retained message on `topic` at this broker,
        logged in as the assistant is (the password left for the user to type)."""
        words = ["mosquitto_pub", "-h", self.host, "-p", str(self.port)]
        if self.username:
            words += ["-u", self.username, "-P", "PASSWORD"]
        if self.tls:
            words += ["--cafile", self.ca_file] if self.ca_file else ["--capath", "/etc/ssl/certs"]
        return shlex.join([*words, "-r", "-n", "-t", topic])
