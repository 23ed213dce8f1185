"""The serial link against the virtual board on a real pseudo-terminal."""

import logging
import threading
import time

import pytest
from waiting import wait_until

from assistant import protocol
from assistant.emulator import VirtualBoard
from assistant.link import LineSplitter, SerialSource
from assistant.sources import DeviceSession, LinkStats


class Running:
    """A SerialSource reading in a thread, with the commands it produced."""

    def __init__(self, port, **options):
        self.events = []
        self.stats = LinkStats()
        self.session = DeviceSession("test", "desk", self.events.append, self.stats)
        self.source = SerialSource(port, stats=self.stats, **options)
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self.source.run, args=(self.session.deliver, self.stopping), daemon=True
        )
        self.thread.start()
        assert self.source.connected.wait(5), "the link did not connect"

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture
def board(tmp_path):
    board = VirtualBoard(link=tmp_path / "ttyKWS0", heartbeat_ms=100)
    board.plug_in()
    yield board
    board.close()


@pytest.fixture
def link(board):
    running = Running(str(board.link), heartbeat_timeout=0.5)
    assert board.host_connected.wait(5), "the virtual board did not see the host open the port"
    yield running
    running.stop()


def test_detections_arrive_as_commands_in_order(board, link):
    for label in ("on", "up", "stop"):
        board.detect(label, 0.91)
    assert wait_until(lambda: len(link.events) == 3)
    assert [e.command for e in link.events] == ["on", "up", "stop"]
    assert all(e.score == 0.91 and e.site == "desk" for e in link.events)
    assert link.stats.lost == 0


def test_the_boards_info_is_logged_when_it_connects(board, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="assistant.source"):
        running = Running(str(board.link))
        try:
            assert wait_until(lambda: "test: arena " in caplog.text)
        finally:
            running.stop()
    assert "thresholds on:0.800,off:0.800" in caplog.text


def test_malformed_and_oversized_lines_are_counted_and_skipped(board, link):
    board.write_raw(b"DET seq=99 label=up score=2 ms=1\n")
    board.write_raw(b"GARBAGE\n")
    board.write_raw(b"X" * 500 + b"\n")
    board.detect("go")
    assert wait_until(lambda: [e.command for e in link.events] == ["go"])
    assert link.stats.by_error == {"bad_value": 1, "unknown_type": 1, "too_long": 1}


def test_a_board_of_another_protocol_version_is_refused_until_it_speaks_ours(board, link, caplog):
    hello = protocol.Hello(0, protocol.PROTOCOL_VERSION + 1, "9.0", "m", ("on", "off"))
    with caplog.at_level(logging.ERROR):
        board.send(hello)
        board.detect("on")
        assert wait_until(lambda: link.stats.refused == 1)
    assert "speaks protocol 2, this assistant speaks 1" in caplog.text
    assert "update the assistant" in caplog.text
    board.send(protocol.Hello(0, protocol.PROTOCOL_VERSION, "1.0", "m", ("on", "off")))
    board.detect("off")
    assert wait_until(lambda: [e.command for e in link.events] == ["off"])


def test_a_board_whose_setup_failed_is_reported_with_the_stage(board, link, caplog):
    with caplog.at_level(logging.ERROR, logger="assistant.source"):
        board.send(protocol.Error(0, "setup_mic"), restart_count=True)
        assert wait_until(lambda: "could not start: its mic setup failed" in caplog.text)


def test_gaps_in_sequence_numbers_are_counted_as_lost_lines(board, link):
    board.detect("on")
    board.skip_seq(3)
    board.detect("off")
    assert wait_until(lambda: len(link.events) == 2)
    assert link.stats.lost == 3


def test_requests_get_replies(board, link):
    link.source.request(protocol.Request("ping", id="abc"))
    assert link.session.wait_for_reply(protocol.Pong, 2) == protocol.Pong(
        link.session.last_seq, "abc"
    )
    link.source.request(protocol.Request("set", label="up", score=0.5))
    assert isinstance(link.session.wait_for_reply(protocol.Ok, 2), protocol.Ok)
    assert board.thresholds["up"] == 0.5


def test_unplug_and_replug_reconnects_and_loses_nothing_that_arrived(board, link, caplog):
    board.detect("on")
    assert wait_until(lambda: len(link.events) == 1)
    with caplog.at_level(logging.INFO, logger="assistant.link"):
        board.unplug()
        assert wait_until(lambda: link.stats.reconnects == 1)
        time.sleep(0.3)
        board.plug_in()
        assert board.host_connected.wait(5)
        board.detect("off")
        assert wait_until(lambda: len(link.events) == 2)
    assert [e.command for e in link.events] == ["on", "off"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("is gone" in m for m in messages) == 1
    assert sum("back on" in m for m in messages) == 1
    assert link.stats.lost == 0  # the board's HELLO after a replug starts a new count


def test_a_silent_board_is_reported(board, caplog):
    board.heartbeat_ms = 10_000
    with caplog.at_level(logging.WARNING, logger="assistant.link"):
        running = Running(str(board.link), heartbeat_timeout=0.3)
        try:
            assert wait_until(lambda: any("silent" in r.getMessage() for r in caplog.records))
        finally:
            running.stop()


def test_waits_for_a_board_that_is_not_there_yet(tmp_path):
    events = []
    source = SerialSource(str(tmp_path / "ttyNone"))
    stopping = threading.Event()
    thread = threading.Thread(
        target=source.run, args=(DeviceSession("t", "s", events.append).deliver, stopping)
    )
    thread.start()
    board = VirtualBoard(link=tmp_path / "ttyNone")
    board.plug_in()
    try:
        assert source.connected.wait(5) and board.host_connected.wait(5)
        board.detect("up")
        assert wait_until(lambda: len(events) == 1)
    finally:
        stopping.set()
        thread.join(5)
        board.close()


def test_line_splitter_joins_lines_split_across_reads():
    splitter = LineSplitter(LinkStats())
    assert splitter.feed(b"HB seq=1 ") == []
    assert splitter.feed(b"ms=5\nHB seq=2 ms=6\nHB") == [b"HB seq=1 ms=5", b"HB seq=2 ms=6"]
    assert splitter.feed(b" seq=3 ms=7\r\n") == [b"HB seq=3 ms=7\r"]


def test_line_splitter_drops_an_oversized_line_arriving_in_pieces():
    stats = LinkStats()
    splitter = LineSplitter(stats)
    for _ in range(10):
        assert splitter.feed(b"Y" * 100) == []
    assert splitter.feed(b"tail\nHB seq=1 ms=1\n") == [b"HB seq=1 ms=1"]
    assert stats.by_error == {"too_long": 1}
