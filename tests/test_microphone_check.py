"""`assistant devices` lists the microphones and `assistant devices --listen` checks the
configured one, on the ALSA stand-in microphone (a real PortAudio device playing espeak-ng
saying "on" between silences) and the tiny test model, in a process of its own as a user runs
them."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tiny_kws_model
from alsa_microphone import DEVICE, environment, plug_in, plug_in_speaker, saying_on
from assistant_command import REPO

from assistant import control
from assistant.instance import InstanceLock
from assistant.levels import Level
from assistant.microphone import SAMPLE_RATE
from assistant.model_files import DEFAULT_MODEL, load_contract

pytest.importorskip("sounddevice", reason="the [listen] extra is not installed")

LEVEL = re.compile(r"peak +(-?[\d.]+) dBFS, RMS +(-?[\d.]+) dBFS, ([^|]+) \| best command: (.*)")


@pytest.fixture
def home(tmp_path, tiny_model) -> Path:
    """A HOME with the stand-in microphone saying "on" and an output, a configuration
    (config.yaml there) naming both the stand-in and the tiny model (its card giving the
    committed model's thresholds), and private XDG folders."""
    plug_in(tmp_path, saying_on(SAMPLE_RATE))
    plug_in_speaker(tmp_path)
    thresholds = load_contract(DEFAULT_MODEL).thresholds
    model = tiny_kws_model.with_card_thresholds(tiny_model, tmp_path / "model", thresholds)
    config = (REPO / "config.yaml").read_text()
    config = re.sub(r"(?m)^  device: default ", f"  device: {DEVICE} ", config)
    config = re.sub(r"(?m)^  model: default ", f"  model: {model} ", config)
    (tmp_path / "config.yaml").write_text(config)
    (tmp_path / "run").mkdir(mode=0o700)
    return tmp_path


def _env(home: Path) -> dict[str, str]:
    return {
        **environment(home),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "XDG_DATA_HOME": str(home / "data"),
    }


def _assistant(home: Path, *args: str, prelude: str = "") -> subprocess.CompletedProcess:
    """`assistant --config HOME/config.yaml ARGS`, after the Python `prelude`."""
    code = f"import sys\n{prelude}\nfrom assistant import cli\nsys.exit(cli.main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "--config", str(home / "config.yaml"), *args],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("seconds", ["-1", "86401", "1e308", "inf", "nan", "x"])
def test_a_listen_of_no_number_or_longer_than_a_day_is_refused(home, seconds):
    """A wait of centuries (1e308, inf) overflowed the system's clock with a traceback."""
    result = _assistant(home, "devices", "--listen", seconds)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "assistant devices: error: argument --listen: a number of seconds from 0 to 86400 "
        f"(0: until Ctrl-C), not {seconds!r}"
    )


def test_devices_lists_the_microphones_and_which_one_the_configuration_picks(home):
    result = _assistant(home, "devices")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "serial ports:"
    assert f"microphones (microphone.device: {DEVICE}):" in lines
    [picked] = [line for line in lines if re.match(rf"use +\d+  {DEVICE} ", line)]
    assert "input channels, default rate 16000 Hz; microphone.device picks it" in picked
    assert "cannot be used" not in picked
    [speaker] = [line for line in lines if " deskspeaker " in line]
    assert speaker.startswith("skip")
    assert "0 input channels" in speaker
    assert "cannot be used: no input channels" in speaker
    assert any("the system default" in line for line in lines)


def test_a_device_the_configuration_names_that_cannot_be_used_is_skipped_with_the_reason(home):
    """Every rate refused, as PortAudio reports a device that cannot record 16 kHz nor its own
    rate: the daemon's own check says so, and the fix."""
    refuse = (
        "import sounddevice\n"
        "def refuse(**settings):\n"
        "    raise sounddevice.PortAudioError('Invalid sample rate [-9997]')\n"
        "sounddevice.check_input_settings = refuse"
    )
    result = _assistant(home, "devices", prelude=refuse)
    [picked] = [line for line in result.stdout.splitlines() if f"  {DEVICE} " in line]
    assert picked.startswith("skip"), result.stdout
    assert f"microphone.device picks it; cannot be used: microphone '{DEVICE}' cannot record " in (
        picked
    )
    assert "choose another device with microphone.device" in picked


