"""Writing several files all or none: each new content is written beside its file first, and
only once every one is written are they renamed into place. `new_file` is how a new file is
written and flushed to the disk, here and for numbered files (assistant/numbered.py)."""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
"""How a new file is opened: made new, never through a link planted at its name."""


@contextmanager
def new_file(path: Path, mode: int) -> Iterator[BinaryIO]:
    """`path` made and open for writing, with permission bits `mode` less the umask
    (FileExistsError when a file or link is there); what the block wrote is flushed to the disk
    when it ends."""
    with open(os.open(path, NEW_FILE, mode), "wb") as file:
        yield file
        file.flush()
        os.fsync(file.fileno())


def write_all_or_none(contents: Mapping[Path, str | bytes]) -> None:
    """Give each path its content (text as UTF-8). Each is first written to a temporary file
    beside the file it replaces (a symbolic link's target: the link stays), in the same folder
    so that the rename is atomic, with that file's permission bits (a new file's: 0666 less the
    umask), and flushed to the disk; then all are renamed into place. OSError naming the path
    when one cannot be written (a folder in its place, a folder that is not writable, a full
    disk): the temporaries are removed and no file has changed. Once all are written, only a
    folder changed meanwhile can fail a rename."""
    written: list[tuple[Path, Path]] = []  # (the file, its new content's temporary file)
    try:
        for path, content in contents.items():
            real = Path(os.path.realpath(path))
            if real.is_dir():
                raise IsADirectoryError(errno.EISDIR, "a folder is in its place", str(path))
            temporary = real.with_name(f".{real.name}.{secrets.token_hex(4)}.new")
            try:
                with new_file(temporary, 0o666) as file:
                    written.append((real, temporary))
                    if real.exists():
                        os.fchmod(file.fileno(), real.stat().st_mode & 0o7777)
                    file.write(content.encode() if isinstance(content, str) else content)
            except OSError as error:
                raise OSError(error.errno, error.strerror, str(path)) from error
        for real, temporary in written:
            os.replace(temporary, real)
    except BaseException:
        for _, temporary in written:
            temporary.unlink(missing_ok=True)
        raise


def write_all_or_none_explained(contents: Mapping[Path, str | bytes]) -> None:
    """`write_all_or_none`, its failure a ValueError for a command to print: `PATH: cannot
    write it (why); no file written`."""
    try:
        write_all_or_none(contents)
    except OSError as error:
        raise ValueError(
            f"{error.filename}: cannot write it ({error.strerror}); no file written"
        ) from None
