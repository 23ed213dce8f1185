"""The timers skill through the real plugin host, with its real SQLite job store."""

from __future__ import annotations

import logging
import os
import pickle
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_STOPPED
from apscheduler.triggers.date import DateTrigger
from manual_clock import Clock
from waiting import wait_until

from assistant import logformat
from assistant.phrase import PhraseListener
from assistant.plugin import CommandEvent, NothingToDo, SkillError, time_of_day_in_words
from assistant.plugin_testing import SkillUnderTest
from skills import timer_anchors
from skills.timer_anchors import Anchors, current_boot
from skills.timer_store import FORMAT, TimerStore, store_problem
from skills.timers import STORE_TABLES, TimersSkill, _ring_again, _shifted

FAST = {"ring_every": 0.3, "ring_for": 1.0, "missed_after": 1}


class LogBarrier(logging.Filter):
    """Set on a logger: the first thread that logs a message starting with `prefix` (at or after
    `after`) runs `then`, sets `reached`, then, when `hold`, waits there until `go` is set. A
    filter, because the logger calls it on the logging thread without taking a lock."""

    def __init__(
        self,
        prefix: str,
        hold: bool = True,
        after: datetime | None = None,
        then: Callable[[], None] = lambda: None,
    ):
        super().__init__()
        self.prefix = prefix
        self.hold = hold
        self.after = after
        self.then = then
        self.reached = threading.Event()
        self.go = threading.Event()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.reached.is_set() or not record.getMessage().startswith(self.prefix):
            return True
        if self.after is not None and datetime.now(timezone.utc) < self.after:
            return True
        self.then()
        self.reached.set()
        if self.hold:
            self.go.wait(10)
        return True


@contextmanager
def log_barrier(logger_name: str, level: int, barrier: LogBarrier) -> Iterator[LogBarrier]:
    logger = logging.getLogger(logger_name)
    was = logger.level
    logger.setLevel(level)
    logger.addFilter(barrier)
    try:
        yield barrier
    finally:
        barrier.go.set()
        logger.removeFilter(barrier)
        logger.setLevel(was)


def replies_once_settled(skill: SkillUnderTest, moment: datetime) -> list[str]:
    """The skill's replies once all that was due by `moment` has run: a round of its scheduler
    begun after that moment hands over every job due by then (a ringing not silenced, say),
    and the skill's stop waits for what was handed over. Stops the skill."""
    scheduler = skill.skill.scheduler
    barrier = LogBarrier("Looking for jobs", hold=False, after=moment)
    with log_barrier("apscheduler.scheduler", logging.DEBUG, barrier):
        time.sleep(max(0.0, (moment - datetime.now(timezone.utc)).total_seconds()))

        def looked() -> bool:
            scheduler.wakeup()
            return barrier.reached.wait(0.05)

        assert wait_until(looked), "the scheduler did not look for due jobs"
    skill.stop()
    return skill.replies


def ring_every_after_now(skill: SkillUnderTest) -> datetime:
    """When a ringing that went on would ring next at the latest."""
    seconds = skill.host.settings["timers"]["ring_every"]
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make `folder` unwritable for real, so SQLite cannot write the database in it (it
    cannot create its journal there): root ignores the mode, so as root the folder gets the
    immutable attribute."""
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", folder], capture_output=True, text=True)
        if made.returncode:
            pytest.skip(f"running as root, and chattr +i is refused here: {made.stderr.strip()}")
        undo = ["chattr", "-i", folder]
    else:
        folder.chmod(0o555)
        undo = ["chmod", "755", folder]
    try:
        yield
    finally:
        subprocess.run(undo, check=True)


@pytest.fixture
def timers(tmp_path: Path):
    running: list[SkillUnderTest] = []

    def start(phrases: list[str | None] | None = None, **settings) -> SkillUnderTest:
        skill = SkillUnderTest(TimersSkill, {**FAST, **settings}, tmp_path, phrases)
        running.append(skill)
        return skill

    yield start
    for skill in running:
        if skill.host.skills:
            skill.stop()


def test_go_takes_the_spoken_length_or_falls_back_to_the_default(timers) -> None:
    skill = timers(phrases=["five minutes", None, "banana", "fifty percent", "zero minutes"])
    assert skill.do("start") == "Timer set for five minutes"
    assert "minutes" in skill.grammars[0] and "[unk]" in skill.grammars[0]
    assert skill.prompts[0] == "How long?"  # what `phrase.cue: words` asks
    assert skill.do("start") == "Timer 2 set for five minutes"
    assert skill.do("start") == "I did not understand banana. Timer 3 set for five minutes"
    assert skill.do("start") == "Fifty percent is not a length. Timer 4 set for five minutes"
    assert skill.do("start") == "Zero minutes is not a length. Timer 5 set for five minutes"
    assert skill.do("status").startswith("Timer has five minutes left. Timer 2 has ")
    quiet = skill.do("start", seconds=90, name="tea")
    assert quiet == "Tea set for one minute and thirty seconds"
    assert len(skill.grammars) == 5  # a configured length asks nothing


def test_go_refuses_a_spoken_length_longer_than_a_timer_can_run(timers) -> None:
    """Durations add up without bound ("a thousand hours"); 720 hours, 30 days, is the most."""
    skill = timers(phrases=["one thousand hours", "seven hundred twenty hours"])
    assert skill.do("start") == (
        "One thousand hours is longer than a timer can run (30 days). Timer set for five minutes"
    )
    assert skill.do("start") == "Timer 2 set for seven hundred and twenty hours"


def test_go_given_up_on_while_listening_sets_no_timer(
    tmp_path: Path, korean_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The real listener on a microphone stand-in that gives silence at the microphone's pace:
    abandoned after the skill timeout, the listening ends and no timer is set behind the
    user's back."""

    def microphone(seconds: float) -> Iterator[bytes]:
        for _ in range(int(seconds * 10)):
            time.sleep(0.1)
            yield bytes(3200)

    listener = PhraseListener(
        {"model": str(korean_model_path), "seconds": 30}, microphone=microphone
    )
    assert listener.model() is not None
    skill = SkillUnderTest(
        TimersSkill, {"listen_seconds": 30}, tmp_path, timeout=0.5, listen_for_phrase=listener
    )
    try:
        with caplog.at_level(logging.WARNING, logger="assistant.host"):
            with pytest.raises(TimeoutError):
                skill.do("start")
            assert wait_until(lambda: "abandoned action start raised SkillError" in caplog.text)
        assert skill.do("status") == "No timer is running"
    finally:
        skill.stop()


def test_named_timers_ring_until_stopped_then_stop_cancels_the_next(timers, caplog) -> None:
    caplog.set_level(logging.INFO, logger="assistant.skill.timers")
    skill = timers(ask_length=False)
    skill.do("start", name="tea", seconds=0.5)
    skill.do("start", name="eggs", seconds=60)
    assert wait_until(lambda: skill.replies.count("Tea is done") >= 2)
    assert skill.focus.current() == "timers"
    assert skill.do("stop") == "Timer silenced"
    rung, silenced = skill.replies.count("Tea is done"), ring_every_after_now(skill)
    assert skill.focus.current() is None
    assert skill.do("stop") == "Eggs cancelled"
    with pytest.raises(NothingToDo, match="No timer is running"):
        skill.do("stop")
    assert replies_once_settled(skill, silenced).count("Tea is done") == rung
    assert "stopped ringing by itself" not in caplog.text


