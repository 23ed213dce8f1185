"""Builds the portable firmware code with g++ into a temporary directory, once per session."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parent.parent
MODEL_DIR = FIRMWARE / "kws" / "src" / "model"


def run_make(build: Path, target: str, *variables: str) -> subprocess.CompletedProcess[str]:
    """Run one Makefile target (with VAR=value overrides); the finished make, failed or not."""
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(FIRMWARE), f"BUILD={build}", *variables, target],
        capture_output=True,
        text=True,
        check=False,
    )


def make(build: Path, target: str, *variables: str) -> str:
    """Run one Makefile target (with VAR=value overrides); fail the test with the compiler's
    output if it breaks."""
    done = run_make(build, target, *variables)
    if done.returncode != 0:
        pytest.fail(f"make {target} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass(frozen=True)
class HostTool:
    """The host_tool binary (firmware/tests/host_tool.cpp)."""

    path: Path

    def run(self, mode: str, stdin: str, *args: str) -> list[str]:
        done = subprocess.run(
            [str(self.path), mode, *args],
            input=stdin.encode("latin-1"),
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout.decode("latin-1").splitlines()

    def raw(self, mode: str, *args: str) -> bytes:
        done = subprocess.run(
            [str(self.path), mode, *args], capture_output=True, check=True, timeout=60
        )
        return done.stdout


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("firmware-build")


@pytest.fixture(scope="session")
def firmware_make(build_dir):
    """Builds a Makefile target (host, model, size) into the session's build directory, or into
    `build` with VAR=value overrides."""
    return lambda target, *variables, build=build_dir: make(build, target, *variables)


@pytest.fixture(scope="session")
def firmware_refused():
    """Builds a Makefile target that must fail (with VAR=value overrides) into `build`; returns
    the compiler's messages."""

    def refused(target: str, *variables: str, build: Path) -> str:
        done = run_make(build, target, *variables)
        assert done.returncode != 0, f"make {target} built:\n{done.stdout}"
        return done.stderr

    return refused


@pytest.fixture(scope="session")
def host_tool(build_dir, firmware_make) -> HostTool:
    firmware_make("host")
    return HostTool(build_dir / "host_tool")
