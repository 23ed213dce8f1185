"""The sketch's audio path (firmware/kws/src/audio_schedule.h, run by host_tool with the board's
framing and a windowing frontend) infers on the desktop pipeline's schedule, at its times, and
stamps each inference with the time its audio was captured, however much audio the ring lost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from assistant.pipeline import ScoreStream, load_contract

PDM_BLOCK = 256  # samples per microphone interrupt (16 ms)
MAX_CHUNKS_PER_PASS = 5  # board_config.h kMaxChunksPerPass
RING_SAMPLES = 8192  # board_config.h kAudioRingSamples
SAMPLE_RATE = 16000


class Scoreless:
    """Stands in for the model: the schedule does not depend on the scores."""

    def __init__(self, labels: int):
        self.labels = labels

    def run_batch(self, windows: np.ndarray) -> np.ndarray:
        return np.zeros((len(windows), self.labels), dtype=np.int8)


def desktop_times(samples: int, chunk: int = 1600) -> list[int]:
    contract = load_contract()
    stream = ScoreStream(Scoreless(len(contract.labels)), contract)
    times = []
    for start in range(0, samples, chunk):
        count = min(chunk, samples - start)
        times += [i.time_ms for i in stream.feed(np.zeros(count, dtype=np.int16))]
    return times


@dataclass(frozen=True)
class BoardRun:
    """What host_tool schedule printed: each inference's time and the index, in the captured
    audio, of the last sample of its window; the chunks each loop pass read; the samples the ring
    dropped."""

    times: list[int]
    last_samples: list[int]
    passes: list[int]
    dropped: int

    def assert_stamped_at_capture(self) -> None:
        """Each inference's time is the end of its window in the captured audio, lost audio
        included: the capture time of its last sample, plus that sample."""
        assert self.times == [(last + 1) * 1000 // SAMPLE_RATE for last in self.last_samples]


def unwrap(stamps: list[int]) -> list[int]:
    """Sample indices from their low 16 bits (increasing, each less than 65536 past the last)."""
    index, indices = -1, []
    for stamp in stamps:
        index += (stamp - index) % 65536
        indices.append(index)
    return indices


def board(host_tool, events: list[str]) -> BoardRun:
    lines = host_tool.run("schedule", "".join(event + "\n" for event in [*events, "dropped"]))
    values: dict[str, list[list[int]]] = {"infer": [], "pass": [], "dropped": []}
    for line in lines:
        kind, *numbers = line.split()
        values[kind].append([int(number) for number in numbers])
    return BoardRun(
        times=[time for time, _ in values["infer"]],
        last_samples=unwrap([last for _, last in values["infer"]]),
        passes=[chunks for (chunks,) in values["pass"]],
        dropped=values["dropped"][0][0],
    )


def in_time(blocks: int) -> list[str]:
    """A loop that keeps up: a pass after each microphone block."""
    return ["pdm 256", "pass"] * blocks


def passes(count: int) -> list[str]:
    """Loop passes while the microphone brings nothing."""
    return ["pass"] * count


def stall(blocks: int) -> list[str]:
    """The loop is busy while the microphone brings `blocks` blocks."""
    return ["pdm 256"] * blocks


def test_inferences_come_at_the_desktop_times_however_the_loop_keeps_up(host_tool):
    rng = np.random.default_rng(3)
    events, blocks = [], 0
    for _ in range(900):
        # Mostly a pass every block or two; now and then a slow pass (an inference, USB)
        # lets up to 20 blocks (320 ms) pile up in the 512 ms ring.
        burst = int(rng.integers(0, 3)) if rng.random() > 0.05 else int(rng.integers(10, 21))
        events += stall(burst) + passes(1)
        blocks += burst
    run = board(host_tool, events + passes(40))
    assert run.dropped == 0
    assert max(run.passes) == MAX_CHUNKS_PER_PASS  # backlogs are worked off a few chunks a pass
    assert run.passes[-1] == 0
    assert run.times == desktop_times(blocks * PDM_BLOCK)
    assert len(run.times) > 100
    run.assert_stamped_at_capture()


def test_audio_the_ring_dropped_moves_the_clock_on_after_the_ring_s_backlog(host_tool):
    """A 1 s stall: the ring keeps the first 512 ms and drops the rest. The inferences on that
    backlog come 100 ms apart as before; the lost audio lies after them."""
    events = in_time(100) + stall(63) + passes(40) + in_time(100)
    run = board(host_tool, events)
    assert run.dropped == 63 * PDM_BLOCK - RING_SAMPLES
    run.assert_stamped_at_capture()
    intervals = np.diff(run.times)
    (late,) = np.flatnonzero(intervals != 100)  # one longer interval, at the lost audio
    assert abs(intervals[late] - (100 + run.dropped * 1000 // SAMPLE_RATE)) <= 1
    stall_ms = 100 * PDM_BLOCK * 1000 // SAMPLE_RATE
    backlog_ms = RING_SAMPLES * 1000 // SAMPLE_RATE
    assert stall_ms + backlog_ms - 100 < run.times[late] <= stall_ms + backlog_ms
    assert run.times[-1] <= (263 * PDM_BLOCK) * 1000 // SAMPLE_RATE


@pytest.mark.parametrize(
    ("events", "gaps"),
    [
        # Two gaps in the ring at once: two passes between two stalls that each fill it.
        (in_time(100) + stall(40) + passes(2) + stall(30) + passes(40) + in_time(50), 2),
        # After 32 blocks (the ring's size) read in time, a stall fills the ring from the start
        # of its buffer to the end: the gap lies at the buffer's wrap.
        (in_time(32) + stall(40) + passes(40) + in_time(50), 1),
        # The ring stays full: a pass reads 100 ms, and 112 ms arrive before the next.
        (in_time(80) + stall(40) + (passes(1) + stall(7)) * 3 + passes(40) + in_time(50), 4),
    ],
    ids=["two_gaps", "gap_at_the_ring_s_wrap", "four_gaps"],
)
def test_each_inference_is_stamped_with_the_audio_it_ran_on(host_tool, events, gaps):
    run = board(host_tool, events)
    assert run.dropped > 0
    run.assert_stamped_at_capture()
    assert np.count_nonzero(np.diff(run.times) != 100) == gaps


def test_a_loop_that_falls_behind_again_and_again_stamps_each_inference_exactly(host_tool):
    """Several gaps in the ring at a time, of all sizes, wherever the passes leave them."""
    rng = np.random.default_rng(5)
    events = []
    for _ in range(600):
        events += stall(int(rng.integers(1, 4))) + passes(int(rng.random() < 0.33))
    run = board(host_tool, events + passes(40))
    assert run.dropped > 0
    assert np.count_nonzero(np.diff(run.times) != 100) > 5
    run.assert_stamped_at_capture()
