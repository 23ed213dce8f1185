"""The media skill on a private D-Bus session bus with small MPRIS players on it."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from blocked_calls import waits_for_one
from mpris import MprisPlayer, session_bus
from waiting import wait_until

from assistant.plugin import NothingToDo, SkillError
from assistant.plugin_testing import SkillUnderTest
from skills import media as media_skill
from skills import media_bus
from skills.media import MediaSkill


@pytest.fixture
def media(tmp_path: Path, bus_address: str):
    skill = SkillUnderTest(MediaSkill, {"bus": bus_address, "volume_step": 0.2}, tmp_path)
    yield skill
    skill.stop()


def focus_seconds_later(skill: SkillUnderTest) -> Callable[[float], None]:
    """A setter of the skill's focus clock: that many seconds ahead of the real clock."""
    real_clock = skill.focus.clock

    def later(seconds: float) -> None:
        skill.focus.clock = lambda: real_clock() + seconds

    return later


def keeps(condition: Callable[[], bool]) -> bool:
    """`condition` holds now and for the next half second (while the watcher follows)."""
    return condition() and not wait_until(lambda: not condition(), 0.5)


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
        assert media.focus.current() == "media"  # paused by a command: for focus_seconds
        assert player.calls == [
            "PlayPause", "Next", "Previous", "Set Volume", "Set Volume", "Set Volume", "Pause",
        ]  # fmt: skip
    finally:
        player.close()


def test_focus_is_held_while_a_player_plays_and_released_when_it_stops_or_quits(
    media: SkillUnderTest, bus_address: str
) -> None:
    player = MprisPlayer(bus_address, "testplayer")
    try:
        player.set_status("Playing")  # in the player's own window
        assert wait_until(lambda: media.focus.current() == "media")
        focus_seconds_later(media)(3600)  # long after focus_seconds
        assert media.focus.current() == "media"
        player.set_status("Paused")
        assert wait_until(lambda: media.focus.current() is None)
        player.set_status("Playing")
        assert wait_until(lambda: media.focus.current() == "media")
    finally:
        player.close()
    assert wait_until(lambda: media.focus.current() is None)


def test_a_pause_asked_for_keeps_focus_for_focus_seconds_and_one_in_the_player_does_not(
    media: SkillUnderTest, bus_address: str
) -> None:
    """After "stop" paused the music, "go" within focus_seconds resumes it (`when: media`);
    paused with the player's own button, nothing is taken over."""
    player = MprisPlayer(bus_address, "testplayer", status="Playing")
    later = focus_seconds_later(media)
    try:
        assert wait_until(lambda: media.focus.current() == "media")
        player.set_status("Paused")  # the player's own button
        assert wait_until(lambda: media.focus.current() is None)
        player.set_status("Playing")
        assert wait_until(lambda: media.focus.current() == "media")
        media.do("pause", "stop")
        assert player.status == "Paused"
        assert keeps(lambda: media.focus.current() == "media")
        assert media.host.health() == "media running, has focus"
        assert media.status() == ["skill media: following testplayer (paused)"]
        later(29)
        assert media.focus.current() == "media"
        media.do("play")
        assert player.status == "Playing"
        later(3600)
        assert media.focus.current() == "media"  # held while it plays
        media.do("pause", "stop")
        later(3600 + 29)
        assert keeps(lambda: media.focus.current() == "media")
        later(3600 + 31)
        assert media.focus.current() is None
    finally:
        player.close()


def test_a_player_that_announces_the_pause_late_keeps_focus_too(
    media: SkillUnderTest, bus_address: str
) -> None:
    """A player may still say Playing when it answers the pause, and Paused a moment later."""
    player = MprisPlayer(bus_address, "testplayer", status="Playing", late=0.3)
    try:
        assert wait_until(lambda: media.focus.current() == "media")
        media.do("pause", "stop")
        assert wait_until(lambda: player.status == "Paused")
        assert wait_until(lambda: media.status() == ["skill media: following testplayer (paused)"])
        assert keeps(lambda: media.focus.current() == "media")
        focus_seconds_later(media)(31)
        assert media.focus.current() is None
        player.set_status("Playing")  # then played and paused with the player's own button
        assert wait_until(lambda: media.focus.current() == "media")
        player.set_status("Paused")
        assert wait_until(lambda: media.focus.current() is None)
    finally:
        player.close()


