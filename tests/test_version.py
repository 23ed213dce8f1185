"""The version the assistant names (`--version`, `status`, the log's start line) tells builds
apart: made by setuptools-scm from git at install, with the checkout's commit beside it when
the code runs from a clone, in a copy of the repository committed twice."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version
from source_copy import DEVELOPMENT, commit_all, git, source_copy
from waiting import wait_until

CONFIG = "source: emulator\nspeech: off\ncommands:\n  go: timers.start\n"


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> tuple[Path, Path]:
    """A copy of the repository committed in a git repository of its own (no tags, as a clean
    or shallow clone may be), and a virtual environment to install it in, editable; the
    dependencies come from the interpreter's own site-packages."""
    work = tmp_path_factory.mktemp("version")
    source_copy(work / "clone")
    venv = work / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
    )
    return work / "clone", venv


def install_editable(clone: Path, venv: Path) -> None:
    """`pip install -e CLONE`, as README's set-up does (setuptools and setuptools-scm from the
    package index, in an isolated build)."""
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    done = subprocess.run(
        [*pip, "install", "--no-deps", "--quiet", "--editable", str(clone)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def run(venv: Path, tmp_path: Path, *args: str, **options):
    """The clone's installed `assistant ARGS`, from a folder outside it, with its own data and
    runtime folders (and not the tests' PYTHONPATH, which would import this repository)."""
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env.pop("PYTHONPATH", None)
    command = [str(venv / "bin" / "assistant"), *args]
    if options.pop("background", False):
        return subprocess.Popen(command, cwd=tmp_path, env=env, text=True, **options)
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


def version_of(venv: Path, tmp_path: Path) -> tuple[str, str]:
    """The installed version and the commit checked out, as `assistant --version` shows them."""
    printed = run(venv, tmp_path, "--version")
    assert printed.returncode == 0, printed.stderr
    shown = re.fullmatch(
        r"assistant (\S+), checkout ([0-9a-f]+) \(desk-kws-assistant\)\n", printed.stdout
    )
    assert shown, printed.stdout
    Version(shown[1])  # PEP 440, else this raises
    return shown[1], shown[2]


def test_two_commits_have_two_versions_and_a_stale_install_names_the_commit(clone, tmp_path):
    """README, "Versions and releases": with no tag, X.Y.Z.devN+gHASH, N the number of commits;
    after a commit without reinstalling, the version is the install's and the checkout the new
    one."""
    repo, venv = clone
    install_editable(repo, venv)
    first = git(repo, "rev-parse", "--short", "HEAD")
    before, checkout = version_of(venv, tmp_path)
    assert re.fullmatch(rf"{DEVELOPMENT}\.dev1\+g{first}[0-9a-f]*", before) and checkout == first
    (repo / "README.md").write_text("A change\n", encoding="utf-8")
    second = commit_all(repo, "a change")[: len(first)]
    assert version_of(venv, tmp_path) == (before, second)  # `git pull` without reinstalling
    install_editable(repo, venv)
    after, checkout = version_of(venv, tmp_path)
    assert re.fullmatch(rf"{DEVELOPMENT}\.dev2\+g{second}[0-9a-f]*", after) and checkout == second
    assert Version(after) > Version(before)


def test_status_and_the_start_line_name_the_version_that_version_shows(clone, tmp_path):
    repo, venv = clone
    install_editable(repo, venv)
    version, commit = version_of(venv, tmp_path)
    shown = f"{version}, checkout {commit}"
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    daemon = run(
        venv,
        tmp_path,
        "--config",
        str(config),
        "run",
        background=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        status = []
        assert wait_until(
            lambda: status.append(run(venv, tmp_path, "status")) or status[-1].returncode == 0,
            timeout=30,
        ), status[-1].stderr
        assert status[-1].stdout.splitlines()[1] == f"version: {shown}"
        daemon.terminate()
        output, _ = daemon.communicate(timeout=15)
    finally:
        daemon.kill()
    assert f"INFO    assistant: assistant {shown} starting (pid {daemon.pid}, " in output
