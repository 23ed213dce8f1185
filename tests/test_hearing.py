"""What a user who only listens hears when the assistant loses its ears and gets them back, or
could not take an edited configuration: the notices of `speech.notices`, from the rule
(assistant/hearing.py) to the audio played. The notice after a restart: tests/test_cli.py."""

import logging
import textwrap
from pathlib import Path

import pytest
from manual_clock import Clock
from runtime_skills import INSTALLED
from usb_ports import nano_while_linked
from waiting import wait_until
from wav import played_files, same_speech

from assistant.config import load_config
from assistant.daemon import RELOAD_FAILED, RESTART_NEEDED, Assistant
from assistant.emulator import VirtualBoard
from assistant.hearing import BACK, HearingNotices, deaf_notice

UNPLUGGED = deaf_notice("the board is unplugged")

CONFIG = """
source: {source}
device: {{port: {port}}}
speech: {{notices: {notices}}}
commands:
  off: recorder.dim
skills:
  recorder: {{}}
"""


def test_a_notice_waits_out_the_grace_and_the_way_back_is_said_only_after_it():
    clock = Clock()
    notices = HearingNotices(grace=7, interval=60, clock=clock)
    assert notices.update("the board is unplugged") is None
    clock.now += 6  # a board being flashed: back within the grace, so nothing either way
    assert notices.update("the board is unplugged") is None
    assert notices.update(None) is None
    assert notices.update("the board has gone silent") is None
    clock.now += 7
    assert (
        notices.update("the board has gone silent")
        == "I cannot hear you: the board has gone silent"
    )
    clock.now += 30
    assert notices.update("the board has gone silent") is None  # said once, not again
    assert notices.update(None) == BACK
    assert notices.update(None) is None


def test_a_board_that_comes_and_goes_is_told_once_a_minute_at_most():
    clock = Clock()
    notices = HearingNotices(grace=7, interval=60, clock=clock)
    said = []
    for _ in range(12):  # 10 s away, 10 s back, for four minutes
        for problem in ("the board is unplugged", None):
            for _ in range(10):
                said.append(notices.update(problem))
                clock.now += 1
    told = [notice for notice in said if notice]
    assert told == [UNPLUGGED, BACK] * 4  # every 60 s, each followed by its way back


@pytest.fixture
def quick(monkeypatch):
    """The assistant looks at its ears every 0.1 s and tells after 0.5 s without them."""
    monkeypatch.setattr("assistant.daemon.HEARING_LOOK_SECONDS", 0.1)
    monkeypatch.setattr("assistant.hearing.DEAF_GRACE_SECONDS", 0.5)


def _run(folder: Path, board: VirtualBoard | None, notices: str = "true", **kwargs) -> Assistant:
    """An assistant on CONFIG, listening to `board` (None: its own virtual board)."""
    path = folder / "config.yaml"
    path.write_text(
        textwrap.dedent(CONFIG).format(
            source=kwargs.pop("source", "serial" if board else "emulator"),
            port=kwargs.pop("port", board.link if board else "auto"),
            notices=notices,
        )
    )
    running = Assistant(load_config(path, INSTALLED), INSTALLED, folder, **kwargs)
    running.start()
    running.open_default_sources()
    return running


def test_the_user_hears_that_the_board_was_unplugged_and_that_it_came_back(
    tmp_path, audio_output, quick, caplog
):
    caplog.set_level(logging.INFO)
    board = VirtualBoard(heartbeat_ms=200, link=tmp_path / "ttyACM0")
    board.plug_in()
    running = _run(tmp_path, board)
    try:
        assert running.sources[0].session.greeted.wait(5)
        board.unplug()
        assert wait_until(lambda: len(played_files(audio_output)) == 1, timeout=15)
        assert f"reply: {UNPLUGGED}" in caplog.text
        board.plug_in()
        assert wait_until(lambda: len(played_files(audio_output)) == 2, timeout=15)
        assert f"reply: {BACK}" in caplog.text
    finally:
        running.stop()
        board.close()
    unplugged, back = played_files(audio_output)
    assert same_speech(unplugged, UNPLUGGED, tmp_path)
    assert same_speech(back, BACK, tmp_path)


def test_with_notices_off_an_unplugged_board_says_nothing(tmp_path, audio_output, quick):
    board = VirtualBoard(heartbeat_ms=200, link=tmp_path / "ttyACM0")
    board.plug_in()
    running = _run(tmp_path, board, notices="false")
    try:
        assert running.sources[0].session.greeted.wait(5)
        board.unplug()
        assert wait_until(lambda: running.hearing_problem() == "the board is unplugged")
        assert not wait_until(lambda: played_files(audio_output), timeout=2)
    finally:
        running.stop()
        board.close()


