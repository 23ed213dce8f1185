"""How late a board's lines are read, from its heartbeats (docs/protocol.md, Lines read late)."""

import pytest

from assistant import protocol
from assistant.lateness import ReadLateness


def heartbeats(lateness: ReadLateness, start_ms: int, count: int, host: float, rate=1.0):
    """`count` heartbeats a second apart from board uptime `start_ms`, read at `host` onwards,
    the board's clock running `rate` times the host's; the host time of the last."""
    for n in range(count):
        host_at = host + n / rate
        lateness.heartbeat((start_ms + n * 1000) & protocol.MAX_SEQ, host_at)
    return host_at


def test_lines_read_on_time_across_the_uptime_wrap_are_not_late():
    lateness = ReadLateness()
    last = heartbeats(lateness, protocol.MAX_SEQ - 2500, 6, 100.0)
    assert lateness.detection(last + 0.9) == 0.0


def test_a_board_clock_slower_than_the_hosts_never_seems_late():
    lateness = ReadLateness()  # 100 ppm slow, five times a crystal's drift, for a day
    last = heartbeats(lateness, 0, 86_400, 0.0, rate=1 - 100e-6)
    assert lateness.detection(last + 0.5) == 0.0


def test_a_detection_from_a_backlog_is_late_by_its_wait_and_the_next_one_is_not():
    lateness = ReadLateness()
    last = heartbeats(lateness, 0, 10, 0.0)  # board time 0 at host time 0, read on time
    read = last + 61  # a minute's lines read at once: heartbeats of board times 10 s to 69 s
    lateness.heartbeat(10_000, read)
    assert lateness.detection(read) == pytest.approx(read - 10 - 1, abs=0.01)
    for ms in range(11_000, 70_000, 1000):
        lateness.heartbeat(ms, read)
    assert lateness.detection(read) == pytest.approx(read - 69 - 1, abs=0.1)
    lateness.heartbeat(70_000, read + 0.1)  # the board's next, sent as the backlog was read
    assert lateness.detection(read + 0.2) == 0.0


def test_nothing_is_judged_before_two_heartbeats_nor_after_lines_lost():
    lateness = ReadLateness()
    assert lateness.detection(50.0) == 0.0
    lateness.heartbeat(1000, 0.0)
    assert lateness.detection(50.0) == 0.0  # no period known yet
    lateness.heartbeat(2000, 1.0)
    assert lateness.detection(50.0) == pytest.approx(48.0)
    lateness.lost()
    assert lateness.detection(50.0) == 0.0
