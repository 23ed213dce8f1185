"""Stop signals that wake the main thread instead of raising an exception in it.

An exception raised by a signal handler lands wherever the main thread happens to be: between a
lock's release and the `try` that would take it back (a lock then released twice), in the
middle of an ending that should run whole, or just before a wait the signal was meant to end,
which then never ends; and the kernel may give the signal to another thread, whose handler
waits for the main thread to run again. Here the handlers do nothing but let Python write the
signal's number to a pipe (`signal.set_wakeup_fd`), from whichever thread received it and even
before the main thread waits on it; the main thread waits on the pipe (`wait`), while the work
runs in a thread of its own (`run`) or in the threads the command started (`assistant run`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable, Iterable
from types import TracebackType

_DONE = b"\0"
"""What the work's thread writes to the pipe when the work ends (no signal has number 0)."""


class StopSignals:
    """While entered, `signals` only wake `wait` (and `run`); once left, they are ignored (what
    follows is the command's ending, which nothing cuts short). Enter it in the main thread."""

    def __init__(self, signals: Iterable[signal.Signals]) -> None:
        self.signals = tuple(signals)
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # as set_wakeup_fd requires
        self._previous_wakeup = -1
        self._open = threading.Lock()
        """Held to write to the pipe or close it: work that ends late writes to no other file."""
        self._closed = False
        self._ends = {_DONE[0], *map(int, self.signals)}
        """The numbers read from the pipe that end `wait`: the work's end, or a stop signal."""
        self._stopped = False

    def __enter__(self) -> StopSignals:
        self._previous_wakeup = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for stop in self.signals:
            signal.signal(stop, _noted)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for stop in self.signals:
            signal.signal(stop, signal.SIG_IGN)
        signal.set_wakeup_fd(self._previous_wakeup)
        with self._open:
            self._closed = True
            os.close(self._read)
            os.close(self._write)

    def run(self, work: Callable[[], None]) -> None:
        """Run `work` in a daemon thread until it returns or a stop signal comes (a signal that
        came since entering counts); the work's exception is raised here. Work cut short by a
        signal ends with the process."""
        failures: list[BaseException] = []

        def working() -> None:
            try:
                work()
            except BaseException as error:  # raised in the main thread, as if run there
                failures.append(error)
            finally:
                self._wake()

        threading.Thread(target=working, name="stop-signals-work", daemon=True).start()
        while not self.wait():
            pass  # another signal handled in Python woke it
        if failures:
            raise failures[0]

    def wait(self, timeout: float | None = None) -> bool:
        """Wait at most `timeout` seconds (None: no limit) for a stop signal, or the end of
        `run`'s work; whether one came since entering. Any other signal with a handler in Python
        (SIGHUP's, say) wakes it too, and it returns False: call it in a loop."""
        if not self._stopped:
            woken = select.poll()
            woken.register(self._read, select.POLLIN)
            if woken.poll(None if timeout is None else timeout * 1000):
                self._stopped = not self._ends.isdisjoint(os.read(self._read, 512))
        return self._stopped

    def _wake(self) -> None:
        """Wake `run` from the work's thread, unless the pipe is gone (a signal stopped it)."""
        with self._open, contextlib.suppress(BlockingIOError):  # full: woken already
            if not self._closed:
                os.write(self._write, _DONE)


def _noted(signum: int, frame: object) -> None:
    """The handler of a stop signal: Python has written its number to the wakeup pipe."""
