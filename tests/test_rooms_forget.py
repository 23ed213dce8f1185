"""`assistant rooms forget` through a real mosquitto: what a satellite left retained (its status
and its Home Assistant entities) is cleared, and nothing is while the assistant runs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from assistant_command import assistant
from mosquitto import Mosquitto, free_port, retained
from waiting import wait_until

from assistant.control import socket_path
from assistant.instance import InstanceLock
from assistant.rooms import forget
from assistant.rooms.satellite import Satellite
from assistant.rooms.settings import MqttSettings
from assistant.service import ALREADY_RUNNING_STATUS

CONFIG = """
role: satellite
site: kitchen
mqtt: {{host: 127.0.0.1, port: {port}}}
commands:
  go: timers.start
"""


@pytest.fixture
def broker(tmp_path: Path):
    with Mosquitto(tmp_path / "broker") as running:
        yield running


def left_by_a_satellite(broker: Mosquitto, tmp_path: Path) -> Path:
    """Run and stop a satellite of site kitchen whose model heard `yes` too (a command the
    configuration's model does not have: only the record names its entity); its config file."""
    settings = MqttSettings.from_section({"host": "127.0.0.1", "port": broker.port})
    rooms = tmp_path / "data" / "assistant" / "rooms"
    satellite = Satellite(settings, "kitchen", print, ("on", "yes"), state_dir=rooms)
    satellite.start()
    try:
        assert wait_until(lambda: len(retained(broker, "homeassistant")) == 2)
    finally:
        satellite.stop()
    assert retained(broker, "assistant") == {"assistant/v1/site/kitchen/status": "offline"}
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG.format(port=broker.port)))
    return config


def test_forget_clears_the_status_and_entities_a_satellite_left(
    broker: Mosquitto, tmp_path: Path, env: dict[str, str]
) -> None:
    config = left_by_a_satellite(broker, tmp_path)
    result = assistant(env, "rooms", "forget", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert retained(broker, "assistant") == {}
    assert retained(broker, "homeassistant") == {}, "Home Assistant would keep the device"
    cleared = result.stdout.splitlines()
    assert (
        cleared[0]
        == f"cleared 8 retained message(s) at the MQTT broker at 127.0.0.1:{broker.port}:"
    )
    assert "assistant/v1/site/kitchen/status" in cleared
    assert "homeassistant/event/assistant_kitchen/yes/config" in cleared
    record = tmp_path / "data" / "assistant" / "rooms" / "home-assistant-satellite.json"
    assert json.loads(record.read_text()) == {"retained": []}


def test_forget_is_refused_while_the_assistant_runs(
    broker: Mosquitto, tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = left_by_a_satellite(broker, tmp_path)
    monkeypatch.setenv("XDG_RUNTIME_DIR", env["XDG_RUNTIME_DIR"])
    lock = InstanceLock(Path(env["XDG_DATA_HOME"]) / "assistant", socket_path())
    try:
        result = assistant(env, "rooms", "forget", "--config", str(config))
    finally:
        lock.release()
    assert result.returncode == ALREADY_RUNNING_STATUS
    assert "another assistant is running on the same data directory" in result.stderr
    assert len(retained(broker, "homeassistant")) == 2, "nothing cleared"


def assert_tried_once(env: dict[str, str], tmp_path: Path, mqtt: dict, problem: str) -> None:
    """`assistant rooms forget` with the `mqtt` section fails at its one attempt with `problem`,
    the broker's answer (were its wait for the answer not ended by it, it would say that the
    broker did not answer within forget.TIMEOUT). Given an hour to wait for the broker, the
    attempt ends at its answer all the same: waiting on, the test would end by pytest's
    timeout."""
    config = tmp_path / "config.yaml"
    config.write_text(f"role: satellite\nsite: kitchen\nmqtt: {json.dumps(mqtt)}\n")
    config.chmod(0o600)  # it may hold a password
    result = assistant(env, "rooms", "forget", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-2:] == [
        problem,
        f"nothing was cleared (the mqtt: section of {config})",
    ]
    assert "retrying" not in result.stderr
    settings = MqttSettings.from_section(mqtt)
    with pytest.raises(ConnectionError) as failed:
        forget.clear_retained(settings, {"assistant/v1/site/kitchen/status"}, timeout=3600)
    assert str(failed.value) == problem


def test_forget_tries_a_broker_that_does_not_listen_once_and_says_why(
    tmp_path: Path, env: dict[str, str]
) -> None:
    port = free_port()
    assert_tried_once(
        env,
        tmp_path,
        {"host": "127.0.0.1", "port": port},
        f"cannot reach the MQTT broker at 127.0.0.1:{port}: [Errno 111] Connection refused. "
        "Is the broker running, and are mqtt.host and mqtt.port right?",
    )


def test_forget_at_a_broker_that_refuses_the_login_says_so_once(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with Mosquitto(tmp_path / "broker", users={"lamp": "secret"}) as broker:
        mqtt = {"host": "127.0.0.1", "port": broker.port, "username": "lamp", "password": "wrong"}
        assert_tried_once(
            env,
            tmp_path,
            mqtt,
            f"the MQTT broker at 127.0.0.1:{broker.port} refused the connection (user 'lamp'): "
            "Not authorized. Check mqtt.username and mqtt.password in the configuration",
        )
        # one login refused for the command, one for the call above: neither tried again
        assert broker.log_until_now().count("disconnected, not authorised") == 2
