"""Numbered files written whole or not at all, never in place of one: `<stem><n>.wav` with the
first free `n` from a given one. The clips kept of the microphone (assistant/clips.py) and the
takes recorded for training (model_training/record.py) are written so, and `assistant clips
move` and `clips sort` (assistant/clips_move.py, assistant/clips_sort.py) move clips so."""

from __future__ import annotations

import errno
import os
import signal
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.atomic_files import NEW_FILE, new_file

NO_HARD_LINKS = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)
"""Why a hard link cannot be made where a file is moved: another filesystem, or one without
them (a file then moves by a copy)."""


def _first_free(folder: Path, stem: str, first: int, take: Callable[[Path], None]) -> Path:
    """`folder/<stem><n>.wav`, `n` the first from `first` whose name `take` could take: it
    raises FileExistsError for a name that is there already."""
    n = first
    while True:
        path = folder / f"{stem}{n}.wav"
        try:
            take(path)
        except FileExistsError:
            n += 1
            continue
        return path


def _claim(path: Path, mode: int) -> None:
    """Take `path` with an empty file; FileExistsError when a file (or link) is there."""
    os.close(os.open(path, NEW_FILE, mode))


def write_numbered(folder: Path, stem: str, data: bytes, first: int = 0, mode: int = 0o600) -> Path:
    """`data` as `folder/<stem><n>.wav`, `n` the first from `first` that no file has (one
    another writer has just made included), with permission bits `mode` (less the umask).
    The name is taken with an empty file, the data written beside it, flushed to the disk and
    moved over it, so the file holds nothing or all of `data`; on any failure neither is left."""
    path = _first_free(folder, stem, first, lambda path: _claim(path, mode))
    partial = path.with_name(f".{path.name}.part")
    try:
        partial.unlink(missing_ok=True)  # left by a crash: the name is this writer's now
        with new_file(partial, mode) as file:
            file.write(data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        raise
    return path


def move_numbered(source: Path, folder: Path, stem: str, first: int = 0) -> Path:
    """Move the file `source` to `folder/<stem><n>.wav`, `n` the first free from `first`, never
    in place of a file. On one filesystem it is renamed: linked at the new name (which fails
    rather than replace a file) and then unlinked at the old. Across filesystems it is copied
    (as `write_numbered` writes, with its permission bits), the copy and its folder flushed to
    the disk, and only then removed. Stopped at any point, the file is still at `source` or
    already at its new name (or, killed after the link, at both): it is never lost. Ctrl-C
    (SIGINT) waits until the move is done (`ctrl_c_held`)."""
    with ctrl_c_held():
        try:
            path = _first_free(
                folder, stem, first, lambda path: os.link(source, path, follow_symlinks=False)
            )
        except OSError as error:
            if error.errno not in NO_HARD_LINKS:
                raise
            mode = stat.S_IMODE(source.lstat().st_mode)
            path = write_numbered(folder, stem, source.read_bytes(), first, mode)
            descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        source.unlink()
    return path


def move_numbered_unless_gone(source: Path, folder: Path, stem: str, first: int = 0) -> Path | None:
    """`move_numbered`, or None when `source` was removed before it could be moved."""
    try:
        return move_numbered(source, folder, stem, first)
    except FileNotFoundError:
        if source.exists():
            raise
        return None


@contextmanager
def ctrl_c_held() -> Iterator[None]:
    """On the main thread, where Python runs signal handlers: a SIGINT that comes during the
    block is held until the block is done, and delivered then (to an outer block, which holds
    it on to its own end). The handler is swapped rather than the signal blocked, since any of
    the process's threads (numpy's among them) may be the one that receives it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    before = signal.signal(signal.SIGINT, lambda signum, _: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        if received:
            signal.raise_signal(signal.SIGINT)
