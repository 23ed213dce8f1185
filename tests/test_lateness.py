"""How late a board's lines are read, from its heartbeats (docs/protocol.md, Lines read late),
and how late a microphone's audio is handed over (docs/desktop-listening.md)."""

import pytest

from assistant import protocol
from assistant.lateness import AudioLateness, ReadLateness


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


def test_a_line_is_late_by_how_long_after_the_first_heartbeat_it_is_read():
    lateness = ReadLateness()
    assert lateness.late(50.0) == 0.0  # no heartbeat yet
    lateness.heartbeat(1000, 10.0)
    assert lateness.late(10.0) == 0.0
    assert lateness.late(12.5) == 2.5
    lateness.lost()
    assert lateness.late(12.5) == 0.0


def test_a_line_read_with_its_heartbeat_is_late_by_zero_never_less():
    """A lateness is never below zero, even where float rounding puts a heartbeat's sending a
    hair after its reading. The two read times were found by a random search for such a pair:
    the second sets the offset (58.054... - 1.971), and that offset + 1.971 comes out 7e-15 s
    above 58.054..., so received - sent is negative before the clamp."""
    lateness = ReadLateness()
    lateness.heartbeat(0, 56.08299889315482)
    lateness.heartbeat(1971, 58.05404629361994)
    assert lateness.late(58.05404629361994) == 0.0


def live_blocks(lateness: AudioLateness, start_ms: int, count: int, host: float) -> list[float]:
    """How late `count` blocks of 100 ms from audio time `start_ms` are, each read as it is
    recorded (its read waited for it, 90 ms), the first at `host`."""
    return [lateness.block(start_ms + 100 * n, host + n / 10, waited=0.09) for n in range(count)]


def test_audio_read_as_it_is_recorded_is_not_late_even_on_a_slow_sound_card_clock():
    lateness = AudioLateness()  # 100 ppm slow, for an hour
    late = [lateness.block(100 * n, n / 10 / (1 - 100e-6), None) for n in range(1, 36_000)]
    assert max(late) < 0.001


def test_audio_a_sound_system_kept_is_late_by_its_wait_until_the_backlog_is_read():
    lateness = AudioLateness()
    live_blocks(lateness, 100, 20, 0.1)  # up to 2 s of audio at 2 s
    resumed = 32.0  # stopped for 30 s; the 30 s kept are handed over at once
    assert lateness.block(2100, resumed, waited=30.0) == pytest.approx(29.9, abs=0.01)
    backlog = [lateness.block(2100 + 100 * n, resumed + n / 1000, None) for n in range(1, 300)]
    assert backlog[0] == pytest.approx(29.8, abs=0.01)
    assert backlog[-1] == pytest.approx(0.3, abs=0.05)  # less 0.1% of the 32 s: RISE
    assert max(live_blocks(lateness, 32_000, 10, resumed + 0.4)) < 0.01


def test_audio_lost_in_an_overflow_starts_the_estimate_again_at_a_read_that_waited():
    lateness = AudioLateness()
    live_blocks(lateness, 100, 20, 0.1)
    # 30 s lost: what comes next is recorded now, but the audio clock is 30 s behind
    assert lateness.block(2100, 32.0, None) == pytest.approx(29.9, abs=0.01)  # cannot tell
    assert lateness.block(2200, 32.1, waited=0.09) == 0.0  # its last frame came after 32.01
    assert max(live_blocks(lateness, 2300, 10, 32.2)) < 0.01


def test_a_read_the_assistant_was_stopped_in_is_as_late_as_it_waited():
    lateness = AudioLateness()
    live_blocks(lateness, 100, 20, 0.1)
    stopped = lateness.block(2100, 32.0, waited=30.0)  # stopped while it waited for its audio
    assert stopped == pytest.approx(29.9, abs=0.01)
    assert lateness.block(2200, 32.001, None) == pytest.approx(29.8, abs=0.01)


def test_a_block_late_by_no_more_than_its_read_waited_keeps_the_estimate():
    """Only a block later than its read took tells of audio lost."""
    blocks = [(100, 8.0), (1100, 9.5)]
    probe = AudioLateness()
    late = [probe.block(ms, received, None) for ms, received in blocks][-1]
    assert late > 0.4
    lateness = AudioLateness()
    lateness.block(*blocks[0], None)
    assert lateness.block(*blocks[1], waited=late) == late
