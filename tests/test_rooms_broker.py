"""A hub and two satellites through a real mosquitto on 127.0.0.1: routing, de-duplication,
broker restart, credentials, Home Assistant discovery and the last will."""

from __future__ import annotations

import gc
import json
import logging
import os
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from held_event import AnnouncedLock, HeldAtFirstCheck
from held_proxy import HeldProxy
from manual_clock import Clock
from mosquitto import Mosquitto, Recorder, retained
from waiting import wait_until

from assistant.config import model_commands
from assistant.plugin import MQTT_RECONNECT_MAX, CommandEvent, tls_context
from assistant.ratelimit import WarningLimiter
from assistant.rooms import hub as hub_module
from assistant.rooms import mqtt_client
from assistant.rooms import satellite as satellite_module
from assistant.rooms import topics as wire
from assistant.rooms.discovery import config_topic
from assistant.rooms.home_assistant import BIRTH_INTERVAL
from assistant.rooms.hub import Hub
from assistant.rooms.ignored import MESSAGE_WARNINGS_PER_MINUTE
from assistant.rooms.mqtt_client import MqttConnection
from assistant.rooms.satellite import Satellite
from assistant.rooms.settings import MqttSettings

REPO = Path(__file__).resolve().parent.parent
WINDOW = 0.3
USERS = {"assistant": "correct horse"}


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "broker") as broker:
        yield broker


@pytest.fixture
def mosquitto_with_users(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "broker", users=USERS) as broker:
        yield broker


def broker_log(broker: Mosquitto) -> str:
    return (broker.workdir / "mosquitto.log").read_text(errors="replace")


class Collector:
    """Things received on other threads, with a wait for the n-th."""

    def __init__(self) -> None:
        self.items: list = []
        self._changed = threading.Condition()

    def add(self, item: object) -> None:
        with self._changed:
            self.items.append(item)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list:
        with self._changed:
            self._changed.wait_for(lambda: len(self.items) >= count, timeout)
            return list(self.items)


DEFAULT_TOPICS = wire.Topics("assistant")


def settings_for(broker: Mosquitto, **overrides: object) -> MqttSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": broker.port,
        "reconnect_min": 0.05,
        "reconnect_max": 0.5,
        "dedup_window": WINDOW,
    }
    if broker.users:
        values["username"], values["password"] = next(iter(broker.users.items()))
    return MqttSettings.from_section({**values, **overrides})


def event(command: str, site: str, score: float = 0.9, heard: float | None = None) -> CommandEvent:
    heard = time.monotonic() if heard is None else heard
    return CommandEvent(command, score, "board", site, received=heard, seq=7, device_ms=1000)


@dataclass
class Rooms:
    broker: Mosquitto
    hub: Hub
    kitchen: Satellite
    office: Satellite
    dispatched: Collector = field(default_factory=Collector)
    spoken: Collector = field(default_factory=Collector)


@pytest.fixture
def rooms(mosquitto_with_users: Mosquitto) -> Iterator[Rooms]:
    """A hub (site hall, no board of its own) and satellites in the kitchen and the office, all
    logged in to a broker that requires a password."""
    dispatched, spoken = Collector(), Collector()
    settings = settings_for(mosquitto_with_users)

    def speaker(site: str) -> Callable[[str], None]:
        return lambda text: spoken.add((site, text))

    hub = Hub(settings, "hall", dispatched.add, speaker("hall"), listens_locally=False)
    kitchen = Satellite(settings, "kitchen", speaker("kitchen"))
    office = Satellite(settings, "office", speaker("office"))
    everything = (hub, kitchen, office)
    for part in everything:
        part.start()

    def ready() -> bool:
        return (
            hub.online_sites == {"kitchen", "office"} and kitchen.hub_online and office.hub_online
        )

    assert wait_until(ready), "hub and satellites did not meet on the broker"
    yield Rooms(mosquitto_with_users, hub, kitchen, office, dispatched, spoken)
    for part in reversed(everything):
        part.stop()


def test_a_detection_runs_on_the_hub_and_its_reply_is_spoken_where_it_was_heard(
    rooms: Rooms,
) -> None:
    rooms.kitchen.forward(event("go", "kitchen", 0.91))
    [heard] = rooms.dispatched.wait_for(1)
    assert (heard.command, heard.site, heard.score, heard.seq) == ("go", "kitchen", 0.91, 7)
    assert heard.source == "kitchen/board"

    rooms.hub.reply("Timer started", heard.site)
    rooms.hub.reply("Lights are on", None)
    rooms.hub.reply("Volume up", "hall")
    spoken = rooms.spoken.wait_for(3)
    assert sorted(spoken) == [
        ("hall", "Lights are on"),
        ("hall", "Volume up"),
        ("kitchen", "Timer started"),
    ]
    assert wait_until(lambda: rooms.kitchen.pending == 0)


def test_the_hub_knows_whether_a_command_was_heard_from_the_satellite_not_its_source_name(
    rooms: Rooms,
) -> None:
    """Whether a board or microphone heard the command (which decides the acknowledgement) is
    the satellite's word, whatever its source is called."""
    now = time.monotonic()
    rooms.kitchen.forward(CommandEvent("on", 0.9, "usb microphone", "kitchen", now, heard=True))
    rooms.office.forward(CommandEvent("off", 0.9, "board", "office", now, heard=False))
    dispatched = rooms.dispatched.wait_for(2)
    assert sorted((e.command, e.source, e.heard) for e in dispatched) == [
        ("off", "office/board", False),
        ("on", "kitchen/usb microphone", True),
    ]


def test_a_reply_for_a_room_that_went_offline_is_spoken_on_the_hub_with_a_warning(
    rooms: Rooms, caplog: pytest.LogCaptureFixture
) -> None:
    rooms.office.stop()
    assert wait_until(lambda: "office" not in rooms.hub.online_sites)
    with caplog.at_level(logging.WARNING, logger="assistant.hub"):
        rooms.hub.reply("Timer done", "office")
    assert rooms.spoken.wait_for(1) == [("hall", "Timer done")]
    assert "site 'office' is offline; speaking its reply here: Timer done" in caplog.text


def sends_without_delay(part: Hub | Satellite) -> bool:
    """Whether the connection's socket has Nagle's algorithm off (TCP_NODELAY)."""
    sock = part.connection._client.socket()  # the socket paho connected with
    return sock is not None and sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_every_connection_sends_its_packets_without_waiting_for_the_previous_ones(
    rooms: Rooms,
) -> None:
    """With Nagle's algorithm, a satellite's Home Assistant event, written right after its
    detection, held the next detection back until the broker's delayed TCP acknowledgement."""
    parts = (rooms.hub, rooms.kitchen, rooms.office)
    assert all(sends_without_delay(part) for part in parts)
    connections = [part.connection.connections for part in parts]
    rooms.broker.stop()
    rooms.broker.start()

    def reconnected() -> bool:
        return all(
            part.connection.connected and part.connection.connections > before
            for part, before in zip(parts, connections, strict=True)
        )

    assert wait_until(reconnected), "not connected again after the broker restart"
    assert all(sends_without_delay(part) for part in parts), "lost on reconnection"


def test_a_word_heard_in_two_rooms_runs_once_from_the_room_that_heard_it_best(
    rooms: Rooms,
) -> None:
    now = time.monotonic()
    rooms.kitchen.forward(event("on", "kitchen", 0.82, now - 0.1))
    rooms.office.forward(event("on", "office", 0.97, now - 0.05))
    rooms.office.forward(event("off", "office", 0.85, now))
    rooms.kitchen.forward(event("off", "kitchen", 0.93, now))
    rooms.dispatched.wait_for(2)
    assert wait_until(lambda: rooms.hub.stats.received == 4)
    # heard in one room only, so run once its window has passed, after any group of the four
    # due before it (a word run twice would be); the hub runs each group in turn
    rooms.kitchen.forward(event("go", "kitchen"))
    assert wait_until(lambda: "go" in [e.command for e in rooms.dispatched.items])
    words = [e for e in rooms.dispatched.items if e.command != "go"]
    assert sorted((e.command, e.site, e.score) for e in words) == [
        ("off", "kitchen", 0.93),
        ("on", "office", 0.97),
    ]


