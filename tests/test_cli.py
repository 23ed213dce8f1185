"""The `assistant` command as users run it, with the example plugin installed for real."""

import argparse
import contextlib
import fcntl
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import termios
import textwrap
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
from assistant_command import assistant, lines_until
from blocked_calls import a_thread_waits_for, waits_for_one
from held_event import AnnouncedWait
from test_config import custom_model
from waiting import read_for, wait_until
from wav import played_files, same_speech

from assistant import emulator_input, run_marker, service
from assistant.config import DEFAULT_CONFIG
from assistant.emulator import VirtualBoard
from assistant.version import version_text

REPO = Path(__file__).resolve().parent.parent
CONFIG = """
source: emulator
commands:
  on: {action: greeter.greet, with: {who: Ada}}
  off: greeter.goodbye
skills:
  greeter: {style: counted}
"""


@pytest.fixture
def env(plugin_path, tmp_path):
    return {
        **os.environ,
        "PYTHONPATH": str(plugin_path),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }


def test_skills_lists_the_installed_example_plugin_as_the_docs_show_it(env):
    result = assistant(env, "skills")
    docs = (REPO / "docs" / "writing-skills.md").read_text()
    sample = re.search(r"`assistant skills` then lists it.*?```\n(.*?)```", docs, re.S)
    assert sample and sample[1].startswith("greeter: Greets you and counts the greetings\n")
    assert sample[1] in result.stdout
    assert "  setting phrases (dict, default {}, values str): named phrases" in result.stdout


def test_the_version_is_one_line_however_narrow_the_terminal(env):
    """A version with a commit outgrows a narrow terminal; a bug report quotes it whole."""
    result = assistant({**env, "COLUMNS": "30"}, "--version")
    assert result.stdout == f"assistant {version_text()} (desk-kws-assistant)\n"