def test_focus_kept_after_a_pause_asked_for_goes_when_that_player_quits(
    media: SkillUnderTest, bus_address: str
) -> None:
    """After "stop" paused the music, the player quits: nothing is left for "go" to resume, so
    focus goes at once (else "go" would find no player, or resume another one), also when it
    quits before it says Paused (within ASKED_GRACE)."""
    other = MprisPlayer(bus_address, "aaa")
    try:
        for late in (0.0, 5.0):
            player = MprisPlayer(bus_address, "zzz", status="Playing", late=late)
            try:
                assert wait_until(lambda: media.focus.current() == "media")
                media.do("pause", "stop")
                assert keeps(lambda: media.focus.current() == "media")
            finally:
                player.close()
            assert wait_until(lambda: media.status() == ["skill media: following aaa (paused)"])
            assert media.focus.current() is None
            assert media.host.health() == "media running"
    finally:
        other.close()


def test_a_pause_in_the_player_just_after_play_pause_started_it_is_the_users(
    media: SkillUnderTest, bus_address: str
) -> None:
    """Only a pause the skill asked for keeps focus: "go" (play_pause) starting the music,
    then a pause with the player's own button a moment later, leaves no focus behind."""
    player = MprisPlayer(bus_address, "testplayer", status="Paused")
    try:
        media.do("play_pause", "go")
        assert player.status == "Playing"
        assert wait_until(lambda: media.focus.current() == "media")
        player.set_status("Paused")  # the player's own button
        assert wait_until(lambda: media.focus.current() is None, 1.5)  # within ASKED_GRACE
    finally:
        player.close()


def test_commands_go_to_the_player_paused_last_while_none_plays(
    media: SkillUnderTest, bus_address: str
) -> None:
    """With several players paused, up, down and go act on the one "stop" paused."""
    first = MprisPlayer(bus_address, "aaa")
    paused = MprisPlayer(bus_address, "zzz", status="Playing")
    try:
        media.do("pause", "stop")
        followed = "skill media: following zzz (paused), also aaa (paused)"
        assert wait_until(lambda: media.status() == [followed])
        media.do("volume_up", "up")
        assert paused.volume == pytest.approx(0.7)
        media.do("play")
        assert paused.status == "Playing"
        assert first.calls == []
    finally:
        first.close()
        paused.close()


def test_a_player_playing_at_start_holds_focus_until_the_skill_stops(
    tmp_path: Path, bus_address: str
) -> None:
    player = MprisPlayer(bus_address, "testplayer", status="Playing")
    skill = SkillUnderTest(MediaSkill, {"bus": bus_address}, tmp_path)
    try:
        assert wait_until(lambda: skill.focus.current() == "media")
    finally:
        skill.stop()
    try:
        assert skill.focus.current() is None  # removed from the configuration, say
    finally:
        player.close()


def test_focus_is_released_when_the_bus_goes_away(tmp_path: Path) -> None:
    with session_bus() as address:
        player = MprisPlayer(address, "testplayer", status="Playing")
        skill = SkillUnderTest(MediaSkill, {"bus": address}, tmp_path)
        assert wait_until(lambda: skill.focus.current() == "media")
    try:
        assert wait_until(lambda: skill.focus.current() is None)
        shown = skill.status()  # what `assistant status` says of it meanwhile
        assert shown[0].startswith("skill media: cannot follow the players ("), shown
    finally:
        skill.stop()
        player.close()


