"""The sdist and the wheel a user installs: what they hold, and the wheel working outside the
repository on its own default configuration."""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import wave
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from source_copy import DEVELOPMENT, NOT_SOURCES, REPO, source_copy

PYPROJECT = (REPO / "pyproject.toml").read_text()


def build(command: list[str], cwd: Path) -> str:
    """Run a build step; fail with its output, else return it."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@dataclass
class Built:
    """What `python -m build` made of a copy of the repository, what it printed, and the
    commit it was built from."""

    sdist: Path
    wheel: Path
    log: str
    commit: str


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    """The sdist and the wheel built from it, as a packager builds them: `python -m build` in
    an isolated environment with the setuptools pyproject.toml asks for (from the package
    index), from a copy of the repository committed in a git repository of its own with no
    tags, as a clean clone may be."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    commit = source_copy(source)
    log = build([sys.executable, "-m", "build", "--outdir", str(work / "dist"), "."], source)
    [sdist] = (work / "dist").glob("*.tar.gz")
    [wheel] = (work / "dist").glob("*.whl")
    return Built(sdist, wheel, log, commit)


def test_the_build_warns_of_nothing_deprecated(built):
    """A deprecation in the metadata is a build that a later setuptools refuses."""
    warnings = [line for line in built.log.splitlines() if re.search("deprecat", line, re.I)]
    assert not warnings, "\n".join(warnings)


def test_the_wheel_holds_the_daemon_skills_default_config_model_and_license(built):
    with zipfile.ZipFile(built.wheel) as archive:
        names = set(archive.namelist())
        sizes = {info.filename: info.file_size for info in archive.infolist()}
    for needed in (
        "assistant/config.yaml",
        "assistant/models/kws_int8.tflite",
        "assistant/models/kws_int8.json",
        "assistant/py.typed",  # a skill author's type checker reads the plugin API's hints
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
def built_without_git(tmp_path_factory) -> Path:
    """The wheel `python -m build --wheel` makes of a copy of the repository without git, as a
    release tarball or `git archive` unpacks: setuptools-scm then lists no files, so only the
    package-data of pyproject.toml brings in those that are not Python."""
    work = tmp_path_factory.mktemp("packaging-without-git")
    source = work / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES, symlinks=True)
    build([sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), "."], source)
    [wheel] = (work / "dist").glob("*.whl")
    return wheel


def package_files(wheel: Path) -> set[str]:
    """The files a wheel installs beside its metadata."""
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if ".dist-info/" not in name}


def test_a_copy_without_git_builds_the_same_wheel_at_the_fallback_version(built, built_without_git):
    """pyproject.toml: a copy without git builds as fallback_version. Built from git, the wheel
    also holds every file git tracks in the packages (setuptools-scm lists them): one added
    there but not to package-data is missing from this wheel only."""
    fallback = re.search(r'^fallback_version = "(.+)"$', PYPROJECT, re.M)[1]
    assert built_without_git.name == f"desk_kws_assistant-{fallback}-py3-none-any.whl"
    from_git, without_git = package_files(built.wheel), package_files(built_without_git)
    missing = sorted(from_git - without_git)
    assert not missing, f"add them to [tool.setuptools.package-data] in pyproject.toml: {missing}"
    assert without_git == from_git


def test_the_metadata_names_the_pythons_from_the_oldest_admitted_and_the_system(built):
    with zipfile.ZipFile(built.wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith("dist-info/METADATA")]
        text = archive.read(metadata).decode()
    pythons = re.findall(r"^Classifier: Programming Language :: Python :: (3\.\d+)$", text, re.M)
    assert pythons and pythons[0] == re.search(r"^Requires-Python: >=(.+)$", text, re.M)[1]
    assert "Classifier: Operating System :: POSIX :: Linux" in text.splitlines()
    assert "License-Expression: Apache-2.0" in text.splitlines()


