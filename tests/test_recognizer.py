"""assistant.recognizer: averaging, thresholds, suppression and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.recognizer import MAX_HISTORY, Recognition, Recognizer, window_averages

LABELS = ("silence", "unknown", "up", "down")


def scores(label: str, strength: int = 127) -> np.ndarray:
    """int8 scores where `label` gets `strength` and the rest share nothing."""
    values = np.full(len(LABELS), -128, dtype=np.int8)
    values[LABELS.index(label)] = strength
    return values


def feed(recognizer: Recognizer, label: str, start: int, stop: int, step: int = 20, **kw):
    found = [recognizer.process(scores(label, **kw), t) for t in range(start, stop, step)]
    return [d for d in found if d]


def test_a_held_command_is_reported_once_with_its_wire_score():
    detections = feed(Recognizer(LABELS), "up", 0, 1000)
    assert detections == [Recognition("up", 1.0, 40)]  # the third inference: minimum_count 3


def test_the_score_is_the_rounded_average_in_thousandths():
    recognizer = Recognizer(LABELS, thresholds=0.0, minimum_count=2)
    recognizer.process(scores("up", 127), 0)  # u = 255
    detection = recognizer.process(scores("up", 0), 10)  # u = 128; (255+128)/510 = 0.75098
    assert detection == Recognition("up", 0.751, 10)


def test_the_averages_are_each_commands_score_as_compared_with_its_threshold():
    """What `assistant devices --listen` shows: the commands' averages (not silence's) over the
    inferences in the window, in the detection's arithmetic, below its threshold too."""
    recognizer = Recognizer(LABELS, thresholds=0.9)
    assert recognizer.averages() == {}
    recognizer.process(scores("up", 127), 0)  # u = 255
    assert recognizer.process(scores("up", 0), 10) is None  # u = 128; below minimum_count
    assert recognizer.averages() == {"up": 0.751, "down": 0.0}
    assert recognizer.process(scores("silence"), 2000) is None  # the window holds it alone
    assert recognizer.averages() == {"up": 0.0, "down": 0.0}


def test_the_peak_is_the_window_that_scored_the_command_highest_the_middle_of_equals():
    """Where the clip of a command heard is cut (`microphone.keep_clips`)."""
    recognizer = Recognizer(LABELS, thresholds=0.5)
    for time_ms, strength in ((0, 0), (100, 127), (200, 127), (300, 127), (400, 90), (500, 127)):
        recognizer.process(scores("up", strength), time_ms)
    assert recognizer.peak_ms("up") == 300  # of 100, 200, 300 and 500: the later middle one
    assert recognizer.process(scores("down", 127), 1250) is None  # 0 to 200 forgotten
    assert recognizer.peak_ms("up") == 500  # of 300 and 500
    assert recognizer.peak_ms("down") == 1250


def test_silence_and_unknown_are_never_reported():
    recognizer = Recognizer(LABELS, thresholds=0.0)
    assert feed(recognizer, "silence", 0, 2000) == []
    assert feed(recognizer, "unknown", 2000, 4000) == []
    assert recognizer.commands == ("up", "down")


def test_suppression_hides_repeats_until_it_ends():
    recognizer = Recognizer(LABELS, average_window_ms=200, suppression_ms=1500)
    first = feed(recognizer, "up", 0, 1200)
    second = feed(recognizer, "down", 1200, 1540)  # within 1.5 s of the first
    third = feed(recognizer, "down", 1540, 2500)
    assert [d.time_ms for d in first] == [40]
    assert second == []
    assert [(d.label, d.time_ms) for d in third] == [("down", 1540)]


def test_per_label_thresholds():
    recognizer = Recognizer(LABELS, thresholds={"up": 0.95}, suppression_ms=0)
    assert feed(recognizer, "up", 0, 1000, strength=100) == []  # 228/255 = 0.894 < 0.95
    assert feed(recognizer, "down", 2000, 2100, strength=100)[0].score == 0.894  # default 0.8
    recognizer.set_threshold("up", 0.85)
    assert feed(recognizer, "up", 4000, 4100, strength=100)[0].label == "up"
    assert recognizer.thresholds == {"up": 0.85, "down": 0.8}


