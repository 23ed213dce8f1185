"""Numbered files written whole or not at all, never in place of one: `<stem><n>.wav` with the
first free `n` from a given one. The clips kept of the microphone (assistant/clips.py) and the
takes recorded for training (model_training/record.py) are written so."""

from __future__ import annotations

import os
from pathlib import Path

NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
"""How a file is opened: made new, never through a link planted at its name."""


def write_numbered(folder: Path, stem: str, data: bytes, first: int = 0, mode: int = 0o600) -> Path:
    """`data` as `folder/<stem><n>.wav`, `n` the first from `first` that no file has (one
    another writer has just made included), with permission bits `mode` (less the umask).
    The name is taken with an empty file, the data written beside it and moved over it, so the
    file holds nothing or all of `data`; on any failure neither is left."""
    n = first
    while True:
        path = folder / f"{stem}{n}.wav"
        try:
            os.close(os.open(path, NEW_FILE, mode))
        except FileExistsError:
            n += 1
            continue
        partial = path.with_name(f".{path.name}.part")
        try:
            partial.unlink(missing_ok=True)  # left by a crash: the name is this writer's now
            with open(os.open(partial, NEW_FILE, mode), "wb") as file:
                file.write(data)
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            raise
        return path
