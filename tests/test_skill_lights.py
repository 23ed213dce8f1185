"""The lights skill against a real mosquitto broker on 127.0.0.1."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from mosquitto import Mosquitto, Recorder, free_port
from waiting import wait_until

from assistant import skill_mqtt
from assistant.plugin import CommandEvent, SkillError
from assistant.plugin_testing import SkillUnderTest
from skills.lights import LightsSkill

FOREVER = 3600.0
"""A wait (of the connection, of a confirmation) longer than any test: one that ends was ended
by what the test checks, not by running out."""


@pytest.fixture
def broker(tmp_path: Path):
    with Mosquitto(tmp_path / "broker") as running:
        yield running


@pytest.fixture
def lights(tmp_path: Path):
    started: list[SkillUnderTest] = []

    def start(
        port: int, phrases: list[str | None] | None = None, refused: bool = False, **settings
    ) -> SkillUnderTest:
        values = {"host": "127.0.0.1", "port": port, **settings}
        skill = SkillUnderTest(
            LightsSkill, values, tmp_path / "data", phrases, allow_refused=refused
        )
        started.append(skill)
        return skill

    yield start
    for skill in started:
        skill.stop()


def connected(skill: SkillUnderTest, timeout: float = 5.0) -> bool:
    return wait_until(lambda: skill.skill.connected, timeout)


def test_zigbee2mqtt_messages(broker: Mosquitto, lights) -> None:
    recorder = Recorder(broker)
    skill = lights(broker.port)
    assert skill.do("on", "on") == "Lights on"
    assert skill.do("brighter", "up") is None
    assert skill.do("dimmer", "down") is None
    assert skill.do("level", percent=50) == "Lights at 50 percent"
    assert skill.do("off", "off") == "Lights off"
    topic = "zigbee2mqtt/living_room/set"
    assert recorder.wait_for(5) == [
        (topic, '{"state": "ON"}'),
        # With on/off: Zigbee2MQTT's plain brightness_step does not light a light that is off.
        (topic, '{"brightness_step_onoff": 51}'),
        (topic, '{"brightness_step_onoff": -51}'),
        (topic, '{"brightness": 127}'),
        (topic, '{"state": "OFF"}'),
    ]
    recorder.close()


def test_tasmota_messages_and_a_spoken_level(broker: Mosquitto, lights) -> None:
    recorder = Recorder(broker)
    said = ["seventy five percent", "ten minutes", "two hundred percent"]
    skill = lights(broker.port, said, preset="tasmota")
    skill.do("on")
    skill.do("brighter")
    skill.do("dimmer")
    assert skill.do("level") == "Lights at 75 percent"
    assert skill.prompts[0] == "What level?"  # what `phrase.cue: words` asks
    with pytest.raises(SkillError, match="Ten minutes is not a brightness"):
        skill.do("level")
    with pytest.raises(SkillError, match="Brightness must be 0 to 100 percent, not 200"):
        skill.do("level")
    with pytest.raises(SkillError, match="No brightness level heard"):
        skill.do("level")
    assert skill.replies[-3:] == [
        "Ten minutes is not a brightness",
        "I can set the lights from 0 to 100 percent",  # what the log says is for the log
        "No brightness level heard",
    ]
    skill.do("off")
    assert recorder.wait_for(5) == [
        ("cmnd/living_room/POWER", "ON"),
        ("cmnd/living_room/Dimmer", "+"),
        ("cmnd/living_room/Dimmer", "-"),
        ("cmnd/living_room/Dimmer", "75"),
        ("cmnd/living_room/POWER", "OFF"),
    ]
    recorder.close()


def test_custom_templates_replace_the_preset(broker: Mosquitto, lights) -> None:
    recorder = Recorder(broker)
    templates = {"on": {"topic": "home/$device/power", "payload": "1"}}
    skill = lights(broker.port, device="desk", templates=templates, step=10)
    skill.do("on")
    skill.do("brighter")
    assert recorder.wait_for(2) == [
        ("home/desk/power", "1"),
        ("zigbee2mqtt/desk/set", '{"brightness_step_onoff": 25}'),
    ]
    recorder.close()


def test_each_room_switches_its_own_device(broker: Mosquitto, lights) -> None:
    """On a hub serving satellites, a command switches the device of the room it was heard in
    (its site); a room not in `rooms` switches `device`. Replies and status name the device."""
    recorder = Recorder(broker)
    rooms = {"kitchen": "kitchen_ceiling", "living room": "sofa_lamp"}
    skill = lights(broker.port, device="hall_light", rooms=rooms)
    assert connected(skill)

    def heard_in(site: str) -> CommandEvent:
        return CommandEvent("on", 0.95, source="test", site=site, heard=True)

    assert skill.do("on", heard_in("kitchen")) == "Kitchen ceiling on"
    assert skill.do("off", heard_in("living room")) == "Sofa lamp off"
    assert skill.do("level", heard_in("kitchen"), percent=30) == "Kitchen ceiling at 30 percent"
    assert skill.do("brighter", heard_in("living_room")) is None  # not `living room`
    assert skill.do("on", heard_in("hall")) == "Hall light on"
    assert recorder.wait_for(5) == [
        ("zigbee2mqtt/kitchen_ceiling/set", '{"state": "ON"}'),
        ("zigbee2mqtt/sofa_lamp/set", '{"state": "OFF"}'),
        ("zigbee2mqtt/kitchen_ceiling/set", '{"brightness": 76}'),
        ("zigbee2mqtt/hall_light/set", '{"brightness_step_onoff": 51}'),
        ("zigbee2mqtt/hall_light/set", '{"state": "ON"}'),
    ]
    assert skill.status()[1:] == [
        "skill lights: devices: kitchen_ceiling in kitchen, sofa_lamp in living room, "
        "hall_light in other rooms"
    ]
    recorder.close()


def test_a_bad_template_is_reported_at_start(broker: Mosquitto, lights) -> None:
    templates = {"on": {"topic": "home/$room/power", "payload": "1"}}
    skill = lights(broker.port, refused=True, templates=templates)  # got past config check
    assert skill.refused == [
        "skills.lights: templates.on.topic: bad placeholder 'room' in 'home/$room/power'; "
        "valid: $device, $step, $step_254, $percent, $value_254"
    ]
    assert skill.replies == ["The lights are not set up right"]
    assert (
        "skills.lights.templates.on.topic: bad placeholder 'room'"
        in (skill.host.start_errors["lights"])
    )


def test_credentials_are_used_and_a_wrong_password_is_named(tmp_path: Path, lights) -> None:
    with Mosquitto(tmp_path / "secured", users={"lamp": "secret"}) as broker:
        recorder = Recorder(broker, username="lamp", password="secret")
        good = lights(broker.port, username="lamp", password="secret")
        good.do("on")
        assert recorder.wait_for(1) == [("zigbee2mqtt/living_room/set", '{"state": "ON"}')]
        bad = lights(broker.port, username="lamp", password="wrong")
        refused = (
            r"refused the connection \(user 'lamp'\): Not authorized. Check "
            r"skills.lights.username and skills.lights.password in the configuration$"
        )
        with pytest.raises(SkillError, match=refused):
            bad.do("on")
        recorder.close()


def test_tls_with_a_trusted_certificate(tmp_path: Path, lights) -> None:
    with Mosquitto(tmp_path / "tls", tls=True) as broker:
        assert broker.ca_file is not None
        recorder = Recorder(broker)
        skill = lights(broker.port, tls=True, ca_file=str(broker.ca_file))
        skill.do("off")
        assert recorder.wait_for(1) == [("zigbee2mqtt/living_room/set", '{"state": "OFF"}')]
        recorder.close()


def test_tls_with_a_certificate_for_another_host_name_names_the_host_setting(
    tmp_path: Path, lights
) -> None:
    with Mosquitto(tmp_path / "tls", tls=True) as broker:
        skill = lights(broker.port, host="localhost", tls=True, ca_file=str(broker.ca_file))
        hint = "set skills.lights.host to the name or address the certificate holds"
        assert wait_until(lambda: any(hint in line for line in skill.logged))
        assert not skill.skill.connected
        with pytest.raises(SkillError, match=f"Hostname mismatch.*{hint}"):
            skill.do("on")  # the broker answers, so the action says why it cannot connect
        assert any(hint in line for line in skill.skill.status_lines())
    (line,) = [line for line in skill.logged if line.startswith("ERROR")]
    assert "Hostname mismatch" in line


def test_tls_with_a_missing_ca_file_says_which_setting(tmp_path: Path, lights) -> None:
    skill = lights(1883, refused=True, tls=True, ca_file=str(tmp_path / "missing.pem"))
    assert skill.replies == ["The lights are not set up right"]
    assert skill.host.start_errors["lights"] == (
        f"SkillError: Lights: skills.lights.ca_file {tmp_path}/missing.pem is not a file: give "
        "the CA certificate's path, or empty"
    )
    with pytest.raises(Exception, match="skill lights did not start"):
        skill.do("on")


def test_broker_down_gives_a_clear_message(lights, caplog: pytest.LogCaptureFixture) -> None:
    """The action fails with the words the connection logs: the broker, the cause and the
    settings to check, one description of the failure, not two."""
    port = free_port()
    skill = lights(port)
    why = (
        f"cannot reach the MQTT broker at 127.0.0.1:{port}: [Errno 111] Connection refused. Is "
        "the broker running, and are skills.lights.host and skills.lights.port right?"
    )
    with pytest.raises(SkillError) as failed:
        skill.do("on")
    assert str(failed.value) == f"Lights: {why}"
    assert skill.replies == ["I cannot reach the lights"]  # the broker and why: in the log
    assert wait_until(lambda: "retrying until it works" in caplog.text)
    assert f"{why}; retrying until it works" in caplog.text
    assert caplog.text.count("retrying until it works") == 1  # once, not at every attempt


def test_a_broker_that_cannot_be_reached_is_not_waited_for(
    broker: Mosquitto, lights, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no broker at all (the default configuration on a desktop without one), or one lost
    longer ago than a restart takes, "on" says at once that it cannot reach it, rather than
    after waiting CONNECTION_WAIT for a connection that cannot come (made longer here than the
    skill_timeout, which would abandon "on" before it said so)."""
    monkeypatch.setattr(skill_mqtt, "CONNECTION_WAIT", FOREVER)
    nowhere = lights(free_port())
    with pytest.raises(SkillError, match="cannot reach the MQTT broker"):
        nowhere.do("on")
    monkeypatch.setattr(skill_mqtt, "RESTART_SECONDS", 1.0)
    skill = lights(broker.port)
    assert connected(skill)
    broker.stop()
    assert wait_until(lambda: not skill.skill.connected)
    time.sleep(1.0)  # lost longer ago than a restart takes
    with pytest.raises(SkillError, match="cannot reach the MQTT broker"):
        skill.do("on")
    assert skill.replies == ["I cannot reach the lights"]


