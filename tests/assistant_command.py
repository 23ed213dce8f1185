"""The `assistant` command run as a user runs it, in a child process."""

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def assistant(env: dict, *args: str, **options) -> subprocess.CompletedProcess:
    """`python -m assistant ARGS` with `env`, from the repository root; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        env=env,
        cwd=options.pop("cwd", REPO),
        capture_output=True,
        text=True,
        timeout=60,
        **options,
    )


def lines_until(
    process: subprocess.Popen, done: Callable[[list[str]], bool], timeout: float = 30
) -> list[str]:
    """The lines `process` writes (text mode) until `done(lines so far)`, or until it is killed
    after `timeout` seconds, or ends."""
    lines: list[str] = []
    watchdog = threading.Timer(timeout, process.kill)  # the output ends if nothing arrives
    watchdog.start()
    try:
        for line in process.stdout:
            lines.append(line)
            if done(lines):
                break
    finally:
        watchdog.cancel()
    return lines
