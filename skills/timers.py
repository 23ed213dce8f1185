"""Timers: "go" starts one, "stop" silences a ringing timer or cancels the running one.

Timers are APScheduler jobs in an SQLite job store in the skill's data directory, so they
survive a restart; one that came due while the assistant was not running is announced as
missed. Ringing timers are jobs in a second table of the same file, so a timer keeps ringing
(and "stop" silences it) across a restart of the skill, such as a reload that changes its
settings. A timer already handed to the scheduler's executor when the skill stops (a shutdown or
a reload) rings before the stop ends; one due later stays stored for the next start. The length
can be said after "go" ("five minutes"), through the follow-up phrase.
A file that cannot be written stops the skill at start; one that stops being writable later
refuses new timers, while due timers still ring (see timer_store.TimerStore). A file written by a
newer version (timer_store.FORMAT) stops it at start too, and is left as it is. Timers stored
under another data directory (the folder moved) are taken over at start.
A timer counts real time: one due while the computer slept is announced as missed on waking
(APScheduler's wait, on the monotonic clock, would end late by the time slept), and a step of
the wall clock (NTP, a manual change) moves every timer set on this boot with it, so the time
left stays: the clocks are looked at once a second, and before each round of the scheduler and
each moment set, so that a step is accounted for before the stepped clock is acted on. A step
while the assistant was not running moves them at the next start (timer_anchors); a timer set
before the machine booted keeps its moment on the wall clock, and one set under 0.2.0, which
anchored none, is anchored on this boot at start.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypedDict

from apscheduler.events import EVENT_JOB_MISSED, EVENT_JOB_REMOVED, JobEvent, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from assistant.plugin import (
    AMOUNT_WORDS,
    ClockWatch,
    CommandEvent,
    NothingToDo,
    Setting,
    Skill,
    SkillError,
    action,
    duration_in_words,
    local_time,
    moment_in_words,
    parse_amount,
    time_left_in_words,
)
from skills.timer_anchors import Anchors, Stored, current_boot
from skills.timer_scheduler import LookingScheduler
from skills.timer_store import NewerFormat, TimerStore, check_store, store_problem

_RUNNING: dict[str, TimersSkill] = {}
"""Running skills by data directory: stored jobs name their skill by this key."""

TIMER_PREFIX = "timer:"
RING_PREFIX = "ring:"
STORE_TABLES = {"default": "apscheduler_jobs", "ringing": "ringing"}
"""The table of each job store in the database: timers set, and timers ringing."""
GRAMMAR = [*AMOUNT_WORDS, "[unk]"]
MAX_DAYS = 30
MAX_SECONDS = MAX_DAYS * 86400
"""The longest timer: a month (a length of centuries overflows the scheduler's dates)."""
UNSAVED = "I cannot save timers"
"""Said when the timers' file cannot be written (the log names it and the fix)."""


class WatchClocks(TypedDict, total=False):
    """ClockWatch's keyword arguments that the timers skill lets a test set."""

    tick: float
    wall: Callable[[], float]
    boot: Callable[[], float]
    awake: Callable[[], float]


def _timer_due(key: str, name: str, site: str | None = None) -> None:
    """Job function of a timer (module level, so that the SQLite store can refer to it); it
    rings in the room (`site`) that started it."""
    skill = _RUNNING.get(key)
    if skill is not None:
        skill.ring(name, site)


def _ring_again(key: str, name: str, site: str | None = None) -> None:
    skill = _RUNNING.get(key)
    if skill is not None:
        skill.context.say(f"{name.capitalize()} is done", site)


def _shifted(trigger: BaseTrigger, by: timedelta) -> BaseTrigger:
    """A timer's trigger (a date) or a ringing's (an interval), `by` later."""
    if isinstance(trigger, DateTrigger):
        return DateTrigger(trigger.run_date + by, timezone.utc)
    return IntervalTrigger(
        seconds=trigger.interval_length,
        start_date=trigger.start_date + by,
        end_date=trigger.end_date + by,
        timezone=timezone.utc,
    )


class TimersSkill(Skill):
    name = "timers"
    description = "named countdown timers that survive a restart"
    settings = (
        Setting(
            "default_seconds",
            float,
            300.0,
            "length of a timer when none is given",
            minimum=1,
            maximum=MAX_SECONDS,
        ),
        Setting("default_name", str, "timer", "name of a timer started without a name"),
        Setting("ask_length", bool, True, "listen for a spoken length after go"),
        Setting(
            "listen_seconds",
            float,
            4.0,
            "how long to listen for the spoken length",
            minimum=0.5,
            maximum=60,
        ),
        Setting(
            "ring_every",
            float,
            10.0,
            "seconds between announcements while ringing",
            minimum=0.1,
            maximum=3600,
        ),
        Setting(
            "ring_for",
            float,
            60.0,
            "seconds a timer keeps ringing unless stopped",
            minimum=0,
            maximum=86400,  # a ringing's end is a date: centuries overflow the scheduler's
        ),
        Setting(
            "missed_after",
            float,
            60.0,
            "a timer this late is announced as missed",
            minimum=0,
            maximum=MAX_SECONDS,  # the scheduler's grace time: centuries overflow its dates
        ),
    )
    watch_clocks: ClassVar[WatchClocks] = {}
    """ClockWatch's clocks and tick, when not the real ones (tests)."""
    MOVED_AT_START = 1.0
    """Seconds a timer's anchor must be off at a start for the timer to be moved: less is NTP's
    slewing (or a reading's jitter), not a step."""

    @staticmethod
    def which_boot() -> str:
        """The id of this boot (tests give another to stand for a reboot)."""
        return current_boot()

    def start(self) -> None:
        settings = self.context.settings
        self._key = str(self.context.data_dir.resolve())
        self._database = self.context.data_dir / "timers.sqlite"
        self._anchors = Anchors(self._database, self.which_boot())
        try:
            check_store(self._database, STORE_TABLES.values())
            anchors = self._anchors.stored()
        except sqlite3.Error as error:
            raise SkillError(
                f"Timers: {store_problem(self._database, error)}, then reload", spoken=UNSAVED
            ) from None
        except NewerFormat as error:
            raise SkillError(f"Timers: {error}", spoken="I cannot read the saved timers") from None
        self._unstored_told = False
        """Whether a change that could not be stored has been logged."""
        self._executor = ThreadPoolExecutor()
        self._stores = {
            store: TimerStore(self._database, table, self._not_stored)
            for store, table in STORE_TABLES.items()
        }
        self.scheduler = LookingScheduler(
            self._look_at_clocks,
            executors={"default": self._executor},
            jobstores=self._stores,
            job_defaults={
                "misfire_grace_time": max(1, math.ceil(settings["missed_after"])),
                "coalesce": True,
            },
            timezone=timezone.utc,
        )
        self.scheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        self._silenced: set[str] = set()
        """The ringings `stop` removes; any other one removed has rung out."""
        self._rang_unheard: dict[str, str] = {}
        """The ringings whose end passed with nobody to hear them, by job id: when ("while the
        assistant was not running", "while the computer was asleep")."""
        self.scheduler.add_listener(self._rang_out, EVENT_JOB_REMOVED)
        _RUNNING[self._key] = self
        self._started = datetime.now(timezone.utc)
        """A timer due after this was missed while the computer slept, not while it was off."""
        self._clock_watch: ClockWatch | None = None
        """Made before the scheduler runs: each of its rounds looks at the clocks first."""
        self._anchored: set[str] = set()
        """The jobs set on this boot, which a step of the wall clock moves."""
        try:
            self._run_stored(anchors)
        except BaseException:  # the host calls no stop() for a start that raised
            self.stop()
            raise

    def _run_stored(self, anchors: Stored) -> None:
        """Start the scheduler and the clock watch on the stored timers (moved by a step of the
        wall clock since their `anchors`), and say which run."""
        self.scheduler.start(paused=True)  # nothing rings before the timers are this skill's
        self._adopt_stored()
        self._drop_stalled_ringings()
        self._clock_watch = ClockWatch(self._woke, self._stepped, **self.watch_clocks)
        self._anchor_stored(anchors, self._clock_watch.offset)
        self._note_rung_out("while the assistant was not running")
        self.scheduler.resume()
        self._clock_watch.start()
        running = self._timers_due()
        if running:
            self.context.log.info("timers still running: %s", running)
        now = datetime.now(timezone.utc)
        ringing = self._ringing(now)
        if ringing:
            self.context.log.info("still ringing: %s", ", ".join(j.args[1] for j in ringing))
            end = max(job.trigger.end_date for job in ringing)
            self.context.hold_focus((end - now).total_seconds())

    def _adopt_stored(self) -> None:
        """Make the stored timers and ringings this skill's: those stored under another data
        directory (moved, restored from a backup, another user name) would find no skill when
        due, and ring in silence."""
        moved = [job for job in self.scheduler.get_jobs() if job.args[0] != self._key]
        for job in moved:
            job.modify(args=(self._key, *job.args[1:]))
        if moved:
            self.context.log.info(
                "timers stored under %s now ring from %s: %s",
                ", ".join(sorted({job.args[0] for job in moved})),
                self._key,
                ", ".join(job.name for job in moved),
            )

    def _drop_stalled_ringings(self) -> None:
        """Remove the ringings stored with no announcement left, as 0.2.0 and 0.3.0 stored one
        when the timer's thread was held up past the last (see `_store_ringing`): APScheduler
        would keep them for ever, and the ringings' store would fail each round."""
        stalled = [job for job in self.scheduler.get_jobs("ringing") if job.next_run_time is None]
        for job in stalled:
            self._silenced.add(job.id)  # no "stopped ringing by itself": the line below says why
            job.remove()
        if stalled:
            self.context.log.info(
                "ringings stored with no announcement left removed: %s",
                ", ".join(job.args[1] for job in stalled),
            )

    def stop(self) -> None:
        """Let the timers already handed to the executor ring (or be announced as missed) while
        the scheduler, paused, still stores their ringing; then shut it down. APScheduler removes
        a due timer from its store as it hands it over, so one run after the stop would be lost;
        and its own shutdown cannot wait for them: it holds the job stores' lock while it waits,
        which `ring` needs. That `get_jobs` waits for a round under way is APScheduler's
        locking, not its API: test_a_stop_waits_for_a_round_handing_a_due_timer_over fails
        should it change.

        The database's connections are closed here, not by the garbage collector some time
        later: by APScheduler's shutdown, or here when the scheduler did not start.

        A start that raised calls this for what it began (the scheduler may not have started,
        nor the clock watch), and a store that cannot be read stops nothing from ending."""
        if self._clock_watch is not None:
            self._clock_watch.stop()
        started = self.scheduler.state != STATE_STOPPED
        if started:
            self.scheduler.pause()  # no due timer is handed over any more (get_due_jobs)
            with suppress(SQLAlchemyError):  # the lock was taken all the same
                self.scheduler.get_jobs()  # waits for a round handing some over: it holds the lock
        self._executor.shutdown(wait=True)  # they ring, stored by the paused scheduler
        if started:
            self.scheduler.shutdown()  # its stores too
        else:
            for store in self._stores.values():
                store.shutdown()
        if _RUNNING.get(self._key) is self:
            del _RUNNING[self._key]

    @action(
        name="start",
        params=(
            Setting(
                "seconds",
                float,
                0.0,
                "length; 0: ask, or the default length",
                minimum=0,
                maximum=MAX_SECONDS,
            ),
            Setting("name", str, "", "name of the timer; empty: the default name"),
        ),
    )
    def start_timer(self, event: CommandEvent, seconds: float = 0.0, name: str = "") -> str:
        """Start a timer (asking for its length when none is configured)."""
        notes = ""
        if seconds <= 0:
            seconds, notes = self._spoken_length()
            if self.context.cancelled.is_set():  # given up on, or stopping: set nothing
                raise SkillError(
                    "Timer not set: cancelled while listening for its length",
                    spoken="Timer not set",
                )
        restarted = bool(name) and self._restart(name)
        name = name or self._free_name()
        job_id = TIMER_PREFIX + name
        try:
            self.scheduler.add_job(
                _timer_due,
                "date",
                run_date=self._now(job_id) + timedelta(seconds=seconds),
                args=[self._key, name, event.site],
                id=job_id,
                name=name,
                replace_existing=True,
            )
        except SQLAlchemyError as error:
            raise SkillError(
                f"Timer not set: {store_problem(self._database, error)}",
                spoken=f"{UNSAVED}, so the timer is not set",
            ) from None
        done = "restarted" if restarted else "set"
        return f"{notes}{name.capitalize()} {done} for {duration_in_words(seconds)}"

    def _restart(self, name: str) -> bool:
        """Whether a timer named `name` runs or rings, which a new one of that name replaces:
        its ringing is silenced (the new one is set from its announcement)."""
        running = self.scheduler.get_job(TIMER_PREFIX + name) is not None
        ringing = self._ringings_of(name)
        self._silence(ringing)
        return running or bool(ringing)

    def _ringings_of(self, name: str) -> list[Any]:
        """The ringings stored of the timer `name` (of every timer when `name` is empty)."""
        return [
            job
            for job in self.scheduler.get_jobs(jobstore="ringing")
            if not name or job.args[1] == name
        ]

    def _silence(self, ringing: list[Any]) -> None:
        """Silence these ringings, releasing the focus when none rings any more."""
        for job in ringing:
            self._silenced.add(job.id)
            job.remove()
        if ringing and not self.scheduler.get_jobs(jobstore="ringing"):
            self.context.release_focus()

    @action(
        name="stop",
        params=(
            Setting(
                "name", str, "", "the timer to silence or cancel; empty: any ringing, else next"
            ),
        ),
    )
    def stop_timer(self, event: CommandEvent, name: str = "") -> str:
        """Silence ringing timers (the one named, when `name` is given), or else cancel a
        running one (the one named, else the one due first)."""
        ringing = self._ringings_of(name)
        if ringing:
            self._silence(ringing)
            if name:
                return f"{name.capitalize()} silenced"
            return "Timer silenced" if len(ringing) == 1 else "Timers silenced"
        timers = self._timers()
        if name:
            timers = [job for job in timers if job.name == name]
        if not timers:
            raise NothingToDo(
                f"No timer named {name} is running" if name else "No timer is running"
            )
        job = timers[0]  # the one due first
        job.remove()
        others = len(self._timers())
        more = f", {others} more running" if others else ""
        return f"{job.name.capitalize()} cancelled{more}"

    @action(help="Say how long each timer has left")
    def status(self, event: CommandEvent) -> str:
        timers = self._timers()
        if not timers:
            return "No timer is running"
        now = datetime.now(timezone.utc)  # the time left rounded: "about five minutes"
        left = [(job.name, (job.next_run_time - now).total_seconds()) for job in timers]
        return ". ".join(  # due, not rung yet: the computer has just woken
            f"{name.capitalize()} "
            + (f"has {time_left_in_words(s)} left" if s > 0 else "is due now")
            for name, s in left
        )

    def status_lines(self) -> list[str]:
        """For `assistant status`: the timers running, each with when it is due, and those
        ringing, each with when it stops unless silenced, on the local clock."""
        ringing = [
            f"{job.args[1]} until {local_time(job.trigger.end_date.timestamp())}"
            for job in self._ringing(datetime.now(timezone.utc))
        ]
        return [self._timers_due() or "no timer running"] + (
            [f"ringing: {', '.join(ringing)}"] if ringing else []
        )

    def _timers_due(self) -> str:
        """The timers running, each with when it is due on the local clock ("" if none)."""
        return ", ".join(
            f"{job.name} due at {local_time(job.next_run_time.timestamp())}"
            for job in self._timers()
        )

    def ring(self, name: str, site: str | None = None) -> None:
        """Announce a timer that came due, and keep announcing until stopped. The ringing is
        stored first, so a restart right after the announcement keeps it; a store that cannot
        be written rings it once, and so does a `ring_for` shorter than `ring_every`: its
        ringing would never announce, and APScheduler would store it paused, with no next run
        time, for ever."""
        settings = self.context.settings
        if settings["ring_every"] <= settings["ring_for"]:
            self._store_ringing(name, site)
        self.context.say(f"{name.capitalize()} is done", site)
        self.context.hold_focus(settings["ring_for"])

    def _store_ringing(self, name: str, site: str | None) -> None:
        """Store the announcements of a timer that came due: every `ring_every` seconds from
        now on, for `ring_for` seconds. The first is set from `now`, not left to APScheduler's
        later reading of the clock (this thread held up by the job stores' lock or a busy
        machine): past the last announcement, that gave no next run time, a ringing stored
        paused for ever on which the ringings' store failed each round. Late, the scheduler
        makes it at once, or skips it past `missed_after`, and removes the ringing at its end."""
        settings = self.context.settings
        now = self._now(RING_PREFIX + name)
        first = now + timedelta(seconds=settings["ring_every"])
        try:
            self.scheduler.add_job(
                _ring_again,
                "interval",
                seconds=settings["ring_every"],
                start_date=first,
                next_run_time=first,
                end_date=now + timedelta(seconds=settings["ring_for"]),
                args=[self._key, name, site],
                id=RING_PREFIX + name,
                jobstore="ringing",
                replace_existing=True,
            )
        except SQLAlchemyError as error:
            self._not_stored(error)

    def _not_stored(self, error: SQLAlchemyError | sqlite3.Error) -> None:
        """Log, once per start, that what happens to timers cannot be stored."""
        if not self._unstored_told:
            self._unstored_told = True
            self.context.log.warning(
                "%s; until it can be written, timers ring and stop as usual but what happens "
                "to them is kept in memory only, so a restart before then may bring back timers "
                "that rang or were stopped",
                store_problem(self._database, error),
            )

    def _missed(self, event: JobExecutionEvent) -> None:
        if not event.job_id.startswith(TIMER_PREFIX):
            return
        name = event.job_id.removeprefix(TIMER_PREFIX)
        when = moment_in_words(event.scheduled_run_time)
        asleep = event.scheduled_run_time > self._started
        why = "the computer was asleep" if asleep else "the assistant was not running"
        self.context.say(f"{name.capitalize()} was due {when}, but {why}")

    def _rang_out(self, event: JobEvent) -> None:
        """Log a ringing that ended by itself, after its last announcement: nobody said "stop"
        (away from the desk?), which the replies alone do not tell; or one that ended unheard."""
        unheard = self._rang_unheard.pop(event.job_id, None)
        if event.job_id in self._silenced:
            self._silenced.discard(event.job_id)
        elif unheard:
            self.context.log.info(
                "%s stopped ringing %s", event.job_id.removeprefix(RING_PREFIX), unheard
            )
        elif event.job_id.startswith(RING_PREFIX):
            self.context.log.info(
                "%s stopped ringing by itself after %g s: nobody silenced it",
                event.job_id.removeprefix(RING_PREFIX),
                self.context.settings["ring_for"],
            )

    def _woke(self, slept: float) -> None:
        """The computer woke: a timer that came due meanwhile is missed now, not once the
        scheduler's wait, which stood still, ends."""
        self.context.log.info("woke after %.0f s asleep: looking for timers due meanwhile", slept)
        self._note_rung_out("while the computer was asleep")
        self.scheduler.wakeup()

    def _note_rung_out(self, when: str) -> None:
        """Note the ringings stored whose end has passed, unheard `when`: the scheduler, which
        was not running, has not removed them after their last announcement yet."""
        now = datetime.now(timezone.utc)
        for job in self.scheduler.get_jobs("ringing"):
            if job.trigger.end_date <= now:
                self._rang_unheard.setdefault(job.id, when)

    def _look_at_clocks(self) -> None:
        """Before a round of the scheduler finds what is due: a step of the wall clock not
        looked at yet moves the timers first (the clock watch looks once a second only)."""
        if self._clock_watch is not None:
            self._clock_watch.look()

    def _now(self, job_id: str) -> datetime:
        """The wall clock's time to set the moment of `job_id` by, any step of it having moved
        the timers already: else the new moment, set on the stepped clock, would be moved by it
        again. The job is anchored on this boot's clocks as the clock watch last looked
        (timer_anchors): each step it tells from then on moves the job."""
        self._look_at_clocks()
        assert self._clock_watch is not None  # made before actions and jobs run
        self._anchor(job_id, self._clock_watch.offset)
        return datetime.now(timezone.utc)

    def _anchor(self, job_id: str, offset: float) -> None:
        """Take `job_id` as set on this boot's clocks at `offset`: a step moves it from now on,
        and one while the assistant is not running at the next start in this boot."""
        self._anchored.add(job_id)
        try:
            self._anchors.record(job_id, offset)
        except sqlite3.Error as error:  # moved by steps all the same, until a restart
            self._not_stored(error)

    def _anchor_stored(self, anchors: Stored, now: float) -> None:
        """Move each stored job anchored on this boot by the step of the wall clock since it
        was anchored (the assistant was not running, or stopped before its clock watch saw
        it), and take them as this boot's: a later step moves them too. A job with no anchor
        (set under 0.2.0) is anchored on this boot as it is; one anchored on an earlier boot
        keeps its moment."""
        moved: dict[str, float] = {}
        unanchored = []
        jobs = self.scheduler.get_jobs()
        for job in jobs:
            if job.id in anchors.earlier_boots:
                continue
            if job.id not in anchors.this_boot:
                self._anchor(job.id, now)
                unanchored.append(job.id)
                continue
            self._anchored.add(job.id)
            by = now - anchors.this_boot[job.id]
            if abs(by) >= self.MOVED_AT_START:
                self._move(job, timedelta(seconds=by))
                moved[job.id] = by
                self._anchor(job.id, now)  # unstored, the move is done again at the next start
        try:
            self._anchors.forget(anchors.jobs - {job.id for job in jobs})
        except sqlite3.Error as error:
            self._not_stored(error)
        if unanchored:
            self.context.log.info(
                "timers with no clock anchor (set under 0.2.0) now anchored on this boot: %s",
                ", ".join(unanchored),
            )
        for job_id, by in moved.items():
            self.context.log.info(
                "the clock was stepped by %+.0f s since %s was set: it keeps its time left",
                by,
                job_id,
            )

    def _stepped(self, by: float) -> None:
        """The wall clock was stepped `by` seconds: move every timer and ringing set on this
        boot with it. One stored before the boot keeps its moment: it was set on another
        boot's wall clock, the only clock two boots share, and a step after a boot is most
        often NTP correcting the clock the boot began with, not a change of that moment."""
        shift = timedelta(seconds=by)
        self._started += shift
        kept = []
        for job in self.scheduler.get_jobs():
            if job.id in self._anchored:
                self._move(job, shift)
            else:
                kept.append(job.id)
        try:
            self._anchors.moved(by)
        except sqlite3.Error as error:
            self._not_stored(error)
        self.context.log.info(
            "the clock was stepped by %+.0f s: timers keep their time left%s",
            by,
            f", but for those set before the machine started: {', '.join(kept)}" if kept else "",
        )

    def _move(self, job: Any, shift: timedelta) -> None:
        """Move a timer or ringing `shift` later, unless it rang or was stopped meanwhile."""
        with suppress(JobLookupError):
            job.modify(
                trigger=_shifted(job.trigger, shift), next_run_time=job.next_run_time + shift
            )

    def _timers(self) -> list[Any]:
        """The timers running, the one due first first."""
        return sorted(
            self.scheduler.get_jobs(jobstore="default"), key=lambda job: job.next_run_time
        )

    def _ringing(self, now: datetime) -> list[Any]:
        """The ringings still going on at `now`."""
        return [job for job in self.scheduler.get_jobs("ringing") if job.trigger.end_date > now]

    def _free_name(self) -> str:
        """The default name, numbered past those of the timers running or ringing."""
        base: str = self.context.settings["default_name"]
        ringing = self._ringing(datetime.now(timezone.utc))
        taken = {job.name for job in self._timers()} | {job.args[1] for job in ringing}
        number = 1
        name = base
        while name in taken:
            number += 1
            name = f"{base} {number}"
        return name

    def _spoken_length(self) -> tuple[float, str]:
        """The length said after "go", or the default (with a note saying why)."""
        settings = self.context.settings
        default = settings["default_seconds"]
        if not settings["ask_length"]:
            return default, ""
        heard = self.context.listen_for_phrase(GRAMMAR, settings["listen_seconds"], "How long?")
        if heard is None:
            return default, ""
        try:
            amount = parse_amount(heard)
        except ValueError as error:
            self.context.log.info("spoken length not understood: %s", error)
            return default, f"I did not understand {heard}. "
        if amount.unit != "seconds" or amount.value <= 0:
            return default, f"{heard.capitalize()} is not a length. "
        if amount.value > MAX_SECONDS:
            return (
                default,
                f"{heard.capitalize()} is longer than a timer can run ({MAX_DAYS} days). ",
            )
        return amount.value, ""
