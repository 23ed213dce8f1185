"""The plugin host: discovery through entry points, isolation of crashes and hangs."""

import logging
import sys
import threading
import time

import pytest
from runtime_skills import INSTALLED, MISBEHAVING, PatientSkill
from waiting import wait_until

from assistant.discovery import discover_skills
from assistant.focus import Focus
from assistant.host import PluginHost
from assistant.plugin import CommandEvent, Setting, Skill, SkillError, action
from assistant.skill_runner import Cancelled

EVENT = CommandEvent("on", 0.9, "test", "desk", time.monotonic())


class HangingStartSkill(Skill):
    name = "hangstart"
    release = threading.Event()
    stopped = threading.Event()

    def start(self):
        self.release.wait(30)

    def stop(self):
        self.stopped.set()

    @action()
    def hi(self, event):
        return "hi"


class SlowBuildSkill(HangingStartSkill):
    """Connects in its constructor (against the advice), and when released starts at once."""

    name = "slowbuild"
    release = threading.Event()
    stopped = threading.Event()
    built = threading.Event()

    def __init__(self, context):
        super().__init__(context)
        self.release.wait(30)
        self.built.set()

    def start(self):
        pass


class NeedsKeySkill(Skill):
    name = "needskey"

    def __init__(self, context):
        raise SkillError("set skills.needskey.api_key in config.yaml")


class KeeperSkill(Skill):
    """Keeps a file in its data directory."""

    name = "keeper"

    def start(self):
        (self.context.data_dir / "kept.txt").write_text("kept")


class OddRepliesSkill(Skill):
    name = "odd"

    @action()
    def number(self, event):
        return 42

    @action()
    def mapping(self, event):
        return {"text": "hi"}

    @action()
    def empty(self, event):
        return ""

    @action()
    def words(self, event):
        return "hi"


@pytest.fixture
def replies():
    return []


@pytest.fixture
def host(tmp_path, replies):
    host = PluginHost(
        INSTALLED, Focus(30), tmp_path, lambda text, site: replies.append(text), timeout=0.5
    )
    host.configure({"recorder": {"prefix": "did"}, "trouble": {}, "music": {}})
    yield host
    host.stop()


def test_an_action_runs_with_its_params_and_its_reply_is_spoken(host, replies):
    assert host.call("recorder", "bright", EVENT, {"level": 4}).result(2) == "did bright 4"
    assert host.skills["recorder"].calls == [("bright", "on", 4)]
    assert wait_until(lambda: replies == ["did bright 4"])


def test_replies_and_failures_are_said_in_the_room_of_the_command(tmp_path):
    said = []
    host = PluginHost(INSTALLED, Focus(30), tmp_path, lambda text, site: said.append((text, site)))
    host.configure({"recorder": {"prefix": "did"}, "trouble": {}})
    kitchen = CommandEvent("on", 0.9, "satellite", "kitchen", time.monotonic())
    try:
        assert host.call("recorder", "bright", kitchen, {"level": 3}).result(2) == "did bright 3"
        with pytest.raises(SkillError):
            host.call("trouble", "fail", kitchen, {}).result(2)
        assert wait_until(lambda: len(said) == 2)
    finally:
        host.stop()
    assert said == [("did bright 3", "kitchen"), ("the lamp is not answering", "kitchen")]


def test_a_crashing_action_is_logged_with_its_skill_and_others_go_on(host, caplog):
    with caplog.at_level(logging.ERROR, logger="assistant.host"):
        with pytest.raises(RuntimeError):
            host.call("trouble", "crash", EVENT, {}).result(2)
        assert wait_until(lambda: "skill trouble: action crash crashed" in caplog.text)
    assert host.call("trouble", "fine", EVENT, {}).result(2) == "fine"
    assert host.call("recorder", "dim", EVENT, {}).result(2) is None
    assert wait_until(lambda: host.failures == {"trouble": 1})


