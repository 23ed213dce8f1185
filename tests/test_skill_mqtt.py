"""A skill's MQTT connection (SkillContext.connect_mqtt) against a real mosquitto on 127.0.0.1."""

from __future__ import annotations

import gc
import logging
import os
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from mosquitto import Mosquitto, Recorder
from waiting import wait_until

from assistant import skill_mqtt
from assistant.plugin import (
    MQTT_CONNECTION_SETTINGS,
    MQTT_RECONNECT_MAX,
    MqttError,
    MqttLink,
    Skill,
    SkillError,
)
from assistant.plugin_testing import SkillUnderTest
from assistant.skill_mqtt import SkillMqtt

LOG = logging.getLogger("assistant.skill.test")


def link_to(broker: Mosquitto) -> SkillMqtt:
    settings = {"host": "127.0.0.1", "port": broker.port, "username": "", "password": ""}
    return SkillMqtt({**settings, "tls": False, "ca_file": ""}, "skills.test", LOG, threading.Event)


def _publish_until(
    done: threading.Event, link: SkillMqtt, qos: int, unexpected: list[BaseException]
) -> None:
    """Publish on `link` again and again until `done`; what raises other than MqttError is
    put in `unexpected`."""
    while not done.is_set():
        try:
            link.publish("test/race", "x", qos=qos)
        except MqttError:
            pass
        except Exception as error:  # what a stop must never cause
            unexpected.append(error)
            return


@pytest.fixture
def broker(tmp_path: Path):
    with Mosquitto(tmp_path / "broker") as running:
        yield running


def test_a_message_is_confirmed_and_a_stopped_link_fails_at_once(broker: Mosquitto) -> None:
    recorder = Recorder(broker)
    link = link_to(broker)
    link.publish("test/one", "1")  # waits for the connection being made
    assert recorder.wait_for(1) == [("test/one", "1")]
    assert link.status() == [f"connected to the MQTT broker at 127.0.0.1:{broker.port}"]
    link.stop()
    with pytest.raises(MqttError, match="was stopped") as failed:
        link.publish("test/two", "2")
    assert failed.value.kind == "unreachable"
    recorder.close()


def test_stop_racing_publishes_neither_raises_nor_leaks_sockets(
    broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A skill's threads may publish while its stop() runs (a reload): each publish is sent or
    fails with MqttError, never with an error of a socket closed under it, and every socket
    the connection opened is closed by the stop, without the garbage collector. A publish
    waiting for its confirmation ends with the stop (its wait, CONFIRM_WAIT, made longer here
    than the test waits)."""
    monkeypatch.setattr(skill_mqtt, "CONFIRM_WAIT", 3600.0)
    gc.collect()  # what earlier tests left to it
    gc.disable()
    try:
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(5):
            link = link_to(broker)
            assert wait_until(lambda link=link: link.connected)
            unexpected: list[BaseException] = []
            done = threading.Event()
            threads = [
                threading.Thread(target=_publish_until, args=(done, link, n % 2, unexpected))
                for n in range(4)
            ]
            for thread in threads:
                thread.start()
            assert not done.wait(0.2)  # publishing
            link.stop()
            assert not done.wait(0.1)  # publishing to a stopped link
            done.set()
            for thread in threads:
                thread.join(10)  # only against hanging
            assert not any(thread.is_alive() for thread in threads)  # ended with the stop
            assert unexpected == []
            assert not link.connected
        assert len(os.listdir("/proc/self/fd")) == before
    finally:
        gc.enable()


class Careless(Skill):
    """Connects in `start()`, then raises when `fail` is set (no stop() is called for it), and
    never stops its connection itself. The links it made are kept in `links`."""

    name = "careless"
    requires_api = (1, 3)
    settings = (*MQTT_CONNECTION_SETTINGS,)
    links: ClassVar[list[MqttLink]] = []
    fail = False

    def start(self) -> None:
        self.links.append(self.context.connect_mqtt())
        if self.fail:
            raise SkillError("Careless: its device is missing")


def stays_disconnected(link: MqttLink) -> bool:
    """Whether `link` is (soon) disconnected and stays so: a connection left running would
    connect again to the broker, which runs."""
    return wait_until(lambda: not link.connected) and not wait_until(
        lambda: link.connected, timeout=MQTT_RECONNECT_MAX + 1.0
    )


@pytest.mark.parametrize("fail", [True, False], ids=["start raised", "stop forgot it"])
def test_the_host_stops_the_connections_of_a_skill_that_is_not_running(
    broker: Mosquitto, fail: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A skill whose start() raised after it connected (no stop() is called for it), or whose
    stop() does not stop its connection, leaves no client reconnecting for it: the host
    stops every connection a skill made once it stopped or failed to start."""
    monkeypatch.setattr(Careless, "links", [])
    monkeypatch.setattr(Careless, "fail", fail)
    skill = SkillUnderTest(Careless, {"host": "127.0.0.1", "port": broker.port})
    [link] = Careless.links
    if fail:
        assert skill.start_error == "SkillError: Careless: its device is missing"
    else:
        assert wait_until(lambda: link.connected)
        skill.stop()
    assert stays_disconnected(link)
    skill.stop()
