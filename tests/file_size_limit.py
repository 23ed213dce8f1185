"""A full disk for the writes of one test: the kernel's file size limit (RLIMIT_FSIZE), under
which a write past `limit` bytes of a file fails with EFBIG, as a write to a full disk fails."""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Files written in the block cannot grow past `limit` bytes; the process is not killed
    for trying (SIGXFSZ ignored), the write fails. Both are as they were after it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
