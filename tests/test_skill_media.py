"""The media skill on a private D-Bus session bus with small MPRIS players on it."""

from __future__ import annotations

import logging
import subprocess
import threading
from pathlib import Path

import pytest
from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection
from skill_host import SkillUnderTest
from waiting import wait_until

from assistant.plugin import SkillError
from skills.media import MediaSkill


@pytest.fixture
def bus_address():
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        yield daemon.stdout.readline().strip()
    finally:
        daemon.terminate()
        daemon.wait(5)


class MprisPlayer:
    """An MPRIS player serving the Player methods and properties the skill uses; a hung one
    (`answers=False`) takes requests and never answers."""

    def __init__(
        self,
        address: str,
        name: str,
        status: str = "Paused",
        volume: float = 0.5,
        answers: bool = True,
    ):
        self.answers = answers
        self.calls: list[str] = []
        self.status = status
        self.volume = volume
        self._stop = threading.Event()
        self.connection = open_dbus_connection(address)
        self.connection.send_and_get_reply(
            message_bus.RequestName(f"org.mpris.MediaPlayer2.{name}")
        )
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.connection.receive(timeout=0.1)
            except TimeoutError:
                continue
            if self.answers and message.header.message_type == MessageType.method_call:
                self.connection.send(self._answer(message))

    def _answer(self, message):
        member = message.header.fields[HeaderFields.member]
        interface = message.header.fields.get(HeaderFields.interface)
        if interface == "org.mpris.MediaPlayer2.Player":
            self.calls.append(member)
            if member == "PlayPause":
                self.status = "Paused" if self.status == "Playing" else "Playing"
            return new_method_return(message)
        if interface == "org.freedesktop.DBus.Properties" and member == "Get":
            value = {"PlaybackStatus": ("s", self.status), "Volume": ("d", self.volume)}
            return new_method_return(message, "v", (value[message.body[1]],))
        if interface == "org.freedesktop.DBus.Properties" and member == "Set":
            self.calls.append(f"Set {message.body[1]}")
            self.volume = message.body[2][1]
            return new_method_return(message)
        return new_error(message, "org.freedesktop.DBus.Error.UnknownMethod")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.connection.close()


@pytest.fixture
def media(tmp_path: Path, bus_address: str):
    skill = SkillUnderTest(MediaSkill, {"bus": bus_address, "volume_step": 0.2}, tmp_path)
    yield skill
    skill.stop()


def test_controls_reach_the_player(media: SkillUnderTest, bus_address: str) -> None:
    player = MprisPlayer(bus_address, "testplayer")
    try:
        media.do("play_pause")
        assert player.status == "Playing"
        assert media.focus.current() == "media"  # playing: up and down go to the volume
        media.do("next")
        media.do("previous")
        media.do("volume_up")
        assert player.volume == pytest.approx(0.7)
        media.do("volume_down")
        media.do("volume_down")
        assert player.volume == pytest.approx(0.3)
        media.do("pause")
        assert media.focus.current() is None
        assert player.calls == [
            "PlayPause", "Next", "Previous", "Set Volume", "Set Volume", "Set Volume", "Pause",
        ]  # fmt: skip
    finally:
        player.close()


def test_volume_stays_between_zero_and_one(media: SkillUnderTest, bus_address: str) -> None:
    player = MprisPlayer(bus_address, "testplayer", volume=0.95)
    try:
        media.do("volume_up")
        assert player.volume == 1.0
    finally:
        player.close()


def test_the_playing_player_is_chosen(media: SkillUnderTest, bus_address: str) -> None:
    idle = MprisPlayer(bus_address, "aaa")
    playing = MprisPlayer(bus_address, "zzz", status="Playing")
    try:
        media.do("next")
        assert playing.calls == ["Next"]
        assert idle.calls == []
    finally:
        idle.close()
        playing.close()


def test_an_abandoned_action_sends_nothing_more(
    tmp_path: Path, bus_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    """While a hung player keeps play_pause waiting past the skill timeout, the host gives up;
    the action then stops instead of toggling the other player long after it was asked to."""
    answering = MprisPlayer(bus_address, "aaa")
    media = SkillUnderTest(MediaSkill, {"bus": bus_address}, tmp_path, timeout=0.5)
    hung = MprisPlayer(bus_address, "zzz", answers=False)  # after start, which asks players
    try:
        with caplog.at_level(logging.WARNING, logger="assistant.host"):
            with pytest.raises(TimeoutError):
                media.do("play_pause")
            assert wait_until(lambda: "action play_pause raised SkillError" in caplog.text, 10)
        assert answering.calls == []
        hung.close()
        media.do("next")  # takes calls again
        assert answering.calls == ["Next"]
    finally:
        media.stop()
        answering.close()


def test_no_player_gives_a_clear_message(media: SkillUnderTest) -> None:
    with pytest.raises(SkillError, match="no media player is running"):
        media.do("play_pause")
    assert media.replies == ["Media: no media player is running (none offers MPRIS on D-Bus)"]


def test_no_session_bus_gives_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    skill = SkillUnderTest(MediaSkill, {}, tmp_path)
    try:
        with pytest.raises(SkillError, match="no D-Bus session bus"):
            skill.do("pause")
    finally:
        skill.stop()
    dead = SkillUnderTest(MediaSkill, {"bus": f"unix:path={tmp_path}/nothing"}, tmp_path)
    try:
        with pytest.raises(SkillError, match="cannot connect to the D-Bus bus unix:path="):
            dead.do("pause")
    finally:
        dead.stop()
