"""The whole runtime in one process: virtual board -> pty -> link -> dispatcher -> skill."""

import contextlib
import dataclasses
import logging
import os
import re
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import wait
from pathlib import Path

import numpy as np
import pytest
from alsa_microphone import DEVICE, plug_in
from local_midnight import midnight_since
from runtime_skills import INSTALLED, MISBEHAVING, TELLING, RecordingSkill
from test_config import custom_model
from test_own_voice import COMMITTED_MODEL
from test_phrase_cue import peak_frequency
from usb_ports import nano_while_linked
from waiting import wait_until
from wav import played_files, read_wav, same_speech

from assistant import control
from assistant.clocks import local_time
from assistant.config import load_config
from assistant.cue import ACKNOWLEDGE_NOTES, NOTE_SECONDS, UNSPOKEN_NOTES, tone_wav
from assistant.daemon import Assistant
from assistant.dispatcher import ActionOutcome
from assistant.emulator import FIRMWARE_VERSION, MODEL_ID, VirtualBoard
from assistant.host import STATUS_SECONDS
from assistant.microphone import SAMPLE_RATE, microphone_problem
from assistant.model_files import DEFAULT_MODEL, load_contract
from assistant.model_runner import model_id
from assistant.plugin import CommandEvent
from assistant.version import version_text

CONFIG = """
source: emulator
emulator: {heartbeat_ms: 200}
site: desk
commands:
  on: {action: recorder.bright, with: {level: 7}}
  off: recorder.dim
  stop: trouble.crash
  go: [{action: recorder.bright, with: {level: 2}}, trouble.fine]
  down: [trouble.fail, recorder.dim]
skills:
  recorder: {prefix: did}
"""


class BadSchemaSkill(RecordingSkill):
    """A plugin bug that validation trips over: its settings are not a tuple of Settings."""

    name = "badschema"
    settings = None


@pytest.fixture
def assistant(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    replies = []
    assistant = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path, replies.append)
    assistant.replies = replies
    assistant.config_file = path
    assistant.start()
    assistant.open_default_sources()
    # its HELLO heard: a detection sent before it is stale (the HELLO, sent as the port opened,
    # may have been flushed by the link's open and asked for again)
    assert assistant.sources[0].session.greeted.wait(5)
    yield assistant
    assistant.stop()


def test_a_detection_on_the_virtual_board_runs_its_action(assistant):
    assistant.virtual_board.detect("on", 0.93)
    recorder = assistant.host.skills["recorder"]
    assert recorder.called.wait(5)
    assert recorder.calls == [("bright", "on", 7)]
    assert wait_until(lambda: assistant.replies == ["did bright 7"])


def test_the_vosk_model_loads_at_the_start_not_at_the_first_phrase(
    tmp_path, korean_model_path, caplog
):
    """A large model on a slow machine takes longer to load than `skill_timeout`: loaded at the
    first "go", it made that action time out."""
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG) + f"phrase: {{model: {str(korean_model_path)!r}}}\n")
    assistant = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path, print)
    with caplog.at_level(logging.INFO, logger="assistant.phrase"):
        assistant.start()
        try:
            assert wait_until(lambda: "Vosk model" in caplog.text, timeout=120)
        finally:
            assistant.stop()
    assert f"Vosk model {korean_model_path} loaded in" in caplog.text
    assert assistant.phrase.model() is not None  # already there: no second load
    assert caplog.text.count("Vosk model") == 1


def test_no_vosk_model_installed_says_nothing_at_the_start(tmp_path, caplog):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG) + f"phrase: {{model: {str(tmp_path / 'none')!r}}}\n")
    assistant = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path, print)
    with caplog.at_level(logging.INFO, logger="assistant.phrase"):
        assert assistant.phrase.load_in_background() is None
        assistant.start()
        assistant.stop()
    assert "follow-up phrase" not in caplog.text


def test_a_crashing_skill_does_not_stop_the_daemon(assistant):
    assistant.virtual_board.detect("stop")
    assert wait_until(lambda: assistant.host.failures.get("trouble") == 1)
    assistant.virtual_board.detect("off")
    assert wait_until(lambda: assistant.host.skills["recorder"].calls == [("dim", "off")])


def test_a_crashing_skill_is_heard_to_have_failed(tmp_path, audio_output, caplog):
    """Heard through the speaker: a user who cannot look at the log hears that "stop" was taken
    and that its skill failed."""
    caplog.set_level(logging.INFO)
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    running = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path)
    running.start()
    try:
        wait(running.run_sent_command(CommandEvent("stop", 1.0)), timeout=5)
        assert wait_until(lambda: played_files(audio_output))
    finally:
        running.stop()
    assert "reply: Sorry, the trouble skill failed" in caplog.text
    [played] = played_files(audio_output)
    assert same_speech(played, "Sorry, the trouble skill failed", tmp_path)


def test_a_reply_the_speech_engine_cannot_say_is_heard_as_a_falling_tone(
    tmp_path, audio_output, caplog
):
    """A voice espeak-ng no longer has (removed after the configuration was checked, which
    refuses an unknown one) keeps the speech engine from starting; the sound card still plays,
    so a user who only listens hears "stop" taken (the acknowledgement) and its answer due (the
    falling tone in place of "Sorry, the trouble skill failed")."""
    caplog.set_level(logging.INFO)
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG) + "speech: {voice: en-us, acknowledge: tone}\n")
    config = load_config(path, INSTALLED)
    speech = {**config.sections["speech"], "voice": "no-such-voice"}
    config = dataclasses.replace(config, sections={**config.sections, "speech": speech})
    running = Assistant(config, INSTALLED, tmp_path)
    running.start()
    running.open_default_sources()
    try:
        assert running.sources[0].session.greeted.wait(5)
        running.virtual_board.detect("stop", 0.9)
        assert wait_until(lambda: len(played_files(audio_output)) == 2)
    finally:
        running.stop()
    assert "reply: Sorry, the trouble skill failed" in caplog.text
    played = [wav.read_bytes() for wav in played_files(audio_output)]
    assert played == [tone_wav(1.0, ACKNOWLEDGE_NOTES), tone_wav(1.0, UNSPOKEN_NOTES)]


