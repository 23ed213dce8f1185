"""The serial link against the virtual board on a real pseudo-terminal."""

import errno
import itertools
import logging
import os
import re
import signal
import threading
import time
import tty
from pathlib import Path

import pytest
import serial
from held_event import AnnouncedLock, HeldAtFirstCheck
from local_midnight import midnight_since
from manual_clock import Clock
from waiting import read_for, wait_until

from assistant import link as serial_link
from assistant import protocol
from assistant.emulator import VirtualBoard
from assistant.link import LineSplitter, OpenTrouble, SerialSource
from assistant.model_files import load_contract
from assistant.ratelimit import WarningLimiter
from assistant.recognizer import DEFAULT_THRESHOLD
from assistant.replugs import ReplugLog
from assistant.sources import DeviceSession, LinkStats

NEXT_OPEN = serial_link.BACKOFF_MAX + 10.0
"""Seconds to wait for the link's next attempt to open a port that is away: the attempts are
up to BACKOFF_MAX apart once the board has been away a while (as it seems to a test held up
on a busy machine), plus a margin for that machine."""


class Running:
    """A SerialSource reading in a thread, with the commands it produced."""

    def __init__(self, port, stats=None, max_delay=None, **options):
        self.events = []
        self.stats = stats or LinkStats()
        self.session = DeviceSession(
            "test", "desk", self.events.append, self.stats, max_delay=max_delay
        )
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

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.stop()


@pytest.fixture
def board(tmp_path):
    board = VirtualBoard(link=tmp_path / "ttyKWS0", heartbeat_ms=100)
    board.plug_in()
    yield board
    board.close()


def greeted(board, **options) -> Running:
    """A link to `board` that has had its HELLO and the INFO it asks for then."""
    running = Running(str(board.link), **options)
    assert board.host_connected.wait(5), "the virtual board did not see the host open the port"
    assert running.session.wait_for_reply(protocol.Info, 5), "no reply to the INFO after HELLO"
    return running


@pytest.fixture
def link(board):
    running = greeted(board, heartbeat_timeout=0.5)
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
    with (
        caplog.at_level(logging.INFO, logger="assistant.source"),
        Running(str(board.link)),
    ):
        assert wait_until(lambda: "test: arena " in caplog.text)
    # those a board built with the committed model reports: its card's, as its header's
    card = ",".join(f"{command}:{t:.3f}" for command, t in load_contract().thresholds.items())
    assert f"thresholds {card}" in caplog.text


def test_a_board_has_the_recognizers_threshold_of_a_command_its_card_leaves_out():
    board = VirtualBoard(("yes", "no"), thresholds={"yes": 0.7})
    assert board.thresholds == {"yes": 0.7, "no": DEFAULT_THRESHOLD}
    with pytest.raises(ValueError, match="no threshold for 'lamp'"):
        VirtualBoard(("yes", "no"), thresholds={"lamp": 0.7})


def test_malformed_and_oversized_lines_are_counted_and_skipped(board, link):
    board.write_raw(b"DET seq=99 label=up score=2 ms=1\n")
    board.write_raw(b"GARBAGE\n")
    board.write_raw(b"X" * 500 + b"\n")
    board.detect("go")
    assert wait_until(lambda: [e.command for e in link.events] == ["go"])
    assert link.stats.by_error == {"bad_value": 1, "unknown_type": 1, "too_long": 1}


def test_floods_of_malformed_and_lost_lines_are_limited_per_minute_and_summed_up(board, caplog):
    clock = Clock()
    stats = LinkStats(warnings=WarningLimiter(per_window=5, clock=clock))
    with caplog.at_level(logging.WARNING), greeted(board, stats=stats) as link:
        for _ in range(30):
            board.write_raw(b"GARBAGE\n")
            board.skip_seq(1)
            board.detect("on")
        assert wait_until(lambda: len(link.events) == 30)
        warned = [r.getMessage() for r in caplog.records]
        assert sum("skipped a malformed line" in m for m in warned) == 5
        assert sum("lost before" in m for m in warned) == 5
        assert not any("suppressed" in m for m in warned)
        clock.now += 60  # the summaries come without another bad line
        assert wait_until(lambda: "25 more lost-line warning(s) suppressed" in caplog.text)
        assert wait_until(lambda: "25 more malformed-line warning(s) suppressed" in caplog.text)
        board.write_raw(b"GARBAGE\n")  # a new minute: warned about again
        assert wait_until(lambda: caplog.text.count("skipped a malformed line") == 6)
    assert (stats.malformed, stats.lost) == (31, 30)


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


