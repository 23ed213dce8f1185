"""Small skills that the runtime tests install by passing them to the host directly."""

import dataclasses
import math
import threading
import time

from assistant.plugin import NothingToDo, Setting, Skill, SkillError, action


class RecordingSkill(Skill):
    """Records every call, so tests can see what ran and when."""

    name = "recorder"
    description = "records calls"
    settings = (Setting("prefix", str, "did", "prefix of replies"),)

    def __init__(self, context):
        super().__init__(context)
        self.calls = []
        self.called = threading.Event()

    @action(params=(Setting("level", int, 1),))
    def bright(self, event, level):
        self.calls.append(("bright", event.command, level))
        self.called.set()
        return f"{self.context.settings['prefix']} bright {level}"

    @action()
    def dim(self, event):
        self.calls.append(("dim", event.command))
        self.called.set()


class MusicSkill(Skill):
    name = "music"
    description = "takes focus while playing"

    def __init__(self, context):
        super().__init__(context)
        self.calls = []

    @action()
    def play(self, event):
        self.calls.append("play")
        self.context.hold_focus()

    @action()
    def louder(self, event):
        self.calls.append("louder")


@dataclasses.dataclass(frozen=True)
class LampFault(Exception):
    """A skill's own exception type that takes no attribute once made."""

    code: int


BUS_DOWN = RuntimeError("the bus is down")
"""One exception instance that two of TroubleSkill's actions raise."""


class TroubleSkill(Skill):
    """Crashes, hangs or fails on request."""

    name = "trouble"
    description = "misbehaves"

    def __init__(self, context):
        super().__init__(context)
        self.release = threading.Event()
        self.finished = []

    @action()
    def crash(self, event):
        raise RuntimeError("boom")

    @action()
    def hang(self, event):
        self.release.wait(30)
        self.finished.append("hang")

    @action()
    def fail(self, event):
        raise SkillError("the lamp is not answering")

    @action()
    def nothing(self, event):
        raise NothingToDo("No lamp is on")

    @action()
    def fine(self, event):
        self.finished.append("fine")
        return "fine"

    @action()
    def missing_key(self, event):
        return {}["volume"]

    @action()
    def slow_network(self, event):
        raise TimeoutError("the lamp took too long")  # as socket.timeout would

    @action()
    def fault(self, event):
        raise LampFault(7)

    @action()
    def read_bus(self, event):
        raise BUS_DOWN

    @action()
    def write_bus(self, event):
        raise BUS_DOWN


class NeedsSettingSkill(Skill):
    name = "needy"
    description = "has a required setting"
    settings = (Setting("broker", str, help="address of the MQTT broker"),)

    @action()
    def go(self, event):
        return "went"


class UnbuildableSkill(Skill):
    name = "unbuildable"
    description = "raises in its constructor"

    def __init__(self, context):
        raise RuntimeError("cannot build")


class NoStartSkill(Skill):
    name = "nostart"
    description = "fails to start"

    def start(self):
        raise SkillError("the lamp file is missing")

    def stop(self):
        raise AssertionError("a skill that did not start is not stopped")

    @action()
    def hi(self, event):
        return "hi"


class SlowStopSkill(Skill):
    name = "slowstop"
    description = "takes a while to stop"

    def __init__(self, context):
        super().__init__(context)
        self.stopped = threading.Event()

    def stop(self):
        threading.Event().wait(0.3)
        self.stopped.set()


class StuckStopSkill(Skill):
    name = "stuckstop"
    description = "does not finish stopping until released"

    def __init__(self, context):
        super().__init__(context)
        self.release = threading.Event()
        self.stopped = threading.Event()

    def stop(self):
        self.release.wait(60)
        self.stopped.set()


class PatientSkill(Skill):
    """Polls until its call is cancelled, then holds on until released; or holds on until
    released without ever looking at its cancellation; or holds focus until released."""

    name = "patient"
    settings = (Setting("round", int, 1, "which configuration this is"),)

    def __init__(self, context):
        super().__init__(context)
        self.polling = threading.Event()
        self.saw_cancel = threading.Event()
        self.release = threading.Event()
        self.stopped = threading.Event()

    def stop(self):
        self.stopped.set()

    @action()
    def poll(self, event):
        self.polling.set()
        deadline = time.monotonic() + 30
        while not self.context.cancelled.wait(0.05):
            if time.monotonic() > deadline:
                return "never cancelled"
        self.saw_cancel.set()
        self.release.wait(30)
        return f"round {self.context.settings['round']}: cancelled"

    @action()
    def stubborn(self, event):
        self.release.wait(30)
        return "finished at last"

    @action()
    def hold(self, event):
        self.context.hold_focus(math.inf)

    @action()
    def check(self, event):
        return (
            f"round {self.context.settings['round']}: cancelled {self.context.cancelled.is_set()}"
        )


class TellingSkill(Skill):
    """Says what it is doing in `assistant status`, in lines that need fitting to it; its
    action `busy` holds its thread until released."""

    name = "telling"
    description = "tells its status"

    def __init__(self, context):
        super().__init__(context)
        self.release = threading.Event()
        self.busy_now = threading.Event()

    def status_lines(self):
        return ["2 lamps on; 1 off", "", "a line\nbroken", *(f"lamp {n}" for n in range(6))]

    @action()
    def busy(self, event):
        self.busy_now.set()
        self.release.wait(30)


class _BadStatusSkill(Skill):
    """A skill whose status misbehaves, while its action `fine` works."""

    @action()
    def fine(self, event):
        return "fine"


class StatusCrashSkill(_BadStatusSkill):
    """Its status raises."""

    name = "crashstatus"
    description = "cannot tell its status"

    def status_lines(self):
        raise RuntimeError("no idea where the lamps are")


class StatusHangSkill(_BadStatusSkill):
    """Its status hangs until its cancellation is set, or until released."""

    name = "hangstatus"
    description = "takes for ever to tell its status"

    def __init__(self, context):
        super().__init__(context)
        self.release = threading.Event()

    def status_lines(self):
        while not self.release.is_set() and not self.context.cancelled.wait(0.05):
            pass
        return ["told at last"]


TELLING = {s.name: s for s in (TellingSkill, StatusCrashSkill, StatusHangSkill)}
"""Skills with a status: one that tells it, one whose status raises, one whose status hangs."""

MISBEHAVING = {s.name: s for s in (UnbuildableSkill, NoStartSkill, SlowStopSkill, StuckStopSkill)}
"""Skills whose construction, start or stop goes wrong: not in INSTALLED."""

INSTALLED = {s.name: s for s in (RecordingSkill, MusicSkill, TroubleSkill, NeedsSettingSkill)}