def test_a_reader_that_stops_early_gets_no_traceback(env):
    reader = subprocess.Popen(
        [sys.executable, "-m", "assistant", "skills"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    reader.stdout.read(10)  # like `| head -c 10`: read a little, then close
    reader.stdout.close()
    _, errors = reader.communicate(timeout=60)
    assert reader.returncode == 0
    assert b"Traceback" not in errors


def test_config_check_of_the_default_says_how_to_make_your_own_copy(env):
    """With no file of their own, users are told the command that makes one; once it has run,
    the check reads their copy, and says nothing of copying any more."""
    result = assistant(env, "config", "check")
    assert result.returncode == 0, result.stderr
    checked, how = result.stdout.splitlines()
    assert checked.startswith(f"{DEFAULT_CONFIG}: OK (6 commands")
    assert how.startswith("this is the default configuration; to change it, make your own copy")
    subprocess.run(how.split(": ", 1)[1], shell=True, check=True)
    user_config = Path(env["XDG_CONFIG_HOME"], "assistant", "config.yaml")
    assert user_config.read_text() == DEFAULT_CONFIG.read_text()
    result = assistant(env, "config", "check")
    assert result.stdout.splitlines() == [checked.replace(str(DEFAULT_CONFIG), str(user_config))]


def test_config_check_reports_problems_with_file_and_line(env, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(textwrap.dedent(CONFIG))
    assert assistant(env, "--config", str(good), "config", "check").returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent(CONFIG).replace("counted", "loud"))
    result = assistant(env, "--config", str(bad), "config", "check")
    assert result.returncode == 2
    assert f"{bad}:7: skills.greeter: style is 'loud'; valid: short, counted" in result.stderr


@pytest.mark.parametrize(
    ("words", "heading"),
    [
        (["devices"], ["The configuration has problems:"]),
        (["emulate"], ["The configuration has problems:"]),
        (["clips", "sort"], ["The configuration has problems:"]),  # given a near miss to sort
        (["rooms", "forget"], []),  # its problems are all it says, as `config check`'s
        (["config", "check"], []),
    ],
)
def test_a_command_tells_the_problems_of_its_configuration_and_exits_2(
    env, tmp_path, words, heading
):
    near_miss = tmp_path / "data" / "assistant" / "clips" / "_near_misses" / "go" / "d_nohash_0.wav"
    near_miss.parent.mkdir(parents=True)
    near_miss.touch()  # sorted only once the configuration has loaded
    broken = tmp_path / "broken.yaml"
    broken.write_text("commands:\n  up: nosuch.action\n")
    result = assistant(env, *words, "--config", str(broken))
    assert (result.returncode, result.stdout) == (service.CONFIG_ERROR_STATUS, "")
    *told, problem = result.stderr.splitlines()
    assert told == heading
    assert problem.startswith(f"{broken}:2: unknown skill 'nosuch'; installed skills: ")


def test_config_check_refuses_a_voice_the_speech_engine_lacks_unless_it_is_missing(env, tmp_path):
    """Where espeak-ng is not installed the voice cannot be checked: a warning, not a problem
    (the file may be right; the start says the engine is missing)."""
    path = tmp_path / "voice.yaml"
    path.write_text(textwrap.dedent(CONFIG) + "speech:\n  voice: en-uss\n")
    result = assistant(env, "config", "check", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"{path}:9: speech.voice: unknown voice 'en-uss'; did you mean 'en-us' (or 'en-us-nyc')? "
        "`espeak-ng --voices` lists the voices"
    )
    result = assistant({**env, "PATH": str(tmp_path)}, "config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: OK")
    assert f"{path}:9: warning: speech.voice: 'en-uss' could not be checked" in result.stderr
    path.write_text(textwrap.dedent(CONFIG) + "speech:\n  voice: en-us+f3\n")
    assert assistant(env, "config", "check", str(path)).returncode == 0


def test_config_check_says_which_thresholds_override_the_model_cards(env, tmp_path):
    """A choice users may make on purpose: a note, and the file is OK."""
    path = tmp_path / "override.yaml"
    path.write_text("microphone:\n  thresholds: {go: 0.9}\ncommands:\n  off: greeter.goodbye\n")
    result = assistant(env, "config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"{path}:2: note: microphone.thresholds overrides thresholds chosen for kws_int8.tflite "
        "on its card kws_int8.json: go 0.9 (card 0.78); remove a command from it to use its "
        f"card's\n{path}: OK (1 command, skills: greeter)\n"
    )


def test_config_check_takes_the_file_as_an_argument_or_config_after_the_subcommand(env, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(textwrap.dedent(CONFIG))
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent(CONFIG).replace("counted", "loud"))
    for args in (["check", str(good)], ["check", "--config", str(good)]):
        result = assistant(env, "config", *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{good}: OK (2 commands")
    one = tmp_path / "one.yaml"
    one.write_text("commands:\n  off: greeter.goodbye\n")
    result = assistant(env, "config", "check", str(one))
    assert result.stdout == f"{one}: OK (1 command, skills: greeter)\n", result.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("commands: {}\n")
    result = assistant(env, "config", "check", str(empty))
    assert result.stdout == f"{empty}: OK (0 commands, skills: none)\n", result.stderr
    satellite = tmp_path / "satellite.yaml"  # its commands and skills are warned about, unused
    satellite.write_text("role: satellite\nsite: attic\n" + one.read_text())
    result = assistant(env, "config", "check", str(satellite))
    assert result.stdout == (
        f"{satellite}: OK (satellite at site attic: commands and skills are the hub's)\n"
    ), result.stderr
    assert "`commands:` is not used on a satellite" in result.stderr
    assert assistant(env, "config", "check", str(bad)).returncode == 2
    assert assistant(env, "config", "check", "--config", str(bad)).returncode == 2
    printed = assistant(env, "service", "install", "--print", "--config", str(good))
    assert f"run --config {good}\n" in printed.stdout, printed.stderr


class _Window:
    """The terminal window a command runs in: the pty's other end, where its output arrives."""

    def __init__(self, fd: int):
        self.fd: int | None = fd

    def shown_once(self, text: bytes) -> bytes:
        """What the command has written, once it has written `text` (within 30 s)."""
        assert self.fd is not None
        shown = read_for(self.fd, 30, lambda data: text in data)
        assert text in shown, shown
        return shown

    def close(self) -> None:
        """The window closes: the kernel hangs up the command's terminal (SIGHUP)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@contextlib.contextmanager
def _in_terminal(
    env: dict, *args: str, nohup: bool = False
) -> Iterator[tuple[subprocess.Popen, _Window]]:
    """`assistant ARGS` in a terminal of its own (a pty: its controlling terminal, as in a
    terminal window), with SIGHUP ignored as `nohup` starts it; the process and its window,
    both ended after."""
    terminal, its_end = os.openpty()

    def in_its_session() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if nohup:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)

    window = _Window(terminal)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant", *args],
            env=env,
            stdin=its_end,
            stdout=its_end,
            stderr=its_end,
            start_new_session=True,
            preexec_fn=in_its_session,
        )
    finally:
        os.close(its_end)
    try:
        yield process, window
    finally:
        process.kill()
        process.wait()
        window.close()


@pytest.mark.parametrize("nohup", [False, True])
def test_closing_the_terminal_run_was_started_in_stops_it_unless_nohup(env, tmp_path, nohup):
    """The hangup of the terminal `assistant run` runs in ends it as Ctrl-C does, so it does not
    go on listening with nobody to see it; `kill -HUP` while the terminal is open reloads, and
    so does the hangup of one it was started from with `nohup`."""
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG))
    with _in_terminal(env, "--config", str(config), "run", nohup=nohup) as (daemon, window):
        window.shown_once(b"Type a command")
        daemon.send_signal(signal.SIGHUP)
        window.shown_once(b"configuration reloaded")
        config.write_text(textwrap.dedent(CONFIG).replace("Ada", "Grace"))
        window.close()
        if nohup:  # reloaded: it greets Grace
            assert wait_until(lambda: "Grace" in assistant(env, "send", "on").stdout, timeout=30)
            daemon.terminate()
        assert daemon.wait(15) == 0


@pytest.mark.parametrize("nohup", [False, True])
def test_closing_the_terminal_emulate_was_started_in_stops_it_unless_nohup(env, tmp_path, nohup):
    """As `run`: the hangup of its terminal ends `emulate` (and removes its link), but not when
    it was started with `nohup`: the board goes on answering its host until SIGTERM."""
    link = tmp_path / "ttyKWS"
    with _in_terminal(env, "emulate", "--link", str(link), nohup=nohup) as (board, window):
        window.shown_once(b"Type a command")
        window.close()
        if nohup:
            time.sleep(1)
            assert board.poll() is None
            host = os.open(link, os.O_RDWR | os.O_NOCTTY)
            try:
                tty.setraw(host)
                os.write(host, b"PING still-there\n")
                answer = read_for(host, 10, lambda data: b"id=still-there" in data)
                assert re.search(rb"^PONG seq=\d+ id=still-there$", answer, re.M), answer
            finally:
                os.close(host)
            board.terminate()
        assert board.wait(15) == 0
    assert not link.is_symlink()


def test_run_send_reload_and_terminate(env, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG))
    daemon = _background(env, "--config", str(config), "run", stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        answer = None
        while time.monotonic() < deadline:
            answer = assistant(env, "send", "on")
            if answer.returncode == 0:
                break
            time.sleep(0.2)
        assert answer.stdout.strip() == "OK Hello, Ada. That makes 1 greetings"
        status = assistant(env, "status")
        assert status.returncode == 0
        pid, version, since, configuration, reloaded, skills, told, source, counters = (
            status.stdout.splitlines()
        )
        assert (pid, version) == (f"pid: {daemon.pid}", f"version: {version_text()}")
        assert re.fullmatch(r"running since: \d\d:\d\d:\d\d", since)  # today: no date
        assert configuration == f"configuration: {config}"
        assert skills == "skills: greeter running, has focus"  # for focus_seconds after "on"
        assert told == "skill greeter: greetings so far: 1"  # the plugin's own status line
        assert reloaded == "last reload: none since the start"
        greeted = "(, firmware emulator-1, model emulated)?"  # once its HELLO has come
        assert re.fullmatch(rf"source: virtual board \(board on /dev/pts/\d+{greeted}\)", source)
        assert re.fullmatch(r"lines \d+, detections 0, malformed 0, .*, reconnects 0", counters)
        for typed in ("up", " STOP "):  # as typed in caps, the command is understood
            unmapped = assistant(env, "send", typed)
            assert unmapped.returncode == 1
            command = typed.strip().lower()
            assert unmapped.stderr.startswith(f"ERR {command!r} is not mapped to any action in")
        config.write_text(textwrap.dedent(CONFIG).replace("Ada", "Grace"))
        daemon.send_signal(signal.SIGHUP)
        answers = []  # before the reload: Ada greeted, or ignored within the cooldown

        def greets_grace() -> bool:
            answers.append(assistant(env, "send", "on").stdout.strip())
            return "Grace" in answers[-1]

        assert wait_until(greets_grace, timeout=30)
        greeted = 1 + sum("Hello" in answer for answer in answers)
        assert answers[-1] == f"OK Hello, Grace. That makes {greeted} greetings"
        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=15)
    finally:
        daemon.kill()
    assert daemon.returncode == 0
    started = f"assistant {version_text()} starting (pid {daemon.pid}, configuration {config})"
    assert output.splitlines()[0].endswith(f"INFO    assistant: {started}")
    assert "configuration reloaded" in output
    assert f"link at stop: {source}; lines " in output
    assert "virtual board on /dev/pts/" in output
    greetings = (tmp_path / "data" / "assistant" / "greeter" / "greetings.txt").read_text()
    assert greetings == str(greeted)


def _background(env: dict, *args: str, **options) -> subprocess.Popen:
    """`assistant ARGS`, in the background, its output piped as text unless `options` say
    otherwise."""
    options.setdefault("stdout", subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", *args], env=env, text=True, **options
    )


def _daemon(env: dict, *args: str, **options) -> subprocess.Popen:
    """`assistant run ARGS`, in the background, its log in its output unless `options` say
    otherwise."""
    options.setdefault("stderr", subprocess.STDOUT)
    return _background(env, "run", *args, **options)


def _daemon_on_config(env: dict, tmp_path: Path) -> tuple[Path, subprocess.Popen]:
    """A daemon on CONFIG written to tmp_path, started once its control socket is there."""
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG))
    daemon = _daemon(env, "--config", str(config))
    try:
        assert wait_until(Path(env["XDG_RUNTIME_DIR"], "assistant.sock").exists, timeout=30)
    except BaseException:
        daemon.kill()
        raise
    return config, daemon


def _stop(daemon: subprocess.Popen) -> str:
    """SIGTERM, then what it wrote; it must end cleanly."""
    daemon.send_signal(signal.SIGTERM)
    output, _ = daemon.communicate(timeout=15)
    assert daemon.returncode == 0, output
    return output


def test_status_gives_the_pid_to_signal_and_whether_the_reload_it_made_failed(env, tmp_path):
    config, daemon = _daemon_on_config(env, tmp_path)
    try:

        def status() -> dict[str, str]:
            lines = assistant(env, "status").stdout.splitlines()
            return dict(line.partition(": ")[::2] for line in lines)

        assert wait_until(lambda: "last reload" in status(), timeout=30)
        assert status()["pid"] == str(daemon.pid)
        config.write_text(textwrap.dedent(CONFIG).replace("greeter.goodbye", "greeter.gret"))
        os.kill(int(status()["pid"]), signal.SIGHUP)  # what README's `kill -HUP` does
        assert wait_until(lambda: status()["last reload"].startswith("FAILED at "), timeout=30)
        failed = status()
        assert re.fullmatch(
            rf"FAILED at \d\d:\d\d:\d\d \({re.escape(str(config))}\): the configuration "
            r"above still runs, 1 problem to fix before `assistant reload`:",
            failed["last reload"],
        )
        shown = assistant(env, "status").stdout.splitlines()
        problem = shown.index(  # as the problem says it, its "; " and all
            f"  {config}:5: skill 'greeter' has no action 'gret'; did you mean 'greet'? "
            "valid: goodbye, greet"
        )
        assert shown[problem - 1].startswith("last reload: FAILED")
        assert failed["configuration"] == str(config)
        config.write_text(textwrap.dedent(CONFIG))
        daemon.send_signal(signal.SIGHUP)
        assert wait_until(lambda: status()["last reload"].startswith("done at "), timeout=30)
        output = _stop(daemon)
    finally:
        daemon.kill()
    assert "skill 'greeter' has no action 'gret'" in output


def test_reload_waits_for_the_outcome_and_says_what_changed_or_what_to_fix(env, tmp_path):
    config, daemon = _daemon_on_config(env, tmp_path)
    try:
        same = assistant(env, "reload")
        assert (same.returncode, same.stdout) == (0, f"reloaded {config}: nothing changed\n")
        config.write_text(
            textwrap.dedent(CONFIG).replace("Ada", "Bob")
            + "cooldown: 2\nmicrophone: {max_delay: 4}\n"
        )
        changed = assistant(env, "reload")
        assert changed.returncode == 0, changed.stderr
        assert changed.stdout.splitlines() == [
            f"reloaded {config}: cooldown 1.0 -> 2.0; commands on changed",
            "only after a restart: microphone",
        ]
        assert "Bob" in assistant(env, "send", "on").stdout
        config.write_text(
            textwrap.dedent(CONFIG).replace("greeter.goodbye", "greeter.bye") + 'cooldown: "2"\n'
        )
        failed = assistant(env, "reload")
        assert (failed.returncode, failed.stdout) == (service.CONFIG_ERROR_STATUS, "")
        assert failed.stderr.splitlines() == [
            f"not reloaded: the configuration it had still runs; fix {config}, then "
            "`assistant reload` again:",
            f"{config}:5: skill 'greeter' has no action 'bye'; valid: goodbye, greet",
            f"{config}:8: the top level: cooldown must be a number, not '2': remove the quotes",
        ]
        time.sleep(2)  # the cooldown of 2 s the running configuration has
        assert "Bob" in assistant(env, "send", "on").stdout
        status = assistant(env, "status").stdout
        assert f"  {config}:8: the top level: cooldown must be a number" in status
    finally:
        _stop(daemon)


def test_reload_without_a_daemon_says_how_to_start_one(env):
    result = assistant(env, "reload")
    assert result.returncode == 1
    assert "no assistant is running" in result.stderr


def test_a_reload_without_config_takes_the_user_config_made_since_the_start(env):
    daemon = _daemon(env, "--source", "emulator")  # no user config yet: the repository's
    try:
        assert wait_until(Path(env["XDG_RUNTIME_DIR"], "assistant.sock").exists, timeout=30)
        user_config = Path(env["XDG_CONFIG_HOME"], "assistant", "config.yaml")
        user_config.parent.mkdir(parents=True)
        user_config.write_text(textwrap.dedent(CONFIG))
        assert assistant(env, "config", "check").stdout.startswith(f"{user_config}: OK")
        daemon.send_signal(signal.SIGHUP)
        answers = []
        assert wait_until(
            lambda: answers.append(assistant(env, "send", "on").stdout) or "Ada" in answers[-1],
            timeout=30,
        )
        output = _stop(daemon)
    finally:
        daemon.kill()
    assert f"the configuration file changes: {user_config}, no longer {DEFAULT_CONFIG}" in output
    assert f"configuration reloaded from {user_config}" in output


def test_one_assistant_per_data_directory_whatever_the_runtime_directory(env, tmp_path):
    config, first = _daemon_on_config(env, tmp_path)
    try:
        elsewhere = {**env, "XDG_RUNTIME_DIR": str(tmp_path / "other-run")}
        journal = tmp_path / "journal"
        with journal.open("w") as stream:  # stderr is the journal stream systemd would give
            stat = os.fstat(stream.fileno())
            under_journal = {**elsewhere, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
            second = _daemon(under_journal, "--config", str(config), stderr=stream)
            try:
                output, _ = second.communicate(timeout=30)
            finally:
                second.kill()
            assert second.returncode == service.ALREADY_RUNNING_STATUS, output
        lock = tmp_path / "data" / "assistant" / "assistant.lock"
        assert journal.read_text() == (
            f"<6>INFO assistant: assistant {version_text()} starting (pid {second.pid}, "
            f"configuration {config})\n"
            f"<3>ERROR assistant: another assistant is running on the same data directory "
            f"(pid {first.pid}, control socket {env['XDG_RUNTIME_DIR']}/assistant.sock; "
            f"lock {lock}); stop it first (`systemctl --user stop assistant`, or Ctrl-C where "
            "it runs)\n"
        )
        without_runtime_dir = {k: v for k, v in env.items() if k != "XDG_RUNTIME_DIR"}
        sent = assistant(without_runtime_dir, "send", "on")
        assert sent.stdout == "OK Hello, Ada. That makes 1 greetings\n", sent.stderr
        status = assistant(without_runtime_dir, "status")
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith(f"pid: {first.pid}\n"), status.stdout
        _stop(first)
    finally:
        first.kill()
    assert lock.read_text() == ""  # nothing recorded once it stopped: send looks in the default
    third = _daemon(elsewhere, "--config", str(config))
    try:
        assert wait_until(Path(elsewhere["XDG_RUNTIME_DIR"], "assistant.sock").exists, 30)
        _stop(third)
    finally:
        third.kill()


def test_a_start_after_a_kill_says_it_is_back_and_a_clean_stop_leaves_the_next_quiet(
    env, tmp_path, audio_output
):
    """A user who only listens is told the assistant is back after it was killed (or crashed)
    and started again, once it hears; a first start, a start after SIGTERM, and a second
    instance refused by the lock say nothing, and the refused one leaves the marker alone."""
    env = {**env, "PATH": f"{audio_output.parent / 'bin'}{os.pathsep}{env['PATH']}"}
    marker = tmp_path / "data" / "assistant" / run_marker.MARKER_NAME

    def quiet_start() -> subprocess.Popen:
        daemon = _daemon_on_config(env, tmp_path)[1]
        assert wait_until(lambda: "firmware" in assistant(env, "status").stdout, timeout=30)
        assert not wait_until(lambda: played_files(audio_output), timeout=3)
        return daemon

    first = quiet_start()
    try:
        assert marker.read_text() == f"{first.pid}\n"
        _stop(first)
    finally:
        first.kill()
    assert not marker.exists()
    after_sigterm = quiet_start()
    try:
        refused = _daemon(env, "--config", str(tmp_path / "config.yaml"))
        assert refused.wait(timeout=30) == service.ALREADY_RUNNING_STATUS
        assert marker.read_text() == f"{after_sigterm.pid}\n"
    finally:
        after_sigterm.kill()  # SIGKILL: no clean stop
    after_kill = _daemon_on_config(env, tmp_path)[1]
    try:
        assert wait_until(lambda: played_files(audio_output), timeout=30)
        assert not wait_until(lambda: len(played_files(audio_output)) > 1, timeout=3)
        output = _stop(after_kill)
    finally:
        after_kill.kill()
    assert "the previous run did not stop cleanly (it was killed or crashed)" in output
    assert f"reply: {run_marker.BACK}" in output
    [back] = played_files(audio_output)
    assert same_speech(back, run_marker.BACK, tmp_path)
    assert not marker.exists()


HANG_UP_WHILE_LOADING = """
import os, runpy, signal, sys
from importlib.abc import MetaPathFinder


class HangUpOnImport(MetaPathFinder):
    \"\"\"SIGHUP as the command's modules load, and as `run` starts to build the assistant.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name in ("assistant.cli", "assistant.daemon"):
            os.kill(os.getpid(), signal.SIGHUP)
        return None


sys.meta_path.insert(0, HangUpOnImport())
runpy.run_module("assistant", run_name="__main__")
"""


def _hang_up_while_loading(env: dict, *args: str) -> subprocess.Popen:
    """`assistant ARGS` that gets SIGHUP while it loads (see HANG_UP_WHILE_LOADING)."""
    return subprocess.Popen(
        [sys.executable, "-c", HANG_UP_WHILE_LOADING, *args],
        env={**env, "PYTHONPATH": f"{REPO}{os.pathsep}{env['PYTHONPATH']}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_sighup_while_the_daemon_starts_is_a_reload_once_it_runs(env, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG))
    daemon = _hang_up_while_loading(env, "--config", str(config), "run")
    try:
        lines = lines_until(daemon, lambda lines: "configuration reloaded" in lines[-1])
        output = _stop(daemon)
    finally:
        daemon.kill()
    assert f"configuration reloaded from {config}" in lines[-1]
    assert "configuration reloaded" not in output  # the two signals make one reload


def test_a_sighup_while_another_command_loads_ends_it(env):
    board = _hang_up_while_loading(env, "emulate")
    try:
        output, _ = board.communicate(timeout=30)
    finally:
        board.kill()
    assert board.returncode == -signal.SIGHUP, output


def test_a_runtime_folder_others_may_write_in_stops_run_with_a_status_not_restarted(env, tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    shared = Path(env["XDG_RUNTIME_DIR"])
    shared.mkdir()
    shared.chmod(0o777)
    result = assistant(env, "--config", str(tmp_path / "config.yaml"), "run")
    assert result.returncode == service.UNSAFE_RUNTIME_STATUS, result.stderr
    assert f"the runtime folder {shared} is not yours alone" in result.stderr


def test_send_without_a_daemon_says_how_to_start_one(env):
    result = assistant(env, "send", "on")
    assert result.returncode == 1
    assert "no assistant is running" in result.stderr and "assistant run" in result.stderr


def test_status_without_a_daemon_says_how_to_start_one(env):
    result = assistant(env, "status")
    assert result.returncode == 1
    assert "no assistant is running" in result.stderr and "assistant run" in result.stderr


@pytest.mark.parametrize(
    "command", [("skills",), ("status",), ("send", "go"), ("reload",)], ids=" ".join
)
@pytest.mark.parametrize("named", ["missing.yaml", "."], ids=["missing", "a-folder"])
def test_commands_that_do_not_load_the_config_say_that_the_one_given_cannot_be_read(
    env, tmp_path, command, named
):
    given = tmp_path / named
    result = assistant(env, *command, "--config", str(given))
    assert (result.returncode, result.stdout) == (service.CONFIG_ERROR_STATUS, "")
    why = "No such file or directory" if named != "." else "Is a directory"
    assert result.stderr.splitlines() == [
        "The configuration has problems:",
        f"{given.resolve()}:1: cannot read the file: {why}",
    ]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("speech: {timeout: 1.0e+20}\n", "speech: timeout"),
        ("device: {baudrate: " + "9" * 30 + "}\n", "device: baudrate"),
        ("microphone: {block_ms: " + "9" * 30 + "}\n", "microphone: block_ms"),
        ("microphone: {retry_seconds: 1.0e+20}\n", "microphone: retry_seconds"),
        ("mqtt: {keepalive: " + "9" * 30 + "}\n", "mqtt: keepalive"),
        ("skills: {timers: {default_seconds: 1.0e+20}}\n", "skills.timers: default_seconds"),
        ("skills: {timers: {ring_for: 1.0e+20}}\n", "skills.timers: ring_for"),
        ("skills: {timers: {missed_after: 1.0e+20}}\n", "skills.timers: missed_after"),
        (
            "commands: {go: {action: timers.start, with: {seconds: 1.0e+20}}}\n",
            "command 'go': seconds",
        ),
    ],
    ids=[
        "speech.timeout",
        "device.baudrate",
        "microphone.block_ms",
        "microphone.retry_seconds",
        "mqtt.keepalive",
        "timers.default_seconds",
        "timers.ring_for",
        "timers.missed_after",
        "timers.start-seconds",
    ],
)
def test_a_start_refuses_a_huge_number_that_ended_it_or_a_skill_with_a_traceback(
    env, tmp_path, text, named
):
    """Each of these passed the check, then overflowed at the stop (speech.timeout), in the
    board's or the microphone's thread, at the broker, or in the timers' scheduler."""
    config = tmp_path / "config.yaml"
    config.write_text("source: emulator\n" + text)
    result = assistant(env, "--config", str(config), "run", stdin=subprocess.DEVNULL)
    assert result.returncode == service.CONFIG_ERROR_STATUS, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{config}:2: " in result.stderr and f"{named} must be a number " in result.stderr


@contextlib.contextmanager
def earlier_daemon(tmp_path: Path, usage: bytes) -> Iterator[list[str]]:
    """A control socket served as an earlier version's daemon served it: one connection,
    whose request, whatever it is but `COMMAND <name>`, is answered with `usage`."""
    (tmp_path / "run").mkdir(mode=0o700, parents=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as earlier:
        earlier.bind(str(tmp_path / "run" / "assistant.sock"))
        earlier.listen(1)
        requests = []

        def answer() -> None:
            connection, _ = earlier.accept()
            with connection:
                requests.append(connection.makefile().readline())
                connection.sendall(usage + b"\n")

        answering = threading.Thread(target=answer)
        answering.start()
        yield requests
        answering.join()


def test_status_asked_of_an_earlier_versions_daemon_says_to_restart_it(env, tmp_path):
    """Upgraded while the service still runs the earlier code, whose control socket answered
    every request but `COMMAND <name>` with its usage line."""
    with earlier_daemon(tmp_path, b"ERR use: COMMAND <name>"):
        result = assistant(env, "status")
    assert result.returncode == 1
    assert result.stderr == (
        "the running assistant is of an earlier version, which has no status (ERR use: COMMAND "
        "<name>): restart it to run this one (`systemctl --user restart assistant` for the "
        "service, else Ctrl-C where it runs and `assistant run`)\n"
    )


def test_reload_asked_of_an_earlier_versions_daemon_says_how_to_reload_it(env, tmp_path):
    """The daemons before `assistant reload` answered RELOAD with their usage line; each
    reloads on SIGHUP, and those since the instance lock record their pid in it."""
    data = tmp_path / "data" / "assistant"
    data.mkdir(parents=True)
    (data / "assistant.lock").write_text(json.dumps({"pid": 4321, "socket": "gone"}))
    with earlier_daemon(tmp_path, b"ERR use: COMMAND <name>, or STATUS") as requests:
        result = assistant(env, "reload")
    assert requests == ["RELOAD\n"]
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "the running assistant is of an earlier version, which cannot be asked to reload (ERR "
        "use: COMMAND <name>, or STATUS): reload it with `systemctl --user reload assistant` "
        "for the service, else `kill -HUP 4321`, or restart it to run this version (`systemctl "
        "--user restart assistant` for the service, else Ctrl-C where it runs and `assistant "
        "run`)\n"
    )
    (data / "assistant.lock").write_text("")  # the earliest recorded nothing
    with earlier_daemon(tmp_path / "earliest", b"ERR use: COMMAND <name>"):
        env["XDG_RUNTIME_DIR"] = str(tmp_path / "earliest" / "run")
        result = assistant(env, "reload")
    assert result.returncode == 1
    assert "else `kill -HUP` its pid (`pgrep -af assistant`), or restart it" in result.stderr


def test_a_port_the_user_may_not_open_is_warned_about_once_with_the_fix(env, tmp_path):
    command = [sys.executable, "-m", "assistant", "--config", str(tmp_path / "config.yaml")]
    if os.geteuid() == 0:  # root opens any file: run the daemon without that privilege
        if not shutil.which("setpriv"):
            pytest.skip(
                "running as root, and setpriv (util-linux) is not here to drop root's "
                "CAP_DAC_OVERRIDE, so no file mode can deny the daemon"
            )
        command[:0] = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    (tmp_path / "config.yaml").write_text("log_level: DEBUG\n" + textwrap.dedent(CONFIG))
    master, slave = os.openpty()  # a board on a port whose mode lets nobody open it
    port = os.ttyname(slave)
    os.chmod(port, 0)
    attempt = f"cannot open {port}: "  # logged at DEBUG at each attempt

    def connected(lines: list[str]) -> bool:
        if attempt in lines[-1] and sum(attempt in line for line in lines) == 3:
            os.chmod(port, 0o600)  # after two retries, the user is in the dialout group
        return "board connected on" in lines[-1]

    daemon = subprocess.Popen(
        [*command, "run", "--port", port],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = lines_until(daemon, connected)
    finally:
        daemon.terminate()
        daemon.communicate(timeout=10)
        os.close(master)
        os.close(slave)
    warnings = [
        line
        for line in lines
        if " WARNING " in line and "assistant.link" in line and "own name" not in line  # a pty
    ]
    assert len(warnings) == 1
    assert f"cannot open the board on {port}: [Errno 13]" in warnings[0]
    assert 'add it to the dialout group (sudo usermod -aG dialout "$USER")' in warnings[0]
    assert f"{port} opened at last, after" in "".join(lines)


def test_send_takes_commands_of_any_model(env):
    result = assistant(env, "send", "lumos")  # not a default command: the daemon's config decides
    assert result.returncode == 1 and "no assistant is running" in result.stderr


def test_emulate_plays_a_script_on_a_stable_link(env, tmp_path):
    script = tmp_path / "script.txt"
    script.write_text(
        "# a short session\nup 0.9\nwait 0.1\nraw GARBAGE\njump\nwait\nstop 2\nwait x\n"
        "up high\nraw\nDown\n"
    )
    link = tmp_path / "ttyKWS"
    board = _background(
        env,
        "emulate",
        "--script",
        str(script),
        "--link",
        str(link),
        "--stay",
        stderr=subprocess.PIPE,
    )
    try:
        assert board.stdout.readline().startswith("virtual board on /dev/pts/")
        import serial

        connect = board.stdout.readline()
        assert connect == f"connect with: assistant run --source serial --port {link}\n"
        assert board.stdout.readline().startswith("waiting for a host on /dev/pts/")
        with serial.Serial(str(link), timeout=2) as port:
            port.write(b"INFO\n")  # the script starts once the host has sent a request
            lines = _lines_until(port, lambda line: "label=down" in line)
            port.write(b"PING t1\n")
            lines += _lines_until(port, lambda line: line.startswith("PONG "))
    finally:
        board.terminate()
        _, errors = board.communicate(timeout=10)
    played = [line for line in lines if not line.startswith(("HB ", "HELLO ", "INFO ", "PONG "))]
    assert re.fullmatch(r"DET seq=\d+ label=up score=0\.900 ms=\d+", played[0])
    assert played[1] == "GARBAGE"
    assert re.fullmatch(r"DET seq=\d+ label=down score=0\.950 ms=\d+", played[2])
    assert lines[-1].endswith("id=t1")
    assert f"{script}:5: skipped 'jump'" in errors
    assert f"{script}:6: skipped 'wait' (a number of seconds is missing)" in errors
    assert f"{script}:7: skipped 'stop 2' (a score is from 0 to 1, not 2)" in errors
    assert f"{script}:8: skipped 'wait x' ('x' is not a number of seconds)" in errors
    assert f"{script}:9: skipped 'up high' ('high' is not a score from 0 to 1)" in errors
    assert f"{script}:10: skipped 'raw' (`raw` needs the text to send)" in errors
    assert "Down" not in errors  # typed in any case, as `assistant send` takes it


def test_emulate_ends_cleanly_on_stop_signals_however_they_fall(env, tmp_path):
    """A stop signal may come at any moment of a busy script, and another may follow while the
    board is being unplugged (Ctrl-C pressed twice, a closed terminal's SIGHUP after SIGTERM):
    each run ends with status 0, no traceback and its link removed. Signals that raised an
    exception in whatever the board was doing left an unplugging cut short, a lock released
    twice, or a process that went on running."""
    config = tmp_path / "config.yaml"
    config.write_text("emulator:\n  heartbeat_ms: 10\n")
    script = tmp_path / "busy.txt"
    script.write_text("up\nraw HELLO THERE\nwait 0.0005\n" * 5000)
    links = [tmp_path / f"tty{number}" for number in range(8)]
    boards = [
        _background(
            env,
            *("--config", str(config), "emulate", "--script", str(script)),
            *("--link", str(link), "--stay"),
            stderr=subprocess.PIPE,
        )
        for link in links
    ]
    endings = []
    try:
        for board, link in zip(boards, links, strict=True):
            assert board.stdout.readline().startswith("virtual board on /dev/pts/")
            host = os.open(link, os.O_RDWR | os.O_NOCTTY)
            try:
                tty.setraw(host)
                os.write(host, b"INFO\n")  # the script starts
                assert b"DET " in read_for(host, 10, lambda data: b"DET " in data)
                time.sleep(random.uniform(0, 0.2))
                for ending in (signal.SIGTERM, signal.SIGINT) * 3:
                    board.send_signal(ending)
                    time.sleep(random.uniform(0, 0.003))
            finally:
                os.close(host)
        for board in boards:
            _, errors = board.communicate(timeout=30)  # a generous bound: ends at all
            endings.append((board.returncode, errors))
    finally:
        for board in boards:
            board.kill()
            board.communicate()
    for (status, errors), link in zip(endings, links, strict=True):
        assert (status, "Traceback" in errors) == (0, False), errors
        assert not link.is_symlink()


def _lines_until(port, done) -> list[str]:
    """The lines read from the serial `port` until one is `done` (all of them: it fails when
    the port's timeout passes without a line)."""
    lines: list[str] = []
    while not lines or not done(lines[-1]):
        line = port.readline().decode()
        assert line.endswith("\n"), f"no line in time after {lines}"
        lines.append(line.strip())
    return lines


def test_emulate_starts_its_script_once_the_host_listens_not_once_it_opens(tmp_path):
    """A host's opening of the port can flush what arrived before it ends (pyserial's open does,
    last), so a script started when the board sees the port open could lose its first line.
    Here the opening lasts until the script waits for the host's request (with the bug: until
    the script has sent its line), then flushes as pyserial does: the request the host sends
    next (HELLO, as the assistant does when its opening flushed the greeting) starts the script
    after the HELLO it gets back."""
    board = VirtualBoard(heartbeat_ms=0)
    board.host_listening = listening = AnnouncedWait()
    board.plug_in()
    given = argparse.Namespace(script=str(tmp_path / "script.txt"), wav=None, stay=False)
    feeding = threading.Thread(
        target=emulator_input.feed_board, args=(board, given, None, ["on"], 0), daemon=True
    )
    feeding.start()
    try:
        host = os.open(board.path, os.O_RDWR | os.O_NOCTTY)  # the board sees the port open
        try:  # locked as pyserial locks a port: no other program's link reads this pty's lines
            fcntl.flock(host, fcntl.LOCK_EX | fcntl.LOCK_NB)
            greeting = read_for(host, 5, until=lambda data: data.endswith(b"\n"))
            assert greeting.startswith(b"HELLO seq=0 "), greeting
            assert wait_until(lambda: listening.waiting.is_set() or board.sent_lines > 1)
            termios.tcflush(host, termios.TCIFLUSH)  # the end of the opening
            os.write(host, b"HELLO\n")
            heard = read_for(host, 5, until=lambda data: data.count(b"\n") >= 2)
        finally:
            os.close(host)
        feeding.join(10)
    finally:
        board.close()
    lines = heard.splitlines()
    assert len(lines) == 2, f"no script line after the HELLO: {heard!r}"
    assert lines[0].startswith(b"HELLO seq=0 ")
    assert re.fullmatch(rb"DET seq=1 label=on score=0\.950 ms=\d+", lines[1])


def test_emulate_sends_heartbeats_as_often_as_the_configuration_says(env, tmp_path):
    import serial

    config = tmp_path / "config.yaml"
    config.write_text("emulator:\n  heartbeat_ms: 50\n")
    link = tmp_path / "ttyKWS"
    emulate = ["emulate", "--link", str(link), "--stay"]
    board = _background(env, "--config", str(config), *emulate, stdin=subprocess.DEVNULL)
    try:
        board.stdout.readline()  # the board is on its port
        with serial.Serial(str(link), timeout=2) as port:
            lines = [port.readline().decode() for _ in range(6)]
    finally:
        board.terminate()
        board.communicate(timeout=10)
    board_ms = [int(line.split("ms=")[1]) for line in lines if line.startswith("HB ")]
    assert len(board_ms) >= 5, lines
    # the board's own times: about 50 ms apart, not the default 1000 ms; a bound halfway, as a
    # heartbeat sent late on a loaded machine makes one gap longer (and the next shorter)
    assert statistics.median(b - a for a, b in itertools.pairwise(board_ms)) < 500


@pytest.mark.parametrize(
    ("given", "wrong"),
    [
        ("-5", "a number from 10 to 60000, not -5"),
        ("99999999999999999999", "a number from 10 to 60000, not 1e+20"),
        ("1.5", "a whole number, not '1.5'"),
    ],
)
def test_emulate_refuses_a_heartbeat_the_configuration_would_refuse(env, tmp_path, given, wrong):
    """A heartbeat too long to wait for ended the board's thread with a traceback; a negative
    one, like 0, sent none."""
    link = tmp_path / "ttyKWS"
    result = assistant(env, "emulate", "--heartbeat-ms", given, "--link", str(link))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"assistant emulate: error: argument --heartbeat-ms: heartbeat_ms must be {wrong}; or 0 "
        "for no heartbeats"
    )
    assert not link.is_symlink()


def test_run_refuses_an_empty_port_rather_than_running_on_another_source(env):
    """`--port "$PORT"` with PORT unset ran on the virtual board, as if no --port was given."""
    result = assistant(env, "run", "--port", "", stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "assistant run: error: argument --port: a serial port's path, such as /dev/ttyACM0, not "
        "empty"
    )


def test_emulate_refuses_a_script_it_cannot_read_before_a_host_waits_for_it(env, tmp_path):
    link = tmp_path / "ttyKWS"
    missing = tmp_path / "commands.txt"
    result = assistant(env, "emulate", "--script", str(missing), "--link", str(link))
    assert result.returncode == 1
    assert result.stderr.startswith(f"cannot read the script {missing}: "), result.stderr
    assert "No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert not link.is_symlink()


@pytest.mark.parametrize("where", ["missing/ttyKWS", "a_folder"])
def test_emulate_refuses_a_link_it_cannot_make_without_a_traceback(env, tmp_path, where):
    """--link in a folder that does not exist, or where a folder has the name: said, with what
    to give instead, and nothing left behind."""
    (tmp_path / "a_folder").mkdir()
    link = tmp_path / where
    result = assistant(env, "emulate", "--link", str(link), stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    reason = "No such file or directory" if where.startswith("missing") else "Is a directory"
    assert result.stderr.splitlines()[-1] == (
        f"cannot make the link {link} to the virtual board: {reason}; give a path in a folder "
        "that exists, where no folder has that name"
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["a_folder"]
    assert not any((tmp_path / "a_folder").iterdir())


def test_a_link_half_made_by_an_emulator_that_did_not_get_further_is_made_anew(tmp_path):
    link = tmp_path / "ttyKWS"
    Path(f"{link}.new").symlink_to("/dev/pts/gone")  # killed between its two steps
    board = VirtualBoard(link=link)
    try:
        board.plug_in()
        assert os.readlink(link) == board.path
        assert [path.name for path in tmp_path.iterdir()] == ["ttyKWS"]
    finally:
        board.remove_link()
        board.close()


WITH_A_LIBRARY_THREAD = """
import runpy, sys, threading

library = threading.Thread(target=threading.Event().wait, daemon=True)
library.start()
print(library.native_id, file=sys.stderr, flush=True)
runpy.run_module("assistant", run_name="__main__")
"""


def _with_a_library_thread(env: dict, *args: str) -> tuple[subprocess.Popen, int]:
    """`assistant ARGS` with a thread that does not block signals (see WITH_A_LIBRARY_THREAD),
    its input at its end at once, its output and log piped; and that thread's id."""
    command = subprocess.Popen(
        [sys.executable, "-c", WITH_A_LIBRARY_THREAD, *args],
        env={**env, "PYTHONPATH": f"{REPO}{os.pathsep}{env['PYTHONPATH']}"},
        stdin=subprocess.DEVNULL,  # emulate then waits for Ctrl-C
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return command, int(command.stderr.readline())


def _ended(process: subprocess.Popen) -> bool:
    """Whether `process` has ended, leaving it to be reaped (its id is not reused meanwhile)."""
    ending = os.WNOHANG | os.WEXITED | os.WNOWAIT
    return os.waitid(os.P_PID, process.pid, ending) is not None


def test_run_stops_cleanly_on_stop_signals_to_any_thread_however_they_fall(env, tmp_path):
    """`assistant run` stopped by SIGTERM given to a library's thread (as numpy's OpenBLAS
    starts), then by SIGTERM and Ctrl-C sent until it has ended (Ctrl-C pressed again while it
    stops): status 0, no traceback, its run marker removed (the next start does not say it was
    killed). Handlers that set an Event could run inside that Event's own lock (a deadlock),
    and signals that came as Python finished were acted on by their default action."""
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG))
    marker = tmp_path / "data" / "assistant" / run_marker.MARKER_NAME
    daemon, library = _with_a_library_thread(env, "--config", str(config), "run")
    try:
        assert wait_until(Path(env["XDG_RUNTIME_DIR"], "assistant.sock").exists, timeout=30)
        assert wait_until(marker.exists, timeout=30)  # marked after the socket listens
        # the main thread waits on its pipe of signals (stop_signals)
        assert wait_until(lambda: waits_for_one(daemon.pid, daemon.pid, "pipe"), timeout=30)
        os.kill(library, signal.SIGTERM)
        deadline = time.monotonic() + 30  # a generous bound: it ends at all
        while not _ended(daemon) and time.monotonic() < deadline:
            os.kill(daemon.pid, random.choice((signal.SIGTERM, signal.SIGINT)))
            time.sleep(random.uniform(0, 0.001))
        _, errors = daemon.communicate(timeout=5)
    finally:
        daemon.kill()
        daemon.communicate()
    assert (daemon.returncode, "Traceback" in errors) == (0, False), errors
    assert not marker.exists()


@pytest.mark.parametrize(
    ("ending", "to_thread"),
    [(signal.SIGTERM, False), (signal.SIGHUP, False), (signal.SIGTERM, True)],
)
def test_emulate_ended_by_a_signal_removes_its_link(env, tmp_path, ending, to_thread):
    """A link left behind would name a pty that the system gives to another program next, and a
    daemon would open that terminal as the board. The kernel gives a signal sent to the process
    to any of its threads that does not block it: a library's (numpy's OpenBLAS starts some),
    when the main thread has one pending already (`kill` given a thread's id delivers to it);
    Python runs the handler in the main thread only once that thread runs again, and emulate's,
    waiting for Ctrl-C, never did: it went on running."""
    link = tmp_path / "ttyKWS"
    board, library = _with_a_library_thread(env, "emulate", "--link", str(link))
    try:
        assert board.stdout.readline().startswith("virtual board on /dev/pts/")
        assert link.is_symlink()
        # the main thread waits on its pipe of signals (stop_signals)
        assert wait_until(lambda: waits_for_one(board.pid, board.pid, "pipe"), timeout=30)
        os.kill(library if to_thread else board.pid, ending)
        assert board.wait(10) == 0
    finally:
        board.kill()
        board.communicate()
    assert not link.is_symlink()


def test_emulate_in_a_terminal_that_is_closed_removes_its_link(env, tmp_path):
    """docs/commands.md: the link goes when emulate's terminal is closed. The kernel then fails
    the read of the typed commands (EIO) and sends SIGHUP, in either order: the failed read ends
    the input (as Ctrl-D), not the board, and the signal removes the link."""
    link = tmp_path / "ttyKWS"
    terminal, typing_end = os.openpty()
    board = _background(env, "emulate", "--link", str(link), stdin=typing_end)
    os.close(typing_end)
    try:
        lines_until(board, lambda lines: "Type a command" in lines[-1])
        assert wait_until(lambda: a_thread_waits_for(board.pid, 0), timeout=30)  # a typed line
        os.close(terminal)  # the terminal window is closed: the read fails
        assert wait_until(lambda: not a_thread_waits_for(board.pid, 0), timeout=30)  # it failed
        time.sleep(1)  # room for the end of the board, which must not follow
        assert board.poll() is None, board.communicate()
        assert link.is_symlink()
        board.send_signal(signal.SIGHUP)  # what the kernel sends the terminal's session
        assert board.wait(10) == 0
    finally:
        board.kill()
        board.communicate()
    assert not link.is_symlink()


def test_run_connects_to_emulate_with_the_command_it_prints(env, tmp_path):
    """The command names the board's link in the runtime folder, not its pty: the link goes
    with the board, so the daemon waits for it as for an unplugged board (the pty's name soon
    goes to another program's terminal) and finds the next virtual board there."""
    config = tmp_path / "config.yaml"
    config.write_text("speech: off\n" + textwrap.dedent(CONFIG))
    link = Path(env["XDG_RUNTIME_DIR"]) / "assistant-virtual-board"
    boards = []
    daemon = None
    try:
        boards.append(_emulate_script(env, tmp_path, "on"))
        boards[0].stdout.readline()
        connect = boards[0].stdout.readline().strip()
        assert connect == f"connect with: assistant run --source serial --port {link}"
        assert os.readlink(link).startswith("/dev/pts/")
        command = connect.removeprefix("connect with: assistant ").split()
        daemon = _background(env, "--config", str(config), *command, stderr=subprocess.STDOUT)
        lines = lines_until(daemon, lambda lines: "reply: Hello, Ada" in lines[-1])
        boards[0].terminate()  # as Ctrl-C or a closed terminal: the link goes first
        assert boards[0].wait(10) == 0
        assert not link.is_symlink()
        lines += lines_until(daemon, lambda lines: "is gone" in lines[-1])
        assert f"board on {link} is gone" in lines[-1]
        boards.append(_emulate_script(env, tmp_path, "off"))
        lines += lines_until(daemon, lambda lines: "reply: " in lines[-1])
    finally:
        if daemon:
            daemon.terminate()
            daemon.communicate(timeout=10)
        for board in boards:
            board.terminate()
            board.communicate(timeout=10)
    assert f"board back on {link}" in "".join(lines)
    assert "reply: Goodbye" in lines[-1]


def _emulate_script(env: dict, tmp_path: Path, script: str) -> subprocess.Popen:
    """`assistant emulate --script` of the lines `script`, staying on once they are sent."""
    path = tmp_path / f"{script}.txt"
    path.write_text(script + "\n")
    return _background(env, "emulate", "--script", str(path), "--stay")


def test_the_readme_first_run_types_go_and_stop_on_the_virtual_board(env):
    """README, "Set up": `assistant run` on the default config.yaml with no board and no
    microphone opens the virtual board (that `auto` falls back to it is
    tests/test_daemon.py's); `go` and Enter typed in that terminal start the five-minute timer,
    `stop` cancels it and Ctrl-C quits."""
    import serial

    terminal, keyboard_end = os.openpty()  # the user's terminal: stdin is a tty
    # Locked as a serial monitor locks a port (the lock goes with the daemon's stdin): the name
    # of this pty may have been a board's, and a link still reopening it (another test run's)
    # would take the typed lines and make the terminal raw.
    fcntl.flock(keyboard_end, fcntl.LOCK_EX | fcntl.LOCK_NB)
    keyboard = os.ttyname(keyboard_end)
    daemon = _daemon(env, "--source", "emulator", stdin=keyboard_end)
    os.close(keyboard_end)
    try:
        lines = lines_until(daemon, lambda lines: "Type a command" in lines[-1])
        assert "Type a command (on, off, up, down, go, stop) and press Enter" in lines[-1]
        with pytest.raises(serial.SerialException, match="Could not exclusively lock port"):
            serial.Serial(keyboard, exclusive=True)  # as a link of another program opens it
        os.write(terminal, b"go\n")
        lines += lines_until(daemon, lambda lines: "reply: " in lines[-1], timeout=15)
        status = assistant(env, "status").stdout  # says where a lost command went
        said = "".join(lines) + status
        assert lines[-1].rstrip().endswith("reply: Timer set for five minutes"), said
        os.write(terminal, b"stop\n")
        lines += lines_until(daemon, lambda lines: "reply: " in lines[-1])
        assert lines[-1].rstrip().endswith("reply: Timer cancelled")
        daemon.send_signal(signal.SIGINT)
        output, _ = daemon.communicate(timeout=15)
    finally:
        daemon.kill()
        os.close(terminal)
    assert daemon.returncode == 0, output
    assert f"configuration {DEFAULT_CONFIG})" in lines[0]
    assert "'go' (0.95) -> timers.start" in "".join(lines)


def test_emulate_replays_a_wav_exactly_as_the_board_pipeline_hears_it(env, tmp_path):
    pytest.importorskip("tflite_micro", reason="the desktop pipeline needs tflite-micro")
    import serial

    from assistant import protocol
    from assistant.listener import ListenerSettings
    from assistant.pipeline import messages_from_wav

    wav = _spoken_wav(tmp_path, "stop. go. turn the lights on")
    config = tmp_path / "config.yaml"  # the microphone section's settings, not the defaults
    microphone = {"thresholds": {"go": 0.3, "stop": 0.3}, "heartbeat_ms": 400}
    config.write_text(f"microphone: {json.dumps(microphone)}\n")
    settings = ListenerSettings.from_values(microphone)
    heard = messages_from_wav(
        wav, settings.model_path, settings.recognizer_settings(), settings.heartbeat_ms
    )
    expected = [protocol.encode(m) for m in heard]
    assert expected != [protocol.encode(m) for m in messages_from_wav(wav)]
    board = _background(
        env,
        "--config",
        str(config),
        "emulate",
        "--wav",
        str(wav),
        "--fast",
        "--stay",
        "--link",
        str(tmp_path / "tty"),
    )
    try:
        assert board.stdout.readline().startswith("virtual board on /dev/pts/")
        with serial.Serial(str(tmp_path / "tty"), timeout=2) as port:
            port.write(b"HELLO\n")  # the replay starts after the reply, seq 0 again
            received = _lines_until(port, lambda line: line == expected[-1])
            port.write(b"INFO\n")  # the board's heartbeats go on meanwhile (--stay)
            info = _lines_until(port, lambda line: line.startswith("INFO "))[-1]
    finally:
        board.terminate()
        board.communicate(timeout=10)
    greetings, replayed = received[: -len(expected)], received[-len(expected) :]
    assert replayed == expected
    assert set(greetings) <= {expected[0]}  # the HELLO of the opening, unless it flushed it
    # the thresholds the pipeline applied, not a board's defaults
    # (the model card's, those of the configuration overriding them)
    assert "thresholds=on:0.840,off:0.760,up:0.810,down:0.820,go:0.300,stop:0.300" in info
    assert expected[0].startswith("HELLO seq=0 proto=1") and len(expected) >= 4


def _spoken_wav(tmp_path: Path, words: str) -> Path:
    """`words` said by espeak-ng as a board hears them: 16 kHz, 16-bit mono, a second of silence
    before and after."""
    said, wav = tmp_path / "said.wav", tmp_path / "session.wav"
    subprocess.run(["espeak-ng", "-w", str(said), words], check=True)
    sox = ["sox", str(said), "-r", "16000", "-b", "16", "-c", "1", str(wav), "pad", "1", "1"]
    subprocess.run(sox, check=True)
    return wav


@pytest.mark.parametrize("stay", [True, False])
def test_emulate_goes_on_as_a_board_after_its_wav_only_with_stay(env, tmp_path, stay):
    """`emulate --wav FILE --fast --stay`: once the recording's lines are sent (its uptime then
    far ahead of the host's clock), the board goes on with heartbeats of its own, so a daemon
    connected to it does not find it silent, and runs a detection it sends later. Without
    --stay it sends nothing more and is done: a board kept plugged in then is silent."""
    pytest.importorskip("tflite_micro", reason="the desktop pipeline needs tflite-micro")
    from assistant.cli_config import load

    board_config = tmp_path / "board.yaml"
    board_config.write_text("emulator: {heartbeat_ms: 100}\n")
    wav = _spoken_wav(tmp_path, "go")
    given = argparse.Namespace(
        config=str(board_config), wav=str(wav), fast=True, stay=stay, heartbeat_ms=None
    )
    config = load(given)[2]
    link = tmp_path / "ttyKWS"
    heartbeat_ms = emulator_input.heartbeat_ms(given, config)
    board, messages = emulator_input.emulated_board(given, config, link, heartbeat_ms)
    feeding = threading.Thread(
        target=emulator_input.feed_board,
        args=(board, given, messages, None, heartbeat_ms),
        daemon=True,
    )
    daemon_config = tmp_path / "config.yaml"
    daemon_config.write_text(
        "speech: off\ndevice: {heartbeat_timeout: 0.5}\n" + textwrap.dedent(CONFIG)
    )
    board.plug_in()
    feeding.start()
    daemon = _daemon(env, "--config", str(daemon_config), "--source", "serial", "--port", str(link))
    lines: list[str] = []
    try:
        recorded = len(messages) + 2  # after the HELLO and the reply to the daemon's request
        if stay:  # fifteen heartbeats of its own: three times the heartbeat timeout
            assert wait_until(lambda: board.sent_lines >= recorded + 15, timeout=30)
            board.detect("on")
            lines += lines_until(daemon, lambda lines: "reply: " in lines[-1])
            assert feeding.is_alive()  # on until Ctrl-C
        else:
            feeding.join(30)
            assert not feeding.is_alive()
            lines += lines_until(daemon, lambda lines: "board is silent" in lines[-1])
    finally:
        daemon.terminate()
        lines += daemon.communicate(timeout=10)[0].splitlines(keepends=True)
        board.close()
    said = "".join(lines)
    assert ("board is silent" in said) is not stay, said
    assert ("reply: Hello, Ada" in said) is stay, said


def test_emulate_reports_the_thresholds_of_the_configured_models_card(env, tmp_path):
    """As a board built with that model (its thresholds header holds its card's): 0.8 for a
    command the card leaves out, and the configuration's overrides are the desktop's only."""
    import serial

    model = custom_model(tmp_path, ("silence", "yes", "no"), thresholds={"yes": 0.7})
    config = tmp_path / "config.yaml"
    config.write_text(f"microphone: {{model: {model}, thresholds: {{no: 0.9}}}}\n")
    link = tmp_path / "tty"
    board = _background(
        env, "--config", str(config), "emulate", "--link", str(link), stdin=subprocess.DEVNULL
    )
    try:
        assert board.stdout.readline().startswith("virtual board on /dev/pts/")
        with serial.Serial(str(link), timeout=5) as port:
            port.write(b"INFO\n")
            info = _lines_until(port, lambda line: line.startswith("INFO "))[-1]
    finally:
        board.terminate()
        board.communicate(timeout=10)
    assert info.endswith(" thresholds=yes:0.700,no:0.800"), info


CHECK_SOUNDDEVICE_AT_START = """
import sys
from assistant import cli, daemon

start = daemon.Assistant.start

def start_and_stop(self):
    print("sounddevice loaded when the skills start:", "sounddevice" in sys.modules, flush=True)
    self.stopping.set()
    start(self)

daemon.Assistant.start = start_and_stop
sys.exit(cli.main(sys.argv[1:]))
"""


def test_sounddevice_is_loaded_before_the_skills_log(env, tmp_path):
    """Loading sounddevice points fd 2 at /dev/null for a moment (PortAudio's start-up): it
    must happen before the skill threads log, or lines such as a missed timer are lost."""
    pytest.importorskip("sounddevice", reason="the [listen] extra is not installed")
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG).replace("source: emulator", "source: auto"))
    result = subprocess.run(
        [sys.executable, "-c", CHECK_SOUNDDEVICE_AT_START, "--config", str(config), "run"],
        env={**env, "PYTHONPATH": f"{REPO}{os.pathsep}{env['PYTHONPATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "sounddevice loaded when the skills start: True" in result.stdout, result.stderr
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "words",
    [
        ["run"],
        ["emulate"],
        ["devices"],
        ["skills"],
        ["config", "check"],
        ["send", "up"],
        ["status"],
        ["service", "install"],
        ["service", "status"],
        ["models", "download"],
        ["rooms", "forget"],
    ],
)
def test_every_command_takes_config_after_it(words):
    from assistant.cli import build_parser

    assert build_parser().parse_args([*words, "--config", "mine.yaml"]).config == "mine.yaml"


@pytest.mark.parametrize(
    ("words", "choices"),
    [
        (["config"], "{check}"),
        (["models"], "{download}"),
        (["rooms"], "{forget}"),
        (["service"], "{install,uninstall,status}"),
    ],
)
def test_a_missing_subcommand_is_named_by_its_choices(words, choices, capsys):
    from assistant.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(words)
    assert capsys.readouterr().err.endswith(f"the following arguments are required: {choices}\n")


def _stopped(pid: int) -> bool:
    """Every thread of process `pid` is stopped (state T in /proc)."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return all((task / "stat").read_text().rsplit(")", 1)[1].split()[0] == "T" for task in tasks)


def test_a_daemon_stopped_by_ctrl_z_drops_the_detections_it_reads_late(env, tmp_path):
    """`assistant run` stopped (SIGSTOP, as Ctrl-Z) while the board speaks: on `fg` it reads
    what waited in the port, and runs none of the detections older than device.max_delay."""
    board = VirtualBoard(link=tmp_path / "tty", heartbeat_ms=100)
    board.plug_in()
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent(CONFIG).replace("source: emulator", "source: serial")
        + f"device: {{port: {tmp_path / 'tty'}, max_delay: 1.0}}\n"
    )
    daemon = _daemon(env, "--config", str(config))

    def counters() -> str:
        return assistant(env, "status").stdout.splitlines()[-1]

    def lines_read() -> int:
        return int(re.search(r"\blines (\d+),", counters()).group(1))

    try:
        assert wait_until(lambda: "firmware emulator-1" in assistant(env, "status").stdout, 30)
        greeted = lines_read()
        assert wait_until(lambda: lines_read() >= greeted + 2, 15)  # heartbeats to judge by
        daemon.send_signal(signal.SIGSTOP)
        # A busy machine stops each thread only when it next runs: the reader could still read
        # a line written now.
        assert wait_until(lambda: _stopped(daemon.pid), 15)
        board.detect("on")
        time.sleep(2.5)
        daemon.send_signal(signal.SIGCONT)  # `fg`
        # Heartbeats that came before the HELLO (its opening flushed the board's greeting, so
        # the assistant asked for another) are stale too: count only those read late.
        assert wait_until(lambda: "read_late 1)" in counters(), 15), counters()
        board.detect("off")
        assert wait_until(lambda: "detections 1," in counters(), 15), counters()
        output = _stop(daemon)
    except AssertionError:
        daemon.kill()
        print(daemon.communicate()[0])  # the daemon's log, shown beside the failure
        raise
    finally:
        daemon.kill()
        board.close()
    assert re.search(r"board: dropped 'on': read at least \d\.\d s after the board sent", output)
    assert "greeting Ada" not in output, output  # "on" did not run; "off" did, found no hello
    assert "I cannot say goodbye before saying hello" in output, output