def test_a_device_name_that_picks_no_microphone_is_reported_with_the_fix(home):
    config = home / "config.yaml"
    config.write_text(config.read_text().replace(f"device: {DEVICE} ", "device: usb-mic "))
    result = _assistant(home, "devices")
    assert "microphone.device picks none: microphone 'usb-mic' not found" in result.stdout
    assert not re.search(r"(?m)^use +\d", result.stdout)  # no microphone, no serial port used


def test_without_sounddevice_devices_says_how_to_get_it_and_lists_the_serial_ports(home):
    result = _assistant(home, "devices", prelude="sys.modules['sounddevice'] = None")
    assert result.stdout.startswith("serial ports:\n"), result.stdout
    assert "none listed: sounddevice cannot load" in result.stdout
    assert "install the [listen] extra (pip install 'desk-kws-assistant[listen]')" in (
        result.stdout
    )


def test_a_device_name_with_escape_sequences_is_listed_escaped(home):
    """A device's name is its own (a USB product string): listed as the log shows text from
    outside, so its escape sequences cannot retitle or clear the terminal."""
    rename = (
        "import sounddevice\n"
        "listed = sounddevice.query_devices\n"
        "def renamed(*args, **options):\n"
        "    found = listed(*args, **options)\n"
        "    for info in [found] if isinstance(found, dict) else found:\n"
        f"        if info['name'] == {DEVICE!r}:\n"
        "            info['name'] = 'desk\\x1b]0;owned\\x07mic'\n"
        "    return found\n"
        "sounddevice.query_devices = renamed"
    )
    result = _assistant(home, "devices", prelude=rename)
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "desk\\x1b]0;owned\\x07mic" in result.stdout


def _levels(lines: list[str]) -> list[tuple[float, float, str, str]]:
    """The level lines' peak, RMS, hint and best command."""
    found = [LEVEL.search(line) for line in lines]
    return [(float(m[1]), float(m[2]), m[3].strip(), m[4]) for m in found if m]