def test_the_sdist_holds_the_wheels_sources_and_none_of_the_tests(built):
    """The tests need the repository (their conftest and helpers, model_training/, firmware/):
    a part of them in the sdist would be a test suite that cannot run."""
    with tarfile.open(built.sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    tops = {name.split("/")[0] for name in names}
    project = {"README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml", "setup.cfg", "PKG-INFO"}
    assert tops == {"assistant", "skills", "desk_kws_assistant.egg-info", "MANIFEST.in", *project}
    assert "assistant/models/kws_int8.tflite" in names


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed (not editable); the dependencies
    come from the interpreter's own site-packages, so nothing is downloaded."""
    venv = tmp_path_factory.mktemp("venv")
    new_venv = [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip"]
    build([*new_venv, str(venv)], venv)
    pip_install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    build([*pip_install, "install", "--no-deps", "--no-index", "--quiet", str(built.wheel)], venv)
    return venv


def run_installed(venv: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed `assistant ARGS` as a user runs it: from a home folder outside the
    repository, with no configuration of their own, and another installation's `assistant`
    first on PATH, beside a `git` that notes each run in `git-ran`."""
    home = tmp_path / "home"
    other = tmp_path / "other-installation"
    for folder in (home, other):
        folder.mkdir(exist_ok=True)
    (other / "assistant").write_text("#!/bin/sh\nexit 1\n")
    (other / "git").write_text(f'#!/bin/sh\necho "$@" >> {other / "git-ran"}\nexit 1\n')
    for program in ("assistant", "git"):
        (other / program).chmod(0o755)
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


def test_the_installed_assistant_names_the_version_git_gave_its_build_and_runs_no_git(
    built, installed, tmp_path
):
    """README, "Versions and releases": the sdist carries the version setuptools-scm made from git,
    and the wheel built from it too; with no tag, the fallback's next development release, the
    number of commits and the commit. The installed wheel names it without running git."""
    version = re.fullmatch(r"desk_kws_assistant-(.+)\.tar\.gz", built.sdist.name)[1]
    made = re.fullmatch(rf"{DEVELOPMENT}\.dev1\+g([0-9a-f]{{7,}})", version)
    assert made and built.commit.startswith(made[1]), version
    assert built.wheel.name == f"desk_kws_assistant-{version}-py3-none-any.whl"
    printed = run_installed(installed, tmp_path, "--version")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == f"assistant {version} (desk-kws-assistant)\n"
    assert not (tmp_path / "other-installation" / "git-ran").exists()


def oldest_python() -> Path:
    """The interpreter of the oldest Python that `requires-python` admits: pyenv's (whose
    shims run only the selected versions), else `pythonX.Y` on PATH; the test is skipped
    (which fails CI) when there is none."""
    oldest = re.search(r'^requires-python = ">=(\d+\.\d+)"$', PYPROJECT, re.M)[1]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    on_path = shutil.which(f"python{oldest}")
    found = sorted(pyenv.glob(f"versions/{oldest}.*/bin/python")) or (
        [Path(on_path)] if on_path else []
    )
    if not found:
        pytest.skip(f"no Python {oldest} here to install the wheel on (pyenv install {oldest})")
    return found[-1]


@pytest.fixture(scope="module")
def plain(built, tmp_path_factory) -> Path:
    """`pip install` of the wheel alone (no extra) in a plain virtual environment of the
    oldest Python the metadata admits, its dependencies from the package index."""
    venv = tmp_path_factory.mktemp("plain-venv")
    build([str(oldest_python()), "-m", "venv", str(venv)], venv)
    build([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(built.wheel)], venv)
    return venv


def test_the_wheel_runs_on_the_oldest_python_it_admits_with_only_its_declared_dependencies(
    plain, tmp_path
):
    checked = run_installed(plain, tmp_path, "config", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK (6 commands, skills: lights, media, replies, timers)" in checked.stdout


def test_without_the_listen_extra_replaying_a_recording_says_what_to_install(plain, tmp_path):
    """The command named works in the installation at hand, from any folder."""
    recording = tmp_path / "silence.wav"
    with wave.open(str(recording), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(bytes(32000))
    replayed = run_installed(plain, tmp_path, "emulate", "--wav", str(recording), "--fast")
    assert (replayed.returncode, replayed.stdout) == (1, ""), replayed.stderr
    assert replayed.stderr == (
        f"cannot replay {recording}: the desktop model runtime is missing: "
        "pip install 'desk-kws-assistant[listen]' (it needs tflite-micro)\n"
    )