def test_an_action_that_crashed_hung_or_could_not_run_is_answered_aloud(host, replies):
    """A user who only listens is told that a command was heard but its skill failed, rather
    than left in a silence that sounds like not being heard."""
    with pytest.raises(RuntimeError):
        host.call("trouble", "crash", EVENT, {}).result(2)
    hung = host.call("trouble", "hang", EVENT, {})
    with pytest.raises(TimeoutError):
        hung.result(3)
    with pytest.raises(LookupError):
        host.call("trouble", "fine", EVENT, {}).result(2)
    with pytest.raises(LookupError):
        host.call("replies", "say", EVENT, {}).result(2)  # not configured here
    host.skills["trouble"].release.set()
    assert wait_until(lambda: len(replies) == 4)
    assert replies == [
        "Sorry, the trouble skill failed",
        "Sorry, the trouble skill took too long",
        "The trouble skill is still busy",
        "The replies skill is not running",
    ]


def test_a_hanging_action_is_abandoned_and_the_skill_refuses_actions_until_it_returns(host, caplog):
    trouble = host.skills["trouble"]
    with caplog.at_level(logging.INFO, logger="assistant.host"):
        hung = host.call("trouble", "hang", EVENT, {})
        queued = host.call("trouble", "fine", EVENT, {})
        with pytest.raises(TimeoutError):
            hung.result(3)
        busy = "skill trouble is still busy with the abandoned action hang"
        with pytest.raises(LookupError, match=busy):
            queued.result(0)
        with pytest.raises(LookupError, match=busy):
            host.call("trouble", "fine", EVENT, {}).result(0)
        assert host.call("recorder", "dim", EVENT, {}).result(2) is None  # others go on
        assert trouble.finished == []  # nothing ran beside the abandoned call
        trouble.release.set()
        assert wait_until(lambda: "the abandoned action hang returned after" in caplog.text)
        assert host.call("trouble", "fine", EVENT, {}).result(2) == "fine"
    assert trouble.finished == ["hang", "fine"]
    assert (
        "skill trouble: action hang did not finish within 0.5 s; abandoned it, its actions are "
        "refused until it returns" in caplog.text
    )


def test_an_abandoned_action_is_cancelled_and_the_next_call_starts_uncancelled(tmp_path, caplog):
    host = PluginHost({"patient": PatientSkill}, Focus(30), tmp_path, print, timeout=0.3)
    host.configure({"patient": {"round": 1}})
    skill = host.skills["patient"]
    with caplog.at_level(logging.WARNING, logger="assistant.host"):
        with pytest.raises(TimeoutError):
            host.call("patient", "poll", EVENT, {}).result(5)
        assert skill.saw_cancel.wait(5)  # the action learnt it was given up on
        assert not skill.context.cancelled.is_set()  # only the call's own thread sees it
        with pytest.raises(LookupError, match="still busy with the abandoned action poll"):
            host.call("patient", "check", EVENT, {}).result(0)
        skill.release.set()
        assert wait_until(lambda: "the abandoned action poll returned after" in caplog.text)
    assert host.call("patient", "check", EVENT, {}).result(2) == "round 1: cancelled False"
    host.stop()


@pytest.mark.parametrize("stopping", ["reload", "shutdown"])
def test_stopping_a_skill_cancels_its_running_action_which_is_then_not_done(
    tmp_path, replies, stopping
):
    host = PluginHost(
        {"patient": PatientSkill},
        Focus(30),
        tmp_path,
        lambda text, site: replies.append(text),
        timeout=10,
    )
    host.configure({"patient": {"round": 1}})
    skill = host.skills["patient"]
    skill.release.set()
    polling = host.call("patient", "poll", EVENT, {})
    assert skill.polling.wait(5)
    if stopping == "reload":
        host.configure({"patient": {"round": 2}})
        assert host.call("patient", "check", EVENT, {}).result(5) == "round 2: cancelled False"
    else:
        host.stop()
    with pytest.raises(Cancelled, match=r"^action poll cancelled \(reload or shutdown\)$"):
        polling.result(15)  # ended by its cancellation, not abandoned: cut short, so not done
    assert skill.stopped.wait(5)
    host.stop()
    assert "round 1: cancelled" not in replies  # its reply is not spoken


