"""The `assistant` command run as a user runs it, in a child process."""

import subprocess
import sys
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