def test_the_check_shows_levels_the_best_command_and_each_command_heard(home):
    result = _assistant(home, "devices", "--listen", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"checking microphone.device '{DEVICE}' for 3 s" in lines[0]
    assert "microphone: board firmware desktop-1, model " in result.stdout
    levels = _levels(lines)
    speech = [level for level in levels if level[0] > -30]
    silence = [level for level in levels if level[0] == -96.0]
    assert speech and silence, result.stdout
    assert all(
        peak > rms > -40 and hint == "loud enough for speech" for peak, rms, hint, _ in speech
    )
    assert all(rms == -96.0 and hint.startswith("quiet") for _, rms, hint, _ in silence)
    assert max(float(best.split()[1]) for *_, best in levels if best.startswith("on ")) > 0.84
    assert any(best.endswith("(needs 0.84)") for *_, best in levels)
    heard = [line for line in lines if "assistant.dispatch: microphone: 'on' (" in line]
    assert heard and heard[0].endswith(") -> lights.on"), result.stdout
    assert lines.index(heard[0]) > lines.index(next(line for line in lines if LEVEL.search(line)))


def test_a_clipping_microphone_is_said_to_clip(home, tiny_model):
    loud = np.zeros(2 * SAMPLE_RATE, np.int16)
    loud[SAMPLE_RATE : SAMPLE_RATE + 1600] = 32767
    plug_in(home, loud)
    result = _assistant(home, "devices", "--listen", "1")
    hints = {hint for _, _, hint, _ in _levels(result.stdout.splitlines())}
    assert "CLIPPING: turn the input gain down" in hints, result.stdout


def test_a_check_of_a_microphone_that_cannot_be_opened_says_why_and_fails(home):
    config = home / "config.yaml"
    config.write_text(config.read_text().replace(f"device: {DEVICE} ", "device: usb-mic "))
    result = _assistant(home, "devices", "--listen", "1")
    assert result.returncode == 1
    assert "microphone 'usb-mic' not found" in result.stdout
    assert not _levels(result.stdout.splitlines())


def test_the_check_refuses_while_an_assistant_runs(home):
    (home / "data" / "assistant").mkdir(parents=True)
    lock = InstanceLock(home / "data" / "assistant", control.socket_path())
    try:
        result = _assistant(home, "devices", "--listen", "1")
    finally:
        lock.release()
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.startswith(
        "the microphone is not checked while the assistant runs: it may be listening to it"
    )
    assert f"another assistant is running on the same data directory (pid {os.getpid()}" in (
        result.stderr
    )


def test_on_a_terminal_the_level_line_is_refreshed_in_place_and_ctrl_c_ends_it(home):
    controller, terminal = pty.openpty()
    config = str(home / "config.yaml")
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "--config", config, "devices", "--listen"],
        env=_env(home),
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    os.close(terminal)
    output = b""
    try:
        while b"'on' (" not in output:
            output += os.read(controller, 4096)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0, process.stderr.read()
        while True:
            try:
                output += os.read(controller, 4096)
            except OSError:  # the terminal's last reader is gone
                break
    finally:
        process.kill()
        os.close(controller)
    text = output.decode()
    assert re.search(r"\rpeak +-?[\d.]+ dBFS.*?\x1b\[K\rpeak", text), "not refreshed in place"
    heard = re.search(r"\r\x1b\[K(\d\d:\d\d:\d\d INFO +assistant\.dispatch: [^\r\n]*)\r?\n", text)
    assert heard and "microphone: 'on' (" in heard[1]
    assert "Traceback" not in text + process.stderr.read().decode()
    assert text.endswith("\r\n")  # the last level line is left, ended


def test_devices_has_portaudio_look_for_the_devices_once_however_many_cannot_be_used(home):
    """PortAudio looks again (a restart) as the listing starts, not once more for each device
    that cannot be used: every device is judged against that one list."""
    plug_in(home, saying_on(SAMPLE_RATE), devices=(DEVICE, "deskmic2", "deskmic3"))
    count_and_refuse = (
        "import atexit, sounddevice\n"
        "started, starts = sounddevice._initialize, []\n"
        "def counted():\n"
        "    starts.append(1)\n"
        "    started()\n"
        "sounddevice._initialize = counted\n"
        "atexit.register(lambda: print(f'PortAudio started {len(starts)} more times'))\n"
        "def refuse(**settings):\n"
        "    raise sounddevice.PortAudioError('Invalid sample rate [-9997]')\n"
        "sounddevice.check_input_settings = refuse"
    )
    result = _assistant(home, "devices", prelude=count_and_refuse)
    refused = [line for line in result.stdout.splitlines() if "cannot record 16000 Hz" in line]
    assert len(refused) == 6, result.stdout  # each device and its file PCM
    assert result.stdout.endswith("PortAudio started 1 more times\n")


def test_a_level_is_in_dbfs_and_its_hint_turns_at_the_clipping_and_quiet_marks():
    full = Level.of(np.array([-32768, 3277, 0], np.int16))
    assert full.peak == 0.0  # full scale
    assert Level.of(np.array([1, 0], np.int16)).peak == pytest.approx(-90.31, abs=0.01)  # 1 LSB
    assert str(full) == "peak    0.0 dBFS, RMS   -4.7 dBFS, CLIPPING: turn the input gain down"
    assert Level(-1.0, -9.0).hint.startswith("CLIPPING")  # a peak at -1 dBFS clips
    assert Level(-1.01, -9.0).hint == "loud enough for speech"
    assert Level(-30.0, -40.0).hint == "loud enough for speech"
    assert Level(-30.01, -40.0).hint == "quiet (speech should peak above -30 dBFS)"
