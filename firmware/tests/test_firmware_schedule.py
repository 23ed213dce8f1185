"""The sketch's audio path (firmware/kws/src/audio_schedule.h, run by host_tool with the board's
framing and a windowing frontend) infers on the desktop pipeline's schedule, at its times, and
stamps each inference with the time its audio was captured, however much audio the ring lost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from assistant.frontend import Frontend
from assistant.model_files import load_contract
from assistant.pipeline import ScoreStream

PDM_BLOCK = 256  # samples per microphone interrupt (16 ms)
MAX_CHUNKS_PER_PASS = 5  # board_config.h kMaxChunksPerPass
RING_SAMPLES = 8192  # board_config.h kAudioRingSamples
SAMPLE_RATE = 16000


class Scoreless:
    """Stands in for the model: the schedule does not depend on the scores. Keeps the inputs
    it was given."""

    def __init__(self, labels: int):
        self.labels = labels
        self.windows: list[np.ndarray] = []

    def run_batch(self, windows: np.ndarray) -> np.ndarray:
        self.windows += [window.reshape(-1) for window in windows]
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
    windows: list[np.ndarray]
    """The model's int8 input at each inference, when the frontend's slices were given."""

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
    windows = []
    for line in lines:
        kind, *fields = line.split()
        if kind == "window":
            windows.append(np.frombuffer(bytes.fromhex(fields[0]), np.int8))
        else:
            values[kind].append([int(number) for number in fields])
    return BoardRun(
        times=[time for time, _ in values["infer"]],
        last_samples=unwrap([last for _, last in values["infer"]]),
        passes=[chunks for (chunks,) in values["pass"]],
        dropped=values["dropped"][0][0],
        windows=windows,
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


def heard_audio() -> np.ndarray:
    """About five seconds as a microphone brings them: full-scale noise (features at the top of
    the int8 range), speech starting mid-word over noise whose level steps up and down, clipped
    speech, digital silence, and an odd number of samples."""
    from model_training.frontend import to_int16
    from model_training.synth import espeak_available, speak

    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    rng = np.random.default_rng(17)
    speech = speak("turn the lights off, then go up and stop", "en", 50, 150)
    speech = speech[SAMPLE_RATE // 5 :]  # the stream starts in the middle of a word
    quiet, loud = rng.normal(0, 0.002, len(speech)), rng.normal(0, 0.05, len(speech))
    noise = np.where((np.arange(len(speech)) // 7001) % 2 == 0, quiet, loud)
    parts = [rng.integers(-32768, 32768, SAMPLE_RATE // 4).astype(np.int16)]
    parts += [to_int16(0.5 * speech + noise), to_int16(4.0 * speech[:SAMPLE_RATE])]
    parts += [np.zeros(SAMPLE_RATE // 2 + 123, np.int16), to_int16(rng.normal(0, 0.01, 4321))]
    return np.concatenate(parts)


def test_the_board_gives_the_model_the_desktop_s_inputs_at_the_desktop_s_times(host_tool):
    """The sketch's path from the frontend's uint16 slices to the model's input (FeatureWindow
    with the header's to_int8 constants, on AudioClock's schedule, through process_audio) and
    the desktop's (ScoreStream with the model card's contract) give the model the same int8
    windows, byte for byte, at the same audio times."""
    audio = heard_audio()
    contract = load_contract()
    desktop = Scoreless(len(contract.labels))
    stream = ScoreStream(desktop, contract)
    rng = np.random.default_rng(4)
    times, start = [], 0
    while start < len(audio):  # the microphone's blocks of awkward sizes
        size = int(rng.integers(1, 3000))
        times += [i.time_ms for i in stream.feed(audio[start : start + size])]
        start += size
    slices = Frontend().process(audio)  # the C frontend's output (test_frontend.py)
    events = [f"slice {' '.join(map(str, row))}" for row in slices.tolist()]
    for start in range(0, len(audio), PDM_BLOCK):
        events += [f"pdm {min(PDM_BLOCK, len(audio) - start)}"]
        events += passes(int(rng.random() < 0.6))  # now and then a slow pass lets blocks pile up
    run = board(host_tool, events + passes(40))
    assert run.dropped == 0
    assert len(run.times) == len(desktop.windows) > 30
    assert run.times == times
    for index, (ours, theirs) in enumerate(zip(desktop.windows, run.windows, strict=True)):
        differ = np.flatnonzero(ours != theirs)
        assert differ.size == 0, (
            f"inference {index} at {times[index]} ms: {differ.size} of the model's inputs differ, "
            f"first at slice {differ[0] // contract.channels}, channel "
            f"{differ[0] % contract.channels}: desktop {ours[differ[0]]}, board {theirs[differ[0]]}"
        )
    values = np.unique(np.concatenate(run.windows))
    assert len(values) > 100 and {-128, 127} <= set(values.tolist())  # both ends: clamped