def test_a_word_heard_in_one_room_runs_after_the_window(mosquitto: Mosquitto) -> None:
    """Words heard in one room of two wait for the other room's report until their window has
    passed, then run in the order they were heard. The hub and the satellites share one clock,
    which passes only when the test says: the ages the satellites send are measured on it too,
    so a busy machine holding a thread between hearing a word and sending it changes nothing."""
    settings = settings_for(mosquitto)
    clock = Clock()
    dispatched = Collector()
    hub = Hub(settings, "hall", dispatched.add, print, listens_locally=False, clock=clock)
    office = Satellite(settings, "office", print, clock=clock)
    kitchen = Satellite(settings, "kitchen", print, clock=clock)
    for part in (hub, office, kitchen):
        part.start()
    try:
        assert wait_until(lambda: hub.online_sites == {"kitchen", "office"} and office.hub_online)
        office.forward(event("up", "office", 0.88, heard=clock.now))
        assert wait_until(lambda: hub.stats.received == 1)
        clock.now += WINDOW / 3  # "down" is heard a moment after "up", within its window
        office.forward(event("down", "office", 0.88, heard=clock.now))
        assert wait_until(lambda: hub.stats.received == 2)  # taken in turn: "up" is held
        assert dispatched.items == []
        clock.now += WINDOW  # both windows have passed
        heard = [(e.command, e.site) for e in dispatched.wait_for(2)]
        assert heard == [("up", "office"), ("down", "office")]
    finally:
        for part in (kitchen, office, hub):
            part.stop()


def test_a_broker_restart_loses_no_detections(rooms: Rooms) -> None:
    rooms.broker.stop()
    assert wait_until(lambda: not rooms.kitchen.hub_online and not rooms.office.hub_online)
    start = time.monotonic()
    for seconds_ago in (3, 2, 1):  # further apart than the window: three words each
        rooms.kitchen.forward(event("up", "kitchen", heard=start - seconds_ago))
        rooms.office.forward(event("down", "office", heard=start - seconds_ago))
    rooms.broker.start()
    dispatched = rooms.dispatched.wait_for(6, timeout=10)
    assert (
        sorted((e.command, e.site) for e in dispatched)
        == [("down", "office")] * 3 + [("up", "kitchen")] * 3
    )
    assert wait_until(lambda: rooms.kitchen.pending == rooms.office.pending == 0)
    assert wait_until(lambda: rooms.hub.online_sites == {"kitchen", "office"})


def test_a_wrong_password_gives_one_clear_message_and_retries(
    mosquitto_with_users: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="assistant.mqtt")
    settings = settings_for(mosquitto_with_users, password="wrong", reconnect_max=0.1)
    satellite = Satellite(settings, "attic", print)
    satellite.start()
    try:
        refused = lambda: broker_log(mosquitto_with_users).count("not authorised") >= 3  # noqa: E731
        assert wait_until(refused), "the satellite did not keep retrying"
        assert not satellite.connection.connected
    finally:
        satellite.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    user = next(iter(USERS))
    assert f"refused the connection (user '{user}'): Not authorized" in errors[0]
    assert "mqtt.username and mqtt.password" in errors[0]


def test_an_unreachable_broker_gives_one_clear_message_and_is_joined_once_it_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="assistant.mqtt")
    broker = Mosquitto(tmp_path / "later")
    hub = Hub(settings_for(broker, reconnect_max=0.1), "hall", print, print)
    hub.start()
    try:
        # each failed attempt is logged, the repeats at DEBUG
        refused = lambda: caplog.text.count("cannot reach the MQTT broker") >= 3  # noqa: E731
        assert wait_until(refused), "the hub did not keep retrying"
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [
            f"cannot reach the MQTT broker at 127.0.0.1:{broker.port}: [Errno 111] Connection "
            "refused. Is the broker running, and are mqtt.host and mqtt.port right?; retrying "
            "until it works"
        ]
        with broker:
            assert hub.connection.wait_connected(5)
    finally:
        hub.stop()


SATELLITE_PROCESS = """
import sys, threading
from assistant.rooms.satellite import Satellite
from assistant.rooms.settings import MqttSettings
settings = MqttSettings.from_section({"host": "127.0.0.1", "port": int(sys.argv[1])})
Satellite(settings, "kitchen", print).start()
threading.Event().wait()
"""


def latest(recorder: Recorder) -> dict[str, str]:
    """The last payload recorded on each topic."""
    return dict(recorder.wait_for(0))


