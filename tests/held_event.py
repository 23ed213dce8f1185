"""An Event that holds one thread, by name, at its first look, to open a race window on purpose:

held = HeldAtFirstCheck("typist")  # put in place of the Event the code under test checks
assert held.checked.wait(5)        # the thread now waits inside its first `is_set()`
held.go.set()                      # it goes on, with the answer of that first look
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