def test_reload_applies_a_new_mapping_and_keeps_the_link(assistant):
    link = assistant.sources[0].source
    assistant.config_file.write_text(
        textwrap.dedent(CONFIG).replace("off: recorder.dim", "off: {action: recorder.bright}")
    )
    assert assistant.reload(assistant.config_file).done
    assistant.virtual_board.detect("off")
    assert wait_until(lambda: assistant.host.skills["recorder"].calls == [("bright", "off", 1)])
    assert link.connected.is_set() and assistant.stats.reconnects == 0


def test_reload_keeps_settings_that_need_a_restart_and_names_them(assistant, caplog):
    changed = textwrap.dedent(CONFIG).replace("site: desk", "site: kitchen")
    assistant.config_file.write_text(changed + "skill_timeout: 3\nspeech: {rate: 120}\n")
    assert assistant.reload(assistant.config_file).done
    assert assistant.config.site == "desk"
    assert "only after a restart: site, speech" in caplog.text
    assert assistant.host.runners["recorder"].timeout == 3


def test_reload_sets_the_log_level_with_apschedulers_internals_at_debug_only(assistant):
    root, scheduler = logging.getLogger(), logging.getLogger("apscheduler.scheduler")
    was = root.level, logging.getLogger("apscheduler").level
    try:
        for level, library_level in (("DEBUG", logging.DEBUG), ("INFO", logging.WARNING)):
            assistant.config_file.write_text(f"log_level: {level}\n" + textwrap.dedent(CONFIG))
            assert assistant.reload(assistant.config_file).done
            assert root.level == logging.getLevelName(level)
            assert scheduler.getEffectiveLevel() == library_level
    finally:
        root.setLevel(was[0])
        logging.getLogger("apscheduler").setLevel(was[1])


@pytest.mark.parametrize(
    ("model", "firmware", "warned"),
    [
        ("af118e1f", "0.9.0", True),  # the firmware of an earlier version, with its model
        (model_id(DEFAULT_MODEL.read_bytes()), "1.0.0", False),  # microphone.model's
        (MODEL_ID, FIRMWARE_VERSION, False),  # `assistant emulate`, which runs no model
    ],
)
def test_a_board_running_another_model_than_the_configurations_is_warned_about(
    tmp_path, caplog, model, firmware, warned
):
    """A board left on an earlier version's firmware after an upgrade: its HELLO's model is not
    the one whose commands and thresholds the configuration was checked against."""
    link = tmp_path / "ttyACM0"
    path = tmp_path / "config.yaml"
    config = CONFIG.replace("source: emulator", f"source: serial\ndevice: {{port: {link}}}")
    path.write_text(textwrap.dedent(config))
    caplog.set_level(logging.INFO, logger="assistant")
    assistant = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path, print)
    board = VirtualBoard(link=link, model=model, firmware=firmware)
    board.plug_in()
    try:
        assistant.start()
        assistant.open_default_sources()
        assert wait_until(_heard(assistant, "serial"))
    finally:
        assistant.stop()
        board.unplug()
    expected = (
        f"board runs model af118e1f (firmware 0.9.0), not {model_id(DEFAULT_MODEL.read_bytes())}, "
        "the model of microphone.model that the commands and thresholds of the configuration "
        "are checked against: flash the firmware of this version of the assistant "
        "(firmware/README.md in the source repository), or give microphone.model the model the "
        "board runs"
    )
    assert (expected in caplog.text) == warned, caplog.text
    assert ("runs model" in caplog.text) == warned


def test_reload_keeps_the_command_line_overrides(tmp_path, caplog):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    config = load_config(path, INSTALLED)
    assistant = Assistant(config, INSTALLED, tmp_path, print, overrides={"source": "serial"})
    assert assistant.reload(path).done
    assert assistant.config.source == "serial"
    assert "restart" not in caplog.text
    path.write_text(textwrap.dedent(CONFIG).replace("source: emulator", "source: microphone"))
    assert assistant.reload(path).done  # what --source chose: a restart with it changes nothing
    assert assistant.config.source == "serial"
    assert "restart" not in caplog.text
    assistant.host.stop()


def test_a_broken_reload_keeps_the_running_configuration(assistant, caplog):
    assistant.config_file.write_text("commands:\n  off: recorder.explode\n")
    assert not assistant.reload(assistant.config_file).done
    assert "config.yaml:2: skill 'recorder' has no action 'explode'" in caplog.text
    assistant.virtual_board.detect("off")
    assert wait_until(lambda: assistant.host.skills["recorder"].calls == [("dim", "off")])


def test_status_shows_a_failed_reloads_problem_as_it_was_said(assistant):
    """A problem's own "; " (before its "did you mean") stays in `assistant status`, its part
    whole."""
    assistant.config_file.write_text("commands:\n  off: recorder.dmi\n")
    assert not assistant.reload(assistant.config_file).done
    parts = assistant.status().split("\t")
    said = f"{assistant.config_file}:2: skill 'recorder' has no action 'dmi'; did you mean 'dim'? "
    problem = parts.index(f"  {said}valid: bright, dim")
    assert parts[problem - 1].startswith("last reload: FAILED at ")


def test_a_reload_of_a_file_found_empty_keeps_the_running_configuration(assistant, caplog):
    """SIGHUP while a program rewrites the file in place (truncated, not yet written): an empty
    file at a start maps nothing, with a warning; at a reload it is refused."""
    assistant.config_file.write_text("\n")
    assert not assistant.reload(assistant.config_file).done
    assert "config.yaml:1: the file is empty (still being written?); reload once it is" in (
        caplog.text
    )
    assistant.virtual_board.detect("off")
    assert wait_until(lambda: assistant.host.skills["recorder"].calls == [("dim", "off")])


def test_a_reload_with_a_voice_the_engine_lacks_keeps_the_running_configuration(assistant, caplog):
    changed = textwrap.dedent(CONFIG).replace("off: recorder.dim", "off: recorder.bright")
    assistant.config_file.write_text(changed + "speech:\n  voice: en-uss\n")
    assert not assistant.reload(assistant.config_file).done
    assert "config.yaml:14: speech.voice: unknown voice 'en-uss'; did you mean 'en-us'" in (
        caplog.text
    )
    assert assistant.last_reload is not None and not assistant.last_reload.done
    assistant.virtual_board.detect("off")
    assert wait_until(lambda: assistant.host.skills["recorder"].calls == [("dim", "off")])


