"""The default config.yaml's command mapping and focus rules, on the real built-in skills.

No broker, player or timer is there, so each action answers with its skill's own error, which
shows which skill and action the dispatcher chose."""

import socket
import time

import pytest

from assistant.config import DEFAULT_CONFIG, load_config
from assistant.daemon import Assistant
from assistant.host import discover_skills
from assistant.plugin import CommandEvent, SkillError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def assistant(tmp_path, monkeypatch):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)  # no desktop session here
    text = DEFAULT_CONFIG.read_text()
    config = tmp_path / "config.yaml"
    config.write_text(  # the broker moved to a port where nothing listens
        text.replace("host: localhost ", "host: 127.0.0.1 ").replace(
            "port: 1883", f"port: {free_port()}"
        )
    )
    installed = discover_skills()[0]
    running = Assistant(load_config(config, installed), installed, tmp_path, lambda text: None)
    running.start()
    yield running
    running.stop()


def answer(assistant: Assistant, command: str, when: float) -> str:
    """The error the chosen action answers with (each command is heard `when` seconds apart, so
    no cooldown applies)."""
    event = CommandEvent(command, 0.95, "test", "default", time.monotonic() + when)
    [future] = assistant.dispatcher.handle(event)
    with pytest.raises(SkillError) as failed:
        future.result(15)
    return str(failed.value)


def test_up_and_stop_go_to_the_lights_and_timers_unless_media_has_focus(assistant):
    assert answer(assistant, "up", 0).startswith("Lights: ")
    assert answer(assistant, "stop", 10) == "no timer is running"
    assistant.focus.give("media")
    assert answer(assistant, "up", 20).startswith("Media: ")
    assert answer(assistant, "down", 30).startswith("Media: ")
    assert answer(assistant, "stop", 40).startswith("Media: ")
    assistant.focus.release("media")
    assert answer(assistant, "down", 50).startswith("Lights: ")
