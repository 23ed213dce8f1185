"""Where the assistant keeps its files (XDG base directories)."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(variable: str, fallback: str) -> Path:
    return Path(os.environ.get(variable) or Path.home() / fallback)


def data_root() -> Path:
    """State of skills (timers, ...) and downloaded models: $XDG_DATA_HOME/assistant."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "assistant"


def config_home() -> Path:
    """$XDG_CONFIG_HOME: where every program's user configuration lives."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def config_dir() -> Path:
    """The user's configuration: $XDG_CONFIG_HOME/assistant."""
    return config_home() / "assistant"


def runtime_dir() -> Path:
    """Where the control socket and the virtual board's link live: $XDG_RUNTIME_DIR, else
    /tmp/assistant-<uid> (`control.private_directory` checks that it is yours alone)."""
    return Path(os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/assistant-{os.getuid()}")