def test_ringing_ends_by_itself_after_ring_for(timers, caplog) -> None:
    caplog.set_level(logging.INFO, logger="assistant.skill.timers")
    skill = timers(ask_length=False, ring_every=0.2, ring_for=0.7)
    skill.do("start", name="tea", seconds=0.2)
    assert wait_until(lambda: "Tea is done" in skill.replies)
    # the ringing leaves the store in the round that hands its last announcement over
    assert wait_until(lambda: skill.skill.scheduler.get_jobs("ringing") == [])
    skill.stop()  # waits for what was handed over
    # at once, then at 0.2, 0.4 and 0.6 s: a repeat held up (a loaded machine) is merged
    # with the next or skipped as missed, never said late twice, so it repeats at least once
    assert 2 <= skill.replies.count("Tea is done") <= 4
    # what the replies alone do not tell whoever reads the log after being away
    assert "tea stopped ringing by itself after 0.7 s: nobody silenced it" in caplog.text


def anchored(database: Path, job_id: str) -> bool:
    """Whether `job_id` has a clock anchor in `database` (taken as its moment is set)."""
    with closing(sqlite3.connect(database)) as connection:
        found = connection.execute("SELECT 1 FROM clock_anchors WHERE id = ?", (job_id,))
        return found.fetchone() is not None


def test_a_ringing_stored_after_its_last_announcement_was_due_ends_by_itself(
    timers, tmp_path: Path, caplog
) -> None:
    """A timer's thread held up between reading the clock and storing its ringing (here by the
    job stores' lock, which the scheduler holds through each of its rounds; a busy machine, or
    one that sleeps then, does the same) stores a ringing whose announcements are all past: it
    rings out and leaves the store, and the ringings of the timers after it repeat. Before,
    APScheduler stored it with no next run time, which broke the ringings' store for good."""
    caplog.set_level(logging.INFO, logger="assistant.skill.timers")
    skill = timers(ask_length=False, ring_every=0.2, ring_for=0.5)
    scheduler = skill.skill.scheduler
    with scheduler._jobstores_lock:  # APScheduler's: held as by a slow round
        ringing = threading.Thread(target=skill.skill.ring, args=("tea",))
        ringing.start()
        assert wait_until(lambda: anchored(tmp_path / "timers" / "timers.sqlite", "ring:tea"))
        time.sleep(1.0)  # its clock was read: now its last announcement (0.4 s) is past
    ringing.join()
    assert wait_until(lambda: scheduler.get_jobs("ringing") == [])
    assert wait_until(lambda: "tea stopped ringing by itself" in caplog.text)
    skill.do("start", name="egg", seconds=0.1)
    assert wait_until(lambda: skill.replies.count("Egg is done") >= 2)


def test_a_start_removes_a_ringing_stored_with_no_announcement_left(timers, caplog) -> None:
    """0.2.0 and 0.3.0 could store a ringing whose announcements were all past (see the test
    above) with no next run time, which broke the ringings' store; the next start removes it."""
    caplog.set_level(logging.INFO, logger="assistant.skill.timers")
    first = timers(ask_length=False, ring_every=0.2, ring_for=0.5)
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    first.skill.scheduler.add_job(  # as 0.3.0 stored it: the next run time after the end
        _ring_again,
        "interval",
        seconds=0.2,
        start_date=past,
        end_date=past + timedelta(seconds=0.5),
        args=[first.skill._key, "tea", None],
        id="ring:tea",
        jobstore="ringing",
    )
    [stalled] = first.skill.scheduler.get_jobs("ringing")
    assert stalled.next_run_time is None
    store = first.skill.scheduler._lookup_jobstore("ringing")  # as APScheduler's own stores:
    assert store.get_due_jobs(datetime.now(timezone.utc)) == []  # a job with no run time is
    assert store.get_next_run_time() is None  # never due, rather than failing every round
    first.stop()
    later = timers(ask_length=False, ring_every=0.2, ring_for=0.5)
    assert later.skill.scheduler.get_jobs("ringing") == []
    assert "ringings stored with no announcement left removed: tea" in caplog.text
    with pytest.raises(NothingToDo, match="No timer is running"):  # not "Tea silenced"
        later.do("stop")
    later.do("start", name="egg", seconds=0.1)
    assert wait_until(lambda: later.replies.count("Egg is done") >= 2)


def test_a_ringing_that_ended_while_the_assistant_was_not_running_is_told_as_such(
    timers, caplog
) -> None:
    """Its ringing is still stored at the next start, past its end: it did not ring for
    `ring_for` with nobody there to silence it, the assistant was not running."""
    caplog.set_level(logging.INFO, logger="assistant.skill.timers")
    first = timers(ask_length=False, ring_every=0.2, ring_for=0.5)
    first.do("start", name="tea", seconds=0.1)
    assert wait_until(lambda: "Tea is done" in first.replies)
    [ringing] = first.skill.scheduler.get_jobs("ringing")
    first.stop()  # the ringing stays stored
    assert wait_until(lambda: datetime.now(timezone.utc) > ringing.trigger.end_date)
    later = timers(ask_length=False, ring_every=0.2, ring_for=0.5)
    assert wait_until(lambda: later.skill.scheduler.get_jobs("ringing") == [])
    assert wait_until(
        lambda: "tea stopped ringing while the assistant was not running" in caplog.text
    )
    assert "stopped ringing by itself" not in caplog.text


@pytest.fixture
def clock_ahead(monkeypatch: pytest.MonkeyPatch) -> Iterator[timezone]:
    """The local clock 5 h 30 min ahead of UTC (a POSIX TZ: no time zone data needed)."""
    monkeypatch.setenv("TZ", "XST-5:30")
    time.tzset()
    yield timezone(timedelta(hours=5, minutes=30))
    monkeypatch.undo()
    time.tzset()


def test_status_shows_each_timer_due_and_each_ringing_on_the_local_clock(
    timers, clock_ahead: timezone
) -> None:
    """`assistant status`: the timers running, the one due first first, with the day when it
    is not today, and the timers ringing with when they stop unless silenced."""

    def local(when: datetime) -> str:
        moment = when.astimezone(clock_ahead)
        today = datetime.now(clock_ahead).date()
        return moment.strftime("%H:%M:%S" if moment.date() == today else "%Y-%m-%d %H:%M:%S")

    skill = timers(ask_length=False, ring_every=60, ring_for=120)
    assert skill.status() == ["skill timers: no timer running"]
    skill.do("start", name="rice", seconds=2 * 86400)
    skill.do("start", name="eggs", seconds=600)
    skill.do("start", name="tea", seconds=0.2)
    assert wait_until(lambda: "Tea is done" in skill.replies)
    scheduler = skill.skill.scheduler
    eggs, rice = (scheduler.get_job(f"timer:{name}").next_run_time for name in ("eggs", "rice"))
    until = scheduler.get_job("ring:tea", "ringing").trigger.end_date
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", local(rice))  # another day
    assert skill.status() == [
        f"skill timers: eggs due at {local(eggs)}, rice due at {local(rice)}",
        f"skill timers: ringing: tea until {local(until)}",
    ]
    assert skill.do("stop") == "Timer silenced"
    assert skill.status() == [f"skill timers: eggs due at {local(eggs)}, rice due at {local(rice)}"]