def test_scores_older_than_the_window_are_forgotten():
    recognizer = Recognizer(LABELS, average_window_ms=100, minimum_count=1)
    feed(recognizer, "silence", 0, 1001)
    # 100 ms later the silence scores no longer count: "up" alone fills the window.
    assert recognizer.process(scores("up"), 1090) is None
    assert recognizer.process(scores("up"), 1100) == Recognition("up", 1.0, 1100)


def test_the_history_is_capped():
    recognizer = Recognizer(LABELS, average_window_ms=100_000, minimum_count=MAX_HISTORY + 1)
    assert feed(recognizer, "up", 0, 10_000, step=10) == []


def test_board_time_wraps_around_32_bits():
    recognizer = Recognizer(LABELS)
    start = 2**32 - 30
    assert [d.time_ms for d in feed(recognizer, "up", start, start + 100)] == [
        start + 40
    ]  # the third inference, after the wrap


@pytest.mark.parametrize(
    "bad_scores",
    [[0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 128], [-129, 0, 0, 0], [0.5, 0, 0, 0]],
    ids=["too-few", "too-many", "above-int8", "below-int8", "not-integers"],
)
def test_scores_that_are_not_one_int8_per_label_are_refused(bad_scores):
    with pytest.raises(ValueError, match="scores"):
        Recognizer(LABELS).process(bad_scores, 0)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), "high"])
def test_thresholds_outside_0_to_1_are_refused(threshold):
    with pytest.raises(ValueError, match="from 0 to 1"):
        Recognizer(LABELS, thresholds=threshold)
    with pytest.raises(ValueError, match="from 0 to 1"):
        Recognizer(LABELS).set_threshold("up", threshold)


@pytest.mark.parametrize("label", ["silence", "left"])
def test_thresholds_only_for_reportable_labels(label):
    with pytest.raises(ValueError, match="labels that can be reported are up, down"):
        Recognizer(LABELS, thresholds={label: 0.5})


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="1 to 16 labels"):
        Recognizer([])
    with pytest.raises(ValueError, match="suppression_ms"):
        Recognizer(LABELS, suppression_ms=-1)


def test_window_averages_are_the_averages_the_recognizer_reports():
    """The analyses of whole recordings (the streams' ceiling, the assistant's replies) average
    as the recognizer does: over the same inferences, counted alike."""
    labels = ("up", "down")
    rng = np.random.default_rng(7)
    times = np.cumsum(rng.integers(10, 120, 300))
    values = rng.integers(-128, 128, (300, len(labels)), dtype=np.int8)
    recognizer = Recognizer(labels, thresholds=0.0, suppression_ms=0, minimum_count=1, ignore=())
    reported = [recognizer.process(row, int(t)) for t, row in zip(times, values, strict=True)]
    averages, counts = window_averages(times, values.astype(np.int64) + 128, 1000)
    for found, average, count, t in zip(reported, averages, counts, times, strict=True):
        kept = np.count_nonzero((times <= t) & (t - times < 1000))
        assert count == kept
        assert found.score == pytest.approx(average.max() / 255, abs=0.0005)


def test_the_score_rounds_half_up_from_the_exact_average_as_the_board_does():
    recognizer = Recognizer(LABELS, minimum_count=7)
    for t in range(0, 140, 20):  # "up": u = 12 six times, then 11: 83 / (7 * 255) = 0.046499
        recognizer.process(scores("up", -116 if t < 120 else -117), t)
    assert recognizer.averages()["up"] == 0.046


def test_board_times_after_the_wrap_follow_those_before_it():
    recognizer = Recognizer(LABELS)
    times = [2**32 - 40, 2**32 - 20, 0, 20]  # the board's uptime wraps from 2**32 - 1 to 0
    found = [recognizer.process(scores("up"), t) for t in times]
    assert found == [None, None, Recognition("up", 1.0, 0), None]


def test_by_default_a_detection_is_followed_by_1_5_s_of_quiet():
    recognizer = Recognizer(LABELS)
    assert [d.time_ms for d in feed(recognizer, "up", 0, 1000)] == [40]
    assert recognizer.process(scores("up"), 1539) is None
    assert recognizer.process(scores("up"), 1540) == Recognition("up", 1.0, 1540)
