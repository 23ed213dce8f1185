"""Builds the portable firmware code into a temporary directory, once per session: with g++ for
this machine, and for the Cortex-M4F to run on qemu."""

from __future__ import annotations

import shutil
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


# Where the test programs run: built by `make host` for this machine, or by `make qemu` for the
# Cortex-M4F and run on qemu's mps2-an386 board (firmware/tests/qemu_m4.cpp).
TARGETS = ("host", "cortex-m4")
QEMU = ("qemu-system-arm", "-M", "mps2-an386", "-nodefaults", "-display", "none")


@dataclass(frozen=True)
class Program:
    """A test program (firmware/tests/NAME.cpp) built for one of TARGETS."""

    path: Path
    emulated: bool

    def command(self, *args: str) -> list[str]:
        """The command that runs the program with these arguments: itself, or qemu running it."""
        if not self.emulated:
            return [str(self.path), *args]
        if shutil.which(QEMU[0]) is None:
            pytest.fail(f"{QEMU[0]} is not installed: run scripts/install-system-packages")
        for arg in args:
            if not arg or " " in arg:
                raise ValueError(f"{arg!r}: qemu_m4.cpp splits arguments at spaces; use stdin")
        # qemu's options take a comma as ",,".
        words = [f"arg={word.replace(',', ',,')}" for word in (self.path.stem, *args)]
        semihosting = ",".join(["enable=on", "target=native", *words])
        return [*QEMU, "-semihosting-config", semihosting, "-kernel", str(self.path)]

    def execute(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        """Run the program to its end; the finished process, failed or not."""
        return subprocess.run(
            self.command(*args), input=stdin, capture_output=True, check=False, timeout=60
        )


@dataclass(frozen=True)
class HostTool:
    """The host_tool program (firmware/tests/host_tool.cpp)."""

    program: Program

    def run(self, mode: str, stdin: str, *args: str) -> list[str]:
        """The lines it prints in this mode, given these lines."""
        return self.raw(mode, *args, stdin=stdin.encode("latin-1")).decode("latin-1").splitlines()

    def raw(self, mode: str, *args: str, stdin: bytes = b"") -> bytes:
        """What it writes in this mode; the test fails if it does not finish well."""
        done = self.program.execute(mode, *args, stdin=stdin)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("firmware-build")


@pytest.fixture(scope="session")
def firmware_make(build_dir):
    """Builds a Makefile target (host, model, size, qemu) into the session's build directory, or
    into `build` with VAR=value overrides."""
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
def firmware_program(build_dir, firmware_make):
    """Builds a test program (host_tool, unit_tests) for one of TARGETS."""

    def build(name: str, target: str) -> Program:
        if target == "host":
            firmware_make("host")
            return Program(build_dir / name, emulated=False)
        firmware_make("qemu")
        return Program(build_dir / "arm" / f"{name}.elf", emulated=True)

    return build


@pytest.fixture(scope="session", params=TARGETS)
def target(request) -> str:
    """Each of TARGETS: a test that uses it (or host_tool) runs on this machine and on the
    emulated Cortex-M4."""
    return request.param


@pytest.fixture(scope="session")
def host_tool(firmware_program, target) -> HostTool:
    return HostTool(firmware_program("host_tool", target))
