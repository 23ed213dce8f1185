"""Two whole assistants through a real mosquitto: a satellite's virtual board hears a command,
the hub's skill runs it, and the reply is spoken by the satellite."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

from mosquitto import Mosquitto, Recorder, retained
from runtime_skills import INSTALLED
from waiting import wait_until

from assistant.config import load_config
from assistant.control import Forwarded
from assistant.daemon import Assistant
from assistant.plugin import CommandEvent
from assistant.rooms.discovery import config_topic
from assistant.rooms.topics import Topics

CONFIG = """
role: {role}
site: {site}
source: emulator
cooldown: 0
emulator: {{heartbeat_ms: 200}}
mqtt: {{host: 127.0.0.1, port: {port}, reconnect_min: 0.05, dedup_window: {window},
       discovery: {discovery}}}
commands:
  on: {{action: recorder.bright, with: {{level: 7}}}}
  off: {{do: recorder.dim, cooldown: 30}}
  up: {{do: recorder.dim, min_score: 0.95}}
skills:
  recorder: {{prefix: did}}
speech: {{acknowledge: tone}}
"""


def start_assistant(
    tmp_path: Path,
    role: str,
    site: str,
    port: int,
    discovery: bool = True,
    window: float = 0.2,
    speaker: bool = False,
) -> Assistant:
    """An assistant of `role` in `site`, its replies in `.replies`; or, with `speaker`, said by
    the real speaker (on the stand-in sound card of `audio_output`; one such assistant at most
    per test: pyttsx3 keeps one engine)."""
    path = tmp_path / f"{site}.yaml"
    text = CONFIG.format(
        role=role, site=site, port=port, window=window, discovery=str(discovery).lower()
    )
    path.write_text(textwrap.dedent(text))
    replies: list[str] = []
    speak = None if speaker else replies.append
    assistant = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path / site, speak)
    assistant.replies = replies
    assistant.start()
    assistant.open_default_sources()
    assert assistant.sources[0].session.greeted.wait(5)  # as tests/test_daemon.py's fixture
    return assistant


def test_a_satellites_command_runs_on_the_hub_and_is_answered_on_the_satellite(
    tmp_path: Path, broker: Mosquitto
) -> None:
    hub = start_assistant(tmp_path, "hub", "hall", broker.port)
    satellite = start_assistant(tmp_path, "satellite", "kitchen", broker.port)
    try:
        assert wait_until(lambda: satellite.room.hub_online)
        satellite.virtual_board.detect("on", 0.93)
        recorder = hub.host.skills["recorder"]
        assert recorder.called.wait(5)
        assert recorder.calls == [("bright", "on", 7)]
        assert wait_until(lambda: satellite.replies == ["did bright 7"])
        assert hub.replies == []
        assert satellite.host.skills == {}  # a satellite leaves the skills to the hub
        sent = CommandEvent("on", 1.0, "assistant send", "hall", time.monotonic())
        assert [f.result(5) for f in hub.run_sent_command(sent)] == ["did bright 7"]
        sent = CommandEvent("on", 1.0, "assistant send", "kitchen", time.monotonic())
        assert satellite.run_sent_command(sent) == Forwarded(hub_online=True)
        assert wait_until(lambda: len(recorder.calls) == 3)
        hub.stop()
        assert wait_until(lambda: not satellite.room.hub_online)
        queued = satellite.run_sent_command(sent)
        assert str(queued).startswith("queued: the hub is offline")
    finally:
        satellite.stop()
        hub.stop()


def shown(assistant: Assistant) -> dict[str, str]:
    """Its `assistant status`, one line with the pid first, as {name: value} (the link's
    counters, which have no name, left out)."""
    status = assistant.status()
    assert "\n" not in status and status.startswith(f"pid: {os.getpid()}\t")
    return dict(part.split(": ", 1) for part in status.split("\t") if ": " in part)


def shows(assistant: Assistant, **parts: str) -> bool:
    """Whether its status shows these parts (a name's spaces written as _)."""
    status = shown(assistant)
    return all(status.get(name.replace("_", " ")) == value for name, value in parts.items())


def test_status_shows_the_role_the_peers_the_counters_and_the_broker_as_they_change(
    tmp_path: Path, broker: Mosquitto
) -> None:
    topics = Topics("assistant")
    connected = f"127.0.0.1:{broker.port} connected, reconnections 0"
    satellite = start_assistant(tmp_path, "satellite", "kitchen", broker.port)
    hub = None
    other = Recorder(broker, "nothing/here")  # another client of the broker
    try:
        assert satellite.room.connection.wait_connected(5)
        assert shows(satellite, role="satellite", site="kitchen", broker=connected)
        satellite.virtual_board.detect("on", 0.93)
        pending = "pending 1, forwarded 1, acknowledged 0, dropped 0"
        assert wait_until(lambda: shows(satellite, detections_to_the_hub=pending))
        assert shows(satellite, hub="OFFLINE (detections wait)", messages_ignored="0")

        hub = start_assistant(tmp_path, "hub", "hall", broker.port)
        acknowledged = "pending 0, forwarded 1, acknowledged 1, dropped 0"
        assert wait_until(lambda: shows(satellite, detections_to_the_hub=acknowledged))
        spoken = "received 1, spoken 1, late 0, repeated 0"
        assert wait_until(lambda: shows(satellite, replies_from_the_hub=spoken))
        assert shows(satellite, hub="online")
        assert shows(
            hub,
            role="hub",
            site="hall",
            satellites_online="kitchen",
            detections_from_the_rooms="received 1, repeated 0, stale 0, dispatched 1",
            broker=connected,
            messages_ignored="0",
        )

        other.client.publish(topics.ack("kitchen"), b"[]", qos=1).wait_for_publish(5)
        other.client.publish(topics.detection("kitchen", "on"), b"on", qos=1)
        assert wait_until(lambda: shows(satellite, messages_ignored="1 (malformed-ack 1)"))
        assert wait_until(lambda: shows(hub, messages_ignored="1 (malformed-detection 1)"))

        broker.stop()
        lost = f"127.0.0.1:{broker.port} NOT CONNECTED (retrying), reconnections 0"
        assert wait_until(lambda: shows(satellite, broker=lost, hub="OFFLINE (detections wait)"))
        assert wait_until(lambda: shows(hub, broker=lost))
        broker.start()
        again = connected.replace("reconnections 0", "reconnections 1")
        assert wait_until(lambda: shows(satellite, broker=again, hub="online"))
        assert wait_until(lambda: shows(hub, broker=again, satellites_online="kitchen"))
    finally:
        other.close()
        satellite.stop()
        if hub:
            hub.stop()


def test_what_the_hubs_board_hears_or_is_sent_fires_home_assistant_until_discovery_is_off(
    tmp_path: Path, broker: Mosquitto
) -> None:
    event_topic = Topics("assistant").event("hall", "on")
    events = Recorder(broker, event_topic)
    hub = start_assistant(tmp_path, "hub", "hall", broker.port)
    try:
        assert hub.room.connection.wait_connected(5)
        hub.virtual_board.detect("on", 0.93)
        assert [topic for topic, _ in events.wait_for(1)] == [event_topic]
        assert hub.host.skills["recorder"].called.wait(5)
        sent = CommandEvent("on", 1.0, "control socket", "hall", time.monotonic())
        assert [f.result(5) for f in hub.run_sent_command(sent)] == ["did bright 7"]
        [_, (_, payload)] = events.wait_for(2)  # as a satellite does with a sent command
        assert json.loads(payload)["source"] == "control socket"
        entity = json.loads(
            retained(broker, "homeassistant")[
                config_topic("homeassistant", Topics("assistant"), "hall", "on")
            ]
        )
        assert entity["state_topic"] == event_topic
    finally:
        hub.stop()
        events.close()
    hub = start_assistant(tmp_path, "hub", "hall", broker.port, discovery=False)
    try:
        assert wait_until(lambda: retained(broker, "homeassistant") == {}), "entities left"
    finally:
        hub.stop()


def test_the_single_role_needs_no_broker(tmp_path: Path) -> None:
    unused_port = 9  # nothing listens there; single must not try
    assistant = start_assistant(tmp_path, "single", "desk", unused_port)
    try:
        assert assistant.room is None
        assistant.virtual_board.detect("on", 0.93)
        assert wait_until(lambda: assistant.replies == ["did bright 7"])
    finally:
        assistant.stop()
