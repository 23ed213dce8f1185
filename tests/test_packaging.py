"""The sdist and the wheel a user installs: what they hold, and the wheel working outside the
repository on its own default configuration."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOT_SOURCES = shutil.ignore_patterns(
    ".git", "data", "runs", "build", "dist", "libraries", "__pycache__", "*.egg-info", ".*_cache"
)


def build(command: list[str], cwd: Path) -> None:
    """Run a build step offline, with the interpreter's own setuptools; fail with its output."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from the sdist built from a copy of the repository (so the build's
    egg-info and build/ folders never land in the repository)."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    sdist_call = "from setuptools import build_meta; print(build_meta.build_sdist('../sdist'))"
    build([sys.executable, "-c", sdist_call], source)
    [sdist] = (work / "sdist").iterdir()
    shutil.unpack_archive(sdist, work / "unpacked")
    [unpacked] = (work / "unpacked").iterdir()
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    build([*pip_wheel, "--quiet", "-w", str(work / "wheel"), "."], unpacked)
    [built] = (work / "wheel").iterdir()
    return built


def test_the_wheel_holds_the_daemon_skills_default_config_model_and_license(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        sizes = {info.filename: info.file_size for info in archive.infolist()}
    for needed in (
        "assistant/config.yaml",
        "assistant/models/kws_int8.tflite",
        "assistant/models/kws_int8.json",
        "assistant/rooms/hub.py",
        "skills/timers.py",
    ):
        assert needed in names
    dist_info = next(name.split("/")[0] for name in names if ".dist-info/" in name)
    assert any(name.startswith(f"{dist_info}/") and "LICENSE" in name for name in names)
    tops = {name.split("/")[0] for name in names}
    assert tops == {"assistant", "skills", dist_info}  # no tests, model_training, data, docs
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert max(sizes.values()) < 100_000, max(sizes, key=sizes.get)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed (not editable); the dependencies
    come from the interpreter's own site-packages, so nothing is downloaded."""
    venv = tmp_path_factory.mktemp("venv")
    new_venv = [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip"]
    build([*new_venv, str(venv)], venv)
    pip_install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    build([*pip_install, "install", "--no-deps", "--no-index", "--quiet", str(wheel)], venv)
    return venv


def run_installed(venv: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed `assistant ARGS` as a user runs it: from a home folder outside the
    repository, with no configuration of their own, and another installation's `assistant`
    first on PATH."""
    home = tmp_path / "home"
    other = tmp_path / "other-installation"
    for folder in (home, other):
        folder.mkdir(exist_ok=True)
    (other / "assistant").write_text("#!/bin/sh\nexit 1\n")
    (other / "assistant").chmod(0o755)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PATH": f"{other}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("PYTHONPATH", None)  # the tests' own: it would import the repository's code
    command = [str(venv / "bin" / "assistant"), *args]
    return subprocess.run(command, cwd=home, env=env, capture_output=True, text=True, timeout=60)


def test_the_installed_assistant_runs_on_its_default_config_outside_the_repository(
    installed, tmp_path
):
    """README, "Set up": `assistant run` on the default config.yaml, for a user who installed
    the wheel and has no configuration of their own."""
    checked = run_installed(installed, tmp_path, "config", "check")
    assert checked.returncode == 0, checked.stderr
    [site] = (installed / "lib").glob("python*/site-packages")
    assert checked.stdout.startswith(f"{site / 'assistant' / 'config.yaml'}: OK (6 commands")


def test_the_installed_assistants_service_runs_that_installation(installed, tmp_path):
    printed = run_installed(installed, tmp_path, "service", "install", "--print")
    assert printed.returncode == 0, printed.stderr
    assert f"\nExecStart={installed / 'bin' / 'assistant'} run\n" in printed.stdout
    assert "Documentation=" not in printed.stdout  # README.md is not installed


def test_the_installed_assistant_names_its_version(installed, tmp_path):
    pyproject = (REPO / "pyproject.toml").read_text()
    name, version = (
        re.search(rf'^{key} = "(.+)"$', pyproject, re.M)[1] for key in ("name", "version")
    )
    printed = run_installed(installed, tmp_path, "--version")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == f"assistant {version} ({name})\n"