def test_status_and_the_log_follow_a_time_zone_changed_while_it_runs(
    timers, clock_ahead: timezone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Travelling: the zone is changed under the running assistant (`timedatectl set-timezone`
    replaces /etc/localtime; here TZ, which a process reads only when it calls tzset, as it
    reads that file), and `assistant status` and the log's times are in the new one."""
    skill = timers(ask_length=False)
    skill.do("start", name="eggs", seconds=600)
    eggs = skill.skill.scheduler.get_job("timer:eggs").next_run_time
    assert skill.status() == [f"skill timers: eggs due at {eggs.astimezone(clock_ahead):%H:%M:%S}"]
    monkeypatch.setenv("TZ", "YST+8")  # from 5 h 30 min ahead of UTC to 8 h behind it
    record = logging.LogRecord("assistant", logging.INFO, __file__, 1, "tea", None, None)
    stamp = logformat.PrintableFormatter("%(asctime)s", datefmt="%H:%M %z").format(record)
    assert stamp.endswith(" -0800")
    shown = skill.status()[0].removeprefix("skill timers: eggs due at ")
    assert shown[-8:] == f"{eggs.astimezone(timezone(timedelta(hours=-8))):%H:%M:%S}"


def test_a_named_stop_silences_that_timer_ringing_and_no_other(timers) -> None:
    """`stop` with a name (a command mapped to `timers.stop` `with: {name: tea}`) silences
    that timer while it rings, rather than answering that no such timer runs."""
    skill = timers(ask_length=False, ring_every=0.2, ring_for=30)
    skill.do("start", name="tea", seconds=0.1)
    skill.do("start", name="eggs", seconds=0.1)
    assert wait_until(lambda: skill.replies.count("Eggs is done") >= 2)
    assert skill.do("stop", name="tea") == "Tea silenced"
    silenced, rung = ring_every_after_now(skill), skill.replies.count("Tea is done")
    assert skill.focus.current() == "timers"  # eggs rings on
    assert [job.id for job in skill.skill.scheduler.get_jobs("ringing")] == ["ring:eggs"]
    replies = replies_once_settled(skill, silenced + timedelta(seconds=0.4))
    assert replies.count("Tea is done") == rung
    assert replies[-1] == "Eggs is done"


def test_a_new_timer_is_not_named_as_one_still_ringing(timers) -> None:
    """ "Timer is done" still repeated: the next "go" sets "timer 2", not a second "timer" that
    `status` would list next to the ringing one, and that a restart would announce as missed
    while the first rang on."""
    skill = timers(ask_length=False, ring_every=0.2, ring_for=30)
    skill.do("start", seconds=0.1)
    assert wait_until(lambda: "Timer is done" in skill.replies)
    assert skill.do("start", seconds=60) == "Timer 2 set for one minute"
    assert skill.status()[1] == skill.status()[1].split(",")[0]  # one ringing: timer
    assert skill.do("stop") == "Timer silenced"
    assert skill.do("stop") == "Timer 2 cancelled"


def test_a_named_timer_started_again_says_it_restarted(timers) -> None:
    """ "Go" mapped to `{name: tea, seconds: 240}` said twice: the user hears that tea started
    over, not as if a second tea were set; said while tea rings, its ringing stops."""
    skill = timers(ask_length=False, ring_every=0.2, ring_for=30)
    assert skill.do("start", name="tea", seconds=300) == "Tea set for five minutes"
    assert skill.do("start", name="tea", seconds=240) == "Tea restarted for four minutes"
    assert re.fullmatch(r"Tea has (about )?four minutes left", skill.do("status"))
    skill.do("start", name="eggs", seconds=0.1)
    assert wait_until(lambda: "Eggs is done" in skill.replies)
    assert skill.focus.current() == "timers"
    assert skill.do("start", name="eggs", seconds=60) == "Eggs restarted for one minute"
    assert skill.skill.scheduler.get_jobs("ringing") == []
    assert skill.focus.current() is None
    assert skill.do("start", name="rice", seconds=60) == "Rice set for one minute"


def test_stop_cancels_the_timer_named_in_its_parameters_else_the_one_due_first(timers) -> None:
    skill = timers(ask_length=False)
    skill.do("start", name="tea", seconds=60)
    skill.do("start", name="eggs", seconds=30)
    skill.do("start", name="rice", seconds=90)
    assert skill.do("stop", name="tea") == "Tea cancelled, 2 more running"
    with pytest.raises(NothingToDo, match="No timer named tea is running"):
        skill.do("stop", name="tea")
    assert skill.do("stop") == "Eggs cancelled, 1 more running"  # no name: the one due first


def test_timers_survive_a_restart_and_still_ring(timers, caplog) -> None:
    first = timers(ask_length=False)
    first.do("start", name="tea", seconds=2)
    first.do("start", name="eggs", seconds=600)
    first.stop()
    with caplog.at_level(logging.INFO, logger="assistant.skill.timers"):
        second = timers(ask_length=False)
    due = r"\d\d:\d\d:\d\d"  # when each is due, as `assistant status` says it
    assert re.search(f"timers still running: tea due at {due}, eggs due at {due}", caplog.text)
    status = second.do("status")
    left = r"Tea has (one|two) seconds? left\. Eggs has (about )?ten minutes left"
    assert re.fullmatch(left, status)
    assert wait_until(lambda: "Tea is done" in second.replies)
    assert first.replies == ["Tea set for two seconds", "Eggs set for ten minutes"]


def stored_jobs(database: Path) -> dict[str, dict]:
    """The job states stored in `database`'s timers and ringings, by job id."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT id, job_state FROM apscheduler_jobs UNION ALL SELECT id, job_state FROM ringing"
        ).fetchall()
    connection.close()
    return {job_id: pickle.loads(state) for job_id, state in rows}


def file_format(database: Path) -> int:
    connection = sqlite3.connect(database)
    try:
        return connection.execute("PRAGMA user_version").fetchone()[0]
    finally:
        connection.close()


def test_format_1_is_what_a_file_from_before_formats_holds_and_it_is_marked(
    timers, tmp_path: Path
) -> None:
    """FORMAT names the stored job functions and arguments: a change to them fails here, and
    must raise FORMAT (and convert older files)."""
    first = timers(ask_length=False, ring_every=60, ring_for=120)
    first.do("start", name="tea", seconds=0.1)
    assert wait_until(lambda: "Tea is done" in first.replies)
    first.do("start", name="eggs", seconds=600)
    first.stop()
    database = tmp_path / "timers" / "timers.sqlite"
    stored = {job_id: (job["func"], job["args"]) for job_id, job in stored_jobs(database).items()}
    key = str(tmp_path.resolve() / "timers")
    assert FORMAT == 1
    assert stored == {
        "timer:eggs": ("skills.timers:_timer_due", (key, "eggs", "default")),
        "ring:tea": ("skills.timers:_ring_again", (key, "tea", "default")),
    }
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA user_version = 0")  # as versions before formats left it
    connection.close()
    second = timers(ask_length=False)
    assert re.fullmatch(r"Eggs has (about )?ten minutes left", second.do("status"))
    assert file_format(database) == FORMAT


def test_a_file_a_newer_version_wrote_stops_the_skill_and_keeps_its_timers(
    timers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Going back to an older version: APScheduler would delete the jobs it cannot restore
    (here, a job function the newer version renamed)."""
    first = timers(ask_length=False)
    first.do("start", name="tea", seconds=600)
    first.stop()
    database = tmp_path / "timers" / "timers.sqlite"
    with sqlite3.connect(database) as connection:
        (state,) = connection.execute("SELECT job_state FROM apscheduler_jobs").fetchone()
        job = {**pickle.loads(state), "func": "skills.timers:timer_due"}
        connection.execute("UPDATE apscheduler_jobs SET job_state = ?", (pickle.dumps(job),))
        connection.execute(f"PRAGMA user_version = {FORMAT + 1}")
    connection.close()
    with caplog.at_level(logging.ERROR):
        second = timers(ask_length=False)
    assert second.skill is None
    assert second.replies == ["I cannot read the saved timers"]
    assert (
        f"Timers: {database} holds timers in format {FORMAT + 1}, written by a newer version of "
        f"the assistant; this one reads format {FORMAT} at most and leaves the file alone: run "
        "the newer version again, or move the file away to start without its timers"
    ) in caplog.text
    assert "Unable to restore job" not in caplog.text
    assert stored_jobs(database)["timer:tea"]["func"] == "skills.timers:timer_due"
    assert file_format(database) == FORMAT + 1


def test_timers_stored_under_another_data_directory_ring_once_it_moved(
    timers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A restored backup, a new user name, another XDG_DATA_HOME: the stored timers name the
    data directory they were set in."""
    first = timers(ask_length=False, missed_after=60)
    first.do("start", name="tea", seconds=1)
    first.stop()
    moved = tmp_path / "moved"
    moved.mkdir()
    (tmp_path / "timers").rename(moved / "timers")
    with caplog.at_level(logging.INFO, logger="assistant.skill.timers"):
        second = SkillUnderTest(TimersSkill, {**FAST, "ask_length": False}, moved)
    try:
        assert wait_until(lambda: "Tea is done" in second.replies)
    finally:
        second.stop()
    assert (
        f"timers stored under {tmp_path.resolve() / 'timers'} now ring from "
        f"{moved.resolve() / 'timers'}: tea" in caplog.text
    )


def open_files(path: Path) -> int:
    """How many of this process's file descriptors are open on `path`."""
    descriptors = Path("/proc/self/fd")
    links = (os.readlink(fd) for fd in descriptors.iterdir() if fd.is_symlink())
    return sum(link == str(path) for link in links)


def test_each_stop_closes_the_database_it_opened(timers, tmp_path: Path) -> None:
    """Stopped and started again (a reload), the skill leaves no connection to its database
    open for the garbage collector to close some time: the fixture keeps every stopped skill."""
    database = tmp_path / "timers" / "timers.sqlite"
    for number in range(3):
        skill = timers(ask_length=False, ring_every=60, ring_for=120)  # stores its ringing
        skill.do("start", name=f"tea {number}", seconds=0.1)
        assert wait_until(lambda: f"Tea {number} is done" in skill.replies)  # noqa: B023
        assert open_files(database) > 0
        skill.stop()
        assert open_files(database) == 0


def test_a_timer_due_while_down_is_announced_as_missed(timers) -> None:
    first = timers(ask_length=False)
    first.do("start", name="tea", seconds=0.5)
    first.stop()
    time.sleep(2.0)  # due after 0.5 s, missed after one more second
    second = timers(ask_length=False)
    missed = re.compile(r"Tea was due at [a-z' ]+, but the assistant was not running")
    assert wait_until(lambda: any(missed.fullmatch(reply) for reply in second.replies))
    assert "Tea is done" not in second.replies
    assert second.do("status") == "No timer is running"


def test_a_timer_missed_on_another_day_is_said_with_its_day(timers, tmp_path: Path) -> None:
    """Down for days (a laptop left shut down over a weekend): the day a timer was due is said,
    not its time of day alone."""
    first = timers(ask_length=False)
    for name in ("tea", "eggs", "rice"):
        first.do("start", name=name, seconds=600)
    first.stop()
    now = datetime.now(timezone.utc)
    days = {"tea": 1, "eggs": 3, "rice": 10}
    for name, ago in days.items():
        due_at(tmp_path / "timers" / "timers.sqlite", f"timer:{name}", now - timedelta(days=ago))
    second = timers(ask_length=False)

    def said(name: str, day: str) -> str:
        at = time_of_day_in_words((now - timedelta(days=days[name])).astimezone())
        return f"{name.capitalize()} was due {day}at {at}, but the assistant was not running"

    weekday = (now - timedelta(days=3)).astimezone().strftime("%A")
    expected = {
        said("tea", "yesterday "),
        said("eggs", f"on {weekday} "),
        said("rice", "ten days ago, "),
    }
    assert wait_until(lambda: expected <= set(second.replies)), second.replies


def test_a_ringing_timer_keeps_ringing_across_a_restart_and_stop_silences_it(timers) -> None:
    first = timers(ask_length=False, ring_every=0.3, ring_for=5.0)
    first.do("start", name="tea", seconds=0.2)
    first.do("start", name="eggs", seconds=600)
    assert wait_until(lambda: "Tea is done" in first.replies)
    first.stop()  # a reload that changes the skill's settings restarts it like this
    second = timers(ask_length=False, ring_every=0.3, ring_for=5.0)
    assert wait_until(lambda: "Tea is done" in second.replies)
    assert second.focus.current() == "timers"
    assert second.do("stop") == "Timer silenced"
    rung, silenced = second.replies.count("Tea is done"), ring_every_after_now(second)
    assert re.fullmatch(r"Eggs has (about )?ten minutes left", second.do("status"))
    assert replies_once_settled(second, silenced).count("Tea is done") == rung


def test_a_timer_that_rings_for_less_than_ring_every_rings_once_and_stores_nothing(
    timers,
) -> None:
    skill = timers(ask_length=False, ring_every=0.3, ring_for=0)
    for name in ("tea", "eggs"):
        skill.do("start", name=name, seconds=0.1)
        assert wait_until(lambda: f"{name.capitalize()} is done" in skill.replies)  # noqa: B023
        assert skill.skill.scheduler.get_jobs("ringing") == []  # stored before it is said


def test_a_timer_rings_in_the_room_that_started_it(timers) -> None:
    skill = timers(ask_length=False, ring_every=0.3)
    skill.do("start", CommandEvent("go", 0.9, site="kitchen"), name="tea", seconds=0.2)
    assert wait_until(lambda: skill.replies.count("Tea is done") >= 2)  # rung, then again
    rung = [site for text, site in skill.said if text == "Tea is done"]
    assert set(rung) == {"kitchen"}


@pytest.mark.parametrize("stored", [True, False], ids=["with-timers", "new"])
def test_a_store_that_cannot_be_written_stops_the_skill_at_start_with_one_line(
    timers, tmp_path: Path, caplog: pytest.LogCaptureFixture, stored: bool
) -> None:
    folder = tmp_path / "timers"
    folder.mkdir()
    if stored:
        first = timers(ask_length=False)
        first.do("start", name="tea", seconds=600)
        first.stop()
    with caplog.at_level(logging.ERROR, logger="assistant.host"), unwritable(folder):
        second = timers(ask_length=False)
    assert second.skill is None
    assert second.replies == ["I cannot save timers"]
    assert re.fullmatch(  # SQLite's reason depends on how the folder refuses writes
        rf"SkillError: Timers: cannot write {re.escape(str(folder / 'timers.sqlite'))} \(.+\); "
        "make it and its folder writable by the user running the assistant, then reload",
        second.host.start_errors["timers"],
    )
    assert "skill timers: start failed: Timers: cannot write" in caplog.text
    assert "Traceback" not in caplog.text


def damaged(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\0" + bytes(range(256)) * 8)  # a header, then garbage


def foreign(path: Path) -> None:
    with closing(sqlite3.connect(path)) as database:
        database.execute("CREATE TABLE apscheduler_jobs (id TEXT, due REAL)")


@pytest.mark.parametrize("make", [damaged, foreign])
def test_a_damaged_or_foreign_store_stops_the_skill_at_start_saying_to_move_it_aside(
    timers, tmp_path: Path, caplog: pytest.LogCaptureFixture, make: Callable[[Path], None]
) -> None:
    database = tmp_path / "timers" / "timers.sqlite"
    database.parent.mkdir()
    make(database)
    with caplog.at_level(logging.ERROR, logger="assistant.host"):
        skill = timers(ask_length=False)
    assert skill.skill is None
    assert skill.replies == ["I cannot save timers"]
    assert re.search(
        rf"Timers: cannot use {re.escape(str(database))} \(.+\); move it aside \(the timers in "
        r"it are lost\), then reload",
        caplog.text,
    )
    assert "Traceback" not in caplog.text


def damaged_in_place(path: Path) -> None:
    """Write garbage over the database, as a crash or another program could: connections
    open on it read the garbage from then on."""
    with path.open("r+b") as file:
        file.write(b"SQLite format 3\0" + bytes(range(256)) * 8)


@pytest.mark.parametrize(
    ("logger", "moment"),
    [
        ("sqlalchemy.engine.Engine", "BEGIN"),  # a store's first statement: scheduler not started
        ("apscheduler.scheduler", "Scheduler started"),  # its thread starts next, paused
        ("apscheduler.scheduler", "Resumed"),  # its thread runs, then the clock watch starts
    ],
    ids=["stores", "paused", "running"],
)
def test_a_start_failing_after_the_store_check_leaves_no_thread_and_no_file_open(
    tmp_path: Path, logger: str, moment: str
) -> None:
    """The database is damaged after the start-up check passed: the start fails, and ends
    what it began itself, as the host calls no stop() for a skill whose start raised."""
    first = SkillUnderTest(TimersSkill, {**FAST, "ask_length": False}, tmp_path)
    first.do("start", name="tea", seconds=600)  # a timer stored, to be read at the next start
    first.stop()
    database = tmp_path / "timers" / "timers.sqlite"
    before = set(threading.enumerate())
    damage = LogBarrier(moment, hold=False, then=lambda: damaged_in_place(database))
    with log_barrier(logger, logging.INFO, damage):
        skill = SkillUnderTest(TimersSkill, {**FAST, "ask_length": False}, tmp_path)
    assert damage.reached.is_set()
    assert skill.skill is None
    assert "DatabaseError" in skill.host.start_errors["timers"]
    skill.host.stop()

    def started_since() -> set[str]:
        return {thread.name for thread in set(threading.enumerate()) - before}

    assert wait_until(lambda: not started_since()), started_since()  # the host's end too
    assert open_files(database) == 0


def test_a_full_disk_is_named_as_such_not_as_a_permission_problem(tmp_path: Path) -> None:
    path = tmp_path / "timers.sqlite"
    database = sqlite3.connect(path)
    database.execute("PRAGMA max_page_count = 2")  # SQLite's own "database or disk is full"
    with pytest.raises(sqlite3.OperationalError) as full:
        database.execute("CREATE TABLE t (x)")
        database.execute("INSERT INTO t VALUES (zeroblob(100000))")
    database.close()
    assert store_problem(path, full.value) == (
        f"cannot write {path} (database or disk is full); free some space on its disk"
    )
    assert store_problem(path, sqlite3.OperationalError("readonly")).endswith(
        "make it and its folder writable by the user running the assistant"
    )


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("file is not a database", "move it aside"),
        ("database disk image is malformed", "move it aside"),
        ("database or disk is full", "free some space on its disk"),
    ],
)
def test_sqlite_errors_without_their_code_as_python_3_10_raises_them_get_the_same_fix(
    tmp_path: Path, text: str, fix: str
) -> None:
    """Python 3.10's sqlite3 errors carry no `sqlite_errorcode`: SQLite's own text tells them
    apart there."""
    error = sqlite3.DatabaseError(text)
    assert not hasattr(error, "sqlite_errorcode")
    assert fix in store_problem(tmp_path / "timers.sqlite", error)


def test_a_store_unwritable_later_still_rings_due_timers_and_refuses_new_ones(
    timers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduler goes on (a later timer rings too), a timer that rang is not rung again,
    and once the store can be written again what happened meanwhile is stored."""
    folder = tmp_path / "timers"
    skill = timers(ask_length=False)
    skill.do("start", name="tea", seconds=1.0)
    skill.do("start", name="eggs", seconds=2.0)
    with caplog.at_level(logging.WARNING), unwritable(folder):
        with pytest.raises(SkillError, match=r"^Timer not set: cannot write .*timers.sqlite"):
            skill.do("start", name="rice", seconds=60)
        assert "I cannot save timers, so the timer is not set" in skill.replies
        assert wait_until(lambda: "Eggs is done" in skill.replies)
        rang_again_by = ring_every_after_now(skill)  # had the store kept a timer or a ringing
        assert skill.do("status") == "No timer is running"
    assert caplog.text.count("cannot write") == 2  # the refused timer, and the store once
    assert "Traceback" not in caplog.text
    assert skill.do("start", name="rice", seconds=60) == "Rice set for one minute"
    replies = replies_once_settled(skill, rang_again_by)
    assert replies.count("Tea is done") == replies.count("Eggs is done") == 1
    again = timers(ask_length=False)
    status = again.do("status")
    assert re.fullmatch(r"Rice has (one minute|fifty \w+ seconds) left", status)
    # a timer that rang but was still stored would be due now, and announced as missed
    assert replies_once_settled(again, datetime.now(timezone.utc)) == [status]


def test_a_ringing_timer_rings_on_and_is_silenced_when_the_store_becomes_unwritable(
    timers, tmp_path: Path
) -> None:
    skill = timers(ask_length=False, ring_every=0.3, ring_for=10.0)
    skill.do("start", name="tea", seconds=0.2)
    assert wait_until(lambda: "Tea is done" in skill.replies)
    with unwritable(tmp_path / "timers"):
        assert wait_until(lambda: skill.replies.count("Tea is done") >= 3)
        assert skill.do("stop") == "Timer silenced"
        rung, silenced = skill.replies.count("Tea is done"), ring_every_after_now(skill)
        assert replies_once_settled(skill, silenced).count("Tea is done") == rung


def test_the_store_looks_up_the_changes_it_could_not_write_as_they_are_in_memory(
    tmp_path: Path,
) -> None:
    """A timer the store could not update is found as updated, one it could not remove is
    found gone, though the database still holds each as it was."""
    failed: list[Exception] = []
    database = tmp_path / "timers.sqlite"
    stores = {
        name: TimerStore(database, table, failed.append) for name, table in STORE_TABLES.items()
    }
    scheduler = BackgroundScheduler(jobstores=stores, timezone=timezone.utc)
    scheduler.start(paused=True)  # runs nothing: only the store's answers are looked at
    try:
        due = datetime.now(timezone.utc) + timedelta(hours=1)
        for name in ("tea", "eggs"):
            scheduler.add_job(print, DateTrigger(due), id=name, name=name)
        with unwritable(tmp_path):
            scheduler.modify_job("tea", name="green tea")
            scheduler.remove_job("eggs")
            assert len(failed) == 2
            assert stores["default"].lookup_job("tea").name == "green tea"
            assert stores["default"].lookup_job("eggs") is None
            assert {job_id: state["name"] for job_id, state in stored_jobs(database).items()} == {
                "eggs": "eggs",
                "tea": "tea",
            }
    finally:
        scheduler.shutdown(wait=False)


HELD_WHERE = {
    # APScheduler logs this in the executor's thread just before the job's function runs: the
    # timer is out of the store. Let go once the stop has paused the scheduler (or has ended),
    # it rings before the stop ends.
    "in-the-executor": (
        "apscheduler.executors.default",
        logging.INFO,
        'Running job "tea (',
        {STATE_PAUSED, STATE_STOPPED},
    ),
    # ... and this in its own thread as a round of job processing begins, past its check for a
    # pause. Let go once the stop is shutting the scheduler down (or has ended), the round
    # hands nothing over and the timer stays stored for the next start.
    "starting-to-hand-it-over": (
        "apscheduler.scheduler",
        logging.DEBUG,
        "Looking for jobs",
        {STATE_STOPPED},
    ),
}


@pytest.mark.parametrize("held", list(HELD_WHERE))
@pytest.mark.parametrize("how", ["shutdown", "reload"])
def test_a_timer_coming_due_as_the_skill_stops_rings_once_and_keeps_ringing_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str, held: str
) -> None:
    """The scheduler's thread handing the due timer over, or the executor's thread running it,
    is held until the stop has gone as far as it can without it. The timer rings exactly once,
    before the stop ends or at the next start (held back until the job has run, so that the job
    cannot ring through the next instance), and keeps ringing after the restart."""
    said_before_stop: list[str] = []
    may_start = threading.Event()
    may_start.set()

    class Watched(TimersSkill):
        def start(self) -> None:
            assert may_start.wait(10)
            super().start()

        def stop(self) -> None:
            super().stop()
            said_before_stop.extend(first.replies)

    settings = {"ask_length": False, "ring_every": 60.0, "ring_for": 600.0, "missed_after": 60}
    first = SkillUnderTest(Watched, settings, tmp_path)
    logger, level, prefix, let_go = HELD_WHERE[held]
    in_executor = held == "in-the-executor"
    ran = LogBarrier('Job "tea (', hold=False)  # executed (or raised)
    with log_barrier("apscheduler.executors.default", logging.INFO, ran):
        first.do("start", name="tea", seconds=0.1)
        scheduler = first.skill.scheduler
        due = scheduler.get_job("timer:tea").next_run_time
        with log_barrier(logger, level, LogBarrier(prefix, after=due)) as barrier:
            assert barrier.reached.wait(5)
            may_start.clear()
            if how == "shutdown":
                stopping = threading.Thread(target=first.stop)
            else:
                changed = {**first.host.settings["timers"], "ring_every": 50.0}
                configure = first.host.configure
                stopping = threading.Thread(target=configure, args=({"timers": changed},))
            stopping.start()
            assert wait_until(lambda: said_before_stop or scheduler.state in let_go)
            barrier.go.set()
            if in_executor:
                assert ran.reached.wait(5)
            may_start.set()
            stopping.join(15)
            assert not stopping.is_alive()
    assert said_before_stop.count("Tea is done") == in_executor
    if how == "shutdown":
        assert first.focus.current() is None  # the ringing held focus only while running
        later = SkillUnderTest(TimersSkill, settings, tmp_path)
    else:
        later = first  # the same host, its skill restarted
        first.host.runners["timers"].submit("started", lambda: None).result(10)

    def replies() -> list[str]:
        return first.replies + (later.replies if later is not first else [])

    try:
        assert wait_until(lambda: "Tea is done" in replies())
        assert replies().count("Tea is done") == 1
        assert later.focus.current() == "timers"
        ringing = later.host.skills["timers"].scheduler.get_jobs("ringing")
        assert [job.id for job in ringing] == ["ring:tea"]
        assert later.do("status") == "No timer is running"
        assert not [reply for reply in replies() if " was due at " in reply]
    finally:
        later.stop()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_a_stop_waits_for_a_round_handing_a_due_timer_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """APScheduler's pause does not end a round of job processing under way, which takes the due
    timer out of its store as it hands it over: the stop waits for the round (through the job
    stores' lock, which the round holds) before it shuts the executor down, else the timer is
    lost. This fails should APScheduler no longer hold that lock through a round."""
    in_round, go = threading.Event(), threading.Event()
    get_due_jobs = TimerStore.get_due_jobs

    def held_in_round(store: TimerStore, now: datetime) -> list:
        due = get_due_jobs(store, now)
        if due and not in_round.is_set():
            in_round.set()
            go.wait(10)
        return due

    monkeypatch.setattr(TimerStore, "get_due_jobs", held_in_round)
    settings = {"ask_length": False, "ring_every": 60.0, "ring_for": 600.0, "missed_after": 60}
    timers = SkillUnderTest(TimersSkill, settings, tmp_path)
    timers.do("start", name="tea", seconds=0.1)
    assert in_round.wait(5)
    skill = timers.skill
    stop_blocks = threading.Event()  # the stop is about to wait for the round, or to go on

    def noting(call: Callable[..., object]) -> Callable[..., object]:
        def noted(*args: object, **options: object) -> object:
            stop_blocks.set()
            return call(*args, **options)

        return noted

    for owner, name in ((skill.scheduler, "get_jobs"), (skill._executor, "shutdown")):
        monkeypatch.setattr(owner, name, noting(getattr(owner, name)))
    stopping = threading.Thread(target=timers.stop)
    stopping.start()
    try:
        assert stop_blocks.wait(5)
    finally:
        go.set()
        stopping.join(10)
    assert timers.replies.count("Tea is done") == 1
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


class Clocks:
    """The clocks the timers skill watches for a suspend or a step, set by the test: the
    scheduler itself still runs on the real wall clock."""

    def __init__(self) -> None:
        self.wall, self.boot, self.awake = Clock(), Clock(), Clock()
        self.boot_id = "first boot"

    def sleep(self, seconds: float) -> None:
        """As a suspend looks: the wall and boot clocks go on, the monotonic one stands."""
        self.wall.now += seconds
        self.boot.now += seconds

    def skill(self, tick: float = 0.02) -> type[TimersSkill]:
        clocks = {"wall": self.wall, "boot": self.boot, "awake": self.awake, "tick": tick}
        which_boot = staticmethod(lambda: self.boot_id)
        return type(
            "WatchedTimers", (TimersSkill,), {"watch_clocks": clocks, "which_boot": which_boot}
        )

    def reboot(self) -> None:
        """As a reboot looks: another boot id, the boot and monotonic clocks from 0."""
        self.boot_id = "second boot"
        self.boot.now = self.awake.now = 0.0


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def due_at(database: Path, job_id: str, when: datetime) -> None:
    """Make the stored job `job_id` due at `when` behind the scheduler's back, as a suspend does:
    the scheduler, waiting on the monotonic clock, is not told."""
    with sqlite3.connect(database) as connection:
        (state,) = connection.execute(
            "SELECT job_state FROM apscheduler_jobs WHERE id = ?", (job_id,)
        ).fetchone()
        job = pickle.loads(state)
        job["next_run_time"], job["trigger"] = when, DateTrigger(when, timezone.utc)
        connection.execute(
            "UPDATE apscheduler_jobs SET job_state = ?, next_run_time = ? WHERE id = ?",
            (pickle.dumps(job), when.timestamp(), job_id),
        )


@contextmanager
def between_rounds(scheduler: BackgroundScheduler) -> Iterator[None]:
    """No round of the scheduler runs inside (paused, once a round under way has ended, as the
    skill's stop waits for it); one runs at the end."""
    scheduler.pause()
    scheduler.get_jobs()
    try:
        yield
    finally:
        scheduler.resume()


def moved_behind_its_back(database: Path, by: timedelta) -> None:
    """Move every stored timer and ringing `by`, the scheduler not told: as its own clock,
    stepped or gone on while the computer slept, moves against them by -`by`."""
    with sqlite3.connect(database) as connection:
        for table in ("apscheduler_jobs", "ringing"):
            rows = connection.execute(f"SELECT id, job_state FROM {table}").fetchall()
            for job_id, state in rows:
                job = pickle.loads(state)
                job["next_run_time"] += by
                job["trigger"] = _shifted(job["trigger"], by)
                connection.execute(
                    f"UPDATE {table} SET job_state = ?, next_run_time = ? WHERE id = ?",
                    (pickle.dumps(job), job["next_run_time"].timestamp(), job_id),
                )


def test_a_timer_due_while_the_computer_slept_is_announced_as_missed_on_waking(
    clocks: Clocks, tmp_path: Path
) -> None:
    started = datetime.now(timezone.utc)
    skill = SkillUnderTest(clocks.skill(), {**FAST, "ask_length": False}, tmp_path)
    try:
        skill.do("start", name="tea", seconds=600)
        time.sleep(2.0 - (datetime.now(timezone.utc) - started).total_seconds())
        went_off = started + timedelta(seconds=0.5)  # after the start; missed_after: 1 s
        due_at(tmp_path / "timers" / "timers.sqlite", "timer:tea", went_off)
        assert skill.do("status") == "Tea is due now"  # not a negative time left
        clocks.sleep(7200)
        at = time_of_day_in_words(went_off.astimezone())
        missed = f"Tea was due at {at}, but the computer was asleep"
        assert wait_until(lambda: missed in skill.replies)
    finally:
        skill.stop()


def ringing_on(clocks: Clocks, tmp_path: Path, name: str) -> SkillUnderTest:
    """The skill watching `clocks`, with the timer `name` ringing (once a minute, for two)."""
    settings = {**FAST, "ask_length": False, "ring_every": 60, "ring_for": 120}
    skill = SkillUnderTest(clocks.skill(), settings, tmp_path)
    try:
        skill.do("start", name=name, seconds=0.1)
        assert wait_until(lambda: skill.skill.scheduler.get_jobs("ringing"))
    except BaseException:
        skill.stop()
        raise
    return skill


def test_a_step_of_the_wall_clock_moves_timers_and_ringing_with_it(
    clocks: Clocks, tmp_path: Path
) -> None:
    """The watched wall clock is stepped; the scheduler's own, which was not, sees each timer
    and ringing move by the step, in the store."""
    skill = ringing_on(clocks, tmp_path, "eggs")
    scheduler = skill.skill.scheduler
    try:
        skill.do("start", name="tea", seconds=600)

        def stepped_by(seconds: float) -> bool:
            due = {job.id: job.next_run_time for job in scheduler.get_jobs()}
            clocks.wall.now += seconds
            moved = {job: when + timedelta(seconds=seconds) for job, when in due.items()}
            return wait_until(
                lambda: moved == {j.id: j.next_run_time for j in scheduler.get_jobs()}
            )

        assert stepped_by(3600)
        assert stepped_by(-3600)
    finally:
        skill.stop()
    assert not any(" was due at " in reply for reply in skill.replies)


def test_a_ringing_that_ended_while_the_computer_slept_is_logged_as_such(
    clocks: Clocks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its end passed during a suspend: it did not ring on with nobody to silence it."""
    caplog.set_level(logging.INFO, logger="assistant.skill.timers")
    skill = ringing_on(clocks, tmp_path, "tea")
    try:
        with between_rounds(skill.skill.scheduler):
            moved_behind_its_back(tmp_path / "timers" / "timers.sqlite", timedelta(hours=-2))
            clocks.sleep(7200)
        assert wait_until(
            lambda: "tea stopped ringing while the computer was asleep" in caplog.text
        )
    finally:
        skill.stop()
    assert "nobody silenced it" not in caplog.text


def stepped_for_the_scheduler(
    skill: SkillUnderTest, clocks: Clocks, by: float, meanwhile: Callable[[], object] = lambda: None
) -> None:
    """A step of the wall clock as the scheduler sees it at once (its clock, the real one, is
    not stepped: the stored timers move the other way), and the clock watch at its next look;
    then `meanwhile`, before any round of the scheduler (which looks at the clocks first); one
    follows at once (as a ringing's announcement or a new timer wakes it)."""
    with between_rounds(skill.skill.scheduler):
        moved_behind_its_back(
            skill.skill.context.data_dir / "timers.sqlite", -timedelta(seconds=by)
        )
        clocks.wall.now += by
        meanwhile()


def tea_then_a_step(clocks: Clocks, tmp_path: Path) -> tuple[SkillUnderTest, datetime]:
    """The skill watching `clocks` once an hour, with a ten-minute tea set, then the clock set
    an hour ahead (stepped_for_the_scheduler): a round of the scheduler is the first to see the
    step. Returns the skill and when tea was due before."""
    skill = SkillUnderTest(clocks.skill(tick=3600), WATCHED, tmp_path)
    try:
        skill.do("start", name="tea", seconds=600)
        due = skill.skill.scheduler.get_job("timer:tea").next_run_time
        stepped_for_the_scheduler(skill, clocks, 3600)
    except BaseException:
        skill.stop()
        raise
    return skill, due


def test_a_round_of_the_scheduler_right_after_a_step_finds_the_timers_moved(
    clocks: Clocks, tmp_path: Path
) -> None:
    """The clock set an hour ahead, and the scheduler wakes (a ringing's announcement, a new
    timer) before the clock watch's next look: the timers due within that hour are not taken
    for missed, "Tea was due ..., but the computer was asleep"."""
    skill, due = tea_then_a_step(clocks, tmp_path)
    scheduler = skill.skill.scheduler
    try:
        assert wait_until(lambda: scheduler.get_job("timer:tea").next_run_time == due)
    finally:
        skill.stop()
    assert skill.replies == ["Tea set for ten minutes"]


def test_a_timer_set_right_after_a_step_is_not_moved_by_it(
    clocks: Clocks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A timer set on the stepped clock before anything looked at the clocks (the clock
    watch's thread, a round of the scheduler): the step moves the timers set before it, not
    this one (it would ring an hour late)."""
    caplog.set_level(logging.INFO, logger="assistant.skill.timers")
    skill = SkillUnderTest(clocks.skill(tick=3600), WATCHED, tmp_path)
    scheduler = skill.skill.scheduler
    try:
        skill.do("start", name="tea", seconds=600)
        tea = scheduler.get_job("timer:tea").next_run_time
        set_between: list[datetime] = []

        def start_eggs() -> None:
            set_between.append(datetime.now(timezone.utc))
            assert skill.do("start", name="eggs", seconds=600) == "Eggs set for ten minutes"
            set_between.append(datetime.now(timezone.utc))

        stepped_for_the_scheduler(skill, clocks, 3600, meanwhile=start_eggs)
        before, after = set_between
        # logged by whichever look saw the step first, once it has moved the timers
        assert wait_until(lambda: "the clock was stepped by +3600 s" in caplog.text)
        eggs = scheduler.get_job("timer:eggs").next_run_time
        assert before + timedelta(seconds=600) <= eggs <= after + timedelta(seconds=600)
        assert scheduler.get_job("timer:tea").next_run_time == tea
    finally:
        skill.stop()
    assert caplog.text.count("the clock was stepped by") == 1  # one step, moved once
    assert not any(" was due " in reply for reply in skill.replies), skill.replies


WATCHED = {**FAST, "ask_length": False}


def tea_due_after(
    clocks: Clocks, tmp_path: Path, act: Callable[[SkillUnderTest], object]
) -> datetime:
    """The skill watching `clocks` starts, `act`s, then stops: when tea is due then, as the
    scheduler sees it."""
    skill = SkillUnderTest(clocks.skill(), WATCHED, tmp_path)
    try:
        act(skill)
        return skill.skill.scheduler.get_job("timer:tea").next_run_time
    finally:
        skill.stop()


def tea_set_then_stopped(clocks: Clocks, tmp_path: Path, seconds: float) -> datetime:
    """The skill watching `clocks` sets tea for `seconds`, then stops: when tea is due."""
    return tea_due_after(
        clocks, tmp_path, lambda skill: skill.do("start", name="tea", seconds=seconds)
    )


def test_a_restart_after_a_step_keeps_the_time_left_of_the_timers_set_before_it(
    clocks: Clocks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A machine without a battery-backed clock: a ten-minute tea is set on the wrong clock it
    booted with, the assistant restarts (a reload, an upgrade), and NTP steps the clock three
    hours ahead while it is not running: tea is not three hours overdue at the next start
    ("Tea was due ..., but the assistant was not running"), it rings ten minutes after it was
    set; and again after a second restart with no step, it is not moved."""
    caplog.set_level(logging.INFO, logger="assistant.skill.timers")
    due = tea_set_then_stopped(clocks, tmp_path, seconds=600)
    moved_behind_its_back(tmp_path / "timers" / "timers.sqlite", -timedelta(hours=3))
    clocks.wall.now += 3 * 3600
    for _ in range(2):
        again = SkillUnderTest(clocks.skill(), WATCHED, tmp_path)
        try:
            assert again.skill.scheduler.get_job("timer:tea").next_run_time == due
            assert re.fullmatch(r"Tea has (about )?ten minutes left", again.do("status"))
        finally:
            again.stop()
        assert not any(" was due " in reply for reply in again.replies), again.replies
    assert caplog.text.count("the clock was stepped by +10800 s since timer:tea was set") == 1


def test_a_step_after_a_reboot_moves_only_the_timers_set_since(
    clocks: Clocks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tea set, the machine restarted with its clock an hour behind (no battery-backed clock),
    eggs set, then NTP steps the clock right: eggs, set on the wrong clock, keeps its time
    left; tea, set before the boot, keeps its moment (it would ring an hour late)."""
    caplog.set_level(logging.INFO, logger="assistant.skill.timers")
    tea = tea_set_then_stopped(clocks, tmp_path, seconds=1200)
    clocks.reboot()
    moved_behind_its_back(tmp_path / "timers" / "timers.sqlite", timedelta(hours=1))
    skill = SkillUnderTest(clocks.skill(), WATCHED, tmp_path)
    scheduler = skill.skill.scheduler
    try:
        skill.do("start", name="eggs", seconds=600)
        eggs = scheduler.get_job("timer:eggs").next_run_time
        stepped_for_the_scheduler(skill, clocks, 3600)
        assert wait_until(lambda: "the clock was stepped by +3600 s" in caplog.text)
        assert scheduler.get_job("timer:eggs").next_run_time == eggs
        assert scheduler.get_job("timer:tea").next_run_time == tea
    finally:
        skill.stop()
    assert "but for those set before the machine started: timer:tea" in caplog.text


def tea_once_stepped(clocks: Clocks, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> datetime:
    """The skill watching `clocks` starts, and the clock is set an hour ahead while it runs
    (stepped_for_the_scheduler): when tea is due then, as the scheduler sees it."""

    def step(skill: SkillUnderTest) -> None:
        stepped_for_the_scheduler(skill, clocks, 3600)
        assert wait_until(lambda: "the clock was stepped by +3600 s" in caplog.text)

    return tea_due_after(clocks, tmp_path, step)


def test_a_timer_set_under_0_2_0_is_anchored_at_start_and_moved_by_later_steps(
    clocks: Clocks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """0.2.0 anchored no timer (its file has no clock_anchors): the first start anchors tea on
    this boot, so a step while the assistant runs moves it, and so does one while it is not
    running, at the next start."""
    caplog.set_level(logging.INFO, logger="assistant.skill.timers")
    due = tea_set_then_stopped(clocks, tmp_path, seconds=1200)
    database = tmp_path / "timers" / "timers.sqlite"
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("DROP TABLE clock_anchors")  # as 0.2.0 left the file
    assert tea_once_stepped(clocks, tmp_path, caplog) == due
    assert "with no clock anchor (set under 0.2.0) now anchored on this boot: timer:tea" in (
        caplog.text
    )
    assert "set before the machine started" not in caplog.text
    moved_behind_its_back(database, -timedelta(hours=3))
    clocks.wall.now += 3 * 3600
    again = SkillUnderTest(clocks.skill(), WATCHED, tmp_path)
    try:
        assert again.skill.scheduler.get_job("timer:tea").next_run_time == due
    finally:
        again.stop()


def test_a_timer_set_before_the_boot_keeps_its_moment_after_a_second_start_in_the_boot(
    clocks: Clocks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first start after a reboot does not forget that tea was anchored on the earlier boot:
    at the second, tea is not taken for a timer set under 0.2.0, and a step keeps its moment."""
    caplog.set_level(logging.INFO, logger="assistant.skill.timers")
    tea = tea_set_then_stopped(clocks, tmp_path, seconds=1200)
    clocks.reboot()  # with the clock an hour behind, which NTP steps right
    moved_behind_its_back(tmp_path / "timers" / "timers.sqlite", timedelta(hours=1))
    SkillUnderTest(clocks.skill(), WATCHED, tmp_path).stop()
    assert tea_once_stepped(clocks, tmp_path, caplog) == tea
    assert "but for those set before the machine started: timer:tea" in caplog.text
    assert "no clock anchor" not in caplog.text


def test_the_anchors_of_timers_gone_are_forgotten_at_the_next_start(
    clocks: Clocks, tmp_path: Path
) -> None:
    skill = SkillUnderTest(clocks.skill(), WATCHED, tmp_path)
    try:
        skill.do("start", name="tea", seconds=600)
        skill.do("start", name="eggs", seconds=600)
        skill.do("stop", name="tea")
    finally:
        skill.stop()
    clocks.reboot()  # eggs's anchor, of the earlier boot, is kept too
    SkillUnderTest(clocks.skill(), WATCHED, tmp_path).stop()
    database = tmp_path / "timers" / "timers.sqlite"
    with closing(sqlite3.connect(database)) as connection:
        anchored = connection.execute("SELECT id, boot FROM clock_anchors").fetchall()
    assert anchored == [("timer:eggs", "first boot")]


def test_with_no_kernel_boot_id_timers_are_anchored_on_this_process_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Where the kernel tells no boot id, the process stands for the boot: its anchors are
    its own, the same for every timer it sets, and no later process takes them for its."""
    monkeypatch.setattr(timer_anchors, "BOOT_ID", tmp_path / "no boot_id")
    boot = current_boot()
    assert re.fullmatch(r"[0-9a-f]{32}", boot) and current_boot() == boot
    anchors = Anchors(tmp_path / "timers.sqlite", boot)
    assert anchors.stored().jobs == set()  # as a start finds them: the table is made
    anchors.record("timer:tea", 5.0)
    assert Anchors(tmp_path / "timers.sqlite", boot).stored().this_boot == {"timer:tea": 5.0}
