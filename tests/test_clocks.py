"""ClockWatch tells a suspend from a step of the wall clock, and neither from NTP's slewing;
moments are shown with their date when it is not today."""

from __future__ import annotations

import calendar
import inspect
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from manual_clock import Clock
from pytest import approx
from waiting import wait_until

from assistant.clocks import ClockWatch, elapsed, local_datetime, local_time
from assistant.focus import Focus
from assistant.rooms.hub import Hub
from assistant.rooms.satellite import Satellite
from assistant.sources import DeviceSession


def _telling(seen: list[tuple[str, float]], **clocks: Any) -> ClockWatch:
    """A watch that tells `seen` each change: ("woke", seconds slept), ("stepped", seconds)."""
    return ClockWatch(
        lambda slept: seen.append(("woke", slept)),
        lambda by: seen.append(("stepped", by)),
        **clocks,
    )


def test_a_suspend_and_a_step_are_told_apart_and_slewing_is_neither() -> None:
    wall, boot, awake = Clock(), Clock(), Clock()
    seen: list[tuple[str, float]] = []
    watch = _telling(seen, tick=0.01, wall=wall, boot=boot, awake=awake)
    watch.start()
    try:
        for _ in range(20):  # awake, the wall clock slewed by half a millisecond a second
            awake.now += 1
            boot.now += 1
            wall.now += 1.0005
            time.sleep(0.005)
        wall.now += 7200  # a suspend: the monotonic clock stands still
        boot.now += 7200
        assert wait_until(lambda: seen == [("woke", approx(7200))])
        wall.now -= 3600  # set back an hour
        assert wait_until(lambda: seen == [("woke", approx(7200)), ("stepped", approx(-3600))])
    finally:
        watch.stop()


def test_a_look_sees_a_step_at_once_and_tells_each_change_once() -> None:
    """Code about to act on the wall clock looks first: a step within the tick is told then,
    not a tick later, and the watch's own look does not tell it again."""
    wall, boot, awake = Clock(), Clock(), Clock()
    seen: list[float] = []
    watch = ClockWatch(
        lambda slept: None, seen.append, tick=0.01, wall=wall, boot=boot, awake=awake
    )
    wall.now += 3600
    watch.look()
    assert seen == [approx(3600)]
    watch.start()
    try:
        time.sleep(0.05)
    finally:
        watch.stop()
    assert seen == [approx(3600)]


def test_each_suspend_is_told_as_its_own_length() -> None:
    """A laptop suspended twice: the second wake-up tells the second night's sleep, not both."""
    wall, boot, awake = Clock(), Clock(), Clock()
    slept: list[float] = []
    watch = ClockWatch(slept.append, lambda by: None, wall=wall, boot=boot, awake=awake)
    for hours in (8, 2):
        wall.now += hours * 3600
        boot.now += hours * 3600
        watch.look()
    assert slept == [8 * 3600, 2 * 3600]


def test_a_change_of_exactly_a_second_is_a_suspend_or_a_step() -> None:
    """A second is the smallest change told (STEP_SECONDS); anything under it is slewing."""
    wall, boot, awake = Clock(), Clock(), Clock()
    seen: list[tuple[str, float]] = []
    watch = _telling(seen, wall=wall, boot=boot, awake=awake)
    wall.now += 0.75
    boot.now += 0.75
    watch.look()
    assert seen == []
    wall.now += 0.25  # a second since the last told change, over two looks: still nothing
    boot.now += 0.25
    watch.look()
    assert seen == []
    wall.now += 1.0
    boot.now += 1.0
    watch.look()
    wall.now -= 1.0
    watch.look()
    assert seen == [("woke", 1.0), ("stepped", -1.0)]


def test_offset_is_the_wall_clock_minus_the_boot_clock_as_the_watch_last_looked() -> None:
    """What the next step is measured from: a moment kept with it, plus each step told since,
    is the offset the moment is on (as the timers skill anchors its timers)."""
    wall, boot, awake = Clock(), Clock(), Clock()
    wall.now = 5000.0
    steps: list[float] = []
    watch = ClockWatch(lambda slept: None, steps.append, wall=wall, boot=boot, awake=awake)
    assert watch.offset == 4000.0
    for clock in (wall, boot, awake):
        clock.now += 10
    wall.now += 3600
    assert watch.offset == 4000.0  # not looked at yet
    watch.look()
    assert steps == [3600.0]
    assert watch.offset == 4000.0 + sum(steps)