def test_a_broker_restart_is_survived(
    broker: Mosquitto, lights, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    skill = lights(broker.port)
    skill.do("on")
    broker.stop()
    with pytest.raises(SkillError, match="cannot reach the MQTT broker"):
        skill.do("off")
    broker.start()  # same port
    assert connected(skill, timeout=15)
    recorder = Recorder(broker)
    skill.do("off")
    assert recorder.wait_for(1) == [("zigbee2mqtt/living_room/set", '{"state": "OFF"}')]
    assert "lost the connection to the MQTT broker" in caplog.text
    recorder.close()


def test_a_command_just_after_a_long_broker_restart_is_sent(broker: Mosquitto, lights) -> None:
    """However long the broker was away, it is used again within MQTT_RECONNECT_MAX seconds of
    its return, so "on" just after it is sent: its wait for the connection, CONNECTION_WAIT,
    is that and a second. With the waits of before (1 s, doubled up to 10 s: attempts 1, 3, 7
    and 15 s after the broker was lost), "on" failed for 7 s after this restart."""
    skill = lights(broker.port)
    assert connected(skill)
    broker.stop()
    time.sleep(8)
    broker.start()
    recorder = Recorder(broker)
    assert skill.do("on", "on") == "Lights on"
    assert recorder.wait_for(1) == [("zigbee2mqtt/living_room/set", '{"state": "ON"}')]
    recorder.close()


def test_a_command_while_the_broker_restarts_waits_for_it(broker: Mosquitto, lights) -> None:
    """A command given while the broker is down for a moment waits for it and is sent (the
    broker confirms it), rather than failing at once."""
    skill = lights(broker.port)
    assert connected(skill)
    broker.stop()
    assert wait_until(lambda: not skill.skill.connected)
    restart = threading.Timer(0.2, broker.start)
    restart.start()
    try:
        assert skill.do("on", "on") == "Lights on"
    finally:
        restart.join()
    assert skill.replies == ["Lights on"]


def test_stopping_the_skill_while_it_waits_for_the_broker_ends_the_wait_at_once(
    broker: Mosquitto, lights, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reload or shutdown while "on" waits for a broker that restarts: the action fails
    then, saying why, rather than CONNECTION_WAIT later (the stop waits for it; made longer
    here than the test waits, so only the stop can end it)."""
    monkeypatch.setattr(skill_mqtt, "CONNECTION_WAIT", FOREVER)
    skill = lights(broker.port)
    assert connected(skill)
    broker.stop()  # and not back: lost moments ago, so an action waits for it
    assert wait_until(lambda: not skill.skill.connected)
    action = skill.host.call("lights", "on", CommandEvent("on", 0.9), {})
    assert wait_until(lambda: skill.host.runners["lights"].running() is not None)
    time.sleep(0.5)  # waiting for the connection
    assert not action.done()
    skill.host.configure({})  # what a reload that changes its settings, or shutdown, does
    with pytest.raises(SkillError, match=r"cancelled \(skill_timeout, reload or shutdown\) "):
        action.result(timeout=30)  # only against hanging: the broker never comes back
    # the host says it from the future's callback, which may run after result() returned
    assert wait_until(lambda: skill.replies == ["Lights command cancelled"])
    message = f"before the message was sent to the MQTT broker at 127.0.0.1:{broker.port}"
    assert message in caplog.text


def test_an_abandoned_action_stops_waiting_for_the_brokers_confirmation(
    broker: Mosquitto,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A broker that takes the message but never confirms it (here: paused): an action
    abandoned after skill_timeout stops waiting then, not CONFIRM_WAIT later (made longer here
    than the test waits, so only the abandonment can end it), and the skill takes commands
    again."""
    monkeypatch.setattr(skill_mqtt, "CONFIRM_WAIT", FOREVER)
    settings = {"host": "127.0.0.1", "port": broker.port}
    skill = SkillUnderTest(LightsSkill, settings, tmp_path / "data", timeout=0.5)
    assert connected(skill)
    assert broker.process is not None
    os.kill(broker.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(Exception, match="timed out"):
            skill.do("on")
        assert wait_until(lambda: "the abandoned action on raised SkillError" in caplog.text)
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
    try:
        assert skill.do("off", "off") == "Lights off"
    finally:
        skill.stop()


def test_status_says_whether_the_broker_is_connected_and_where(broker: Mosquitto, lights) -> None:
    skill = lights(broker.port)
    assert connected(skill)
    where = f"the MQTT broker at 127.0.0.1:{broker.port}"
    assert skill.status() == [f"skill lights: connected to {where}"]
    broker.stop()
    assert wait_until(lambda: not skill.skill.connected)
    why = [  # as it is logged, the settings to check on a line of their own
        f"skill lights: cannot reach {where}: [Errno 111] Connection refused.",
        "skill lights: Is the broker running, and are skills.lights.host and skills.lights.port "
        "right?",
    ]
    assert wait_until(lambda: skill.status() == why), skill.status()


def test_status_shows_a_broker_name_that_does_not_resolve_and_the_settings_in_full(
    lights,
) -> None:
    """A long broker name that no DNS knows: the reason and the settings to check are not cut
    at the length `assistant status` keeps of a line."""
    host = "the-mqtt-broker-of-the-house-in-the-garden-shed.invalid"
    skill = lights(1883, host=host)
    assert wait_until(lambda: "yet" not in skill.status()[0]), skill.status()
    assert skill.status() == [
        f"skill lights: cannot reach the MQTT broker at {host}:1883: [Errno -2] Name or service "
        "not known.",
        "skill lights: Is the broker running, and are skills.lights.host and skills.lights.port "
        "right?",
    ]


def test_stopping_the_skill_is_not_a_lost_broker(broker: Mosquitto, tmp_path, caplog) -> None:
    """A shutdown, or a reload that changes the skill's settings, disconnects on purpose: no
    warning that the broker was lost."""
    caplog.set_level(logging.INFO)
    settings = {"host": "127.0.0.1", "port": broker.port}
    skill = SkillUnderTest(LightsSkill, settings, tmp_path / "data")
    assert connected(skill)
    skill.stop()
    assert not skill.skill.connected
    assert "lost the connection to the MQTT broker" not in caplog.text


def test_each_stop_closes_every_socket_the_skill_opened(broker: Mosquitto, tmp_path) -> None:
    """A reload that changes the lights' settings stops the skill and starts it again: a daemon
    reloaded now and then for months must not keep a socket pair of paho's from each stop until
    the garbage collector comes (which may be late, or never for a cycle with a finalizer)."""
    settings = {"host": "127.0.0.1", "port": broker.port}
    gc.collect()  # what earlier tests left to it
    gc.disable()
    try:
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(3):
            skill = SkillUnderTest(LightsSkill, settings, tmp_path / "data")
            assert connected(skill)
            skill.stop()
        assert len(os.listdir("/proc/self/fd")) == before
    finally:
        gc.enable()


def test_config_check_reports_what_the_lights_skill_would_refuse(tmp_path: Path) -> None:
    from assistant.config import ConfigError, load_config
    from assistant.discovery import discover_skills

    config = tmp_path / "config.yaml"
    config.write_text(
        "commands:\n  on: lights.on\nskills:\n  lights:\n    templates:\n"
        "      on: {topic: home/$devcie/power, payload: '1'}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config, discover_skills()[0])
    assert str(caught.value).startswith(
        f"{config}:6: skills.lights: templates.on.topic: bad placeholder 'devcie'"
    )
    config.write_text("skills:\n  lights:\n    templates:\n      on: home/desk/power\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config, discover_skills()[0])
    assert str(caught.value) == (
        f"{config}:4: skills.lights: templates.on: expected a mapping with topic and payload"
    )
    config.write_text(f"skills:\n  lights:\n    tls: true\n    ca_file: {tmp_path}/none.pem\n")
    with pytest.raises(ConfigError, match=r"config.yaml:4: skills.lights: ca_file .* not a file"):
        load_config(config, discover_skills()[0])


def test_config_check_reports_a_rooms_mapping_it_cannot_use_at_its_line(tmp_path: Path) -> None:
    from assistant.config import ConfigError, load_config
    from assistant.discovery import discover_skills

    config = tmp_path / "config.yaml"
    skills = discover_skills()[0]
    good = "skills:\n  lights:\n    rooms:\n      yes: kitchen_ceiling\n      living room: 7\n"
    config.write_text(good)
    lights = load_config(config, skills).skills["lights"]
    assert lights["rooms"] == {"yes": "kitchen_ceiling", "living room": "7"}  # as written
    assert lights["device"] == "living_room"
    config.write_text(good + "      hall: [a, b]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config, skills)
    assert str(caught.value) == (
        f"{config}:6: skills.lights: rooms.hall must be text, not ['a', 'b']"
    )