class OlderFirmware(VirtualBoard):
    """A board whose firmware does not know the HELLO request."""

    def answer(self, line: bytes) -> protocol.Message:
        reply = super().answer(line)
        return protocol.Error(0, "unknown_command") if isinstance(reply, protocol.Hello) else reply


@pytest.fixture
def missed_open(tmp_path):
    """Makes a board (of a VirtualBoard class) that did not see the host open the port, as one
    closed and reopened within a loop pass: no HELLO, and its count goes on from the last host."""
    boards = []

    def plug_in(kind: type[VirtualBoard] = VirtualBoard) -> VirtualBoard:
        board = kind(link=tmp_path / "ttyKWS0", heartbeat_ms=100, greets_on_open=False)
        board.plug_in()
        board.skip_seq(41)
        boards.append(board)
        return board

    yield plug_in
    for board in boards:
        board.close()


def test_a_board_that_missed_the_opening_is_asked_for_its_hello(missed_open, caplog):
    board = missed_open()
    with (
        caplog.at_level(logging.INFO, logger="assistant.link"),
        Running(str(board.link)) as running,
    ):
        assert board.host_connected.wait(5)
        board.detect("on")  # queued for the previous host
        assert wait_until(lambda: running.session.hello == board.hello())
        board.detect("off")
        assert wait_until(lambda: len(running.events) == 1)
        assert isinstance(running.session.wait_for_reply(protocol.Info, 2), protocol.Info)
    assert [e.command for e in running.events] == ["off"]
    assert running.stats.stale >= 1 and running.stats.lost == 0
    assert "no HELLO from the board on" in caplog.text


def test_a_hello_the_hosts_opening_flushed_away_is_asked_for_again(board, caplog):
    """The board greets as soon as it sees the port open, which can be before the host's open
    has flushed the input (pyserial's open does so last): that HELLO is lost, and the board's
    lines are stale until the host has asked for another. So the board seeing the host is no
    sign that the host hears it; the HELLO heard is (the tests wait for that)."""
    opening = os.open(board.path, os.O_RDWR | os.O_NOCTTY)  # the port opens: the board greets
    try:
        assert wait_until(lambda: board.sent_lines >= 1)
        with (
            caplog.at_level(logging.INFO, logger="assistant.link"),
            Running(str(board.link)) as running,
        ):
            assert running.session.greeted.wait(5)
            board.detect("off")
            assert wait_until(lambda: len(running.events) == 1)
    finally:
        os.close(opening)
    assert "no HELLO from the board on" in caplog.text


def test_a_hello_read_late_is_handled_before_the_host_asks_for_one(monkeypatch):
    """A host thread that reads the HELLO only after HELLO_WAIT (delayed by the machine) must
    not ask for one it has: the firmware answers a HELLO request by restarting its count,
    which would make the lines already queued after the first HELLO look lost."""
    monkeypatch.setattr(serial_link, "HELLO_WAIT", 0.0)  # every read comes after the wait
    master, slave = os.openpty()
    tty.setraw(slave)
    connection = serial.Serial(os.ttyname(slave), timeout=0.05)
    source = SerialSource(connection.port)
    delivered = []
    stopping = threading.Event()
    hello = protocol.Hello(0, protocol.PROTOCOL_VERSION, "1.0", "m", ("on", "off"))
    line = (protocol.encode(hello) + "\n").encode()
    os.write(master, line)
    # waiting whole before the first read (the kernel hands a pty's input over a moment later)
    assert wait_until(lambda: connection.in_waiting == len(line))
    thread = threading.Thread(
        target=source._serve, args=(connection, delivered.append, stopping, True)
    )
    thread.start()
    try:
        assert wait_until(lambda: delivered == [hello])
        requests = b""
        while not requests.endswith(b"\n"):
            requests += os.read(master, 100)
    finally:
        stopping.set()
        thread.join(5)
        connection.close()
        os.close(master)
        os.close(slave)
    assert requests == b"INFO\n"  # the INFO a HELLO is followed by, and no HELLO request


