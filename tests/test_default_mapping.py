"""The default config.yaml's command mapping and focus rules, on the real built-in skills.

No broker or timer is there, so the lights and timers actions answer with their skill's own
error, which shows which skill and action the dispatcher chose; an MPRIS player on a private
session bus plays when the test says so."""

import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import wait
from pathlib import Path

import pytest
from mpris import MprisPlayer
from waiting import wait_until
from wav import duration_and_rms, played_files

from assistant.config import DEFAULT_CONFIG, load_config
from assistant.daemon import Assistant
from assistant.discovery import discover_skills
from assistant.dispatcher import as_run
from assistant.plugin import CommandEvent, SkillError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def default_assistant(tmp_path: Path, speak: Callable[[str], None] | None) -> Assistant:
    """The default configuration, started, with its broker moved to a port where nothing
    listens; `speak` None speaks for real."""
    text = DEFAULT_CONFIG.read_text()
    config = tmp_path / "config.yaml"
    config.write_text(
        text.replace("host: localhost ", "host: 127.0.0.1 ").replace(
            "port: 1883", f"port: {free_port()}"
        )
    )
    installed = discover_skills()[0]
    running = Assistant(load_config(config, installed), installed, tmp_path, speak)
    running.start()
    return running


@pytest.fixture
def assistant(tmp_path, monkeypatch, bus_address):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus_address)
    running = default_assistant(tmp_path, lambda text: None)
    yield running
    running.stop()


def hear(assistant: Assistant, command: str, when: float) -> str | None:
    """The reply of the chosen action, or of the one it handed the command to (each command is
    heard `when` seconds apart, so no cooldown applies)."""
    event = CommandEvent(command, 0.95, "test", "default", time.monotonic() + when)
    outcome = assistant.dispatcher.handle(event)
    wait(outcome, timeout=15)
    [future] = as_run(outcome)
    return future.result(0)


def failure(assistant: Assistant, command: str, when: float) -> str:
    """The error the chosen action answers with."""
    with pytest.raises(SkillError) as failed:
        hear(assistant, command, when)
    return str(failed.value)


def test_up_down_and_stop_go_to_the_player_while_it_plays(assistant, bus_address):
    player = MprisPlayer(bus_address, "vlc", volume=0.5)
    try:
        assert failure(assistant, "up", 0).startswith("Lights: ")
        assert failure(assistant, "stop", 10) == "No timer is running"
        player.set_status("Playing")  # started in the player's window
        assert wait_until(lambda: assistant.focus.current() == "media")
        hear(assistant, "up", 20)
        hear(assistant, "up", 30)
        hear(assistant, "down", 40)
        assert player.volume == pytest.approx(0.6)
        hear(assistant, "stop", 50)
        assert player.status == "Paused" and player.calls[-1] == "Pause"
    finally:
        player.close()


def test_go_resumes_what_stop_paused_within_focus_seconds_then_starts_a_timer(
    assistant, bus_address
):
    """Paused by "stop", the player keeps focus for focus_seconds: "go" resumes it, "up" and
    "down" change its volume; after that, and after a pause in the player's own window, "go"
    starts a timer and "down" dims the lights again."""
    player = MprisPlayer(bus_address, "vlc", status="Playing", volume=0.5)
    real_clock = assistant.focus.clock
    try:
        assert wait_until(lambda: assistant.focus.current() == "media")
        hear(assistant, "stop", 0)
        assert player.status == "Paused"
        assistant.focus.clock = lambda: real_clock() + 29
        hear(assistant, "down", 10)  # the volume of the paused player; focus_seconds again
        assert player.volume == pytest.approx(0.4)
        assert "media running, has focus" in assistant.host.health()
        assert "skill media: following vlc (paused)" in assistant.host.skill_status()
        assistant.focus.clock = lambda: real_clock() + 29 + 29
        hear(assistant, "go", 20)
        assert player.status == "Playing" and player.calls[-1] == "Play"
        hear(assistant, "stop", 30)
        assistant.focus.clock = lambda: real_clock() + 3600
        assert failure(assistant, "down", 40).startswith("Lights: ")
        assert hear(assistant, "go", 50) == "Timer set for five minutes"
        hear(assistant, "stop", 60)  # the timer
        assert player.status == "Paused"
        assistant.focus.clock = lambda: real_clock() + 7200  # the timers' focus is over
        player.set_status("Playing")  # in the player's window
        assert wait_until(lambda: assistant.focus.current() == "media")
        player.set_status("Paused")
        assert wait_until(lambda: assistant.focus.current() is None)
        assert hear(assistant, "go", 70) == "Timer set for five minutes"
        assert player.calls[-1] == "Pause"
    finally:
        player.close()


def test_go_while_music_plays_starts_a_timer_and_says_nothing_of_the_music(
    tmp_path, monkeypatch, bus_address
):
    """ "go" goes to media.play while media has focus; with the music playing already, that
    finds nothing to do and hands the command to "go"'s own action: a timer."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus_address)
    said: list[str] = []
    running = default_assistant(tmp_path, said.append)
    player = MprisPlayer(bus_address, "vlc", status="Playing")
    try:
        assert wait_until(lambda: running.focus.current() == "media")
        assert hear(running, "go", 0) == "Timer set for five minutes"
        assert player.status == "Playing" and "Play" not in player.calls
        assert wait_until(lambda: "Timer set for five minutes" in said)
        assert not any("already" in text for text in said)
    finally:
        player.close()
        running.stop()


def test_stop_said_twice_over_music_pauses_it_and_leaves_the_timers(assistant, bus_address):
    """The second "stop" goes to the paused player (media keeps focus after a voice pause),
    which stays paused: it never reaches a running timer."""
    real_clock = assistant.focus.clock
    assert hear(assistant, "go", 0) == "Timer set for five minutes"
    assistant.focus.clock = lambda: real_clock() + 60  # the timers' focus is over
    player = MprisPlayer(bus_address, "vlc", status="Playing")
    try:
        assert wait_until(lambda: assistant.focus.current() == "media")
        hear(assistant, "stop", 10)
        hear(assistant, "stop", 20)
        assert player.status == "Paused" and assistant.focus.current() == "media"
        assert any("timer due at" in line for line in assistant.host.skill_status())
    finally:
        player.close()


def test_a_failure_is_said_in_one_short_sentence_and_detailed_in_the_log(
    tmp_path, audio_output, caplog
):
    """Four commands without a broker: each is said in full, not cut mid-sentence by the speech
    timeout, and without the broker's address, which the log and `assistant send` give."""
    caplog.set_level(logging.INFO)
    running = default_assistant(tmp_path, None)
    try:
        for when, command in enumerate(("on", "off", "up", "down")):
            failure(running, command, 10 * when)
            assert running.speaker.wait_idle(30)
    finally:
        running.stop()
    assert caplog.text.count("reply: I cannot reach the lights") == 4
    assert caplog.text.count("action on failed: Lights: cannot reach the MQTT broker at") == 1
    assert "was cut" not in caplog.text
    played = played_files(audio_output)
    assert len(played) == 4
    assert all(duration_and_rms(wav)[0] < 3 for wav in played)  # 6.8 s each, cut, before