def test_a_reload_with_speech_off_takes_a_voice_unchecked_until_speech_is_on(
    assistant, caplog, espeak_runs
):
    """Speech off wants no engine: a reload neither runs espeak-ng for its voice nor refuses
    it; one that turns speech on checks the voice, and refuses one espeak-ng lacks."""
    changed = textwrap.dedent(CONFIG).replace("off: recorder.dim", "off: recorder.bright")
    assistant.config_file.write_text(changed + "speech: {enabled: false, voice: en-uss}\n")
    assert assistant.reload(assistant.config_file).done
    assert espeak_runs() == [] and "speech.voice" not in caplog.text
    assistant.config_file.write_text(changed + "speech:\n  voice: en-uss\n")
    assert not assistant.reload(assistant.config_file).done
    assert "config.yaml:14: speech.voice: unknown voice 'en-uss'" in caplog.text
    assert "--voices" in espeak_runs()


def test_send_reaches_the_running_daemon_through_the_control_socket(assistant, tmp_path):
    server = control.ControlServer(tmp_path / "c.sock", assistant.dispatcher.handle, "desk")
    server.start()
    try:
        assert control.send_command("on", tmp_path / "c.sock") == "OK did bright 7"
    finally:
        server.stop()
    with pytest.raises(ConnectionError, match="no assistant is running"):
        control.send_command("on", tmp_path / "c.sock")


def test_send_answers_err_with_the_reason_when_nothing_ran_or_an_action_failed(assistant, tmp_path):
    path = tmp_path / "c.sock"
    server = control.ControlServer(path, assistant.run_sent_command, "desk")
    server.start()
    try:
        assert control.send_command("on", path) == "OK did bright 7"
        cooldown = "ERR ignored 'on': repeated within its 1 s cooldown"
        assert control.send_command("on", path) == cooldown
        assert control.send_command("up", path).startswith("ERR 'up' is not mapped to any action")
        assert control.send_command("yes", path) == (
            "ERR 'yes' is not a command the model can hear; it hears: on, off, up, down, go, stop"
        )
        assert control.send_command("stop", path) == (
            "ERR failed: trouble.crash crashed with RuntimeError: boom (the log has the traceback)"
        )
        assert control.send_command("go", path) == "OK did bright 2; fine"
        assert assistant.replies[-2:] == ["did bright 2", "fine"]  # spoken in the list's order
        failed = "ERR failed: the lamp is not answering; not run"
        assert control.send_command("down", path) == failed
    finally:
        server.stop()


def test_send_names_which_of_a_commands_actions_crashed(assistant, tmp_path):
    """A command that runs several actions: the answer says which one is the skill's bug."""
    mapped = "commands:\n  up: [{action: recorder.bright, with: {level: 3}}, trouble.crash]"
    assistant.config_file.write_text(textwrap.dedent(CONFIG).replace("commands:", mapped))
    assert assistant.reload(assistant.config_file).done
    path = tmp_path / "c.sock"
    server = control.ControlServer(path, assistant.run_sent_command, "desk")
    server.start()
    try:
        assert control.send_command("up", path) == (
            "ERR did bright 3; failed: trouble.crash crashed with RuntimeError: boom "
            "(the log has the traceback)"
        )
    finally:
        server.stop()


FAULTS = """
source: emulator
emulator: {heartbeat_ms: 200}
site: desk
commands:
  on: trouble.fault
  up: trouble.read_bus
  down: trouble.write_bus
"""
"""Commands whose actions crash with exceptions that carry no name of their own."""


def answer_of(assistant, handle: Callable[[CommandEvent], object], command: str, folder: Path):
    """The answer of `assistant send <command>` to a control socket serving `handle`, with
    FAULTS loaded."""
    assistant.config_file.write_text(textwrap.dedent(FAULTS))
    assert assistant.reload(assistant.config_file).done
    server = control.ControlServer(folder / "c.sock", handle, "desk")
    server.start()
    try:
        return control.send_command(command, folder / "c.sock")
    finally:
        server.stop()


def test_send_names_the_crashed_action_of_an_exception_type_that_takes_no_attribute(
    assistant, tmp_path
):
    """A skill's frozen dataclass exception: the action is named all the same."""
    assert answer_of(assistant, assistant.run_sent_command, "on", tmp_path) == (
        "ERR failed: trouble.fault crashed with LampFault: 7 (the log has the traceback)"
    )


def test_send_names_each_action_that_raised_one_exception_instance(assistant, tmp_path):
    """A module's constant exception raised by two actions, both failed before the one answer
    that tells them is composed: each is named, not the last to raise twice."""

    def up_then_down(event: CommandEvent) -> list[ActionOutcome]:
        down = dataclasses.replace(event, command="down")
        return assistant.dispatcher.handle(event) + assistant.dispatcher.handle(down)

    crashed = "crashed with RuntimeError: the bus is down (the log has the traceback)"
    assert answer_of(assistant, up_then_down, "up", tmp_path) == (
        f"ERR failed: trouble.read_bus {crashed}; failed: trouble.write_bus {crashed}"
    )


def test_send_takes_a_command_in_any_case_and_refuses_what_is_no_command_name(assistant, tmp_path):
    """A user typing in caps (`assistant send STOP`, ` Off `) is understood: a model's
    commands are lower-case. What cannot be a command is refused, never queued (on a satellite
    it would be an MQTT topic)."""
    path = tmp_path / "c.sock"
    server = control.ControlServer(path, assistant.run_sent_command, "desk")
    server.start()
    try:
        assert control.send_command("ON", path) == "OK did bright 7"
        assert control.send_command(" Off ", path) == "OK done"
        assert assistant.host.skills["recorder"].calls == [("bright", "on", 7), ("dim", "off")]
        for name in ("#", "a/b", "Up!", "seventeen_letters", "ÜP"):
            answer = control.send_command(name, path)
            assert answer.startswith("ERR '") and answer.endswith(
                "' is not a command name: letters a to z, digits and _, at most 16"
            ), answer
    finally:
        server.stop()
    assert assistant.host.skills["recorder"].calls == [("bright", "on", 7), ("dim", "off")]


