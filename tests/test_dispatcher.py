"""Commands to actions: minimum score, cooldown, focus, and lists of actions in order."""

import logging
import textwrap
import time
from concurrent.futures import wait

import pytest
from manual_clock import Clock
from runtime_skills import INSTALLED, PatientSkill

from assistant.config import load_config
from assistant.control import ControlServer, send_command
from assistant.dispatcher import Dispatcher, HandedOver
from assistant.focus import Focus
from assistant.host import PluginHost
from assistant.plugin import CommandEvent, NothingToDo, SkillError
from assistant.skill_runner import Cancelled

CONFIG = """
focus_seconds: 10
min_score: 0.8
commands:
  on: recorder.bright
  up:
    do: recorder.bright
    when:
      music: music.louder
    cooldown: 2
  go: music.play
  off:
    do: recorder.dim
    min_score: 0.5
"""


def dispatching(tmp_path, config_text, installed=INSTALLED, clock=None):
    """A dispatcher for `config_text` (written to config.yaml) on the real host, with its
    skills started: (config, focus, host, dispatcher)."""
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(config_text))
    config = load_config(path, installed)
    focus = Focus(config.focus_seconds, clock or time.monotonic)
    host = PluginHost(installed, focus, tmp_path, lambda text, site: None)
    host.configure(config.skills)
    return config, focus, host, Dispatcher(config, host, focus)


@pytest.fixture
def world(tmp_path):
    clock = Clock()
    _, _, host, dispatcher = dispatching(tmp_path, CONFIG, clock=clock)

    def hear(command, score=0.9, site="desk"):
        for future in dispatcher.handle(CommandEvent(command, score, "test", site, clock.now)):
            future.result(2)

    yield hear, clock, host
    host.stop()


def test_low_scores_are_ignored_per_command(world):
    hear, _, host = world
    hear("on", 0.79)
    hear("off", 0.6)
    assert host.skills["recorder"].calls == [("dim", "off")]


def test_a_score_at_min_score_and_a_repeat_once_the_cooldown_is_over_are_taken(world):
    hear, clock, host = world
    hear("on", 0.8)  # min_score 0.8: only lower scores are ignored
    hear("up")
    clock.now += 2  # cooldown 2: repeats within it are ignored, not one at its end
    hear("up")
    assert [call[0] for call in host.skills["recorder"].calls] == ["bright"] * 3


def test_repeats_within_the_cooldown_are_ignored_per_site(world):
    hear, clock, host = world
    hear("up")
    clock.now += 1.5
    hear("up")
    hear("up", site="kitchen")
    clock.now += 0.6
    hear("up")
    assert len(host.skills["recorder"].calls) == 3


def test_focus_sends_up_to_the_skill_used_last_until_it_expires(world):
    hear, clock, host = world
    hear("go")
    clock.now += 5
    hear("up")
    assert host.skills["music"].calls == ["play", "louder"]
    clock.now += 11
    hear("up")
    assert host.skills["recorder"].calls == [("bright", "up", 1)]


def test_using_another_skill_takes_the_focus(world):
    hear, clock, host = world
    hear("go")
    hear("on")
    clock.now += 3
    hear("up")
    assert host.skills["music"].calls == ["play"]
    assert [c[0] for c in host.skills["recorder"].calls] == ["bright", "bright"]


def test_unmapped_commands_run_nothing(world, caplog):
    hear, _, host = world
    with caplog.at_level("INFO", logger="assistant.dispatch"):
        hear("stop")
    assert "'stop' is not mapped to any action in" in caplog.text
    assert host.skills["recorder"].calls == [] and host.skills["music"].calls == []


def test_run_says_why_no_action_ran(tmp_path):
    config, _, host, dispatcher = dispatching(
        tmp_path, "commands:\n  on: {do: recorder.bright, min_score: 0.8}\n  off: {do: []}\n"
    )
    try:
        assert dispatcher.run(CommandEvent("on", 0.5, "test", "desk", 1.0)) == (
            "ignored 'on': score 0.50 is below its min_score 0.8"
        )
        assert dispatcher.run(CommandEvent("off", 1.0, "test", "desk", 1.0)) == (
            f"'off' maps to no action in {config.file}"
        )
        [future] = dispatcher.run(CommandEvent("on", 0.9, "test", "desk", 1.0))
        future.result(2)
        assert dispatcher.handle(CommandEvent("on", 0.9, "test", "desk", 1.2)) == []
    finally:
        host.stop()


