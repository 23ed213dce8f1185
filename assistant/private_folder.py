"""Whether a folder is this user's alone: it (and a symbolic link to it) owned by this user and
writable by no one else, so that no other local user can put files or links in it."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def not_private(directory: Path) -> str | None:
    """Make `directory` (mode 0700) when missing; None when it is this user's alone, else why
    not: the owners of it and of a link to it, and its mode ("owner uid 65534, mode
    drwxrwxrwx")."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    link, target = directory.lstat(), directory.stat()
    owners = {link.st_uid, target.st_uid}
    if owners != {os.getuid()} or not stat.S_ISDIR(target.st_mode) or target.st_mode & 0o022:
        uids = ", ".join(map(str, sorted(owners)))
        return f"owner uid {uids}, mode {stat.filemode(target.st_mode)}"
    return None
