"""The C++ unit tests (firmware/tests/unit_tests.cpp): built with sanitizers on this machine, and
for the Cortex-M4F on qemu."""

from __future__ import annotations


def test_cpp_unit_tests_pass(firmware_program, target):
    done = firmware_program("unit_tests", target).execute()
    output = done.stdout.decode() + done.stderr.decode(errors="replace")
    assert done.returncode == 0, output
    assert ", 0 failed" in output
