"""The local clock's midnight made to fall between two moments, by its time zone (a POSIX TZ:
no time zone data needed), as a daemon running across midnight meets it."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def midnight_since(moment: float) -> Iterator[str]:
    """Local midnight comes after `moment` (a time.time()) and before now (waiting for the
    next whole second if need be); yields the date (YYYY-MM-DD) of the day it ended, the day
    of `moment`. The time zone is restored after."""
    midnight = math.floor(moment) + 1
    while time.time() <= midnight:
        time.sleep(midnight - time.time() + 0.01)
    east = -midnight % 86400  # seconds east of UTC that put `midnight` at 00:00:00
    if east > 43200:
        sign, offset = "+", 86400 - east  # POSIX: + is west of UTC
    else:
        sign, offset = "-", east
    hours, rest = divmod(offset, 3600)
    before = os.environ.get("TZ")
    os.environ["TZ"] = f"XST{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    time.tzset()
    try:
        assert time.localtime(midnight)[3:6] == (0, 0, 0), os.environ["TZ"]
        yield time.strftime("%Y-%m-%d", time.localtime(midnight - 1))
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