def test_status_names_the_source_and_the_link_counters_and_stop_logs_them(assistant, caplog):
    path = assistant.config_file.with_name("c.sock")
    server = control.ControlServer(path, assistant.run_sent_command, "desk", assistant.status)
    server.start()
    try:
        assistant.virtual_board.write_raw(b"GARBAGE\n")
        assistant.virtual_board.skip_seq(2)
        assistant.virtual_board.detect("off")
        assert wait_until(lambda: assistant.host.skills["recorder"].calls == [("dim", "off")])
        answer = control.request_status(path)
        assert control.ask("STATUS please", path) == "ERR use: COMMAND <name>, STATUS or RELOAD"
    finally:
        server.stop()
    source = (
        rf"source: virtual board \(board on {assistant.virtual_board.path}, firmware "
        rf"{re.escape(FIRMWARE_VERSION)}, model {MODEL_ID}\)"
    )
    counters = (
        r"lines \d+, detections 1, malformed 1 \(unknown_type 1\), lost 2, refused 0, "
        # heartbeats read before the HELLO (when the port's opening flushed it) are stale
        r"stale (0|\d+ \(before_hello \d+\)), reconnects 0"
    )
    running = (
        f"pid: {os.getpid()}\tversion: {version_text()}\trunning since: "
        f"{local_time(assistant.started)}\tconfiguration: {assistant.config_file}\tlast reload: "
        "none since the start\tskills: recorder running, has focus | trouble running\t"
    )  # recorder: the skill of the command "off" ran, for focus_seconds
    assert re.fullmatch(f"OK {re.escape(running)}{source}\t{counters}", answer)
    with caplog.at_level(logging.INFO, logger="assistant"):
        assistant.stop()
    assert re.search(f"link at stop: {source}; {counters}", caplog.text)


def test_status_says_when_the_board_is_unplugged(assistant):
    """`assistant status` is what one runs when commands go unheard: it says the board is
    gone, not the port it had."""
    path = assistant.virtual_board.path
    assistant.virtual_board.unplug()
    assert wait_until(lambda: assistant.stats.reconnects == 1)
    assert re.search(
        rf"source: virtual board \(waiting for the board on {path}, unplugged at "
        rf"\d\d:\d\d:\d\d, firmware {re.escape(FIRMWARE_VERSION)}, model {MODEL_ID}\)",
        assistant.status(),
    )
    with midnight_since(time.time()) as yesterday:  # a daemon that has run for days
        status = assistant.status()
        assert re.search(rf"running since: {yesterday} 23:\d\d:\d\d\t", status)
        assert re.search(rf", unplugged at {yesterday} 23:\d\d:\d\d, firmware", status)


def test_status_says_which_skills_run_which_did_not_start_and_why_and_what_failed(tmp_path):
    """What the log said once at the start, and the failures since, for whoever looks later."""
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG).replace("skills:", "skills:\n  nostart: {}"))
    installed = {**INSTALLED, **MISBEHAVING}
    assistant = Assistant(load_config(path, installed), installed, tmp_path, lambda text: None)
    assistant.start()
    try:
        for command in ("stop", "down"):  # a crash; a failure, which stops the list there
            wait(assistant.run_sent_command(CommandEvent(command, 1.0)), timeout=5)
        skills = dict(part.split(": ", 1) for part in assistant.status().split("\t")[:7])
    finally:
        assistant.stop()
    assert skills["skills"] == (
        "nostart NOT RUNNING (SkillError: the lamp file is missing), 1 failed | recorder running | "
        "trouble running, 2 failed"
    )


TELLING_CONFIG = """
source: emulator
skill_timeout: 3
commands:
  on: crashstatus.fine
  off: hangstatus.fine
  go: telling.busy
skills:
  crashstatus: {}
  hangstatus: {}
  recorder: {}
  telling: {}
"""


@pytest.fixture
def telling(tmp_path):
    """An assistant running skills with a status: one telling it, one whose status raises, one
    whose status hangs; and one without (recorder), through the control socket."""
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(TELLING_CONFIG))
    installed = {**INSTALLED, **TELLING}
    assistant = Assistant(load_config(path, installed), installed, tmp_path, lambda text: None)
    assistant.start()
    assistant.socket = tmp_path / "c.sock"
    server = control.ControlServer(
        assistant.socket, assistant.run_sent_command, "desk", assistant.status
    )
    server.start()
    yield assistant
    server.stop()
    assistant.host.skills["telling"].release.set()
    assistant.host.skills["hangstatus"].release.set()
    assistant.stop()


def test_status_shows_what_each_skill_says_it_does_and_why_it_could_not(telling, caplog):
    """A status that raises or hangs neither breaks nor stalls `assistant status` (its client
    waits 5 s), nor counts as a failure of its skill, whose actions run as before."""
    caplog.set_level(logging.WARNING)
    answer = control.request_status(telling.socket)  # raises TimeoutError after 5 s
    parts = answer.removeprefix("OK ").split("\t")
    start = parts.index(
        "skills: crashstatus running | hangstatus running | recorder running | telling running"
    )
    assert parts[start + 1 : start + 9] == [
        "skill crashstatus: status failed: RuntimeError: no idea where the lamps are",
        f"skill hangstatus: status failed: no answer within {STATUS_SECONDS:g} s",
        "skill telling: 2 lamps on; 1 off",
        "skill telling: a line broken",
        "skill telling: lamp 0",
        "skill telling: lamp 1",
        "skill telling: lamp 2",
        "skill telling: and 3 more lines",
    ]
    assert parts[start + 9].startswith("source: ")
    crashed = [r for r in caplog.records if "crashstatus: status failed" in r.getMessage()]
    assert len(crashed) == 1 and crashed[0].exc_info  # the traceback, for the plugin's author
    # the hung status is abandoned after skill_timeout, and the skill takes actions again
    assert wait_until(lambda: "abandoned status returned" in caplog.text, timeout=10)
    assert control.send_command("off", telling.socket) == "OK fine"
    assert control.send_command("on", telling.socket) == "OK fine"
    again = control.request_status(telling.socket)
    assert "skill crashstatus: status failed: RuntimeError: " in again
    assert len([r for r in caplog.records if "crashstatus: status failed" in r.getMessage()]) == 1
    assert telling.host.failures == {}
    assert "\tskills: crashstatus running, has focus | hangstatus running | recorder " in again