def test_a_reload_during_an_overrun_stops_the_old_instance_and_starts_the_new_once_it_returns(
    tmp_path, caplog
):
    host = PluginHost({"patient": PatientSkill}, Focus(30), tmp_path, print, timeout=0.3)
    host.configure({"patient": {"round": 1}})
    old = host.skills["patient"]
    with caplog.at_level(logging.WARNING, logger="assistant.host"):
        with pytest.raises(TimeoutError):  # it ignores its cancellation
            host.call("patient", "stubborn", EVENT, {}).result(5)
        host.configure({"patient": {"round": 2}})  # waits for the constructor no longer than 0.3 s
        with pytest.raises(LookupError, match="still busy with the abandoned action stubborn"):
            host.call("patient", "check", EVENT, {}).result(0)
        assert not old.stopped.is_set()  # nothing runs beside the abandoned call
        old.release.set()
        assert old.stopped.wait(5)  # then the old instance's stop, queued by the reload, ran
    assert host.call("patient", "check", EVENT, {}).result(5) == "round 2: cancelled False"
    assert host.skills["patient"] is not old
    assert host.start_errors == {}
    refused = [r.getMessage() for r in caplog.records if "cannot run" in r.getMessage()]
    assert refused == [  # only the action; the stop, constructor and start waited
        "skill patient is still busy with the abandoned action stubborn; cannot run action check"
    ]
    host.stop()


@pytest.mark.parametrize("stopping", ["reload", "removal"])
def test_a_stopped_skill_holds_no_focus(tmp_path, stopping):
    focus = Focus(30)
    host = PluginHost({"patient": PatientSkill}, focus, tmp_path, print)
    host.configure({"patient": {"round": 1}})
    host.call("patient", "hold", EVENT, {}).result(5)
    assert focus.current() == "patient"
    host.configure({"patient": {"round": 2}} if stopping == "reload" else {})
    host.runners["patient"].submit("stopped", lambda: None).result(5)
    assert focus.current() is None  # the new instance knows of no hold to release
    host.stop()


def test_a_hanging_start_is_reported_as_not_running(tmp_path, caplog):
    host = PluginHost({"hangstart": HangingStartSkill}, Focus(30), tmp_path, print, timeout=0.3)
    with caplog.at_level(logging.ERROR, logger="assistant.host"):
        host.configure({"hangstart": {}})
        assert wait_until(lambda: "hangstart" in host.start_errors)
    assert (
        "skill hangstart: start did not finish within 0.3 s; abandoned it, the skill is not running"
        in caplog.text
    )
    with pytest.raises(LookupError, match=r"hangstart did not start \(Abandoned: start timed out"):
        host.call("hangstart", "hi", EVENT, {}).result(0)
    HangingStartSkill.release.set()
    assert HangingStartSkill.stopped.wait(5)  # started after all: undone, not left running
    host.stop()


def test_a_slow_constructor_is_bounded_by_the_timeout_and_the_others_start(tmp_path, caplog):
    skills = {"slowbuild": SlowBuildSkill, **INSTALLED}
    host = PluginHost(skills, Focus(30), tmp_path, lambda text, site: None, timeout=0.3)
    host.configure({"slowbuild": {}, "music": {}})
    assert not SlowBuildSkill.built.is_set()  # returned while the constructor still hangs
    assert host.call("music", "play", EVENT, {}).result(5) is None
    assert wait_until(lambda: "slowbuild" in host.start_errors)
    assert "skill slowbuild: constructor did not finish within 0.3 s" in caplog.text
    SlowBuildSkill.release.set()
    assert wait_until(lambda: "skill slowbuild: the abandoned constructor returned" in caplog.text)
    assert "slowbuild" not in host.skills  # built too late: never used, never started
    host.stop()
    assert not SlowBuildSkill.stopped.is_set()


def test_timeouts_and_lookup_errors_raised_by_the_skill_itself_are_crashes(host, caplog):
    with caplog.at_level(logging.ERROR, logger="assistant.host"):
        with pytest.raises(TimeoutError, match="took too long"):
            host.call("trouble", "slow_network", EVENT, {}).result(2)
        with pytest.raises(KeyError):
            host.call("trouble", "missing_key", EVENT, {}).result(2)
        assert wait_until(lambda: "skill trouble: action missing_key crashed" in caplog.text)
    assert "skill trouble: action slow_network crashed" in caplog.text
    assert "KeyError: 'volume'" in caplog.text  # with its traceback
    assert host.failures == {"trouble": 2}


