"""A one-line progress report for long steps (written to stderr, at most every half second)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, what: str, total: int) -> None:
        self.what, self.total = what, max(total, 1)
        self.start = self.last = time.monotonic()

    def __call__(self, done: int, total: int | None = None) -> None:
        total = total or self.total
        now = time.monotonic()
        if now - self.last < 0.5 and done < total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        eta = (total - done) / rate if rate else 0.0
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{self.what}: {done}/{total} ({rate:.0f}/s, {eta:.0f} s left){end}")
        sys.stderr.flush()
