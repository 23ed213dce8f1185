"""Warnings limited per kind and window, with a clock the test moves."""

import logging

import pytest
from manual_clock import Clock

from assistant.ratelimit import WarningLimiter, counted

log = logging.getLogger("assistant.test")


@pytest.fixture
def logged(caplog):
    """The messages logged so far, each read once."""
    caplog.set_level(logging.WARNING, logger="assistant.test")

    def take() -> list[str]:
        messages = [record.getMessage() for record in caplog.records]
        caplog.clear()
        return messages

    return take


def on_manual_clock(per_window: int, window: float) -> tuple[Clock, WarningLimiter]:
    """A limiter and the clock its windows are timed on, moved by hand."""
    clock = Clock()
    return clock, WarningLimiter(per_window=per_window, window=window, clock=clock)


def warn(limiter: WarningLimiter, kind: str, count: int) -> None:
    for number in range(count):
        limiter.warning(log, kind, "%s %d", kind, number)


def test_each_kind_logs_its_share_then_one_summary_when_its_window_ends(logged):
    clock, limiter = on_manual_clock(per_window=3, window=60)
    warn(limiter, "lost-line", 10)
    warn(limiter, "malformed-line", 1)
    clock.now += 59.9
    limiter.flush()
    assert logged() == ["lost-line 0", "lost-line 1", "lost-line 2", "malformed-line 0"]
    clock.now += 0.1
    limiter.flush()
    limiter.flush()
    assert logged() == ["7 more lost-line warning(s) suppressed in the last minute"]


def test_a_new_window_logs_again_and_one_without_suppressed_warnings_says_nothing(logged):
    clock, limiter = on_manual_clock(per_window=2, window=10)
    warn(limiter, "malformed-line", 3)
    clock.now += 10
    warn(limiter, "malformed-line", 1)  # ends the old window first
    clock.now += 10
    limiter.flush()
    assert logged() == [
        "malformed-line 0",
        "malformed-line 1",
        "1 more malformed-line warning(s) suppressed in the last 10 s",
        "malformed-line 0",
    ]


def test_flushing_everything_sums_up_the_windows_not_over_yet(logged):
    clock, limiter = on_manual_clock(per_window=1, window=60)
    warn(limiter, "lost-line", 3)
    warn(limiter, "malformed-line", 1)
    clock.now += 27
    limiter.flush(everything=True)
    assert logged() == [
        "lost-line 0",
        "malformed-line 0",
        "2 more lost-line warning(s) suppressed in the last 27 s",
    ]
    warn(limiter, "lost-line", 1)  # a new window
    assert logged() == ["lost-line 0"]


def test_a_kind_logged_at_its_own_level_is_summed_up_in_its_own_words(caplog):
    """What the link's replugs use: INFO lines limited as warnings are, the caller told which
    were logged, and a summary of its own naming the window in minutes."""
    caplog.set_level(logging.INFO, logger="assistant.test")
    clock, limiter = on_manual_clock(per_window=1, window=600)

    def replug(number: int) -> bool:
        return limiter.log(
            log,
            logging.INFO,
            "replug",
            "replug %d",
            number,
            summary=lambda count, span: f"{count} more replug(s) in the last {span}",
        )

    assert [replug(number) for number in range(4)] == [True, False, False, False]
    clock.now += 600
    limiter.flush()
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "replug 0"),
        (logging.INFO, "3 more replug(s) in the last 10 minutes"),
    ]


def test_by_default_each_kind_logs_ten_warnings_a_minute(logged):
    """`device.max_line_errors` (10 a minute) when the configuration does not say."""
    clock = Clock()
    limiter = WarningLimiter(clock=clock)
    warn(limiter, "lost-line", 12)
    clock.now += 59.9
    limiter.flush()
    assert logged() == [f"lost-line {number}" for number in range(10)]
    clock.now += 0.1
    limiter.flush()
    assert logged() == ["2 more lost-line warning(s) suppressed in the last minute"]


def test_a_suppressed_warning_logged_late_after_all_is_not_summed_up(logged):
    clock, limiter = on_manual_clock(per_window=1, window=60)
    limiter.logged_late("lost-line")  # no window yet: nothing to take back
    warn(limiter, "lost-line", 3)
    limiter.logged_late("lost-line")
    warn(limiter, "malformed-line", 1)
    limiter.logged_late("malformed-line")  # none suppressed: nothing to take back
    assert logged() == ["lost-line 0", "malformed-line 0"]
    clock.now += 60
    limiter.flush()
    assert logged() == ["1 more lost-line warning(s) suppressed in the last minute"]


def test_a_count_is_shown_with_its_parts_by_kind():
    assert counted(3, {"stale": 2, "bad": 1}) == "3 (bad 1, stale 2)"
    assert counted(0, {}) == "0"
