"""The C++ unit tests (firmware/tests/unit_tests.cpp), built with sanitizers."""

from __future__ import annotations

import subprocess


def test_cpp_unit_tests_pass(build_dir, firmware_make):
    firmware_make("host")
    done = subprocess.run(
        [str(build_dir / "unit_tests")], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ", 0 failed" in done.stdout
