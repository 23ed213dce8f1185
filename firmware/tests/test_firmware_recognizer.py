"""The C++ recognizer and assistant.recognizer report the same detections from the same scores."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from assistant.recognizer import MAX_HISTORY, Recognizer

LABELS = ("silence", "unknown", "on", "off", "up", "down", "go", "stop")


def tool_input(recognizer: Recognizer, steps: list[tuple[int, np.ndarray]]) -> str:
    """The recognizer's configuration and the score sequence, in host_tool's format."""
    mask = sum(
        1 << i for i, label in enumerate(recognizer.labels) if label not in recognizer.commands
    )
    default = round(recognizer.thresholds[recognizer.commands[0]] * 1000)
    lines = [
        f"labels {','.join(recognizer.labels)} {mask} {default} {recognizer.average_window_ms} "
        f"{recognizer.suppression_ms} {recognizer.minimum_count}"
    ]
    lines += [
        f"threshold {label} {round(score * 1000)}" for label, score in recognizer.thresholds.items()
    ]
    lines += [f"{time % 2**32} {' '.join(map(str, scores))}" for time, scores in steps]
    return "\n".join(lines) + "\n"


def python_detections(recognizer: Recognizer, steps) -> list[str]:
    found = (recognizer.process(scores, time) for time, scores in steps)
    return [f"{d.label} {round(d.score * 1000)} {d.time_ms % 2**32}" for d in found if d]


def assert_same_detections(host_tool, make_recognizer, steps) -> list[str]:
    cpp = host_tool.run("recognizer", tool_input(make_recognizer(), steps))
    python = python_detections(make_recognizer(), steps)
    assert cpp == python
    return python


def jittered_times(rng: np.random.Generator, count: int, start: int = 0) -> list[int]:
    """Inference times about every 20 ms, with jitter and the odd long stall."""
    gaps = rng.integers(5, 45, size=count)
    gaps[rng.random(count) < 0.01] += rng.integers(100, 3000)
    return list(start + np.cumsum(gaps))


def random_steps(rng, count, start=0):
    scores = rng.integers(-128, 128, size=(count, len(LABELS)))
    return list(zip(jittered_times(rng, count, start), scores, strict=True))


def realistic_steps(rng, count, start=0):
    """Mostly silence, with bursts where one command (or unknown) dominates for 0.2-1 s."""
    times = jittered_times(rng, count, start)
    steps, word, word_end = [], 0, -1
    for time in times:
        if time > word_end and rng.random() < 0.02:
            word, word_end = int(rng.integers(1, len(LABELS))), time + int(rng.integers(400, 1300))
        logits = rng.normal(0, 1.0, len(LABELS))
        logits[word if time <= word_end else 0] += rng.uniform(3, 9)
        probabilities = np.exp(logits) / np.exp(logits).sum()
        quantized = np.clip(np.round(probabilities * 256) - 128, -128, 127).astype(np.int8)
        steps.append((time, quantized))
    return steps


def test_defaults_are_the_same_on_both_sides(host_tool):
    threshold, window, suppression, minimum, history = map(
        int, host_tool.run("recognizer", "defaults\n")[0].split()
    )
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(Recognizer).parameters.items()
    }
    assert (threshold, window, suppression, minimum) == (
        round(defaults["thresholds"] * 1000),
        defaults["average_window_ms"],
        defaults["suppression_ms"],
        defaults["minimum_count"],
    )
    assert history == MAX_HISTORY


@pytest.mark.parametrize("seed", range(4))
def test_realistic_sequences_give_identical_detections(host_tool, seed):
    rng = np.random.default_rng(seed)
    steps = realistic_steps(rng, 5000)
    detections = assert_same_detections(
        host_tool, lambda: Recognizer(LABELS, thresholds={"up": 0.6, "stop": 0.95}), steps
    )
    assert len(detections) > 5  # the sequences exercise real detections


@pytest.mark.parametrize(
    "options",
    [
        {"thresholds": 0.0, "minimum_count": 1},
        {"thresholds": 0.3, "average_window_ms": 200, "suppression_ms": 0},
        {"thresholds": 0.5, "average_window_ms": 5000, "minimum_count": 60},
        {"thresholds": 0.35, "average_window_ms": 3000, "suppression_ms": 700, "ignore": ()},
    ],
    ids=["no-threshold", "short-window", "history-cap", "nothing-ignored"],
)
def test_random_sequences_give_identical_detections(host_tool, options):
    rng = np.random.default_rng(len(str(options)))
    steps = random_steps(rng, 4000)
    assert_same_detections(host_tool, lambda: Recognizer(LABELS, **options), steps)


def test_time_wrapping_around_32_bits_gives_identical_detections(host_tool):
    rng = np.random.default_rng(7)
    steps = realistic_steps(rng, 3000, start=2**32 - 20_000)
    assert any(time >= 2**32 for time, _ in steps)
    detections = assert_same_detections(host_tool, lambda: Recognizer(LABELS), steps)
    assert detections


def test_exact_boundaries_and_ties_give_identical_detections(host_tool):
    """Times on a 10 ms grid hit the window and suppression limits exactly; three score levels
    make equal sums (ties) common."""
    rng = np.random.default_rng(11)
    times = np.cumsum(rng.choice([10, 20, 30, 500], size=4000, p=[0.3, 0.4, 0.29, 0.01]))
    scores = rng.choice([-128, 0, 127], size=(4000, len(LABELS)))
    steps = list(zip(times.tolist(), scores, strict=True))
    options = {"thresholds": 0.3, "average_window_ms": 100, "suppression_ms": 200}
    detections = assert_same_detections(host_tool, lambda: Recognizer(LABELS, **options), steps)
    assert len(detections) > 100


def test_a_command_49_7_days_after_the_last_detection_is_not_suppressed(host_tool):
    """Times wrap at 2**32 ms (49.7 days): a board that heard no command for that long must not
    take a command said just after the wrap for a repeat of the last detection. Inferences come
    every 100 ms; those of the quiet days between are left out (silence, as the first shown)."""
    on, silence = [-128, -128, 127, -128], [127, -128, -128, -128]
    steps = [(t, np.array(on)) for t in (0, 100, 200)]  # "on" heard at 200 ms
    later = range(2**32 - 1800, 2**32 + 2500, 100)
    steps += [(t, np.array(on if t >= 2**32 + 400 else silence)) for t in later]
    labels = ("silence", "unknown", "on", "off")
    detections = assert_same_detections(host_tool, lambda: Recognizer(labels), steps)
    assert detections == ["on 1000 200", "on 800 1100"]  # not held back until 1700 (200 + 1500)