def test_a_board_that_never_says_hello_is_reported_and_not_believed(missed_open, caplog):
    board = missed_open(OlderFirmware)
    with (
        caplog.at_level(logging.WARNING, logger="assistant.link"),
        Running(str(board.link), heartbeat_timeout=0.5) as running,
    ):
        assert wait_until(lambda: "has sent no HELLO" in caplog.text)
        board.detect("on")
        assert wait_until(lambda: running.stats.stale >= 10)
    assert "is its firmware older than this assistant?" in caplog.text
    assert running.events == [] and running.session.hello is None


def test_a_ptys_own_name_as_the_port_is_warned_about_and_its_link_is_not(board, caplog):
    with caplog.at_level(logging.WARNING, logger="assistant.link"), greeted(board):
        pass
    assert "pseudo-terminal's own name" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="assistant.link"), Running(board.path):
        pass
    assert f"{board.path} is a pseudo-terminal's own name" in caplog.text
    assert "connect to the link `assistant emulate` prints instead" in caplog.text


def test_a_board_that_sends_nothing_is_reported_silent_not_old(caplog):
    master, slave = os.openpty()  # a hung board: nothing reads the requests or answers them
    tty.setraw(slave)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="assistant.link"),
            Running(os.ttyname(slave), heartbeat_timeout=0.3),
        ):
            # asked for a HELLO every HELLO_WAIT (longer than the heartbeat timeout): the
            # second ask comes in a later pass of the read loop than the one that found the
            # board silent, so by then that pass has said all it would
            asked = read_for(master, 5, until=lambda data: data.count(b"HELLO\n") >= 2)
            assert asked.count(b"HELLO\n") >= 2, asked
    finally:
        os.close(master)
        os.close(slave)
    assert "has sent no HELLO" not in caplog.text
    assert caplog.text.count("board is silent") == 1  # said once, not at every empty read


def test_a_board_whose_setup_failed_is_believed_without_a_hello(missed_open, caplog):
    board = missed_open()
    with (
        caplog.at_level(logging.ERROR, logger="assistant.source"),
        Running(str(board.link)),
    ):
        assert board.host_connected.wait(5)
        board.send(protocol.Error(0, "setup_mic"), restart_count=True)
        assert wait_until(lambda: "could not start: its mic setup failed" in caplog.text)


def test_gaps_in_sequence_numbers_are_counted_as_lost_lines(board, link):
    board.detect("on")
    board.skip_seq(3)
    board.detect("off")
    assert wait_until(lambda: len(link.events) == 2)
    assert link.stats.lost == 3


def test_a_seq_that_goes_back_is_warned_about_not_counted_as_billions_lost(board, link, caplog):
    board.detect("on")
    assert wait_until(lambda: len(link.events) == 1)
    back = link.events[0].seq - 1
    board.write_raw(f"DET seq={back} label=off score=0.900 ms=1\n".encode())
    board.write_raw(f"DET seq={back + 3} label=up score=0.900 ms=2\n".encode())
    assert wait_until(lambda: len(link.events) == 3)
    assert link.stats.lost == 2
    assert f"seq went back from {back + 1} to {back} without a HELLO: the board" in caplog.text
    assert "check that no other program (a serial monitor) has the port open" in caplog.text


def test_requests_get_replies(board, link):
    link.source.request(protocol.Request("ping", id="abc"))
    assert link.session.wait_for_reply(protocol.Pong, 2) == protocol.Pong(
        link.session.last_seq, "abc"
    )
    link.source.request(protocol.Request("set", label="up", score=0.5))
    assert isinstance(link.session.wait_for_reply(protocol.Ok, 2), protocol.Ok)
    assert board.thresholds["up"] == 0.5