def test_status_says_which_call_keeps_a_skill_from_telling(telling):
    """A skill busy with an action tells its status once the action returns: meanwhile
    `assistant status` says what it is busy with."""
    skill = telling.host.skills["telling"]
    telling.run_sent_command(CommandEvent("go", 1.0))
    assert skill.busy_now.wait(5)
    answer = control.request_status(telling.socket)
    assert "\tskill telling: status failed: busy with action busy\t" in answer
    skill.release.set()
    assert wait_until(lambda: "skill telling: lamp 0" in telling.status())


def test_an_action_with_nothing_to_act_on_is_said_but_is_no_failure_of_its_skill(assistant, caplog):
    """ "stop" with no timer running: the answer is said, `assistant send` gets ERR and the
    actions after it are not run, but the log has no error and `status` counts no failure."""
    mapped = "commands:\n  up: [trouble.nothing, recorder.dim]"
    assistant.config_file.write_text(textwrap.dedent(CONFIG).replace("commands:", mapped))
    assert assistant.reload(assistant.config_file).done
    with caplog.at_level(logging.INFO):
        nothing, dim = assistant.run_sent_command(CommandEvent("up", 1.0))
        wait([nothing, dim], timeout=5)
    assert str(nothing.exception()) == "No lamp is on"
    assert dim.cancelled()
    assert wait_until(lambda: assistant.replies == ["No lamp is on"])
    assert "skill trouble: action nothing: No lamp is on" in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert "skills: recorder running | trouble running\t" in assistant.status()


def test_stop_sums_up_the_warnings_suppressed_in_a_minute_not_over_yet(tmp_path, caplog):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG) + "device: {max_line_errors: 1}\n")
    assistant = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path, print)
    assistant.start()
    assistant.open_default_sources()
    assert assistant.sources[0].session.greeted.wait(5)
    for _ in range(3):
        assistant.virtual_board.write_raw(b"GARBAGE\n")
    assert wait_until(lambda: assistant.stats.malformed == 3)
    with caplog.at_level(logging.INFO, logger="assistant"):
        assistant.stop()
    skipped = [line for line in caplog.messages if "malformed" in line and "link at" not in line]
    assert skipped[0].startswith("skipped a malformed line (unknown_type")
    assert re.fullmatch(
        r"2 more malformed-line warning\(s\) suppressed in the last \d+ s", skipped[1]
    )


def test_a_sender_that_leaves_before_the_answer_ends_quietly(assistant, tmp_path, capfd, caplog):
    caplog.set_level(logging.INFO, logger="assistant.control")
    gone = threading.Event()

    def after_the_sender_left(event):
        assert gone.wait(5)
        return assistant.dispatcher.handle(event)

    server = control.ControlServer(tmp_path / "c.sock", after_the_sender_left, "desk")
    server.start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(tmp_path / "c.sock"))
            client.sendall(b"COMMAND on\n")
        gone.set()
        left = "the sender of 'COMMAND on' left before the answer: OK did bright 7"
        assert wait_until(lambda: left in caplog.text)
        assert control.send_command("off", tmp_path / "c.sock") == "OK done"
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err


def test_a_second_assistant_does_not_take_over_a_live_control_socket(assistant, tmp_path):
    path = tmp_path / "c.sock"
    server = control.ControlServer(path, assistant.dispatcher.handle, "desk")
    server.start()
    try:
        with pytest.raises(control.AlreadyRunning, match="another assistant is running"):
            control.ControlServer(path, assistant.dispatcher.handle, "desk")
        assert control.send_command("on", path) == "OK did bright 7"
    finally:
        server.stop()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # a socket file nobody listens on: left by a crash
    stale.close()
    fresh = control.ControlServer(path, assistant.dispatcher.handle, "desk")
    fresh.start()
    assert control.send_command("off", path) == "OK done"
    fresh.stop()


@pytest.mark.parametrize(
    ("board", "microphones", "port", "chosen"),
    [
        ("/dev/ttyACM0", ["USB mic"], "auto", "serial"),
        (None, ["USB mic"], "auto", "microphone"),
        (None, ["default"], "auto", "emulator"),  # not the microphone the config names
        (None, [], "/dev/ttyUSB3", "serial"),  # a named port: wait for the board there
        (None, [], "auto", "emulator"),
    ],
)
def test_auto_prefers_a_board_then_the_configured_microphone_then_the_virtual_board(
    tmp_path, monkeypatch, board, microphones, port, chosen
):
    # The board and the microphone are hardware this machine does not have.
    monkeypatch.setattr(
        "assistant.source_follower.microphone_problem",
        lambda d: None if d in microphones else "not found",
    )
    path = tmp_path / "config.yaml"
    path.write_text(f"source: auto\ndevice: {{port: {port}}}\nmicrophone: {{device: USB mic}}\n")
    config = load_config(path, INSTALLED)
    assistant = Assistant(config, INSTALLED, tmp_path, print, find=lambda: board)
    try:
        assert assistant.follower.source_to_open() == chosen
    finally:
        assistant.host.stop()


def _auto(folder: Path, microphone: str) -> tuple[Assistant, VirtualBoard]:
    """An assistant with `source: auto` and the `microphone` device in `folder`, and a board it
    finds by its USB id once plugged in (folder/ttyACM0)."""
    path = folder / "config.yaml"
    config = CONFIG.replace("source: emulator", "source: auto")
    path.write_text(textwrap.dedent(config) + f"microphone: {{device: {microphone}}}\n")
    link = folder / "ttyACM0"
    assistant = Assistant(
        load_config(path, INSTALLED), INSTALLED, folder, print, find=nano_while_linked(link)
    )
    return assistant, VirtualBoard(link=link, heartbeat_ms=200)


def _heard(assistant: Assistant, kind: str) -> Callable[[], bool]:
    """Whether, when called, the source `kind` is open and has had its HELLO."""
    return lambda: any(r.kind == kind and r.session.greeted.is_set() for r in assistant.sources)