def test_skills_that_cannot_be_built_or_started_are_reported_and_the_others_run(
    tmp_path, replies, caplog
):
    host = PluginHost(
        {**INSTALLED, **MISBEHAVING}, Focus(30), tmp_path, lambda text, site: replies.append(text)
    )
    with caplog.at_level(logging.ERROR, logger="assistant.host"):
        host.configure({"unbuildable": {}, "nostart": {}, "recorder": {}})
        assert host.call("recorder", "dim", EVENT, {}).result(2) is None
        with pytest.raises(LookupError, match=r"unbuildable did not start \(RuntimeError"):
            host.call("unbuildable", "anything", EVENT, {}).result(2)
        with pytest.raises(LookupError, match=r"nostart did not start .*lamp file is missing"):
            host.call("nostart", "hi", EVENT, {}).result(2)
    assert "skill unbuildable: constructor crashed" in caplog.text
    assert replies == [  # its start's SkillError, then each action refused
        "the lamp file is missing",
        "The unbuildable skill is not running",
        "The nostart skill is not running",
    ]
    assert host.failures == {"unbuildable": 1, "nostart": 1}
    host.configure({"recorder": {}})
    assert host.start_errors == {}
    host.stop()
    assert "AssertionError" not in caplog.text


def test_stopping_waits_for_the_skills_to_finish(tmp_path):
    host = PluginHost(MISBEHAVING, Focus(30), tmp_path, lambda text, site: None, timeout=5)
    host.configure({"slowstop": {}})
    skill = host.skills["slowstop"]
    host.stop()
    assert skill.stopped.is_set()


def test_stopping_waits_no_longer_than_the_skill_timeout(tmp_path, caplog):
    host = PluginHost(MISBEHAVING, Focus(30), tmp_path, lambda text, site: None, timeout=0.2)
    host.configure({"stuckstop": {}})
    skill = host.skills["stuckstop"]
    host.stop()  # returns although the skill's stop has not finished
    assert not skill.stopped.is_set()
    skill.release.set()
    late = [r.getMessage() for r in caplog.records if "did not finish" in r.getMessage()]
    assert late == ["skill stuckstop: stop did not finish within 0.2 s; leaving it"]


def test_a_new_timeout_applies_to_running_skills(host, caplog):
    host.set_timeout(0.2)
    with caplog.at_level(logging.ERROR, logger="assistant.host"):
        with pytest.raises(TimeoutError):
            host.call("trouble", "hang", EVENT, {}).result(2)
    assert "did not finish within 0.2 s" in caplog.text
    host.skills["trouble"].release.set()


def test_a_skill_error_is_spoken_without_a_traceback(host, replies, caplog):
    with caplog.at_level(logging.ERROR, logger="assistant.host"):
        with pytest.raises(Exception, match="lamp"):
            host.call("trouble", "fail", EVENT, {}).result(2)
        assert wait_until(lambda: replies == ["the lamp is not answering"])
    assert "Traceback" not in caplog.text


def test_reconfigure_restarts_only_changed_skills(host):
    music = host.skills["music"]
    host.configure({"recorder": {"prefix": "now"}, "music": {}})
    assert host.skills["music"] is music
    assert "trouble" not in host.skills
    assert host.call("recorder", "bright", EVENT, {"level": 1}).result(2) == "now bright 1"


