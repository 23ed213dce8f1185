"""Home Assistant MQTT discovery payloads: a machine (satellite or hub) announces its site as a
device with one `event` entity per command, so Home Assistant automations can react to what each
room hears. `home_assistant` publishes them."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from assistant import PACKAGE
from assistant.plugin import CommandEvent
from assistant.rooms.topics import OFFLINE, ONLINE, Topics
from assistant.version import installed_version

EVENT_TYPE = "detected"
"""The Home Assistant event type of every detection."""


def node_id(topics: Topics, site: str) -> str:
    """The device's id in Home Assistant: the topic prefix and the site (`assistant_kitchen`
    with the default prefix), so homes with their own prefix can share a broker; letters,
    digits, `_` and `-` only. A name with other characters has them made `_` and a short hash
    of the name as written added (`assistant_living_room_<6 hex digits>` for `living room`), so
    two sites that differ only there (`living room`, `living_room`) are distinct devices."""
    name = f"{topics.prefix}_{site}"
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    if slug == name:
        return slug
    return f"{slug}_{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def config_topic(discovery_prefix: str, topics: Topics, site: str, command: str) -> str:
    return f"{discovery_prefix}/event/{node_id(topics, site)}/{command}/config"


@dataclass(frozen=True)
class Device:
    """What one machine announces: the site its board listens in, the commands it can hear,
    its role (`satellite` or `hub`) and the retained `online`/`offline` topic that says
    whether it runs."""

    site: str
    commands: tuple[str, ...]
    role: str
    availability_topic: str


def discovery_messages(
    topics: Topics, discovery_prefix: str, device: Device
) -> list[tuple[str, bytes]]:
    """The retained (topic, payload) configuration messages announcing `device`."""
    site = device.site
    node = node_id(topics, site)
    sw_version = installed_version()  # a version alone: no checkout's commit
    about = {
        "identifiers": [node],
        "name": f"Voice commands {site}",
        "manufacturer": PACKAGE,
        "model": f"Voice command {device.role}",
        "sw_version": sw_version,
        "suggested_area": site,
    }
    messages = []
    for command in device.commands:
        entity = {
            "name": f"Heard {command}",
            "unique_id": f"{node}_{command}",
            "state_topic": topics.event(site, command),
            "event_types": [EVENT_TYPE],
            "availability_topic": device.availability_topic,
            "payload_available": ONLINE.decode(),
            "payload_not_available": OFFLINE.decode(),
            "qos": 1,
            "device": about,
            "origin": {"name": PACKAGE, "sw_version": sw_version},
        }
        messages.append(
            (config_topic(discovery_prefix, topics, site, command), json.dumps(entity).encode())
        )
    return messages


def encode_event(event: CommandEvent) -> bytes:
    """The message that fires the event entity of `event.command`."""
    body = {"event_type": EVENT_TYPE, "score": round(event.score, 4), "source": event.source}
    return json.dumps(body).encode()