def test_auto_switches_to_a_board_plugged_in_later_and_back_when_it_is_unplugged(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr("assistant.source_follower.BOARD_GONE_SECONDS", 0.5)
    assistant, board = _auto(tmp_path, "no such microphone")

    def recorder_calls():
        return assistant.host.skills["recorder"].calls

    caplog.set_level(logging.INFO, logger="assistant")
    link = tmp_path / "ttyACM0"
    try:
        assistant.start()
        assistant.open_default_sources()
        fallback = assistant.virtual_board
        assert [running.kind for running in assistant.sources] == ["emulator"]
        assert fallback.host_connected.wait(5)
        assert "using the virtual board until a board or a microphone is plugged in" in caplog.text
        assert "pseudo-terminal's own name" not in caplog.text  # its own pty, kept while it runs

        board.plug_in()
        assert wait_until(_heard(assistant, "serial")), "the board plugged in later was not opened"
        assert [running.kind for running in assistant.sources] == ["serial"]
        assert not fallback.host_connected.is_set() and not Path(fallback.path).exists()
        assert f"board found on {link}: using it instead of the virtual board" in caplog.text
        board.detect("on")
        assert wait_until(lambda: recorder_calls() == [("bright", "on", 7)])
        assert "board: 'on' (0.95)" in caplog.text

        # the link first, as a real board's device node goes with it: else the link may reopen
        # the old pty's name, which another program's new pty may have had meanwhile
        link.unlink()
        board.unplug()
        assert wait_until(_heard(assistant, "emulator"), timeout=10), "no fallback once unplugged"
        assert "s: listening with the virtual board until one is plugged in" in caplog.text
        fallback.detect("off")
        assert wait_until(lambda: recorder_calls()[1:] == [("dim", "off")])
        assert "virtual board: 'off' (0.95)" in caplog.text
    finally:
        assistant.stop()
        board.close()


@pytest.fixture
def quick_looks(monkeypatch, caplog):
    """`auto` looks for a board every 0.1 s and for the microphone every 0.3 s; INFO lines of
    the assistant are captured."""
    monkeypatch.setattr("assistant.source_follower.BOARD_LOOK_SECONDS", 0.1)
    monkeypatch.setattr("assistant.source_follower.MICROPHONE_LOOK_SECONDS", 0.3)
    caplog.set_level(logging.INFO, logger="assistant")


def test_auto_switching_again_and_again_leaves_no_descriptor_or_thread_behind(
    tmp_path, quick_looks, monkeypatch
):
    """A board plugged in and out for months under `source: auto`: each switch closes the
    source it leaves (the virtual board's pty and thread, the board's port)."""
    monkeypatch.setattr("assistant.source_follower.BOARD_GONE_SECONDS", 0.2)
    assistant, board = _auto(tmp_path, "no such microphone")
    try:
        assistant.start()
        assistant.open_default_sources()
        assert wait_until(_heard(assistant, "emulator"))
        descriptors, threads = len(os.listdir("/proc/self/fd")), threading.active_count()
        for _ in range(5):
            board.plug_in()
            assert wait_until(_heard(assistant, "serial"))
            board.remove_link()
            board.unplug()
            assert wait_until(_heard(assistant, "emulator"))
        assert len(os.listdir("/proc/self/fd")) == descriptors
        assert threading.active_count() == threads
    finally:
        assistant.stop()
        board.close()


def test_auto_switches_from_the_virtual_board_to_a_microphone_plugged_in_later_then_to_a_board(
    alsa_home, quick_looks, caplog
):
    assistant, board = _auto(alsa_home, DEVICE)
    try:
        assistant.start()
        assistant.open_default_sources()
        fallback = assistant.virtual_board
        assert fallback.host_connected.wait(5)

        plug_in(alsa_home, np.zeros(SAMPLE_RATE, np.int16))
        assert wait_until(_heard(assistant, "microphone"), timeout=10), "no microphone opened"
        assert [running.kind for running in assistant.sources] == ["microphone"]
        assert not fallback.host_connected.is_set()
        found = f"microphone '{DEVICE}' found: using it instead of the virtual board until a board"
        assert found in caplog.text
        assert f"source: microphone (device '{DEVICE}': listening since" in assistant.status()

        board.plug_in()
        assert wait_until(_heard(assistant, "serial")), "the board plugged in later was not opened"
        assert [running.kind for running in assistant.sources] == ["serial"]
        assert f"board found on {board.link}: using it instead of the microphone" in caplog.text
    finally:
        assistant.stop()
        board.close()


def test_auto_says_why_it_cannot_use_the_microphone_once_and_again_when_the_reason_changes(
    alsa_home, quick_looks, monkeypatch, caplog
):
    looks: list[str | None] = []

    def look(device: str) -> str | None:  # the real look, counted
        looks.append(microphone_problem(device))
        return looks[-1]

    monkeypatch.setattr("assistant.source_follower.microphone_problem", look)
    assistant, board = _auto(alsa_home, DEVICE)
    try:
        assistant.start()
        assistant.open_default_sources()
        assert wait_until(lambda: len(looks) >= 3), "auto did not look for the microphone"
        plug_in(alsa_home, np.zeros(SAMPLE_RATE, np.int16), ("deskmic_left", "deskmic_right"))
        assert wait_until(lambda: "is ambiguous" in str(looks[-1]), timeout=10)
        seen = len(looks)
        assert wait_until(lambda: len(looks) >= seen + 3)
        assert [running.kind for running in assistant.sources] == ["emulator"]
    finally:
        assistant.stop()
        board.close()
    said = [r.getMessage() for r in caplog.records if "cannot use the microphone" in r.getMessage()]
    assert len(said) == 2, said  # not at every look
    assert said[0].startswith("`source: auto` cannot use the microphone (looking again every 0.3")
    assert f"microphone '{DEVICE}' not found" in said[0]
    assert "assistant devices` and set microphone.device in config.yaml" in said[0]
    assert f"microphone '{DEVICE}' is ambiguous: it matches" in said[1]
    assert "] deskmic_left, ALSA" in said[1] and "] deskmic_right, ALSA" in said[1]


def test_a_reload_that_cannot_load_never_stops_the_daemon(assistant, caplog):
    last = textwrap.dedent(CONFIG).count("\n") + 1  # the line of the mistake
    for mistake in ("cooldown: one\n", "min_score: 1.5\n", "role: hubb\n"):
        assistant.config_file.write_text(textwrap.dedent(CONFIG) + mistake)
        assert not assistant.reload(assistant.config_file).done
    assert f"config.yaml:{last}: the top level: role is 'hubb'" in caplog.text
    assistant.config_file.write_bytes(textwrap.dedent(CONFIG).encode() + b"site: Caf\xe9\n")
    assert not assistant.reload(assistant.config_file).done
    assert f"config.yaml:{last}: the file is not UTF-8 text" in caplog.text
    assert "Traceback" not in caplog.text
    assistant.installed = {**INSTALLED, "badschema": BadSchemaSkill}
    assistant.config_file.write_text("commands:\n  off: badschema.dim\n")
    assert not assistant.reload(assistant.config_file).done
    assert "configuration not reloaded: loading" in caplog.text
    assert "Traceback" in caplog.text  # an unexpected failure: a bug to report
    assistant.virtual_board.detect("off")
    assert wait_until(lambda: assistant.host.skills["recorder"].calls == [("dim", "off")])


ACKNOWLEDGED = """
source: emulator
emulator: {heartbeat_ms: 200}
site: desk
commands:
  off: recorder.dim
  on: {action: recorder.bright, with: {level: 7}}
  up: {do: recorder.dim, min_score: 0.95}
skills:
  recorder: {prefix: did}
speech: {acknowledge: %s}
"""


def acknowledging(tmp_path: Path, acknowledge: str) -> Assistant:
    """The runtime of ACKNOWLEDGED with a real speaker, its virtual board greeted."""
    path = tmp_path / "config.yaml"
    path.write_text(ACKNOWLEDGED % acknowledge)
    running = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path)
    running.start()
    running.open_default_sources()
    assert running.sources[0].session.greeted.wait(5)
    return running


