"""Looking up a file or folder (one a configuration or a command line names), where the
system may refuse to say whether it is there."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Missing:
    """Why a path is not the file or folder looked for."""

    reason: str = ""
    """The system's reason when it would not say what is there (a name longer than it allows,
    a folder on the way that may not be entered); empty when it said: nothing is there, or
    something else than looked for."""

    @property
    def aside(self) -> str:
        """The reason in brackets to follow a message (" (File name too long)"), or ""."""
        return f" ({self.reason})" if self.reason else ""


def missing(path: str | Path, *, folder: bool = False) -> Missing | None:
    """None when `path` is a file (with `folder`: a folder), links followed; else why not.
    Unlike pathlib's is_file and is_dir, never raises: a refusal to look is a reason."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL in it
        return Missing()
    except OSError as error:
        return Missing(error.strerror or str(error))
    found = stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)
    return None if found else Missing()