def test_a_satellite_announces_itself_to_home_assistant_and_its_last_will_says_offline(
    mosquitto: Mosquitto,
) -> None:
    topics = wire.Topics(settings_for(mosquitto).topic_prefix)
    status = topics.status("kitchen")
    recorder = Recorder(mosquitto, "#")
    satellite = subprocess.Popen(
        [sys.executable, "-c", SATELLITE_PROCESS, str(mosquitto.port)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert wait_until(lambda: latest(recorder).get(status) == "online", timeout=10)
        configs = [
            config_topic("homeassistant", DEFAULT_TOPICS, "kitchen", command)
            for command in model_commands()
        ]
        assert wait_until(lambda: set(configs) <= set(latest(recorder)))
        entity = json.loads(
            latest(recorder)[config_topic("homeassistant", DEFAULT_TOPICS, "kitchen", "stop")]
        )
        assert entity["state_topic"] == topics.event("kitchen", "stop")
        assert entity["availability_topic"] == status

        satellite.send_signal(signal.SIGKILL)
        assert wait_until(lambda: latest(recorder)[status] == "offline"), "no last will"
    finally:
        satellite.kill()
        satellite.wait()
        recorder.close()


def test_detections_fire_home_assistant_events_without_a_hub(mosquitto: Mosquitto) -> None:
    settings = settings_for(mosquitto)
    topics = wire.Topics(settings.topic_prefix)
    recorder = Recorder(mosquitto, topics.event("den", "+"))
    satellite = Satellite(settings, "den", print)
    satellite.start()
    try:
        assert satellite.connection.wait_connected(5)
        satellite.forward(event("off", "den", 0.9))
        [(topic, payload)] = recorder.wait_for(1)
        assert topic == topics.event("den", "off")
        assert json.loads(payload) == {"event_type": "detected", "score": 0.9, "source": "board"}
        assert satellite.pending == 1, "kept for the hub, which is not running"
    finally:
        satellite.stop()
        recorder.close()


def test_the_hub_announces_its_own_site_and_fires_its_entities_for_what_it_hears(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = settings_for(mosquitto)
    topics = wire.Topics(settings.topic_prefix)
    events = Recorder(mosquitto, topics.event("hall", "+"))
    dispatched = Collector()
    hub = Hub(settings, "hall", dispatched.add, print, commands=("on", "off"), state_dir=tmp_path)
    hub.start()
    try:
        assert wait_until(lambda: announced("hall", ("on", "off")) <= set(ha_configs(mosquitto)))
        entity = json.loads(
            ha_configs(mosquitto)[config_topic("homeassistant", DEFAULT_TOPICS, "hall", "on")]
        )
        assert entity["state_topic"] == topics.event("hall", "on")
        assert entity["availability_topic"] == topics.hub_status
        assert entity["device"]["model"] == "Voice command hub"

        hub.forward(event("on", "hall", 0.8))
        [(topic, payload)] = events.wait_for(1)
        assert (topic, json.loads(payload)["score"]) == (topics.event("hall", "on"), 0.8)
        assert [heard.command for heard in dispatched.wait_for(1)] == ["on"]
    finally:
        hub.stop()
        events.close()
    assert retained(mosquitto, topics.root)[topics.hub_status] == "offline"


def test_home_assistants_birth_message_brings_back_configs_removed_meanwhile(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    satellite = Machine("satellite", "den").start(mosquitto, tmp_path)
    home_assistant = Recorder(mosquitto, "homeassistant/status")
    try:
        wanted = announced("den", ("on", "off"))
        assert wait_until(lambda: wanted <= set(ha_configs(mosquitto)))
        # What Home Assistant publishes when the device is deleted there, then at its next start.
        for topic in wanted:
            home_assistant.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        assert not set(ha_configs(mosquitto)) & wanted
        home_assistant.client.publish("homeassistant/status", b"online").wait_for_publish(5)
        assert wait_until(lambda: wanted <= set(ha_configs(mosquitto))), "not announced again"
    finally:
        home_assistant.close()
        satellite.stop()


def test_a_flood_of_birth_messages_brings_one_announcement_an_interval_the_last_answered(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="assistant.home_assistant")
    clock = Clock()
    configs = Recorder(mosquitto, config_topic("homeassistant", DEFAULT_TOPICS, "den", "on"))
    satellite = Satellite(settings_for(mosquitto), "den", print, ("on",), clock, tmp_path)
    home_assistant = Recorder(mosquitto, "nothing/here")  # a client saying it is online
    markers: list[None] = []

    def send_births(count: int) -> None:
        """`count` birth messages, then a malformed acknowledgement: once the satellite has
        ignored it, it has handled the births before it (one connection's, in order)."""
        for _ in range(count):
            home_assistant.client.publish("homeassistant/status", wire.ONLINE, qos=1)
        home_assistant.client.publish(wire.Topics("assistant").ack("den"), b"[]", qos=1)
        markers.append(None)

    def answered(announcements: int) -> bool:
        """Whether the births sent brought `announcements`, each with its configs."""
        return (
            satellite.stats.ignored == len(markers)
            and warned(caplog, "announcing this site again") == announcements
            and len(configs.messages) == 1 + announcements
        )

    satellite.start()
    try:
        assert wait_until(lambda: len(configs.messages) == 1), "announced on connecting"
        send_births(FLOOD)
        assert wait_until(lambda: answered(1)), "the first birth is answered at once"
        first = clock.now
        clock.now = first + BIRTH_INTERVAL - 1
        send_births(1)
        assert wait_until(lambda: answered(1)), "all put off"
        clock.now = first + BIRTH_INTERVAL
        assert wait_until(lambda: answered(2)), "the births put off are answered together"
        assert warned(caplog, f"said it is online {FLOOD} times") == 1
        clock.now = first + 2 * BIRTH_INTERVAL
        send_births(1)
        assert wait_until(lambda: answered(3)), "a birth after a quiet interval: at once"
        send_births(1)
        assert wait_until(lambda: answered(3)), "put off"
    finally:
        home_assistant.close()
        satellite.stop()
        configs.close()
    clock.now += BIRTH_INTERVAL
    assert "home-assistant-satellite" not in {each.name for each in threading.enumerate()}
    assert warned(caplog, "announcing this site again") == 3, "a stop drops the births put off"


def test_a_hub_without_a_board_of_its_own_announces_no_entities(mosquitto: Mosquitto) -> None:
    hub = Hub(settings_for(mosquitto), "hall", print, print, listens_locally=False)
    assert hub.home_assistant.configs == {}


def announced(site: str, commands: tuple[str, ...]) -> set[str]:
    return {config_topic("homeassistant", DEFAULT_TOPICS, site, command) for command in commands}


def ha_configs(broker: Mosquitto) -> dict[str, str]:
    """The retained Home Assistant discovery configs on the broker now."""
    return retained(broker, "homeassistant")


@dataclass(frozen=True)
class Machine:
    role: str
    site: str
    commands: tuple[str, ...] = ("on", "off")
    discovery: bool = True

    @property
    def status_topic(self) -> str:
        """Its retained status, with the default topic prefix."""
        if self.role == "hub":
            return DEFAULT_TOPICS.hub_status
        return DEFAULT_TOPICS.status(self.site)

    def start(self, broker: Mosquitto, state_dir: Path, **settings_: object) -> Hub | Satellite:
        settings = settings_for(broker, discovery=self.discovery, **settings_)
        if self.role == "hub":
            part = Hub(
                settings, self.site, print, print, commands=self.commands, state_dir=state_dir
            )
        else:
            part = Satellite(settings, self.site, print, self.commands, state_dir=state_dir)
        part.start()
        return part

    @property
    def wanted(self) -> set[str]:
        return announced(self.site, self.commands) if self.discovery else set()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (Machine("satellite", "kitchen", ("on", "off", "yes")), Machine("satellite", "kitchen")),
        (Machine("satellite", "kitchen"), Machine("satellite", "cuisine")),
        (Machine("hub", "hall"), Machine("hub", "hall", discovery=False)),
        (Machine("hub", "hall", ("on", "go")), Machine("hub", "lobby", ("on", "stop"))),
    ],
    ids=["command gone", "site renamed", "discovery off", "hub renamed"],
)
def test_configs_no_longer_wanted_are_cleared_at_the_next_start(
    mosquitto: Mosquitto, tmp_path: Path, before: Machine, after: Machine
) -> None:
    first = before.start(mosquitto, tmp_path)
    try:
        assert wait_until(lambda: before.wanted <= set(ha_configs(mosquitto)))
    finally:
        first.stop()
    watcher = Recorder(mosquitto, "homeassistant/#")
    second = after.start(mosquitto, tmp_path)
    try:
        clears = {(topic, "") for topic in before.wanted - after.wanted}
        assert clears, "the case must leave something to clear"
        assert wait_until(lambda: clears <= set(watcher.messages)), "stale configs not cleared"
    finally:
        second.stop()
        watcher.close()
    assert set(ha_configs(mosquitto)) == after.wanted
    record = json.loads((tmp_path / f"home-assistant-{after.role}.json").read_text())
    assert record == {"retained": sorted(after.wanted | {after.status_topic})}


@pytest.mark.parametrize(
    ("before", "after", "prefix_after"),
    [
        (Machine("satellite", "kitchen"), Machine("satellite", "cuisine"), "assistant"),
        (
            Machine("satellite", "kitchen", discovery=False),
            Machine("satellite", "den"),
            "assistant",
        ),
        (Machine("hub", "hall"), Machine("hub", "hall"), "home2"),
    ],
    ids=["site renamed", "site renamed, discovery off before", "hub's topic prefix changed"],
)
def test_the_status_of_a_site_gone_is_not_left_retained(
    mosquitto: Mosquitto, tmp_path: Path, before: Machine, after: Machine, prefix_after: str
) -> None:
    """A room renamed (or a home's prefix changed) leaves no retained `offline` behind, which
    the hub would read at every start and Home Assistant would keep."""
    old_status = before.status_topic
    first = before.start(mosquitto, tmp_path)
    try:
        assert wait_until(lambda: retained(mosquitto, "assistant").get(old_status) == "online")
    finally:
        first.stop()
    assert retained(mosquitto, old_status.split("/")[0]).get(old_status) == "offline"
    second = after.start(mosquitto, tmp_path, topic_prefix=prefix_after)
    try:
        new_status = wire.Topics(prefix_after).status(after.site)
        if after.role == "hub":
            new_status = wire.Topics(prefix_after).hub_status
        assert wait_until(lambda: retained(mosquitto, prefix_after).get(new_status) == "online")
        assert wait_until(lambda: old_status not in retained(mosquitto, "assistant"))
    finally:
        second.stop()
    record = json.loads((tmp_path / f"home-assistant-{after.role}.json").read_text())
    assert old_status not in record["retained"] and new_status in record["retained"]


def test_sites_that_differ_only_in_a_space_keep_their_own_entities(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """`living room` and `living_room` made one Home Assistant device before (one node id):
    each machine overwrote the other's entities."""
    machines = (Machine("satellite", "living room"), Machine("satellite", "living_room"))
    assert not machines[0].wanted & machines[1].wanted
    parts = [m.start(mosquitto, tmp_path / m.site) for m in machines]
    try:
        wanted = machines[0].wanted | machines[1].wanted
        assert wait_until(lambda: set(ha_configs(mosquitto)) == wanted)
        sites = {
            json.loads(config)["state_topic"].split("/")[3]
            for config in ha_configs(mosquitto).values()
        }
        assert sites == {"living room", "living_room"}
    finally:
        for part in parts:
            part.stop()


def test_a_site_whose_device_id_changed_has_its_old_entities_replaced_once(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Upgrading a `living room` satellite: the entities the version before announced under
    `assistant_living_room` (the record has them) are cleared, not left beside the new ones."""
    machine = Machine("satellite", "living room")
    old = {f"homeassistant/event/assistant_living_room/{c}/config" for c in machine.commands}
    assert not old & machine.wanted
    publisher = Recorder(mosquitto, "nothing")
    for topic in old:
        publisher.client.publish(topic, '{"name": "Heard"}', qos=1, retain=True).wait_for_publish(5)
    publisher.close()
    record = tmp_path / "home-assistant-satellite.json"
    record.write_text(json.dumps({"retained": sorted(old | {machine.status_topic})}))
    assert set(ha_configs(mosquitto)) == old
    part = machine.start(mosquitto, tmp_path)
    try:
        assert wait_until(lambda: set(ha_configs(mosquitto)) == machine.wanted)
    finally:
        part.stop()
    assert json.loads(record.read_text()) == {
        "retained": sorted(machine.wanted | {machine.status_topic})
    }


def test_tls_with_the_brokers_certificate_works_and_without_it_fails_clearly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Mosquitto(tmp_path / "tls", tls=True) as broker:
        trusted = settings_for(broker, tls=True, ca_file=str(broker.ca_file))
        dispatched = Collector()
        hub = Hub(trusted, "hall", dispatched.add, print, listens_locally=False)
        satellite = Satellite(trusted, "kitchen", print)
        untrusting = Satellite(settings_for(broker, tls=True), "attic", print)
        for part in (hub, satellite, untrusting):
            part.start()
        try:
            assert wait_until(lambda: satellite.hub_online)
            satellite.forward(event("on", "kitchen"))
            assert [e.site for e in dispatched.wait_for(1)] == ["kitchen"]
            assert sends_without_delay(satellite) and sends_without_delay(hub)
            assert not untrusting.connection.connected
        finally:
            for part in (untrusting, satellite, hub):
                part.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(f"TLS with the MQTT broker at 127.0.0.1:{broker.port} failed")
    assert "certificate verify failed" in errors[0]
    assert "mqtt.tls and mqtt.ca_file" in errors[0]


def test_a_certificate_for_another_host_name_names_mqtt_host(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker's certificate holds 127.0.0.1; `host: localhost` reaches the same broker, and
    the fix is mqtt.host, not the CA file the message used to point at."""
    with Mosquitto(tmp_path / "tls", tls=True) as broker:
        settings = settings_for(broker, host="localhost", tls=True, ca_file=str(broker.ca_file))
        satellite = Satellite(settings, "attic", print)
        satellite.start()
        try:
            assert wait_until(lambda: "retrying until it works" in caplog.text)
            assert not satellite.connection.connected
        finally:
            satellite.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors[0].startswith(f"TLS with the MQTT broker at localhost:{broker.port} failed")
    assert "Hostname mismatch" in errors[0]
    assert errors[0].endswith(
        "The broker's certificate is made for another name than 'localhost': set mqtt.host to "
        "the name or address the certificate holds; retrying until it works"
    )


def test_an_unacknowledged_detection_is_sent_again_until_the_hub_acknowledges_it(
    mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The satellite's clock passes only when the test says: each time past the longest wait
    before a resend, its resender sends what is not acknowledged on its next pass."""
    monkeypatch.setattr(satellite_module, "RESEND_AFTER", 0.2)  # a pass every 0.1 s
    settings = settings_for(mosquitto)
    topics = wire.Topics(settings.topic_prefix)
    silent_hub = Recorder(mosquitto, topics.detection("den", "+"))
    silent_hub.client.publish(topics.hub_status, "online", qos=1, retain=True)
    clock = Clock()
    satellite = Satellite(settings, "den", print, clock=clock)
    satellite._lock = passes = AnnouncedLock("resend-den")  # asked once each resender pass
    satellite.start()

    def next_pass_after_resends_are_due() -> None:
        clock.now += 16 * satellite_module.RESEND_AFTER
        for _ in range(2):  # one pass that began after that, and has ended
            passes.asked.clear()
            assert passes.asked.wait(5)

    try:
        assert wait_until(lambda: satellite.hub_online)
        satellite.forward(event("go", "den", heard=clock.now))
        for _ in range(2):
            next_pass_after_resends_are_due()
        received = silent_hub.wait_for(3)
        ids = {json.loads(payload)["id"] for _topic, payload in received}
        assert len(received) == 3 and len(ids) == 1, "the same detection, sent again"
        silent_hub.client.publish(topics.ack("den"), wire.encode_ack(list(ids)), qos=1)
        assert wait_until(lambda: satellite.pending == 0)
        next_pass_after_resends_are_due()
        assert satellite.stats.sent == 3, "sent again after the acknowledgement"
    finally:
        satellite.stop()
        silent_hub.close()


def test_detections_the_hub_could_not_take_within_max_delay_are_dropped_with_a_warning(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    satellite = Satellite(settings_for(mosquitto, max_delay=0.3), "den", print)
    satellite.start()
    try:
        assert satellite.connection.wait_connected(5)
        satellite.forward(event("on", "den"))
        assert satellite.pending == 1, "kept while no hub runs"
        time.sleep(0.4)
        satellite.forward(event("off", "den"))
        assert satellite.pending == 1
        assert satellite.stats.dropped == 1
    finally:
        satellite.stop()
    assert "dropped 1 detection(s) the hub could not take within mqtt.max_delay" in caplog.text


@contextmanager
def hub_acknowledging_den(
    broker: Mosquitto, **overrides: object
) -> Iterator[tuple[Hub, wire.Topics, Collector, Recorder]]:
    """A hub without a board of its own, subscribed, what it dispatches, and a client that
    records its acknowledgements to the den (and may publish anything)."""
    settings = settings_for(broker, **overrides)
    topics = wire.Topics(settings.topic_prefix)
    dispatched = Collector()
    hub = Hub(settings, "hall", dispatched.add, print, listens_locally=False)
    hub.start()
    acks = Recorder(broker, topics.ack("den"))
    hub_status = Recorder(broker, topics.hub_status)
    try:
        assert hub_status.wait_for(1) == [(topics.hub_status, "online")], "subscribed by then"
        yield hub, topics, dispatched, acks
    finally:
        hub_status.close()
        acks.close()
        hub.stop()


def test_the_hub_ignores_malformed_and_stale_detections_with_a_warning(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    with hub_acknowledging_den(mosquitto, max_delay=60.0) as (hub, topics, dispatched, acks):
        stale = wire.Detection("old-1", "on", 0.9, "den", "board", age=120.0)
        fresh = wire.Detection("new-1", "off", 0.9, "den", "board", age=0.0)
        for payload in (b"on 0.9", wire.encode_detection(stale), wire.encode_detection(fresh)):
            acks.client.publish(topics.detection("den", "on"), payload, qos=1)
        assert [e.command for e in dispatched.wait_for(1)] == ["off"]
        assert wait_until(lambda: hub.stats.stale == 1 and hub.stats.ignored == 1)

        def acknowledged() -> set[str]:
            return {i for _t, p in acks.wait_for(0) for i in wire.decode_ack(p.encode())}

        assert wait_until(lambda: acknowledged() == {"old-1", "new-1"})
    assert "detection is not JSON" in caplog.text
    assert "dropped 'on' from 'den': heard 120 s ago, longer than mqtt.max_delay" in caplog.text


def test_a_hub_that_falls_behind_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mosquitto keeps a number of messages for a subscriber that lags (1000 by default, 100
    here) and drops the rest; the satellite sends what was not acknowledged again."""
    monkeypatch.setattr(satellite_module, "RESEND_AFTER", 0.2)
    sent = 500  # five times what the broker keeps for the hub
    with Mosquitto(tmp_path / "broker", max_queued=100) as mosquitto:
        settings = settings_for(mosquitto, dedup_window=0.0)
        dispatched: set[int | None] = set()

        def slow_dispatch(event: CommandEvent) -> None:
            time.sleep(0.001)
            dispatched.add(event.seq)

        hub = Hub(settings, "hall", slow_dispatch, print, listens_locally=False)
        satellite = Satellite(settings, "kitchen", print)
        hub.start()
        satellite.start()
        try:
            assert wait_until(lambda: satellite.hub_online)
            for seq in range(sent):
                heard = time.monotonic()
                satellite.forward(CommandEvent("up", 0.9, "board", "kitchen", heard, seq=seq))
            assert wait_until(lambda: len(dispatched) == sent, timeout=30)
            assert "Outgoing messages are being dropped" in broker_log(mosquitto)
            assert wait_until(lambda: satellite.pending == 0)
            assert hub.stats.dispatched == sent
        finally:
            satellite.stop()
            hub.stop()


def test_homes_with_their_own_topic_prefix_share_a_broker(mosquitto: Mosquitto) -> None:
    """A broker gives a client id to the newest connection: it logs that it closes the older one
    before it logs the newer one as connected, so once both hubs' connections are logged the
    broker has said whether one took the other's."""
    hubs = [
        Hub(settings_for(mosquitto, topic_prefix=prefix), "hall", print, print)
        for prefix in ("house1", "house2")
    ]
    for hub in hubs:
        hub.start()
    try:
        assert all(hub.connection.wait_connected(5) for hub in hubs)
        assert wait_until(lambda: broker_log(mosquitto).count("New client connected") >= 2)
        assert "already connected, closing old connection" not in broker_log(mosquitto)
        assert all(hub.connection.connections == 1 for hub in hubs)
    finally:
        for hub in hubs:
            hub.stop()


def test_a_hub_that_stops_runs_what_it_acknowledges(mosquitto: Mosquitto) -> None:
    settings = settings_for(mosquitto, dedup_window=5.0)  # the word waits for the other rooms
    dispatched = Collector()
    hub = Hub(settings, "hall", dispatched.add, print, listens_locally=False)
    kitchen = Satellite(settings, "kitchen", print)
    office = Satellite(settings, "office", print)
    for part in (hub, kitchen, office):
        part.start()
    try:
        assert wait_until(lambda: hub.online_sites == {"kitchen", "office"} and kitchen.hub_online)
        kitchen.forward(event("on", "kitchen"))
        assert wait_until(lambda: hub.stats.received == 1)
        hub.stop()  # within the window: acknowledged, so it must run now
        assert [e.command for e in dispatched.items] == ["on"]
        assert wait_until(lambda: kitchen.pending == 0)
    finally:
        for part in (office, kitchen):
            part.stop()


def test_two_satellites_with_one_site_are_told_why_they_keep_losing_the_broker(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="assistant.mqtt")
    settings = settings_for(mosquitto, reconnect_min=0.05, reconnect_max=0.1)
    twins = [Satellite(settings, "kitchen", print) for _ in range(2)]
    for twin in twins:
        twin.start()
    try:
        assert wait_until(lambda: "another client uses the same id" in caplog.text, timeout=15)
    finally:
        for twin in twins:
            twin.stop()
    assert "assistant-satellite-assistant-kitchen right after it connects" in caplog.text


def test_two_clients_with_one_id_swap_the_connection_rarely_once_told(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the take-over is found, the one dropped waits TAKEN_OVER_WAIT before connecting
    again: not a swap (two log lines on each, a room offline and online again for the hub and
    Home Assistant) every reconnect_min."""
    monkeypatch.setattr(mqtt_client, "TAKEN_OVER_WAIT", 3.0)
    caplog.set_level(logging.ERROR, logger="assistant.mqtt")
    settings = settings_for(mosquitto, reconnect_min=0.05, reconnect_max=0.1)
    twins = [MqttConnection(settings, "twin") for _ in range(2)]
    for twin in twins:
        twin.start()
    try:
        assert wait_until(lambda: "another client uses the same id" in caplog.text, timeout=15)
        told = sum(twin.connections for twin in twins)
        time.sleep(2.0)
        assert sum(twin.connections for twin in twins) - told <= 2
    finally:
        for twin in twins:
            twin.stop()
    assert "reconnecting every 3 s while this lasts" in caplog.text


def test_a_broker_restarted_right_after_each_connection_is_no_client_with_the_same_id(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """Each restart drops the connection as quickly as a take-over would, but the broker does
    not listen while it stops."""
    caplog.set_level(logging.WARNING, logger="assistant.mqtt")
    connection = MqttConnection(settings_for(mosquitto), "restarted")
    connection.start()
    try:
        for restarts in range(3):
            assert wait_until(lambda: connection.connections == restarts + 1)  # noqa: B023
            mosquitto.stop()
            mosquitto.start()
        assert wait_until(lambda: connection.connections == 4)  # the third drop was judged
    finally:
        connection.stop()
    assert caplog.text.count("lost the connection") == 3
    assert "another client uses the same id" not in caplog.text


def test_a_broker_back_after_a_long_restart_is_connected_to_at_once(mosquitto: Mosquitto) -> None:
    """With the `mqtt:` section's defaults the wait between attempts stops growing at
    reconnect_max (2 s): a broker down for 8 s is used again within 2 s of its return. With 30 s,
    as before, the next attempt after 8 s came at 15.5 s (after 0.5, 1.5, 3.5 and 7.5 s), 7.5 s
    after the return. The test waits 5 s for the connection, between the two: 3 s to spare for
    a loaded machine, and 2.5 s short of the attempt of the old schedule."""
    settings = MqttSettings.from_section({"host": "127.0.0.1", "port": mosquitto.port})
    connection = MqttConnection(settings, "patient")
    connection.start()
    try:
        assert connection.wait_connected(5)
        mosquitto.stop()
        time.sleep(8)
        mosquitto.start()
        assert connection.wait_connected(MQTT_RECONNECT_MAX + 3)
    finally:
        connection.stop()


def test_plain_mqtt_to_a_tls_port_says_to_turn_tls_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="assistant.mqtt")
    with Mosquitto(tmp_path / "tls", tls=True) as broker:
        hub = Hub(settings_for(broker, reconnect_min=0.05, reconnect_max=0.1), "hall", print, print)
        hub.start()
        try:
            assert wait_until(lambda: "set mqtt.tls: true" in caplog.text)
        finally:
            hub.stop()
    assert len([r for r in caplog.records if "closed the connection" in r.getMessage()]) == 1


HOSTILE_DETECTIONS = [
    b'{"v": 1, "id": "a", "command": "go", "score": 1' + b"0" * 400 + b', "site": "den", '
    b'"source": "b", "age": 0}',  # beyond any float
    b'{"v": 1, "id": "b", "command": "go", "score": 0.9, "site": "den", "source": "b", '
    b'"age": 1' + b"0" * 5000 + b"}",  # beyond Python's digit limit
    b"[" * 100_000 + b"]" * 100_000,  # beyond the parser's depth
    b'{"v": 1, "id": "c", "command": "go", "score": NaN, "site": "den", "source": "b", '
    b'"age": -1e9}',
]


def test_hostile_detections_are_ignored_and_the_hub_goes_on(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(mosquitto)
    topics = wire.Topics(settings.topic_prefix)
    dispatched = Collector()
    hub = Hub(settings, "hall", dispatched.add, print, listens_locally=False)
    hub.start()
    hostile = Recorder(mosquitto, topics.hub_status)
    try:
        assert hostile.wait_for(1), "the hub is subscribed once its status is out"
        for payload in HOSTILE_DETECTIONS:
            hostile.client.publish(topics.detection("den", "go"), payload, qos=1)
        fine = wire.Detection("fine-1", "off", 0.9, "den", "board", age=0.0)
        hostile.client.publish(topics.detection("den", "off"), wire.encode_detection(fine), qos=1)
        assert [e.command for e in dispatched.wait_for(1)] == ["off"]
        assert hub.stats.ignored == len(HOSTILE_DETECTIONS)
    finally:
        hostile.close()
        hub.stop()
    assert "field 'score' must be from 0 to 1" in caplog.text


@pytest.mark.parametrize("site", ["", " den"])
def test_a_site_no_topic_can_name_is_ignored_and_the_hub_goes_on(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture, site: str
) -> None:
    """`site//detection/go` and `site/ den/detection/go` are valid topics any client may use;
    the hub could not acknowledge on them."""
    with hub_acknowledging_den(mosquitto) as (hub, topics, dispatched, acks):
        bad = wire.Detection("bad-1", "go", 0.9, site, "board", age=0.0)
        hostile = acks.client
        hostile.publish(f"{topics.root}/site/{site}/status", wire.ONLINE, qos=1)
        hostile.publish(f"{topics.root}/site/{site}/detection/go", wire.encode_detection(bad), 1)
        fine = wire.Detection("fine-1", "off", 0.9, "den", "board", age=0.0)
        hostile.publish(topics.detection("den", "off"), wire.encode_detection(fine), qos=1)
        assert [e.command for e in dispatched.wait_for(1)] == ["off"]
        assert wait_until(lambda: acks.wait_for(0)), "the worker still acknowledges"
        assert [wire.decode_ack(p.encode()) for _t, p in acks.wait_for(1)] == [["fine-1"]]
        assert hub.stats.by_problem == {"malformed-status": 1, "malformed-detection": 1}
        assert hub.online_sites == frozenset()
    assert f"site {site!r} cannot be used in MQTT topics" in caplog.text


def test_statuses_of_made_up_sites_cannot_grow_the_hub_without_end(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any client may say `online` for as many sites as it likes: the hub keeps MAX_SATELLITES,
    and a real satellite is still taken once one of those went offline."""
    monkeypatch.setattr(hub_module, "MAX_SATELLITES", 3)
    with hub_acknowledging_den(mosquitto) as (hub, topics, _dispatched, acks):
        for number in range(10):
            acks.client.publish(topics.status(f"made-up-{number}"), wire.ONLINE, qos=1)
        assert wait_until(lambda: hub.stats.by_problem.get("too-many-satellites") == 7)
        assert hub.online_sites == {"made-up-0", "made-up-1", "made-up-2"}
        acks.client.publish(topics.status("made-up-2"), wire.OFFLINE, qos=1)
        acks.client.publish(topics.status("den"), wire.ONLINE, qos=1)
        assert wait_until(lambda: "den" in hub.online_sites)
        assert len(hub.online_sites) == 3
    assert "ignored 'made-up-9' saying it is online: 3 satellites are online already" in (
        caplog.text
    )


def test_a_handler_that_raises_is_logged_and_later_messages_still_arrive(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    connection = MqttConnection(settings_for(mosquitto), "raising")
    arrived = Collector()

    def handler(topic: str, payload: bytes) -> None:
        arrived.add(payload)
        if payload == b"first":
            raise RuntimeError("a bug in a handler")

    connection.subscribe("test/raise", handler)
    connection.start()
    sender = Recorder(mosquitto, "test/subscribed")
    try:
        assert connection.wait_connected(5)
        assert wait_until(
            lambda: sender.client.publish("test/raise", "first", qos=1) and arrived.items
        )
        sender.client.publish("test/raise", "second", qos=1)
        assert wait_until(lambda: b"second" in arrived.items), "the network thread died"
        assert connection.connected
    finally:
        sender.close()
        connection.stop()
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert {error.getMessage() for error in errors} == {
        "raising: a message on test/raise could not be handled"  # once per "first" that arrived
    }
    assert errors[0].exc_info and str(errors[0].exc_info[1]) == "a bug in a handler"


def test_retained_detections_and_replies_are_ignored_with_a_warning(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(mosquitto)
    topics = wire.Topics(settings.topic_prefix)
    planted = wire.Detection("kept-1", "go", 0.99, "den", "board", age=0.0)
    hostile = Recorder(mosquitto, topics.hub_status)
    for topic, payload in (
        (topics.detection("den", "go"), wire.encode_detection(planted)),
        (topics.reply("den"), wire.encode_reply(wire.Reply("planted reply"))),
    ):
        hostile.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    dispatched, spoken = Collector(), Collector()
    hub = Hub(settings, "hall", dispatched.add, print, listens_locally=False)
    satellite = Satellite(settings, "den", spoken.add)
    hub.start()
    satellite.start()
    try:
        assert wait_until(lambda: satellite.hub_online and "den" in hub.online_sites)
        satellite.forward(event("off", "den"))
        assert [e.command for e in dispatched.wait_for(1)] == ["off"]
        hub.reply("live reply", "den")
        assert spoken.wait_for(1) == ["live reply"]
    finally:
        satellite.stop()
        hub.stop()
        hostile.close()
    assert [e.command for e in dispatched.items] == ["off"]
    warnings = [r.getMessage() for r in caplog.records if "ignored a retained" in r.getMessage()]
    assert len(warnings) == 2
    clearing = [line.split("`")[1] for line in warnings if topics.detection("den", "go") in line]
    assert shlex.split(clearing[0]) == [  # this broker's, wherever the broker is
        "mosquitto_pub",
        *("-h", "127.0.0.1", "-p", str(mosquitto.port)),
        *("-r", "-n", "-t", topics.detection("den", "go")),
    ]


def test_the_line_that_clears_a_retained_message_logs_in_as_the_assistant_does() -> None:
    settings = MqttSettings.from_section(
        {"host": "broker.lan", "port": 8883, "username": "assistant", "password": "secret"}
    )
    words = shlex.split(settings.clearing_command("assistant/v1/site/den/ack"))
    assert words[:7] == ["mosquitto_pub", "-h", "broker.lan", "-p", "8883", "-u", "assistant"]
    assert "secret" not in words  # the log does not show it: the user types it
    assert words[-4:] == ["-r", "-n", "-t", "assistant/v1/site/den/ack"]


def warned(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


FLOOD = 30
"""Ignored messages of each kind sent in a flood: three times a minute's share of warnings."""


def test_a_flood_of_bad_messages_to_the_hub_gives_a_minutes_share_of_warnings_then_a_sum(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(mosquitto, dedup_window=0.0)  # each good detection runs
    topics = wire.Topics(settings.topic_prefix)
    hostile = Recorder(mosquitto, topics.hub_status)
    for number in range(FLOOD):  # retained ones come at once at every subscription
        kept = wire.encode_detection(wire.Detection(f"kept-{number}", "go", 0.9, "den", "b", 0.0))
        topic = topics.detection("den", f"c{number}")
        hostile.client.publish(topic, kept, qos=1, retain=True).wait_for_publish(5)
    clock = Clock()
    dispatched = Collector()
    hub = Hub(settings, "hall", dispatched.add, print, listens_locally=False)
    hub.stats.warnings = WarningLimiter(MESSAGE_WARNINGS_PER_MINUTE, clock=clock)
    hub.start()
    try:
        assert hostile.wait_for(1), "the hub is subscribed once its status is out"
        for number in range(FLOOD):
            hostile.client.publish(topics.detection("den", "on"), b"on 0.9", qos=1)
            hostile.client.publish(f"{topics.root}/site/ den/status", wire.ONLINE, qos=1)
            for status in (wire.ONLINE, wire.OFFLINE):  # no fault, but as fast as it likes
                hostile.client.publish(topics.status("den"), status, qos=1)
            fine = wire.Detection(f"fine-{number}", "off", 0.9, "den", "board", age=0.0)
            good = wire.encode_detection(fine)  # QoS 1 like the rest: it comes after them
            hostile.client.publish(topics.detection("den", "off"), good, qos=1)
        assert len(dispatched.wait_for(FLOOD)) == FLOOD, "good detections run meanwhile"
        assert wait_until(lambda: hub.stats.ignored == 3 * FLOOD)
        assert hub.stats.by_problem == {
            "retained-message": FLOOD,
            "malformed-detection": FLOOD,
            "malformed-status": FLOOD,
        }
        for text in (
            "ignored a retained message",
            "detection is not JSON",
            "ignored a status",
            "satellite 'den' is offline",
        ):
            assert warned(caplog, text) == MESSAGE_WARNINGS_PER_MINUTE, text
        assert warned(caplog, "suppressed") == 0
        clock.now += 60  # the worker sums the minute up, with no message needed
        more = FLOOD - MESSAGE_WARNINGS_PER_MINUTE
        for kind in [*hub.stats.by_problem, "satellite-offline"]:
            summary = f"{more} more {kind} warning(s) suppressed in the last minute"
            assert wait_until(lambda: warned(caplog, summary) == 1), summary  # noqa: B023
    finally:
        hostile.close()
        hub.stop()
    assert warned(caplog, "suppressed") == 4, "the stop sums up nothing more"


def test_a_flood_of_bad_messages_to_a_satellite_gives_a_minutes_share_of_warnings_then_a_sum(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(satellite_module, "RESEND_AFTER", 0.2)  # it sums up as often
    settings = settings_for(mosquitto)
    topics = wire.Topics(settings.topic_prefix)
    clock = Clock()
    spoken = Collector()
    satellite = Satellite(settings, "den", spoken.add)
    satellite.stats.warnings = WarningLimiter(MESSAGE_WARNINGS_PER_MINUTE, clock=clock)
    satellite.start()
    hub = Recorder(mosquitto, topics.ack("den"))
    try:
        hub.client.publish(topics.hub_status, wire.ONLINE, qos=1, retain=True)
        assert wait_until(lambda: satellite.hub_online), "subscribed once the hub's status came"
        for number in range(FLOOD):
            hub.client.publish(topics.reply("den"), b'{"v": 2, "text": "hi"}', qos=1)
            hub.client.publish(topics.ack("den"), b'{"v": 1, "ids": 7}', qos=0)
            good = wire.Reply(f"reply {number}", 0.0, f"r-{number}")
            hub.client.publish(topics.reply("den"), wire.encode_reply(good), qos=1)
        assert len(spoken.wait_for(FLOOD)) == FLOOD, "good replies are spoken meanwhile"
        assert wait_until(lambda: satellite.stats.ignored == 2 * FLOOD)
        assert satellite.stats.by_problem == {"malformed-reply": FLOOD, "malformed-ack": FLOOD}
        for text in ("ignored a reply", "ignored an acknowledgement"):
            assert warned(caplog, text) == MESSAGE_WARNINGS_PER_MINUTE, text
        assert warned(caplog, "suppressed") == 0
        clock.now += 60
        more = FLOOD - MESSAGE_WARNINGS_PER_MINUTE
        for kind in satellite.stats.by_problem:
            summary = f"{more} more {kind} warning(s) suppressed in the last minute"
            assert wait_until(lambda: warned(caplog, summary) == 1), summary  # noqa: B023
    finally:
        hub.client.publish(topics.hub_status, b"", qos=1, retain=True).wait_for_publish(5)
        hub.close()
        satellite.stop()
    assert warned(caplog, "suppressed") == 2


class _ReleasingWhenSet(threading.Event):
    """A connection's `_loop_ended` that lets the held supervisor go once stop() sets it."""

    def __init__(self, held: HeldAtFirstCheck) -> None:
        super().__init__()
        self.held = held

    def set(self) -> None:
        super().set()
        if self.held.is_set():
            self.held.go.set()


def test_a_stop_between_the_supervisors_check_and_its_connect_makes_no_connection(
    mosquitto: Mosquitto,
) -> None:
    connection = MqttConnection(settings_for(mosquitto), "late")
    held = connection._stopping = HeldAtFirstCheck("mqtt-late")  # at its first look, unset
    connection._loop_ended = _ReleasingWhenSet(held)
    connection.start()
    assert held.checked.wait(5)
    connection.stop(timeout=5)  # runs whole while the supervisor is held, then lets it go
    assert not [t for t in threading.enumerate() if t.name == "mqtt-late"], (
        "the supervisor connected after stop() and waits for that connection forever"
    )
    assert connection.connections == 0 and not connection.connected


@pytest.fixture
def held_tls(tmp_path: Path) -> Iterator[tuple[Mosquitto, HeldProxy]]:
    """A TLS broker, and a proxy in front of it that holds the first connect in its handshake."""
    with Mosquitto(tmp_path / "broker", tls=True) as broker:
        proxy = HeldProxy(broker.port)
        yield broker, proxy
        proxy.close()


def held_settings(broker: Mosquitto, proxy: HeldProxy) -> MqttSettings:
    return settings_for(broker, port=proxy.port, tls=True, ca_file=str(broker.ca_file))


def test_publishing_while_the_connect_is_held_open_returns_at_once(
    held_tls: tuple[Mosquitto, HeldProxy], caplog: pytest.LogCaptureFixture
) -> None:
    broker, proxy = held_tls
    satellite = Satellite(held_settings(broker, proxy), "den", print)
    satellite.connection._client.connect_timeout = 60  # held until released, not paho's 5 s
    recorder = Recorder(broker)
    returned = threading.Event()

    detection = DEFAULT_TOPICS.detection("den", "on")

    def board() -> None:
        """A detection sent (the satellite, not paho, sends it again), a detection heard (which
        fires its Home Assistant event), then a QoS 1 message."""
        satellite.connection.publish(detection, b"sent again by the satellite", qos=1)
        satellite.forward(event("on", "den"))
        satellite.connection.publish("test/queued", b"kept", qos=1)
        returned.set()

    satellite.start()
    try:
        assert proxy.accepted.wait(5)
        threading.Thread(target=board, daemon=True).start()
        try:
            assert returned.wait(5), "publishing waited for the connect to the broker"
        finally:
            proxy.release()
        recorder.before(("test/queued", "kept"))  # sent once connected
        marker = ("test/marker", "")
        satellite.connection.publish(marker[0], b"", qos=1)
        sent = recorder.before(marker)
    finally:
        satellite.stop()
        recorder.close()
    fired = DEFAULT_TOPICS.event("den", "on")
    assert fired not in dict(sent), "a QoS 0 event is sent later"
    assert detection not in dict(sent), "a detection is sent later, with the age it had"
    broker_address = f"127.0.0.1:{proxy.port}"
    assert (
        f"{satellite.connection.client_id}: not connected to the MQTT broker at {broker_address}: "
        f"dropped a message on {fired}"
    ) in caplog.text


@pytest.mark.parametrize("asleep", [3600.0, 30.0], ids=["beyond-max-delay", "within-max-delay"])
def test_a_detection_written_into_a_dead_connection_reaches_the_hub_only_with_its_true_age(
    mosquitto: Mosquitto, asleep: float
) -> None:
    """A connection can die unnoticed (Wi-Fi gone, a laptop's lid closed) and be found dead only
    later (keepalive, hours after a suspend). A detection written into it is sent again after
    the next connection by the satellite itself, with its age then; never by the MQTT client,
    with the age it had when first sent, which made the hub run a "lights off" hours late."""
    settings = settings_for(mosquitto, max_delay=60.0, dedup_window=0.0)
    topics = wire.Topics(settings.topic_prefix)
    proxy = HeldProxy(mosquitto.port)
    proxy.release()
    dispatched = Collector()
    hub = Hub(settings, "hall", dispatched.add, print, listens_locally=False)
    clock = Clock()
    satellite = Satellite(settings_for(mosquitto, port=proxy.port), "den", print, clock=clock)
    copies = Recorder(mosquitto, topics.detection("den", "+"))
    hub.start()
    satellite.start()
    try:
        assert wait_until(lambda: satellite.hub_online and "den" in hub.online_sites)
        satellite.forward(event("on", "den", heard=clock.now))
        assert [e.command for e in dispatched.wait_for(1)] == ["on"]
        assert wait_until(lambda: satellite.pending == 0)
        assert (satellite.stats.sent, hub.stats.received) == (1, 1), "once, not sent again"

        proxy.swallow()
        satellite.forward(event("off", "den", heard=clock.now))
        clock.now += asleep
        proxy.cut()
        assert wait_until(lambda: satellite.connection.connections == 2 and satellite.hub_online)
        satellite.forward(event("up", "den", heard=clock.now))
        assert wait_until(lambda: "up" in [e.command for e in dispatched.items])
        if asleep > settings.max_delay:
            assert [e.command for e in dispatched.items] == ["on", "up"]
            assert satellite.stats.dropped == 1
        else:
            assert sorted(e.command for e in dispatched.wait_for(3)) == ["off", "on", "up"]
            ages = [json.loads(p)["age"] for t, p in copies.messages if t.endswith("/off")]
            assert ages and set(ages) == {asleep}, "every copy carries its age when sent"
        assert wait_until(lambda: satellite.pending == 0)
    finally:
        satellite.stop()
        hub.stop()
        copies.close()
        proxy.close()


@pytest.mark.parametrize(
    "asleep", [3600.0, wire.REPLY_LIFETIME / 2], ids=["beyond-its-lifetime", "within-it"]
)
def test_a_reply_written_into_a_dead_connection_is_spoken_promptly_or_not_at_all(
    mosquitto: Mosquitto, asleep: float, caplog: pytest.LogCaptureFixture
) -> None:
    """The hub's connection can die unnoticed (Wi-Fi gone, a laptop's lid closed) and be found
    dead only later. A reply written into it is sent again after the next connection by the hub
    itself, with its age then, while it is worth speaking; never by the MQTT client, unchanged,
    which made a satellite say "Timer set for 5 minutes" an hour after the timer was set."""
    settings = settings_for(mosquitto)
    topics = wire.Topics(settings.topic_prefix)
    proxy = HeldProxy(mosquitto.port)
    proxy.release()
    clock = Clock()
    hub_settings = settings_for(mosquitto, port=proxy.port)
    hub = Hub(hub_settings, "hall", print, print, listens_locally=False, clock=clock)
    spoken = Collector()
    satellite = Satellite(settings, "den", spoken.add)
    copies = Recorder(mosquitto, topics.reply("den"))
    hub.start()
    satellite.start()
    try:
        assert wait_until(lambda: satellite.hub_online and "den" in hub.online_sites)
        hub.reply("Lights are on", "den")
        assert spoken.wait_for(1) == ["Lights are on"]

        proxy.swallow()
        hub.reply("Timer set for 5 minutes", "den")
        clock.now += asleep
        proxy.cut()
        assert wait_until(lambda: hub.connection.connections == 2)
        if asleep > wire.REPLY_LIFETIME:
            hub.reply("Lights are off", "den")  # follows any other copy on the connection
            assert wait_until(lambda: "Lights are off" in spoken.items)
            assert spoken.items == ["Lights are on", "Lights are off"]
            assert wait_until(lambda: "dropped the reply for 'den'" in caplog.text)
            assert (
                "dropped the reply for 'den', made 3600 s ago: the connection to the MQTT broker "
                "was lost before the broker took it, and a reply is spoken within 10 s or not at "
                "all: Timer set for 5 minutes"
            ) in caplog.text
        else:
            assert wait_until(lambda: "Timer set for 5 minutes" in spoken.items)
            hub.reply("Lights are off", "den")  # follows any other copy on the connection
            assert spoken.wait_for(3)[1:] == ["Timer set for 5 minutes", "Lights are off"]
            ages = [json.loads(p).get("age") for _t, p in copies.messages if "Timer" in p]
            assert ages == [asleep], "sent again once, with its age then"
    finally:
        satellite.stop()
        hub.stop()
        copies.close()
        proxy.close()


def test_a_satellite_speaks_a_copy_of_a_reply_once(mosquitto: Mosquitto) -> None:
    """The hub sends a reply again when its connection was lost before the broker confirmed it,
    though the broker may have passed it on already: the copy keeps the reply's id. A reply
    without an id (from a hub of before ids) is spoken each time it comes."""
    settings = settings_for(mosquitto)
    topics = wire.Topics(settings.topic_prefix)
    spoken = Collector()
    satellite = Satellite(settings, "den", spoken.add)
    hub = Recorder(mosquitto, topics.hub_status)  # sends as a hub would, copies included
    hub.client.publish(topics.hub_status, wire.ONLINE, qos=1, retain=True).wait_for_publish(5)
    satellite.start()
    try:
        # The hub's status comes on the last subscription: the broker has taken the others.
        assert wait_until(lambda: satellite.hub_online)
        replies = [
            wire.Reply("Lights are on", 0.0, "a1-1"),
            wire.Reply("Lights are on", 0.4, "a1-1"),  # the copy, older
            wire.Reply("Lights are on", 0.0, "a1-2"),  # the same words, another reply
            wire.Reply("Volume up"),
            wire.Reply("Volume up"),
        ]
        for reply in replies:
            hub.client.publish(topics.reply("den"), wire.encode_reply(reply), qos=1)
        assert wait_until(lambda: len(spoken.items) == 4)
        assert satellite.stats.repeated_replies == 1
    finally:
        satellite.stop()
        hub.close()
    assert spoken.items == ["Lights are on", "Lights are on", "Volume up", "Volume up"]


def test_a_satellite_speaks_a_reply_only_while_it_is_young(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """A reply's age is what the hub measured before sending it plus the time it waits on the
    satellite (behind a long answer being spoken), each on its own machine's clock."""
    settings = settings_for(mosquitto)
    topics = wire.Topics(settings.topic_prefix)
    clock = Clock()
    speaking, finish = threading.Event(), threading.Event()
    spoken = Collector()

    def speak(text: str) -> None:
        spoken.add(text)
        if text == "A long answer":
            speaking.set()
            assert finish.wait(5)

    hub = Hub(settings, "hall", print, print, listens_locally=False)
    satellite = Satellite(settings, "den", speak, clock=clock)
    other = Recorder(mosquitto, topics.hub_status)  # another sender: a hub of a later version
    hub.start()
    satellite.start()
    try:
        assert wait_until(lambda: satellite.hub_online and "den" in hub.online_sites)
        hub.reply("A long answer", "den")
        assert speaking.wait(5)
        hub.reply("Lights are off", "den")
        assert wait_until(lambda: satellite.stats.replies == 2)
        clock.now += wire.REPLY_LIFETIME + 1
        finish.set()
        old = {"v": 1, "text": "Timer set for 5 minutes", "age": wire.REPLY_LIFETIME + 1}
        other.client.publish(topics.reply("den"), json.dumps(old), qos=1).wait_for_publish(5)
        hub.reply("Volume up", "den")
        assert wait_until(lambda: "Volume up" in spoken.items)
    finally:
        satellite.stop()
        hub.stop()
        other.close()
    assert spoken.items == ["A long answer", "Volume up"]
    assert satellite.stats.late_replies == 2
    assert (
        "dropped a reply of the hub made 11 s ago: a reply is spoken within 10 s or not at all: "
        "Lights are off"
    ) in caplog.text
    assert "Timer set for 5 minutes" in caplog.text


def test_a_stop_while_the_socket_is_being_opened_keeps_no_connection(
    held_tls: tuple[Mosquitto, HeldProxy],
) -> None:
    broker, proxy = held_tls
    connection = MqttConnection(held_settings(broker, proxy), "opening")
    connection.start()
    assert proxy.accepted.wait(5)
    connection.stop(timeout=0)  # returns at once: the supervisor is still in its connect
    proxy.release()
    assert proxy.ended.wait(5), "the connection made after stop() is kept open"
    assert wait_until(lambda: not [t for t in threading.enumerate() if t.name == "mqtt-opening"])


@pytest.mark.parametrize("raising", ["on_connected", "on_disconnected"])
def test_a_connection_callback_that_raises_is_logged_and_the_connection_recovers(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture, raising: str
) -> None:
    def callback() -> None:
        raise RuntimeError("a bug in a callback")

    connection = MqttConnection(settings_for(mosquitto), "careless", **{raising: callback})
    connection.start()
    try:
        assert connection.wait_connected(5)
        mosquitto.stop()
        mosquitto.start()
        assert wait_until(lambda: connection.connections == 2), "the network thread died"
    finally:
        connection.stop()
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    happened = "new" if raising == "on_connected" else "lost"
    assert (
        errors and errors[0].getMessage() == f"careless: handling the {happened} connection failed"
    )
    assert errors[0].exc_info and str(errors[0].exc_info[1]) == "a bug in a callback"


def open_fds() -> int:
    """The process's open file descriptors, once the garbage collector has closed those it held
    (earlier tests may leave some to it; the ones a test leaves warn in `resource_warnings`)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def resource_warnings() -> Iterator[list[str]]:
    """The ResourceWarnings (a socket left to the garbage collector) raised meanwhile, from any
    thread, collected once the block ends."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        found: list[str] = []
        yield found
        gc.collect()
    found += [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_retrying_a_tls_broker_it_does_not_trust_closes_each_attempts_socket(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A daemon retries for days: each failed handshake's socket is closed as it fails, none is
    left to the garbage collector (which may come late, or never for a cycle with a finalizer)."""
    caplog.set_level(logging.DEBUG, logger="assistant.mqtt")
    with Mosquitto(tmp_path / "tls", tls=True) as broker:
        settings = settings_for(broker, tls=True, reconnect_max=0.05)  # the system's CAs only
        before = open_fds()
        with resource_warnings() as unclosed:
            connection = MqttConnection(settings, "untrusting")
            connection.start()
            try:
                assert wait_until(lambda: caplog.text.count("TLS with the MQTT broker") >= 10)
            finally:
                connection.stop()
        assert open_fds() == before
    assert not unclosed


def test_reconnecting_again_and_again_leaves_no_socket_open(mosquitto: Mosquitto) -> None:
    """Each connection's network thread has a socket pair of paho's; a new connection must not
    leave the last one's to the garbage collector."""
    before = open_fds()
    with resource_warnings() as unclosed:
        connection = MqttConnection(settings_for(mosquitto), "restarted")
        connection.start()
        try:
            for reconnections in range(1, 4):
                assert wait_until(lambda: connection.connections == reconnections)  # noqa: B023
                mosquitto.stop()
                mosquitto.start()
        finally:
            connection.stop()
    assert open_fds() == before
    assert not unclosed


def test_the_tls_context_of_mqtt_settings_closes_a_socket_whose_handshake_fails(
    tmp_path: Path,
) -> None:
    """The lights skill's paho client retries on its own, through the same context."""
    with Mosquitto(tmp_path / "tls", tls=True) as broker:
        tcp = socket.create_connection(("127.0.0.1", broker.port))
        refused = tls_context("").wrap_socket(  # the system's CAs only
            tcp, server_hostname="127.0.0.1", do_handshake_on_connect=False
        )
        with pytest.raises(ssl.SSLCertVerificationError):
            refused.do_handshake()
        assert refused.fileno() == -1