def is_acknowledgement(wav: Path) -> bool:
    """The acknowledgement's one short note, not a reply said by espeak-ng."""
    samples, rate = read_wav(wav)
    return samples.size / rate == pytest.approx(
        len(ACKNOWLEDGE_NOTES) * NOTE_SECONDS, abs=0.01
    ) and (peak_frequency(samples, rate) == pytest.approx(ACKNOWLEDGE_NOTES[0], rel=0.05))


@pytest.mark.parametrize("acknowledge", ["tone", "none"])
def test_a_command_taken_is_acknowledged_with_a_tone_and_one_ignored_is_not(
    tmp_path, audio_output, caplog, acknowledge
):
    """`speech.acknowledge: tone` plays the tone for each command a source here heard and the
    dispatcher took, before the skill's reply; not for one ignored (min_score, cooldown), nor
    for `assistant send`. `none`, the default, plays nothing."""
    caplog.set_level(logging.INFO)
    running = acknowledging(tmp_path, acknowledge)
    recorder = running.host.skills["recorder"]
    hang = tmp_path / "hang"
    try:
        running.virtual_board.detect("off", 0.9)  # taken; the skill says nothing
        assert wait_until(lambda: recorder.calls == [("dim", "off")])
        running.virtual_board.detect("off", 0.9)
        assert wait_until(lambda: "ignored 'off': repeated within its 1 s cooldown" in caplog.text)
        running.virtual_board.detect("up", 0.9)
        assert wait_until(lambda: "ignored 'up': score 0.90 is below its min_score" in caplog.text)
        assert running.run_sent_command(CommandEvent("up", 1.0, "control socket", "desk"))
        assert wait_until(lambda: len(recorder.calls) == 2)
        assert running.speaker.wait_idle(30)
        running.reply("Stop")
        assert running.speaker.wait_idle(30)
        running.virtual_board.detect("on", 0.9)  # taken, and the skill answers
        assert wait_until(lambda: "did bright 7" in caplog.text)
        assert running.speaker.wait_idle(30)
    finally:
        hang.unlink(missing_ok=True)  # pyttsx3 keeps one engine: the next test's too
        running.stop()
    tones = [is_acknowledgement(wav) for wav in played_files(audio_output)]
    if acknowledge == "tone":  # off; the reply "Stop"; on, then its reply
        assert tones == [True, False, True, False]
    else:
        assert tones == [False, False]
    assert len(recorder.calls) == 3


def test_the_acknowledgement_is_not_taken_for_the_assistants_own_voice(
    tmp_path, audio_output, caplog
):
    """A command said while the tone plays is obeyed: the tone is no word the spotter could
    report (see test_speech), so the own-voice guard does not count it."""
    caplog.set_level(logging.INFO)
    running = acknowledging(tmp_path, "tone")
    recorder = running.host.skills["recorder"]
    hang = tmp_path / "hang"
    try:
        hang.touch()  # the stand-in card holds the tone playing
        running.virtual_board.detect("off", 0.9)
        assert wait_until(lambda: played_files(audio_output))
        running.virtual_board.detect("on", 0.9)
        assert wait_until(lambda: recorder.calls == [("dim", "off"), ("bright", "on", 7)])
        assert "heard while a reply was being said" not in caplog.text
    finally:
        hang.unlink(missing_ok=True)
        running.stop()


def test_the_virtual_board_detects_what_the_microphone_model_reports(tmp_path):
    """With the thresholds a board built with that model reports: its card's (0.8 for a
    command it leaves out), which the configuration's overrides do not change."""
    model = custom_model(tmp_path, ("silence", "yes", "no"), thresholds={"yes": 0.7})
    path = tmp_path / "config.yaml"
    path.write_text(
        f"source: emulator\nmicrophone: {{model: {model}, thresholds: {{no: 0.9}}}}\n"
        "commands: {yes: recorder.dim}\n"
    )
    assistant = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path, print)
    try:
        assistant.open_default_sources()
        assert assistant.virtual_board.labels == ("yes", "no")
        assert assistant.virtual_board.thresholds == {"yes": 0.7, "no": 0.8}
    finally:
        assistant.stop()
    committed = VirtualBoard()
    assert committed.labels == ("on", "off", "up", "down", "go", "stop")
    assert committed.thresholds == load_contract(DEFAULT_MODEL).thresholds


