"""`assistant rooms forget`: clear from the broker what this machine left retained there (its
status and its Home Assistant discovery configs), so that Home Assistant drops its device, before
the assistant is uninstalled or a room is retired. The broker keeps a retained message until it
is cleared, whether or not the machine that sent it still exists."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from assistant.config import Config, model_commands
from assistant.rooms.discovery import config_topic
from assistant.rooms.home_assistant import RetainedRecord
from assistant.rooms.mqtt_client import MqttConnection
from assistant.rooms.settings import MqttSettings
from assistant.rooms.topics import Topics

ROLES_WITH_A_BROKER = ("satellite", "hub")
TIMEOUT = 10.0
"""Seconds to wait for the one attempt to connect to the broker, then for it to confirm the
clears."""


def left_on_broker(config: Config, state_dir: Path) -> tuple[list[RetainedRecord], set[str]]:
    """The records of retained topics in `state_dir` (one per role), and every topic this
    machine may have left retained: those recorded, and those of `config`'s role and site."""
    records = [
        RetainedRecord(state_dir / f"home-assistant-{role}.json") for role in ROLES_WITH_A_BROKER
    ]
    topics: set[str] = set().union(*(record.load() for record in records))
    if config.role in ROLES_WITH_A_BROKER:
        settings = MqttSettings.from_section(config.sections["mqtt"])
        wire = Topics(settings.topic_prefix)
        topics.add(wire.hub_status if config.role == "hub" else wire.status(config.site))
        prefix = settings.discovery_prefix
        commands = config.model_commands or model_commands()
        topics |= {config_topic(prefix, wire, config.site, command) for command in commands}
    return records, topics


def clear_retained(settings: MqttSettings, topics: set[str], timeout: float = TIMEOUT) -> set[str]:
    """Publish an empty retained message on each of `topics` at the broker of `settings`; the
    topics whose clear the broker confirmed. ConnectionError, saying why, when the one attempt
    to connect fails or has no answer within `timeout`."""
    connection = MqttConnection(settings, f"assistant-forget-{settings.topic_prefix}", once=True)
    connection.start()
    try:
        if not connection.wait_settled(timeout):
            raise ConnectionError(
                f"the MQTT broker at {settings.broker} did not answer within {timeout:g} s: is "
                "mqtt.host the broker's machine, and does a firewall let its port through?"
            )
        if not connection.connected:
            raise ConnectionError(connection.problem)
        sent = {topic: connection.publish(topic, b"", retain=True) for topic in sorted(topics)}
        deadline = time.monotonic() + timeout
        for info in sent.values():
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        return {topic for topic, info in sent.items() if info.is_published() and info.rc == 0}
    finally:
        connection.stop()


def forget(config: Config, config_file: Path, state_dir: Path) -> int:
    """Clear what `left_on_broker` names (the caller holds the instance lock: a running
    assistant would announce it all again) and take it off the records; print what was cleared.
    Exit status 1 when the broker cannot be reached or does not confirm every clear."""
    records, topics = left_on_broker(config, state_dir)
    if not topics:
        print(f"nothing to clear: role {config.role} in {config_file}, and no topics recorded")
        return 0
    settings = MqttSettings.from_section(config.sections["mqtt"])
    try:
        cleared = clear_retained(settings, topics)
    except ConnectionError as error:
        print(f"{error}\nnothing was cleared (the mqtt: section of {config_file})", file=sys.stderr)
        return 1
    for record in records:
        if record.path and record.path.exists():
            record.save(record.load() - cleared)
    print(f"cleared {len(cleared)} retained message(s) at the MQTT broker at {settings.broker}:")
    print(*sorted(cleared), sep="\n")
    left = sorted(topics - cleared)
    if left:
        print("not confirmed by the broker (run it again):", *left, sep="\n", file=sys.stderr)
        return 1
    return 0