def test_a_pause_asked_for_keeps_focus_while_the_watcher_reconnects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session bus restarted after "stop" paused the music: once the skill follows the
    players again, the pause is still the skill's, so "go" still resumes the music."""
    monkeypatch.setattr(media_skill, "WATCH_RETRY", 0.2)  # look for the new bus at once
    address = f"unix:path={tmp_path / 'bus'}"
    with session_bus(address):
        player = MprisPlayer(address, "testplayer", status="Playing")
        skill = SkillUnderTest(MediaSkill, {"bus": address}, tmp_path)
        assert wait_until(lambda: skill.focus.current() == "media")
        skill.do("pause", "stop")
    player.close()  # its bus went away under it
    try:
        lost = "skill media: cannot follow the players ("
        assert wait_until(lambda: skill.status()[0].startswith(lost))
        with session_bus(address):
            player = MprisPlayer(address, "testplayer", status="Paused")
            following = ["skill media: following testplayer (paused)"]
            assert wait_until(lambda: skill.status() == following)
            assert keeps(lambda: skill.focus.current() == "media")
            player.close()
    finally:
        skill.stop()


def test_status_shows_the_player_commands_go_to_and_what_each_player_does(
    media: SkillUnderTest, bus_address: str
) -> None:
    """`assistant status`: the player followed (the one playing, else the one that played
    last) and its playback, then the others'; the skill has focus while one plays."""

    def shown() -> list[str]:
        return media.status()

    assert wait_until(lambda: shown() == ["skill media: no media player is running"])
    idle = MprisPlayer(bus_address, "aaa")
    playing = MprisPlayer(bus_address, "zzz", status="Playing")
    try:
        followed = "skill media: following zzz (playing), also aaa (paused)"
        assert wait_until(lambda: shown() == [followed])
        assert media.host.health() == "media running, has focus"
        playing.set_status("Stopped")
        assert wait_until(
            lambda: shown() == ["skill media: following zzz (stopped), also aaa (paused)"]
        )
        assert media.host.health() == "media running"
    finally:
        idle.close()
        playing.close()
    assert wait_until(lambda: shown() == ["skill media: no media player is running"])


def test_volume_stays_between_zero_and_one(media: SkillUnderTest, bus_address: str) -> None:
    player = MprisPlayer(bus_address, "testplayer", volume=0.95)
    try:
        media.do("volume_up")
        assert player.volume == 1.0
    finally:
        player.close()


def test_a_volume_above_one_is_not_lowered_by_up(media: SkillUnderTest, bus_address: str) -> None:
    """VLC and mpv go up to 1.25 or 1.3: "up" leaves such a volume, "down" lowers it a step."""
    player = MprisPlayer(bus_address, "testplayer", volume=1.3)
    try:
        media.do("volume_up")
        assert player.volume == pytest.approx(1.3)
        media.do("volume_down")
        assert player.volume == pytest.approx(1.1)
    finally:
        player.close()


def test_of_several_playing_the_one_that_started_last_is_chosen(
    media: SkillUnderTest, bus_address: str
) -> None:
    """As playerctld: music plays in one player, a video starts in another; "stop" pauses the
    video. With none playing, "go" goes to the player played last, in its window too."""
    music = MprisPlayer(bus_address, "aaa", status="Playing")
    video = MprisPlayer(bus_address, "zzz")
    try:
        assert wait_until(
            lambda: media.status() == ["skill media: following aaa (playing), also zzz (paused)"]
        )
        video.set_status("Playing")  # in its own window
        following = ["skill media: following zzz (playing), also aaa (playing)"]
        assert wait_until(lambda: media.status() == following)
        media.do("pause", "stop")
        assert (video.status, music.status) == ("Paused", "Playing")
        media.do("pause", "stop")
        assert music.status == "Paused"
        video.set_status("Playing")  # played and paused in its own window since
        playing = ["skill media: following zzz (playing), also aaa (paused)"]
        assert wait_until(lambda: media.status() == playing)
        video.set_status("Paused")
        assert wait_until(
            lambda: media.status() == ["skill media: following zzz (paused), also aaa (paused)"]
        )
        media.do("play_pause", "go")
        assert (video.status, music.status) == ("Playing", "Paused")
    finally:
        music.close()
        video.close()


