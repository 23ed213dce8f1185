"""The version the assistant names (`--version`, `status`, the log's start line, bug reports). Its
one source is the installed distribution's metadata, which setuptools-scm makes from git when the
package is built or installed (README, "Versions and releases"). An editable install keeps the
version of its install; so when the code runs from a git checkout, the commit checked out is named
too, read once (what a daemon started on). An installed wheel never runs git."""

import functools
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from assistant import PACKAGE

SOURCE_ROOT = Path(__file__).resolve().parent.parent
"""The folder holding the `assistant` package: a clone's root, or site-packages."""


def installed_version() -> str:
    """The installed distribution's version, as a version alone (for machines: Home Assistant's
    `sw_version`); "unknown" when it is not installed."""
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def checkout_commit() -> str | None:
    """The short hash of the commit checked out where the code runs from, or None when it does
    not run from a git checkout (an installed wheel) or git cannot tell."""
    if not (SOURCE_ROOT / ".git").exists():  # a directory, or a worktree's file
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(SOURCE_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def version_text() -> str:
    """The version, and in a checkout the commit: "0.4.1.dev3+g1a2b3c4, checkout 5d6e7f8"."""
    commit = checkout_commit()
    return f"{installed_version()}, checkout {commit}" if commit else installed_version()
