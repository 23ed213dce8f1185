"""Looking up a file or folder a configuration names, where the system may refuse to say
whether it is there."""

from __future__ import annotations

import os
from pathlib import Path


def unreachable(path: str | Path) -> str:
    """Why the system cannot tell whether `path` is there (a name longer than it allows, a
    folder on the way that may not be entered), which pathlib's is_file and is_dir raise rather
    than answer; empty when it can, whether or not `path` is there."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL in it
        return ""
    except OSError as error:
        return error.strerror or str(error)
    return ""