def test_requests_typed_in_a_terminal_end_at_a_carriage_return_or_crlf(board):
    """screen and PuTTY send a bare \r on Enter; "\r\n" is one line end, even cut in two."""
    with serial.Serial(str(board.link), timeout=2) as terminal:

        def next_reply() -> protocol.Message:
            for _ in range(30):  # a heartbeat every 0.1 s: a reply that never comes fails in 3 s
                message = protocol.parse_line(terminal.readline())
                if not isinstance(message, protocol.Heartbeat):
                    return message
            raise AssertionError("only heartbeats came")

        assert isinstance(next_reply(), protocol.Hello)
        for typed in (b"PING a\r", b"PING b\r", b"\n", b"PING c\r\n", b"PING d\n"):
            terminal.write(typed)
            time.sleep(0.05)  # one read each, as keys arrive
        replies = [next_reply() for _ in range(4)]
        assert [(type(reply), reply.id) for reply in replies] == [
            (protocol.Pong, id) for id in "abcd"
        ]
        terminal.write(b"INFO\r")
        assert isinstance(next_reply(), protocol.Info)


def test_unplug_and_replug_reconnects_and_loses_nothing_that_arrived(board, link, caplog):
    board.detect("on")
    assert wait_until(lambda: len(link.events) == 1)
    with caplog.at_level(logging.INFO, logger="assistant.link"):
        # the link first, as a real board's device node goes with it: else the link may reopen
        # the old pty's name, which another program's new pty may have had meanwhile
        board.remove_link()
        board.unplug()
        assert wait_until(lambda: link.stats.reconnects == 1)
        assert wait_until(lambda: "is gone" in caplog.text)
        assert re.fullmatch(  # what `assistant status` shows
            rf"waiting for the board on {board.link}, unplugged at \d\d:\d\d:\d\d",
            link.source.description,
        )
        with midnight_since(time.time()) as yesterday:  # asked for the next day: its date too
            assert re.fullmatch(
                rf"waiting for the board on {board.link}, unplugged at {yesterday} "
                r"23:\d\d:\d\d",
                link.source.description,
            )
        board.plug_in()
        assert link.session.wait_for_reply(protocol.Info, 5)  # asked for once greeted again
        assert link.source.description == f"board on {board.link}"
        board.detect("off")
        assert wait_until(lambda: len(link.events) == 2)
    assert [e.command for e in link.events] == ["on", "off"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("is gone" in m for m in messages) == 1
    assert sum("back on" in m for m in messages) == 1
    assert not any("waiting for the board" in m for m in messages)  # "is gone" said it
    assert link.stats.lost == 0  # the board's HELLO after a replug starts a new count


def replug(board, link, replugs: int) -> None:
    """Unplug `board` and plug it back in, the link's `replugs`-th reconnection."""
    board.remove_link()
    board.unplug()
    assert wait_until(lambda: link.stats.reconnects == replugs)
    board.plug_in()
    assert wait_until(link.source.connected.is_set, timeout=NEXT_OPEN)
    assert board.host_connected.wait(5)


def link_lines(caplog) -> list[str]:
    """What the link and its session logged (not the virtual board's own lines)."""
    names = ("assistant.link", "assistant.source")
    return [r.getMessage() for r in caplog.records if r.name in names]


def test_a_board_that_keeps_coming_and_going_is_logged_once_then_summed_up(board, caplog):
    """A loose cable, for days: the first replug of a window is logged, both lines at once
    (with the board's INFO); the next ones are summed up in one line when the window ends."""
    clock = Clock()
    replugs = ReplugLog(logged=1, window=600, still_gone=10, clock=clock)
    with caplog.at_level(logging.INFO), greeted(board, replugs=replugs) as link:
        caplog.clear()
        replug(board, link, 1)
        assert wait_until(lambda: "board back on" in caplog.text)
        assert link.session.wait_for_reply(protocol.Info, 5)
        logged = link_lines(caplog)
        for replugs_so_far in range(2, 8):
            replug(board, link, replugs_so_far)
        assert not link.session.wait_for_reply(protocol.Info, 0.3)  # not asked: not logged
        assert link_lines(caplog) == logged
        clock.now += 600
        assert wait_until(lambda: "more time(s)" in caplog.text)
    messages = link_lines(caplog)
    assert sum("is gone" in m for m in messages) == 1
    assert sum("board back on" in m for m in messages) == 1
    assert messages[len(logged)] == (
        f"board on {board.link} unplugged and found again 6 more time(s) in the last 10 "
        "minutes, not logged one by one: a loose cable or connector? (`assistant status` "
        "counts the reconnects)"
    )
    assert not any("waiting for the board" in m for m in messages)
    assert link.stats.reconnects == 7


def test_a_board_gone_unlogged_is_logged_once_it_stays_away(board, caplog):
    clock = Clock()
    replugs = ReplugLog(logged=1, window=600, still_gone=10, clock=clock)
    with (
        caplog.at_level(logging.INFO),
        greeted(board, replugs=replugs) as link,
    ):
        replug(board, link, 1)
        assert link.session.wait_for_reply(protocol.Info, 5)  # logged before the log is cleared
        caplog.clear()
        board.remove_link()
        board.unplug()
        assert wait_until(lambda: link.stats.reconnects == 2)
        clock.now += 9
        time.sleep(0.5)  # the link tries to open the port again meanwhile
        assert link_lines(caplog) == []
        clock.now += 1
        # logged at the link's next attempt to open the port; the one after finds it back
        assert wait_until(lambda: "is gone, for 10 s now" in caplog.text, timeout=NEXT_OPEN)
        board.plug_in()
        assert wait_until(lambda: "board back on" in caplog.text, timeout=NEXT_OPEN)
    lines = [r.getMessage() for r in caplog.records if r.name == "assistant.link"]
    gone, back = lines
    assert re.fullmatch(
        rf"board on {board.link} is gone, for 10 s now \(since \d\d:\d\d:\d\d\); "
        "reconnecting",
        gone,
    )
    assert back == f"board back on {board.link} after 10.0 s"


def test_replugging_again_and_again_leaves_no_descriptor_or_thread_behind(board, link):
    """A board on a loose cable, for months: each reconnection closes the port it opened, and
    the link goes on in its one thread."""
    descriptors, threads = len(os.listdir("/proc/self/fd")), threading.active_count()
    for replugs in range(1, 11):
        board.remove_link()
        board.unplug()
        assert wait_until(lambda: link.stats.reconnects == replugs)  # noqa: B023
        board.plug_in()
        assert wait_until(link.source.connected.is_set)
    assert len(os.listdir("/proc/self/fd")) == descriptors
    assert threading.active_count() == threads


def test_a_board_held_up_sends_one_late_heartbeat_not_a_burst_of_those_it_missed(board):
    """`assistant emulate` stopped a while (Ctrl-Z, then `fg`): its heartbeats go on at their
    pace, not as a burst (a gap between two heartbeats is the board's time between them)."""
    host = os.open(board.link, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(host)
    try:
        assert board.host_connected.wait(5)
        with board._lock:  # the board's thread waits at its next heartbeat
            time.sleep(1.0)

        def gaps(data: bytes) -> list[int]:
            lines = [protocol.parse_line(line) for line in data.split(b"\n")[:-1]]
            times = [m.ms for m in lines if isinstance(m, protocol.Heartbeat)]
            return [later - earlier for earlier, later in itertools.pairwise(times)]

        def after_the_hold(data: bytes) -> list[int]:
            found = gaps(data)
            held = next((i for i, gap in enumerate(found) if gap >= 800), None)
            return [] if held is None else found[held + 1 : held + 4]

        data = read_for(host, 5, until=lambda data: len(after_the_hold(data)) == 3)
    finally:
        os.close(host)
    after = after_the_hold(data)
    assert len(after) == 3, gaps(data)
    assert sum(gap < 20 for gap in after) <= 1, after  # a burst: each about 0 ms after the last


def test_a_silent_board_is_reported_and_then_that_it_talks_again(board, caplog):
    board.heartbeat_ms = 10_000
    with (
        caplog.at_level(logging.INFO, logger="assistant.link"),
        Running(str(board.link), heartbeat_timeout=0.3) as running,
    ):
        assert wait_until(lambda: "board is silent: no line for" in caplog.text)
        assert re.fullmatch(  # what `assistant status` shows
            rf"board on {board.link}, silent since \d\d:\d\d:\d\d", running.source.description
        )
        with midnight_since(time.time()) as yesterday:  # asked for the next day: its date too
            assert re.fullmatch(
                rf"board on {board.link}, silent since {yesterday} 23:\d\d:\d\d",
                running.source.description,
            )
        board.detect("up")
        assert wait_until(lambda: "board is talking again" in caplog.text)
        assert wait_until(lambda: [e.command for e in running.events] == ["up"])
        assert running.source.description == f"board on {board.link}"


def test_waits_for_a_board_that_is_not_there_yet(tmp_path):
    events = []
    source = SerialSource(str(tmp_path / "ttyNone"))
    assert source.description == f"waiting for the board on {tmp_path / 'ttyNone'}"
    session = DeviceSession("t", "s", events.append)
    stopping = threading.Event()
    thread = threading.Thread(target=source.run, args=(session.deliver, stopping))
    thread.start()
    board = VirtualBoard(link=tmp_path / "ttyNone")
    board.plug_in()
    try:
        assert session.greeted.wait(5)
        board.detect("up")
        assert wait_until(lambda: len(events) == 1)
    finally:
        stopping.set()
        thread.join(5)
        board.close()


def test_a_port_held_by_another_program_is_warned_about_once_then_opened(board, caplog):
    monitor = serial.Serial(str(board.link), exclusive=True)  # a serial monitor has it
    events = []
    session = DeviceSession("t", "s", events.append)
    source = SerialSource(str(board.link))
    stopping = threading.Event()
    thread = threading.Thread(target=source.run, args=(session.deliver, stopping))

    def retries() -> int:
        return sum(r.levelno == logging.DEBUG and "cannot open" in r.msg for r in caplog.records)

    try:
        with caplog.at_level(logging.DEBUG, logger="assistant.link"):
            thread.start()
            assert wait_until(lambda: retries() >= 3)
            monitor.close()
            assert wait_until(lambda: session.hello is not None, timeout=10)
        board.detect("up")
        assert wait_until(lambda: len(events) == 1)
    finally:
        monitor.close()
        stopping.set()
        thread.join(5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"cannot open the board on {board.link}: [Errno 11] Could not exclusively" in warnings[0]
    assert "Another program holds the port: close the serial monitor" in warnings[0]
    assert f"{board.link} opened at last, after" in caplog.text
    assert "waiting for the board" not in caplog.text


def test_an_error_warned_about_is_warned_about_again_once_the_port_has_opened(caplog):
    """Once per error while it lasts: a port that opened and then fails again is news."""
    trouble = OpenTrouble()
    busy = OSError(errno.EBUSY, "Device or resource busy")
    with caplog.at_level(logging.INFO, logger="assistant.link"):
        trouble.failed("/dev/ttyACM0", busy)
        trouble.failed("/dev/ttyACM0", busy)
        trouble.opened("/dev/ttyACM0")
        trouble.failed("/dev/ttyACM0", busy)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("close the serial monitor" in w for w in warnings)
    assert caplog.text.count("/dev/ttyACM0 opened at last") == 1


def thread_status(thread: threading.Thread, key: str) -> str:
    """The value of `key` in what Linux says of `thread` (/proc/self/task/ID/status)."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    return next(line.split()[1] for line in status.splitlines() if line.startswith(f"{key}:"))


def wakeups(thread: threading.Thread) -> int:
    """How many times `thread` has slept and been woken so far (Linux counts them)."""
    return int(thread_status(thread, "voluntary_ctxt_switches"))


def test_a_virtual_boards_thread_leaves_stop_signals_to_the_main_thread(board):
    """Python runs a signal's handler in the main thread, and a main thread waiting (as
    `assistant emulate` does for a host, or for Ctrl-C) is not woken by a signal the kernel
    gave another thread: emulate would not stop on SIGTERM, nor remove its link."""

    def blocked() -> set[signal.Signals]:
        mask = int(thread_status(board._server, "SigBlk"), 16)
        return {stop for stop in signal.Signals if mask & 1 << (stop - 1)}

    stops = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    assert wait_until(lambda: stops <= blocked()), f"the board's thread takes {stops - blocked()}"


def test_a_virtual_board_with_a_quiet_host_sleeps_until_there_is_work(tmp_path):
    board = VirtualBoard(link=tmp_path / "ttyKWS0", heartbeat_ms=0)
    board.plug_in()
    try:
        with Running(str(board.link)) as link:
            assert link.session.wait_for_reply(protocol.Info, 5)
            before = wakeups(board._server)
            time.sleep(0.5)
            assert wakeups(board._server) - before <= 2  # a 10 ms poll wakes about 50 times
            link.source.request(protocol.Request("ping", id="awake"))
            assert link.session.wait_for_reply(protocol.Pong, 2)
    finally:
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


def test_line_splitter_keeps_a_line_of_the_longest_length_and_drops_a_longer_one():
    stats = LinkStats()
    splitter = LineSplitter(stats)
    longest = b"X" * protocol.MAX_LINE_BYTES
    assert splitter.feed(longest + b"\r\n" + longest + b"X\n") == [longest + b"\r"]
    assert splitter.feed(longest + b"\r") == []  # in pieces: kept until its end comes
    assert splitter.feed(b"\n") == [longest + b"\r"]
    assert stats.by_error == {"too_long": 1}


def test_a_board_removes_its_link_only_while_the_link_points_at_it(tmp_path):
    link = tmp_path / "ttyKWS0"
    first, second = VirtualBoard(link=link), VirtualBoard(link=link)
    first.plug_in()
    second.plug_in()  # the link now points at the second board's port
    try:
        first.close()
        first.remove_link()
        assert os.readlink(link) == second.path
    finally:
        second.close()
    second.remove_link()
    assert not link.exists() and not link.is_symlink()


def test_a_detection_written_while_the_board_is_unplugged_goes_to_its_own_terminal(tmp_path):
    """A line whose write began before an unplug is written before the terminal closes: never
    to a closed (and maybe reused) file descriptor."""
    board = VirtualBoard(heartbeat_ms=0)
    board.host_connected = held = HeldAtFirstCheck("typist")  # at the write's check
    board._lock = lock = AnnouncedLock("unplugging")
    board.plug_in()
    with serial.Serial(board.path, timeout=2) as host:
        assert isinstance(protocol.parse_line(host.readline()), protocol.Hello)
        failures: list[BaseException] = []

        def type_go() -> None:
            try:
                board.detect("go")
            except BaseException as error:
                failures.append(error)

        typist = threading.Thread(target=type_go, name="typist")
        typist.start()
        assert held.checked.wait(5)
        unplugging = threading.Thread(target=board.unplug, name="unplugging")
        unplugging.start()
        # the unplug waits for the lock the write holds (with the bug it closes and ends at once)
        assert wait_until(lambda: lock.asked.is_set() or not unplugging.is_alive())
        held.go.set()
        typist.join(5)
        unplugging.join(5)
    assert not failures  # with the bug: os.write(None, ...), or to a closed or reused fd
    assert (board.sent_lines, board.dropped_lines) == (2, 0)  # the HELLO and the detection


def test_detections_read_late_from_a_backlog_are_dropped_and_fresh_ones_delivered(board, caplog):
    """The assistant stops reading (here: its handler of "go" holds the link's thread, as Ctrl-Z
    would the whole process) while the board goes on sending: what waited in the port longer
    than max_delay is dropped, counted and warned about; what the board sends next is run."""
    release = threading.Event()
    with greeted(board, max_delay=1.0) as link:
        assert wait_until(lambda: link.stats.lines >= 5), "no heartbeats"

        def held(event):
            link.events.append(event)
            if event.command == "go":
                release.wait(10)

        link.session.on_command = held
        board.detect("go")
        assert wait_until(lambda: [e.command for e in link.events] == ["go"])
        time.sleep(0.3)
        board.detect("on")  # waits in the port with the heartbeats sent meanwhile
        time.sleep(2.0)
        with caplog.at_level(logging.WARNING, logger="assistant.source"):
            release.set()
            assert wait_until(lambda: link.stats.stale_by.get("read_late") == 1)
            board.detect("off")
            assert wait_until(lambda: len(link.events) == 2)
        assert [e.command for e in link.events] == ["go", "off"]
        # heartbeats read before the HELLO (the port's opening may flush the first) are stale too
        assert link.stats.stale_by["read_late"] == 1
        assert (link.stats.detections, link.stats.lost) == (2, 0)
        assert "read_late 1)" in link.stats.summary()
        assert re.search(
            r"test: dropped 'on': read at least \d\.\d s after the board sent it, longer than "
            r"device.max_delay",
            caplog.text,
        )


def test_a_recording_replayed_at_once_is_delivered_whole(tmp_path):
    """`assistant emulate --wav FILE --fast` sends a recording's lines at once, heartbeats of
    its audio time included: its board's clock runs ahead of the host's, which is no delay."""
    board = VirtualBoard(link=tmp_path / "ttyWav", heartbeat_ms=0)  # as --wav: none of its own
    board.plug_in()
    heard = {30_500: "on", 60_500: "off", 119_500: "up"}
    recording = _two_minutes_heard(heard)
    try:
        with greeted(board, max_delay=0.5) as link:
            board.replay(recording, realtime=False)
            assert wait_until(lambda: link.stats.lines >= len(recording) + 2)
            assert [e.command for e in link.events] == list(heard.values())
            assert (link.stats.stale, link.stats.lost) == (0, 0)
    finally:
        board.close()


def test_a_board_going_on_after_a_recording_replayed_at_once_is_heard_on_time(tmp_path, caplog):
    """`assistant emulate --wav FILE --fast --stay`: once the recording is sent the board goes
    on with heartbeats of its own, its uptime going on from the recording's last line, two
    minutes ahead of the host's clock. The link does not find it silent, and a detection it
    sends then is run: an uptime gone back, or jumping ahead, would make it seem read late."""
    board = VirtualBoard(link=tmp_path / "ttyWav", heartbeat_ms=0)  # as --wav: none of its own
    board.plug_in()
    recording = _two_minutes_heard({30_500: "on"})
    try:
        with (
            caplog.at_level(logging.WARNING, logger="assistant.link"),
            greeted(board, max_delay=0.5, heartbeat_timeout=0.3) as link,
        ):
            before = link.stats.lines
            last_ms = board.replay(recording, realtime=False)
            board.start_heartbeats(50, last_ms)
            # twenty heartbeats: a second, over three heartbeat timeouts
            assert wait_until(lambda: link.stats.lines >= before + len(recording) + 20)
            board.detect("off")
            assert wait_until(lambda: len(link.events) == 2)
            assert link.source.hearing_problem is None
        assert last_ms == 120_000
        assert [e.command for e in link.events] == ["on", "off"]
        assert link.events[-1].device_ms > last_ms  # the board's uptime went on
        assert (link.stats.stale, link.stats.lost) == (0, 0)
    finally:
        board.close()
    assert "board is silent" not in caplog.text


def _two_minutes_heard(heard: dict[int, str]) -> list[protocol.Message]:
    """The lines of a board that heard two minutes of a recording: a heartbeat each second of
    it, and the detections `heard` (board time in ms: command), in time order."""
    recording: list[protocol.Message] = [
        protocol.Heartbeat(0, ms) for ms in range(1000, 120_001, 1000)
    ]
    recording += [protocol.Detection(0, label, 0.9, ms) for ms, label in heard.items()]
    return sorted(recording, key=lambda message: message.ms)