def test_auto_falling_back_to_the_virtual_board_is_deaf_to_the_voice(tmp_path, monkeypatch, quick):
    """`auto` listens with the virtual board when the board goes and no microphone can be used:
    typed commands only, so the user is told it cannot hear them. A virtual board alone from
    the start (nothing ever heard a voice) says nothing."""
    monkeypatch.setattr("assistant.source_follower.BOARD_GONE_SECONDS", 0.2)
    monkeypatch.setattr("assistant.source_follower.BOARD_LOOK_SECONDS", 0.1)
    monkeypatch.setattr("assistant.source_follower.microphone_problem", lambda device: "not found")
    link = tmp_path / "ttyACM0"
    board = VirtualBoard(heartbeat_ms=200, link=link)
    replies: list[str] = []
    running = _run(
        tmp_path,
        board,
        source="auto",
        port="auto",
        speak=replies.append,
        find=nano_while_linked(link),
    )
    try:
        assert not wait_until(lambda: replies, timeout=2)  # the virtual board, from the start
        board.plug_in()
        assert wait_until(lambda: [r.kind for r in running.sources] == ["serial"], timeout=10)
        assert wait_until(lambda: running.hearing_problem() is None)
        link.unlink()
        board.unplug()
        assert wait_until(lambda: [r.kind for r in running.sources] == ["emulator"], timeout=10)
        assert running.hearing_problem() == "the board is unplugged"
        assert wait_until(lambda: replies == [UNPLUGGED], timeout=15)
    finally:
        running.stop()
        board.close()


def test_a_microphone_that_cannot_be_opened_is_told(tmp_path, quick):
    path = tmp_path / "config.yaml"
    path.write_text("source: microphone\nmicrophone: {device: no such microphone}\n")
    replies: list[str] = []
    running = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path, replies.append)
    running.start()
    running.open_default_sources()
    try:
        notice = deaf_notice("the microphone is not working")
        assert wait_until(lambda: replies == [notice], timeout=15)
    finally:
        running.stop()


def _to_edit(folder: Path, notices: str) -> tuple[Assistant, Path, str]:
    """An assistant on its own virtual board, its configuration file, and the file's text."""
    running = _run(folder, None, notices=notices)
    config = folder / "config.yaml"
    return running, config, config.read_text()


@pytest.mark.parametrize("notices", ["true", "false"])
def test_a_reload_that_failed_is_said_once_and_one_that_worked_is_not(
    tmp_path, audio_output, caplog, notices
):
    """Whoever edited the file hears, at each reload that failed, that the new configuration
    did not take (with notices on); a reload that worked, as the start, says nothing."""
    caplog.set_level(logging.INFO)
    running, config, good = _to_edit(tmp_path, notices)
    said = notices == "true"
    try:
        config.write_text(good.replace("recorder.dim", "recorder.dimm"))
        for failed in (1, 2):
            assert not running.reload(config).done
            assert running.speaker.wait_idle(30)
            assert len(played_files(audio_output)) == failed * said
        config.write_text(good)
        assert running.reload(config).done
        assert not wait_until(lambda: len(played_files(audio_output)) > 2 * said, timeout=2)
    finally:
        running.stop()
    expected = 2 * said
    assert caplog.text.count(f"reply: {RELOAD_FAILED}") == expected
    assert all(same_speech(wav, RELOAD_FAILED, tmp_path) for wav in played_files(audio_output))


@pytest.mark.parametrize("notices", ["true", "false"])
def test_a_reload_with_changes_that_wait_for_a_restart_says_so_once(
    tmp_path, audio_output, caplog, notices
):
    """Whoever edited the file hears, once at the reload that changed them, that some changes
    (here the source and the speech rate) wait for a restart; a reload that changes only what
    it applies says nothing."""
    caplog.set_level(logging.INFO)
    running, config, good = _to_edit(tmp_path, notices)
    said = notices == "true"
    try:
        config.write_text(good.replace("recorder.dim", "recorder.bright"))
        assert running.reload(config).done
        assert not wait_until(lambda: played_files(audio_output), timeout=2)
        restart = good.replace("source: emulator", "source: microphone")
        config.write_text(restart.replace("{notices: ", "{rate: 150, notices: "))
        assert running.reload(config).done
        assert running.speaker.wait_idle(30)
        assert len(played_files(audio_output)) == said
        assert running.reload(config).done  # nothing changed since: nothing more to tell
        assert not wait_until(lambda: len(played_files(audio_output)) > said, timeout=2)
    finally:
        running.stop()
    assert caplog.text.count("take effect only after a restart: source, speech") == 1
    assert caplog.text.count(f"reply: {RESTART_NEEDED}") == said
    assert all(same_speech(wav, RESTART_NEEDED, tmp_path) for wav in played_files(audio_output))