def test_what_meets_a_commands_received_time_counts_time_slept() -> None:
    """Focus, cooldowns and mqtt.max_delay measure how long ago a command was heard on the
    boot clock, which goes on while a laptop sleeps: a "lights off" heard before a night's
    suspend is not run on waking as if just heard."""
    assert time.clock_gettime(time.CLOCK_BOOTTIME) <= elapsed()
    assert elapsed() <= time.clock_gettime(time.CLOCK_BOOTTIME)
    assert Focus(30).clock is elapsed
    assert DeviceSession("board", "default", lambda event: None).clock is elapsed
    for timed in (Satellite, Hub):
        assert inspect.signature(timed).parameters["clock"].default is elapsed


def _utc(text: str) -> float:
    """A time.time() from `YYYY-MM-DD HH:MM:SS` in UTC."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


@pytest.fixture
def local_clock(monkeypatch: pytest.MonkeyPatch):
    """The local clock 5 h 30 min ahead of UTC (a POSIX TZ: no time zone data needed)."""
    monkeypatch.setenv("TZ", "XST-5:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_moment_is_shown_with_its_date_when_it_is_not_on_the_local_day_of_now(local_clock):
    """`assistant status` of a daemon that has run for days: "unplugged at 14:05:30" alone
    would not say which day."""
    unplugged = _utc("2026-11-24 08:35:30")  # 14:05:30 on the local clock
    assert local_time(unplugged, now=_utc("2026-11-24 18:29:59")) == "14:05:30"  # 23:59:59
    assert local_time(unplugged, now=_utc("2026-11-24 18:30:00")) == "2026-11-24 14:05:30"
    assert local_time(unplugged, now=_utc("2026-11-27 08:35:30")) == "2026-11-24 14:05:30"
    # the local day, not UTC's: 00:10 on the 25th locally is still the 24th in UTC
    after_midnight = _utc("2026-11-24 18:40:00")
    assert local_time(after_midnight, now=_utc("2026-11-24 18:00:00")) == "2026-11-25 00:10:00"
    assert local_time(after_midnight, now=_utc("2026-11-25 10:00:00")) == "00:10:00"
    # a moment to come ("trying again at") is dated the same way
    assert local_time(_utc("2026-11-24 18:30:05"), _utc("2026-11-24 18:29:55")) == (
        "2026-11-25 00:00:05"
    )


def test_a_datetime_is_put_on_the_local_clock(local_clock):
    """What the spoken times ("at 00:10 tomorrow") are read from: the local zone's day and hour."""
    heard = datetime(2026, 11, 24, 18, 40, tzinfo=timezone.utc)
    local = local_datetime(heard)
    assert local == heard
    assert (local.date(), local.hour, local.minute) == (date(2026, 11, 25), 0, 10)
    assert local.utcoffset() == timedelta(hours=5, minutes=30)


def test_a_moment_is_shown_against_the_clock_when_no_now_is_given() -> None:
    now = time.time()
    assert local_time(now) == time.strftime("%H:%M:%S", time.localtime(now))
    two_days_ago = now - 2 * 86400
    assert local_time(two_days_ago) == time.strftime(
        "%Y-%m-%d %H:%M:%S", time.localtime(two_days_ago)
    )


ZONE_CHANGED = """
import os, subprocess, sys
from assistant.clocks import local_time
at = 1795780800.0  # 2026-11-27 12:00:00 UTC
zone = os.path.realpath("/etc/localtime")
for moved_to in sys.argv[1:]:
    subprocess.run(["mount", "--bind", moved_to, zone], check=True)
    print(local_time(at, now=at))
"""
"""Run in a mount namespace of its own: what `timedatectl set-timezone` does to the machine
(/etc/localtime now names another zone), done under the running process to it alone."""


def test_a_time_zone_set_while_it_runs_is_shown(tmp_path) -> None:
    """Travelling with the laptop: the zone set with `timedatectl set-timezone` replaces
    /etc/localtime, which the C library reads once unless asked to again; the assistant shows
    its moments in the zone the machine is set to when it shows them."""
    zones = [f"/usr/share/zoneinfo/{name}" for name in ("Europe/Paris", "America/New_York")]
    if not all(Path(zone).is_file() for zone in zones):
        pytest.skip("no time zone data (tzdata) here")
    environment = {k: v for k, v in os.environ.items() if k != "TZ"}  # the system's zone
    run = ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", ZONE_CHANGED]
    done = subprocess.run([*run, *zones], capture_output=True, text=True, env=environment)
    if done.returncode:
        pytest.skip(f"cannot change the zone in a mount namespace here: {done.stderr.strip()}")
    assert done.stdout.split() == ["13:00:00", "07:00:00"]  # in Paris, then in New York