def test_an_empty_action_list_while_a_skill_has_focus_runs_nothing_and_says_so(tmp_path):
    config, _, host, dispatcher = dispatching(
        tmp_path,
        "commands:\n  up: {do: [], when: {music: music.louder}}\n  go: music.play\n"
        "  on: {do: recorder.bright, when: {music: []}}\n",
    )
    assert [w.message for w in config.warnings] == [  # 'up' acts while music has focus
        "command 'on' does nothing while music has focus: the list is empty",
    ]
    try:
        assert dispatcher.run(CommandEvent("up", 1.0, "test", "desk", 1.0)).startswith("'up' maps")
        [played] = dispatcher.run(CommandEvent("go", 1.0, "test", "desk", 2.0))
        played.result(2)  # music has focus now
        [louder] = dispatcher.run(CommandEvent("up", 1.0, "test", "desk", 3.0))
        louder.result(2)
        assert dispatcher.run(CommandEvent("on", 1.0, "test", "desk", 4.0)).startswith("'on' maps")
    finally:
        host.stop()


def test_a_when_action_with_nothing_to_do_hands_the_command_to_do(tmp_path):
    """The first action of a `when:` list raising NothingToDo runs the `do:` list instead
    (unsaid: what runs instead answers, and `assistant send` answers as for that list, with
    the replies before a failure); any other failure of it does not."""
    said = []
    path = tmp_path / "config.yaml"
    path.write_text(
        "cooldown: 0\ncommands:\n  go: music.play\n"
        "  on: {do: [recorder.dim, recorder.bright],"
        " when: {music: [trouble.nothing, recorder.dim]}}\n"
        "  off: {do: recorder.dim, when: {music: [trouble.fail, recorder.dim]}}\n"
        "  up: {do: [recorder.bright, trouble.fail], when: {music: trouble.nothing}}\n"
        "  stop: trouble.nothing\n"
    )
    config = load_config(path, INSTALLED)
    focus = Focus(config.focus_seconds)
    host = PluginHost(INSTALLED, focus, tmp_path, lambda text, site: said.append(text))
    host.configure(config.skills)
    dispatcher = Dispatcher(config, host, focus)
    server = ControlServer(tmp_path / "c.sock", dispatcher.run, "desk")
    server.start()
    try:
        assert send_command("go", tmp_path / "c.sock") == "OK done"  # music has focus now
        assert send_command("on", tmp_path / "c.sock") == "OK done; did bright 1; not run"
        assert host.skills["recorder"].calls == [("dim", "on"), ("bright", "on", 1)]
        assert said == ["did bright 1"]
        assert focus.current() == "recorder"  # the skill of what ran
        assert send_command("go", tmp_path / "c.sock") == "OK done"
        assert send_command("up", tmp_path / "c.sock") == (
            "ERR did bright 1; failed: the lamp is not answering"
        )
        assert said[-2:] == ["did bright 1", "the lamp is not answering"]
        assert send_command("go", tmp_path / "c.sock") == "OK done"
        failed, not_run = dispatcher.run(CommandEvent("off", 1.0, "test", "desk", time.monotonic()))
        with pytest.raises(SkillError, match="not answering"):
            failed.result(2)
        assert not_run.cancelled()
        assert said[-1] == "the lamp is not answering"
        [nothing] = dispatcher.run(CommandEvent("stop", 1.0, "test", "desk", time.monotonic()))
        with pytest.raises(NothingToDo):
            nothing.result(2)
        assert said[-1] == "No lamp is on"  # with no `do:` list to run instead, it is said
    finally:
        server.stop()
        host.stop()