def test_typed_and_sent_commands_are_never_taken_for_its_own_voice(tmp_path, audio_output, caplog):
    """The virtual board's commands are typed or scripted (its model is `emulated`), and
    `assistant send` is not heard: while "Stop" is said, both run, and nothing says that
    replies cannot be analysed for the virtual board."""
    caplog.set_level(logging.INFO)
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG) + "speech: {ignore_own_voice: true}\n")
    running = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path)
    running.start()
    running.open_default_sources()
    hang = tmp_path / "hang"
    try:
        assert running.sources[0].session.greeted.wait(5)
        recorder = running.host.skills["recorder"]
        hang.touch()  # the stand-in sound card holds the reply: it is being said
        running.reply("Stop")
        assert wait_until(lambda: played_files(audio_output))
        running.virtual_board.detect("off")
        assert wait_until(lambda: recorder.calls == [("dim", "off")])
        assert running.run_sent_command(CommandEvent("on", 1.0, "control socket", "desk"))
        assert wait_until(lambda: ("bright", "on", 7) in recorder.calls)
        assert running.speaker.speaking_lately()
    finally:
        hang.unlink(missing_ok=True)  # pyttsx3 keeps one engine: the next test's too
        running.stop()
    assert "heard while a reply was being said" not in caplog.text
    assert "which replies are analysed with" not in caplog.text


OWN_VOICE_CONFIG = """
source: serial
device: {{port: {port}}}
commands:
  stop: recorder.dim
  off: recorder.dim
skills:
  recorder: {{}}
"""


@contextlib.contextmanager
def _with_a_board(
    tmp_path: Path, model: str, more: str = ""
) -> Iterator[tuple[Assistant, VirtualBoard, Path]]:
    """A running assistant (with its speaker; `more` added to its configuration), the board it
    listens to, which greets with `model`, and `hang`: while that file is there, the stand-in
    sound card holds each reply, which is being said meanwhile."""
    board = VirtualBoard(model=model, heartbeat_ms=200, link=tmp_path / "ttyACM0")
    board.plug_in()
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(OWN_VOICE_CONFIG).format(port=board.link) + more + "\n")
    running = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path)
    hang = tmp_path / "hang"
    try:
        running.start()
        running.open_default_sources()
        assert running.sources[0].session.greeted.wait(5)
        yield running, board, hang
    finally:
        hang.unlink(missing_ok=True)  # pyttsx3 keeps one engine: the next test's too
        running.stop()
        board.close()


def _saying(running: Assistant, hang: Path, text: str, audio_output: Path) -> None:
    """Return once `text` is being said, held there until `hang` is removed, and analysed for
    the own voice (until then, every command heard counts as the reply's)."""
    played = len(played_files(audio_output))
    hang.touch()
    running.reply(text)
    assert wait_until(lambda: len(played_files(audio_output)) > played)
    speaker = running.speaker  # "down", in none of the replies: heard once they are analysed
    off = not speaker.settings["ignore_own_voice"]
    assert off or wait_until(lambda: not speaker.may_be_own_voice("down", "board", COMMITTED_MODEL))


def test_only_the_commands_a_reply_could_be_heard_as_are_ignored_while_it_is_said(
    tmp_path, audio_output, caplog
):
    """A timer's ring says "Tea is done", which the committed model does not hear as any
    command: a "stop" said over it is the user's, and is obeyed. While "Stop" is said, a stop
    the board reports may be that reply, and is ignored; an "off" is not."""
    caplog.set_level(logging.INFO)
    with _with_a_board(tmp_path, COMMITTED_MODEL) as (running, board, hang):
        recorder = running.host.skills["recorder"]
        _saying(running, hang, "Tea is done", audio_output)
        board.detect("stop")
        assert wait_until(lambda: recorder.calls == [("dim", "stop")])
        hang.unlink()
        assert running.speaker.wait_idle(30)
        _saying(running, hang, "Stop", audio_output)
        board.detect("stop")
        ignored = "ignored 'stop' from the board: heard while a reply was being said"
        assert wait_until(lambda: ignored in caplog.text)
        board.detect("off")
        assert wait_until(lambda: recorder.calls == [("dim", "stop"), ("dim", "off")])
    assert "could not be analysed" not in caplog.text


def test_with_ignore_own_voice_off_what_a_board_hears_over_a_reply_runs(
    tmp_path, audio_output, caplog
):
    """`speech: {ignore_own_voice: false}`: a stop the board reports while "Stop" is said runs."""
    caplog.set_level(logging.INFO)
    off = "speech: {ignore_own_voice: false}"
    with _with_a_board(tmp_path, COMMITTED_MODEL, off) as (running, board, hang):
        _saying(running, hang, "Stop", audio_output)
        board.detect("stop")
        assert wait_until(lambda: running.host.skills["recorder"].calls == [("dim", "stop")])
        assert running.speaker.speaking_lately()
    assert "heard while a reply was being said" not in caplog.text


def test_a_board_with_another_model_has_every_command_ignored_while_a_reply_is_said(
    tmp_path, audio_output, caplog
):
    """The replies are analysed with the microphone's model: for a board that greets with
    another one, what a reply could be heard as is not known, so every command it reports
    while one is said is ignored, and the log says why, once."""
    caplog.set_level(logging.INFO)
    with _with_a_board(tmp_path, "0badc0de") as (running, board, hang):
        _saying(running, hang, "Tea is done", audio_output)
        board.detect("stop")
        assert wait_until(lambda: "ignored 'stop' from the board: heard while" in caplog.text)
        board.detect("off")
        assert wait_until(lambda: "ignored 'off' from the board: heard while" in caplog.text)
        hang.unlink()
        assert running.speaker.wait_idle(30)
        assert wait_until(lambda: not running.speaker.speaking_lately())
        board.detect("stop")
        assert wait_until(lambda: running.host.skills["recorder"].calls == [("dim", "stop")])
    why = (
        f"the board's model is 0badc0de, not {COMMITTED_MODEL} (microphone.model), which "
        "replies are analysed with: while a reply is said, every command it hears is ignored"
    )
    assert caplog.text.count(why) == 1