def test_discovery_reports_broken_plugins_and_loads_good_ones(tmp_path, monkeypatch):
    dist = tmp_path / "broken_skill-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-skill\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[assistant.skills]\n"
        "missing = no_such_module:Skill\n"
        "notaskill = good_skill:NOT_A_SKILL\n"
        "good = good_skill:GoodSkill\n"
    )
    (tmp_path / "good_skill.py").write_text(
        "from assistant.plugin import Skill, action\n"
        "NOT_A_SKILL = 3\n"
        "class GoodSkill(Skill):\n"
        "    name = 'good'\n"
        "    @action()\n"
        "    def hi(self, event):\n"
        "        return 'hi'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    installed, broken = discover_skills()
    assert installed["good"].__name__ == "GoodSkill"
    assert {
        b.name: b.error.split(":")[0] for b in broken if b.target.startswith(("no_", "good"))
    } == {
        "missing": "ModuleNotFoundError",
        "notaskill": "TypeError",
    }
    sys.modules.pop("good_skill", None)


def test_a_skill_error_from_the_constructor_is_spoken_without_a_traceback(
    tmp_path, replies, caplog
):
    host = PluginHost(
        {"needskey": NeedsKeySkill}, Focus(30), tmp_path, lambda text, site: replies.append(text)
    )
    with caplog.at_level(logging.ERROR, logger="assistant.host"):
        host.configure({"needskey": {}})
        with pytest.raises(LookupError, match=r"needskey did not start \(SkillError: set skills"):
            host.call("needskey", "anything", EVENT, {}).result(0)
    host.stop()
    assert replies == [
        "set skills.needskey.api_key in config.yaml",
        "The needskey skill is not running",
    ]
    assert "skill needskey: constructor failed: set skills.needskey.api_key" in caplog.text
    assert "Traceback" not in caplog.text
    assert host.failures == {"needskey": 1}


@pytest.mark.parametrize(
    ("in_the_way", "error"), [("data", "Not a directory"), ("data/keeper", "File exists")]
)
def test_a_data_directory_that_cannot_be_made_stops_only_the_skills_that_keep_files(
    tmp_path, replies, caplog, in_the_way, error
):
    data_root = tmp_path / "data"
    (tmp_path / in_the_way).parent.mkdir(exist_ok=True)
    (tmp_path / in_the_way).write_text("a file where a directory should be")
    host = PluginHost(
        {"keeper": KeeperSkill, **INSTALLED},
        Focus(30),
        data_root,
        lambda text, site: replies.append(text),
    )
    with caplog.at_level(logging.ERROR, logger="assistant.host"):
        host.configure({"keeper": {}, "recorder": {}})
        host.runners["keeper"].submit("started", lambda: None).result(5)
        assert host.call("recorder", "dim", EVENT, {}).result(2) is None
        with pytest.raises(LookupError, match=r"keeper did not start \(SkillError: cannot create"):
            host.call("keeper", "anything", EVENT, {}).result(2)
    host.stop()
    assert replies == ["The keeper skill cannot save its files", "The keeper skill is not running"]
    assert (
        f"cannot create the data directory {data_root / 'keeper'} ({error}); "
        f"{tmp_path / in_the_way} is a file, not a directory: remove or move it"
    ) in caplog.text
    assert "Traceback" not in caplog.text


def test_only_a_non_empty_str_is_a_reply_and_other_returns_are_logged(tmp_path, replies, caplog):
    host = PluginHost(
        {"odd": OddRepliesSkill}, Focus(30), tmp_path, lambda text, site: replies.append(text)
    )
    host.configure({"odd": {}})
    with caplog.at_level(logging.WARNING, logger="assistant.host"):
        for name in ("number", "mapping", "empty"):
            assert host.call("odd", name, EVENT, {}).result(2) is None
        assert host.call("odd", "words", EVENT, {}).result(2) == "hi"
    assert wait_until(lambda: replies == ["hi"])
    host.stop()
    assert (
        "skill odd: action number returned int, not a reply (str or None); nothing is said"
        in caplog.text
    )
    assert "skill odd: action mapping returned dict, not a reply" in caplog.text
    assert "action empty" not in caplog.text


class OddStatusSkill(Skill):
    """Gives its status as `status_lines` says in its settings: one str, or not text at all."""

    name = "oddstatus"
    settings = (Setting("given", str, "text"),)

    def status_lines(self):
        given = self.context.settings["given"]
        return "all well; really" if given == "text" else {"lamps": 2}


def test_a_status_given_as_one_str_is_a_line_and_one_not_text_is_a_failure(tmp_path, caplog):
    host = PluginHost({"oddstatus": OddStatusSkill}, Focus(30), tmp_path, lambda *said: None)
    try:
        host.configure({"oddstatus": {"given": "text"}})
        assert host.skill_status() == ["skill oddstatus: all well; really"]
        host.configure({"oddstatus": {"given": "mapping"}})
        with caplog.at_level(logging.WARNING, logger="assistant.host"):
            for _ in range(2):
                assert wait_until(
                    lambda: (
                        host.skill_status()
                        == ["skill oddstatus: status failed: returned dict, not a list of str"]
                    )
                )
    finally:
        host.stop()
    assert caplog.text.count("status failed") == 1  # logged once, not at each `status`
    assert host.failures == {}


def test_reconfiguring_a_skill_again_and_again_keeps_one_thread_for_it(host):
    def skill_threads():
        return [t for t in threading.enumerate() if t.name.startswith("skill-recorder")]

    before = len(skill_threads())
    for round in range(20):
        host.configure({"recorder": {"prefix": f"round {round}"}})
        assert (
            host.call("recorder", "bright", EVENT, {"level": 1}).result(2)
            == f"round {round} bright 1"
        )
    assert len(skill_threads()) == before


class AskingSkill(Skill):
    """Asks for a follow-up phrase and says what it heard."""

    name = "asking"

    @action()
    def ask(self, event):
        return self.context.listen_for_phrase(["five minutes"]) or "nothing heard"


def test_a_follow_up_phrase_is_listened_for_only_after_commands_heard_in_this_machines_room(
    tmp_path, caplog
):
    listened: list[list[str]] = []

    def microphone_in_the_hall(grammar, seconds, stopped, prompt):
        listened.append(grammar)
        return "five minutes"

    host = PluginHost(
        {"asking": AskingSkill},
        Focus(30),
        tmp_path,
        print,
        listen_for_phrase=microphone_in_the_hall,
        site="hall",
    )
    host.configure({"asking": {}})
    try:
        here = CommandEvent("go", 0.9, "board", "hall", time.monotonic())
        assert host.call("asking", "ask", here, {}).result(5) == "five minutes"
        kitchen = CommandEvent("go", 0.9, "satellite", "kitchen", time.monotonic())
        with caplog.at_level(logging.INFO, logger="assistant.host"):
            for _ in range(2):
                assert host.call("asking", "ask", kitchen, {}).result(5) == "nothing heard"
        assert listened == [["five minutes"]]  # the hall's microphone never heard the kitchen
        told = [r.getMessage() for r in caplog.records if "follow-up phrase" in r.getMessage()]
        assert told == [
            "no follow-up phrase after commands from site kitchen: the microphone here is in "
            "site hall, so skills use their defaults there"
        ]
    finally:
        host.stop()


class FailingLateSkill(Skill):
    """Its start fails once `fail` is set."""

    name = "failslate"
    fail = threading.Event()

    def start(self):
        self.fail.wait(30)
        raise RuntimeError("the device went away")


@pytest.mark.parametrize("stopping", ["reload", "shutdown"])
def test_a_start_failing_while_the_skills_are_being_stopped_fails_that_skill_only(
    tmp_path, stopping
):
    """The other skill's start fails after the host listed the skills to stop and before it
    came to that one: a reload or shutdown goes on (it raised KeyError)."""
    FailingLateSkill.fail.clear()
    host = PluginHost(
        {"patient": PatientSkill, "failslate": FailingLateSkill}, Focus(30), tmp_path, print
    )
    host.configure({"patient": {"round": 1}, "failslate": {}})
    patient = host.runners["patient"]
    stop_patient = patient.cancel

    def failing_meanwhile() -> None:  # stopping patient, the first listed
        stop_patient()
        FailingLateSkill.fail.set()
        assert wait_until(lambda: "failslate" in host.start_errors)

    patient.cancel = failing_meanwhile
    if stopping == "reload":
        host.configure({"patient": {"round": 2}, "failslate": {}})
        assert host.call("patient", "hold", EVENT, {}).result(5) is None
    host.stop()
    assert host.settings == {}