def test_players_that_do_not_answer_hold_up_no_command(
    media: SkillUnderTest, bus_address: str
) -> None:
    """Two hung players (a frozen browser, say) and one playing: once the skill found them
    silent, commands ask them nothing more, so wait for them no more (each would take 2 s
    twice), until one is heard from."""
    hung = [MprisPlayer(bus_address, name, answers=False) for name in ("aaa", "bbb")]
    playing = MprisPlayer(bus_address, "zzz", status="Playing")
    following = "skill media: following zzz ({}), also aaa (unknown), bbb (unknown)"
    try:
        assert wait_until(lambda: media.status() == [following.format("playing")], 10)
        asked = [player.held for player in hung]  # the requests that found them silent
        media.do("pause", "stop")
        assert playing.status == "Paused"
        media.do("play", "go")
        media.do("volume_up", "up")
        assert [player.held for player in hung] == asked  # none more, none waited for
        assert (playing.status, playing.volume) == ("Playing", pytest.approx(0.7))
        hung[0].release()  # it recovers, and plays
        hung[0].set_status("Playing")
        assert wait_until(lambda: "aaa (playing)" in media.status()[0])
    finally:
        for player in (*hung, playing):
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
    with pytest.raises(NothingToDo, match="no media player is running"):
        media.do("play_pause")
    assert media.replies == ["No media player is running"]


def test_no_session_bus_gives_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.dbus/session-bus
    _pause_refused(tmp_path, {}, "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS")
    dead = f"unix:path={tmp_path}/nothing"
    _pause_refused(tmp_path, {"bus": dead}, f"no D-Bus bus runs at {dead}")


def _pause_refused(tmp_path: Path, settings: dict[str, str], reason: str) -> None:
    """The skill with `settings` cannot pause, for `reason` (a regular expression)."""
    skill = SkillUnderTest(MediaSkill, settings, tmp_path)
    try:
        with pytest.raises(SkillError, match=reason):
            skill.do("pause")
    finally:
        skill.stop()


