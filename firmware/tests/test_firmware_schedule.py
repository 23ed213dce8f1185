"""The sketch's audio path (firmware/kws/src/audio_schedule.h, run by host_tool with the board's
framing and a windowing frontend) infers on the desktop pipeline's schedule, at its times."""

from __future__ import annotations

import numpy as np

from assistant.pipeline import ScoreStream, load_contract

PDM_BLOCK = 256  # samples per microphone interrupt (16 ms)
MAX_CHUNKS_PER_PASS = 5  # board_config.h kMaxChunksPerPass
RING_SAMPLES = 8192  # board_config.h kAudioRingSamples


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


def board(host_tool, events: list[str]) -> tuple[list[int], list[int], int]:
    """Inference times, the chunks each loop pass read and the samples the ring dropped."""
    lines = host_tool.run("schedule", "".join(event + "\n" for event in [*events, "dropped"]))
    values = {"infer": [], "pass": [], "dropped": []}
    for line in lines:
        kind, value = line.split()
        values[kind].append(int(value))
    return values["infer"], values["pass"], values["dropped"][0]


def test_inferences_come_at_the_desktop_times_however_the_loop_keeps_up(host_tool):
    rng = np.random.default_rng(3)
    events, blocks = [], 0
    for _ in range(900):
        # Mostly a pass every block or two; now and then a slow pass (an inference, USB)
        # lets up to 20 blocks (320 ms) pile up in the 512 ms ring.
        burst = int(rng.integers(0, 3)) if rng.random() > 0.05 else int(rng.integers(10, 21))
        events += ["pdm 256"] * burst + ["pass"]
        blocks += burst
    times, passes, dropped = board(host_tool, events + ["pass"] * 40)
    assert dropped == 0
    assert max(passes) == MAX_CHUNKS_PER_PASS  # backlogs are worked off a few chunks a pass
    assert passes[-1] == 0
    assert times == desktop_times(blocks * PDM_BLOCK)
    assert len(times) > 100


def test_audio_the_ring_dropped_still_moves_the_clock_on(host_tool):
    events = ["pdm 256", "pass"] * 100  # 1.6 s, in time
    events += ["pdm 256"] * 63  # a 1 s stall: the ring keeps 512 ms and drops the rest
    events += ["pass"] * 40 + ["pdm 256", "pass"] * 100
    times, _, dropped = board(host_tool, events)
    assert dropped == 63 * PDM_BLOCK - RING_SAMPLES
    gaps = np.diff(times)
    (late,) = np.flatnonzero(gaps != 100)  # one longer gap, at the lost audio
    assert abs(gaps[late] - (100 + dropped * 1000 // 16000)) <= 1
    assert times[-1] <= (263 * PDM_BLOCK) * 1000 // 16000
