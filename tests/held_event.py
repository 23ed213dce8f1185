"""Stand-ins for the Events and locks the code under test uses, to open a race window on purpose
and to see a thread reach it, instead of sleeping for a while and hoping:

held = HeldAtFirstCheck("typist")  # put in place of the Event the code under test checks
assert held.checked.wait(5)        # the thread now waits inside its first `is_set()`
held.go.set()                      # it goes on, with the answer of that first look

lock = AnnouncedLock("unplugging")  # in place of the lock: `asked` once that thread asks for it
event = AnnouncedWait()             # in place of an Event: `waiting` once a thread waits on it
"""

from __future__ import annotations

import threading


class HeldAtFirstCheck(threading.Event):
    """Holds the thread named `thread_name` at its first `is_set()` until `go` is set; every
    other call, and every other thread, passes at once."""

    def __init__(self, thread_name: str) -> None:
        super().__init__()
        self.thread_name = thread_name
        self.checked = threading.Event()
        self.go = threading.Event()

    def is_set(self) -> bool:
        answer = super().is_set()
        here = threading.current_thread().name == self.thread_name
        if here and not self.checked.is_set():
            self.checked.set()
            self.go.wait(10)
        return answer


class AnnouncedLock:
    """A lock (used with `with`; re-entrant, so it stands in for an RLock too) that sets `asked`
    once the thread named `thread_name` asks for it, before that thread waits to get it."""

    def __init__(self, thread_name: str) -> None:
        self.thread_name = thread_name
        self.asked = threading.Event()
        self._lock = threading.RLock()

    def __enter__(self) -> AnnouncedLock:
        if threading.current_thread().name == self.thread_name:
            self.asked.set()
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class AnnouncedWait(threading.Event):
    """An Event that sets `waiting` once a thread calls its `wait()`."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)