def test_a_handed_over_command_settles_once_the_do_list_has_run_to_its_end(tmp_path):
    _, _, host, dispatcher = dispatching(
        tmp_path,
        "commands:\n  go: music.play\n"
        "  on: {do: [recorder.dim, trouble.hang], when: {music: trouble.nothing}}\n",
    )
    try:
        dispatcher.run(CommandEvent("go", 1.0, "test", "desk", 1.0))[0].result(2)
        [handed] = dispatcher.run(CommandEvent("on", 1.0, "test", "desk", 2.0))
        assert host.skills["recorder"].called.wait(5)
        host.runners["recorder"].submit("after the dim", lambda: None).result(5)
        assert not handed.done()  # trouble.hang, the rest of the do: list, still runs
        host.skills["trouble"].release.set()
        outcome = handed.result(5)
        assert isinstance(outcome, HandedOver)
        assert [str(ran.call) for ran in outcome.outcomes] == ["recorder.dim", "trouble.hang"]
        assert all(ran.done() and ran.exception() is None for ran in outcome.outcomes)
    finally:
        host.skills["trouble"].release.set()
        host.stop()


LISTS = """
commands:
  on: [trouble.hang, recorder.dim]
  off: [trouble.fail, recorder.dim]
  down: [recorder.dim, trouble.fine]
  stop: trouble.fail
  go: music.play
  up: {do: recorder.bright, when: {trouble: trouble.fine, music: music.louder}}
"""


@pytest.fixture
def lists(tmp_path):
    """A dispatcher with LISTS on the real host, its focus, and `run(command)`."""
    _, focus, host, dispatcher = dispatching(tmp_path, LISTS)
    heard = iter(range(1, 100))

    def run(command):
        return dispatcher.run(CommandEvent(command, 1.0, "test", "desk", 10.0 * next(heard)))

    yield run, focus, host
    host.skills["trouble"].release.set()
    host.stop()


def test_a_list_runs_its_actions_one_after_another(lists):
    run, _, host = lists
    hang, dim = run("on")
    # the recorder's thread runs its calls in turn: what the list gave it (with the bug, the dim
    # at once) has run once this has
    host.runners["recorder"].submit("after the list", lambda: None).result(5)
    ran_early = host.skills["recorder"].called.is_set()
    host.skills["trouble"].release.set()
    assert dim.result(5) is None and hang.result(5) is None
    assert not ran_early
    assert host.skills["recorder"].calls == [("dim", "on")]


def test_a_list_run_to_its_end_logs_no_error(lists, caplog):
    run, _, host = lists
    dim, fine = run("down")
    assert fine.result(5) == "fine"
    host.runners["trouble"].submit("after the list", lambda: None).result(5)
    assert dim.result() is None
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


def test_a_failing_action_stops_the_list(lists):
    run, _, host = lists
    failed, dim = run("off")
    _, not_done = wait([failed, dim], timeout=5)  # as `assistant send` waits for the answer
    assert not not_done, "an action cancelled after a failure must count as done"
    with pytest.raises(SkillError, match="the lamp is not answering"):
        failed.result()
    assert dim.cancelled() and host.skills["recorder"].calls == []


def test_a_failing_action_leaves_the_focus_where_it_was(lists):
    run, focus, host = lists
    run("go")[0].result(5)
    with pytest.raises(SkillError):
        run("stop")[0].result(5)
    assert focus.current() == "music"
    run("up")[0].result(5)
    assert host.skills["music"].calls == ["play", "louder"]
    assert host.skills["trouble"].finished == []


def test_the_first_action_of_a_list_gives_focus_to_its_skill(lists):
    run, focus, _ = lists
    assert [f.result(5) for f in run("down")] == [None, "fine"]
    assert focus.current() == "recorder"


def test_an_action_cut_short_by_a_reload_stops_the_list_and_takes_no_focus(tmp_path):
    config, focus, host, dispatcher = dispatching(
        tmp_path,
        "commands:\n  go: [patient.poll, recorder.dim]\n",
        {**INSTALLED, "patient": PatientSkill},
    )
    patient = host.skills["patient"]
    patient.release.set()  # it returns its reply once cancelled
    try:
        poll, dim = dispatcher.run(CommandEvent("go", 1.0, "test", "desk", 1.0))
        assert patient.polling.wait(5)
        host.configure({**config.skills, "patient": {"round": 2}})
        with pytest.raises(Cancelled, match="action poll cancelled"):
            poll.result(5)
        assert dim.cancelled() and host.skills["recorder"].calls == []
        assert focus.current() is None
    finally:
        host.stop()