def test_status_says_in_words_that_the_session_bus_went_away_and_the_log_its_return(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No errno in `assistant status`: the session bus is gone and looked for again; once it
    is back, the log says so once."""
    monkeypatch.setattr(media_skill, "WATCH_RETRY", 0.2)
    address = f"unix:path={tmp_path / 'bus'}"
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    with session_bus(address):
        player = MprisPlayer(address, "vlc", status="Playing")
        skill = SkillUnderTest(MediaSkill, {}, tmp_path)
        assert wait_until(lambda: skill.focus.current() == "media")
        watcher = skill.skill._watcher.native_id
        assert wait_until(lambda: waits_for_one(os.getpid(), watcher, "socket"))  # for a signal
    try:
        gone = [
            "skill media: cannot follow the players (trying again every 0.2 s):",
            f"skill media: no D-Bus session bus runs at {address}",
        ]
        assert wait_until(lambda: skill.status() == gone), skill.status()
        lost = [line for line in skill.logged if "cannot follow the players" in line]
        assert len(lost) == 1 and "Errno" not in lost[0], lost  # went away, or runs no more
        with session_bus(address):
            player = MprisPlayer(address, "vlc", status="Playing")
            assert wait_until(lambda: skill.status() == ["skill media: following vlc (playing)"])
            time.sleep(0.5)  # a few retries' time: the return is logged once
            back = [line for line in skill.logged if "following the players again" in line]
            assert back == [
                f"INFO following the players again: the D-Bus session bus is back (at {address})"
            ], skill.logged
            player.close()
    finally:
        skill.stop()


def test_a_session_bus_at_the_standard_place_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started with no session bus address, or with one of a session that ended (a run under
    nohup), the skill finds the session bus at $XDG_RUNTIME_DIR/bus, as libdbus does."""
    monkeypatch.setattr(media_skill, "WATCH_RETRY", 0.2)
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    standard = f"unix:path={run / 'bus'}"
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    with session_bus(standard):
        player = MprisPlayer(standard, "vlc")
        unset = SkillUnderTest(MediaSkill, {}, tmp_path)
        try:
            unset.do("next")
            assert player.calls == ["Next"]
        finally:
            unset.stop()
            player.close()
    ended = f"unix:path={tmp_path / 'ended'}"
    with session_bus(ended):  # the session the assistant was started in, ended since
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", ended)
    stale = SkillUnderTest(MediaSkill, {}, tmp_path)
    try:
        assert wait_until(lambda: f"no D-Bus session bus runs at {ended}" in stale.status()[-1])
        with session_bus(standard):
            _finds_the_bus_at(stale, standard)
    finally:
        stale.stop()


def _finds_the_bus_at(skill: SkillUnderTest, address: str) -> None:
    """`skill`, which could not reach the session bus, finds it at `address`: it follows a
    player there, says so, and pauses it."""
    player = MprisPlayer(address, "vlc", status="Playing")
    try:
        assert wait_until(lambda: skill.status() == ["skill media: following vlc (playing)"])
        assert f"the D-Bus session bus is back (at {address})" in "".join(skill.logged)
        skill.do("pause", "stop")
        assert player.status == "Paused"
    finally:
        player.close()


def test_a_session_bus_that_dbus_launch_started_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started with the address of a session that ended (a run under nohup), the skill finds
    the bus dbus-launch started since (as startx or a remote desktop do), at the address it
    wrote to ~/.dbus/session-bus/<machine-id>-<display>, as scripts find it."""
    monkeypatch.setattr(media_skill, "WATCH_RETRY", 0.2)
    monkeypatch.setattr(media_bus, "MACHINE_IDS", (tmp_path / "machine-id",))
    (tmp_path / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))  # no bus there
    monkeypatch.setenv("DISPLAY", ":1")
    ended = f"unix:path={tmp_path / 'ended'}"
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", ended)
    launched = tmp_path / "home" / ".dbus" / "session-bus"
    launched.mkdir(parents=True)
    stale = SkillUnderTest(MediaSkill, {}, tmp_path)
    try:
        assert wait_until(lambda: f"no D-Bus session bus runs at {ended}" in stale.status()[-1])
        with session_bus() as address:  # at a socket in /tmp, as dbus-launch starts it
            file = launched / "0123456789abcdef0123456789abcdef-1"
            file.write_text(
                "# This file allows processes on the machine with id 0123... using display :1\n"
                f"DBUS_SESSION_BUS_ADDRESS={address}\nDBUS_SESSION_BUS_PID=4242\n"
            )
            _finds_the_bus_at(stale, address)
            if os.getuid() == 0:  # only root can give a socket to another user
                os.chown(address.removeprefix("unix:path=").split(",")[0], 12345, -1)
                _pause_refused(tmp_path, {}, f"no D-Bus session bus runs at {ended}$")
    finally:
        stale.stop()


def test_status_without_any_session_bus_says_why_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A desk with no session bus at all: the longest reason the skill gives, with where it
    looked, is shown whole by `assistant status`, not cut at its line's length."""
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    skill = SkillUnderTest(MediaSkill, {}, tmp_path)
    retrying = f"trying again every {media_skill.WATCH_RETRY:g} s"
    try:
        assert wait_until(lambda: "looking for the players" not in skill.status()[0])
        assert skill.status() == [
            f"skill media: cannot follow the players ({retrying}):",
            "skill media: no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set, nor is one "
            "at $XDG_RUNTIME_DIR/bus or in ~/.dbus/session-bus",
        ]
    finally:
        skill.stop()


def test_only_a_socket_of_this_user_at_the_standard_place_is_taken_for_the_session_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file, or another user's socket, at $XDG_RUNTIME_DIR/bus is not the session bus."""
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    none_there = "nor is one at \\$XDG_RUNTIME_DIR/bus"
    (tmp_path / "bus").write_text("")
    _pause_refused(tmp_path, {}, none_there)
    if os.getuid() == 0:  # only root can give a socket to another user
        (tmp_path / "bus").unlink()
        with session_bus(f"unix:path={tmp_path / 'bus'}"):
            os.chown(tmp_path / "bus", 12345, -1)
            _pause_refused(tmp_path, {}, none_there)


def test_a_player_that_cannot_change_its_volume_or_skip_says_so_by_name(
    media: SkillUnderTest, bus_address: str
) -> None:
    """A browser without volume control, with nothing to skip to: the skill says what it
    cannot do, naming it as it names itself (its MPRIS Identity)."""
    browser = MprisPlayer(
        bus_address, "firefox", "Playing", volume=None, identity="Firefox", can_skip=False
    )
    try:
        for action, said in (
            ("volume_up", "Firefox has no volume control"),
            ("volume_down", "Firefox has no volume control"),
            ("next", "Firefox cannot skip to the next track"),
            ("previous", "Firefox cannot go back to the previous track"),
        ):
            logged = f"Media: Firefox \\(firefox\\) {said.removeprefix('Firefox ')}: "
            with pytest.raises(SkillError, match=logged):
                media.do(action)
            assert media.replies[-1] == said
        assert browser.calls == []
    finally:
        browser.close()


def hanging(tmp_path: Path, bus_address: str, monkeypatch: pytest.MonkeyPatch) -> SkillUnderTest:
    """The skill, waiting for a player that does not answer until it is released."""
    monkeypatch.setattr(media_skill, "CALL_TIMEOUT", 60)
    return SkillUnderTest(MediaSkill, {"bus": bus_address}, tmp_path, timeout=70)


def test_a_player_that_starts_playing_while_another_hangs_gets_focus_at_once(
    tmp_path: Path, bus_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two players appear hung (a frozen browser) while vlc starts playing: the skill follows
    vlc's signal while it still waits for them."""
    vlc = MprisPlayer(bus_address, "vlc")
    media = hanging(tmp_path, bus_address, monkeypatch)
    hung = [MprisPlayer(bus_address, name, answers=False) for name in ("aaa", "bbb")]
    try:
        assert wait_until(lambda: [player.held for player in hung] == [1, 1])  # asked: waits
        vlc.set_status("Playing")
        assert wait_until(lambda: media.focus.current() == "media")
        assert media.status() == ["skill media: following vlc (playing)"]  # still waiting
    finally:
        for player in (*hung, vlc):
            player.release()
            player.close()
        media.stop()


def test_the_player_that_starts_playing_while_another_hangs_gets_the_commands(
    tmp_path: Path, bus_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Music plays; a frozen browser appears, and a video starts while the skill waits for the
    browser: "stop", heard meanwhile, pauses the video, the player that started last."""
    music = MprisPlayer(bus_address, "aaa", status="Playing")
    video = MprisPlayer(bus_address, "zzz")
    media = hanging(tmp_path, bus_address, monkeypatch)
    browser = MprisPlayer(bus_address, "bbb", answers=False)
    try:
        assert wait_until(lambda: browser.held == 1)  # the skill asked it, and waits
        video.set_status("Playing")
        following = ["skill media: following zzz (playing), also aaa (playing)"]
        assert wait_until(lambda: media.status() == following)
        pausing = threading.Thread(target=media.do, args=("pause", "stop"))
        pausing.start()
        assert wait_until(lambda: browser.held == 2)  # the command asks it too, and waits
        browser.release()
        pausing.join()
        assert (video.status, music.status) == ("Paused", "Playing")
        assert browser.calls == []
    finally:
        for player in (browser, music, video):
            player.release()
            player.close()
        media.stop()


def test_a_player_heard_from_while_a_command_waited_for_it_is_asked_again(
    tmp_path: Path, bus_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command asks a player that does not answer; the watcher hears it meanwhile: the
    player is not taken for silent (its signal came first), so the next command asks it."""
    monkeypatch.setattr(media_skill, "CALL_TIMEOUT", 1)
    music = MprisPlayer(bus_address, "aaa", status="Paused")
    browser = MprisPlayer(bus_address, "bbb", answers=False)
    media = SkillUnderTest(MediaSkill, {"bus": bus_address, "player": "aaa"}, tmp_path)
    try:
        assert wait_until(lambda: "bbb (unknown)" in media.status()[0])  # found silent
        browser.set_status("Paused")  # heard from: asked again
        assert wait_until(lambda: "bbb (paused)" in media.status()[0])
        asked = browser.held
        playing = threading.Thread(target=media.do, args=("play", "go"))
        playing.start()
        assert wait_until(lambda: browser.held == asked + 1)  # the command waits for it...
        browser.set_status("Stopped")  # ...while the watcher hears from it
        playing.join()
        assert music.status == "Playing"
        media.do("pause", "stop")
        assert browser.held == asked + 2
    finally:
        for player in (browser, music):
            player.release()
            player.close()
        media.stop()
