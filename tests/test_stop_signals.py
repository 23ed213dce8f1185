"""Stop signals that wake the main thread instead of raising in it (assistant/stop_signals.py)."""

import os
import signal
import threading

import pytest

from assistant.stop_signals import StopSignals


@pytest.fixture
def usr1():
    """SIGUSR1 as the stop signal; its default action again afterwards."""
    yield signal.SIGUSR1
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)


def test_a_stop_signal_that_came_before_the_wait_ends_it(usr1):
    """A signal that came before the main thread waits is not lost: the wait ends at once."""
    with StopSignals([usr1]) as stopping:
        os.kill(os.getpid(), usr1)  # no exception: the handler only wakes
        stopping.run(threading.Event().wait)  # work that never ends
    assert signal.getsignal(usr1) == signal.SIG_IGN  # the command is ending: nothing cuts it


def test_the_works_exception_is_raised_where_it_is_waited_for(usr1):
    def work() -> None:
        raise ValueError("the script has a problem")

    with StopSignals([usr1]) as stopping, pytest.raises(ValueError, match="a problem"):
        stopping.run(work)


def test_work_that_ends_returns_and_the_previous_wakeup_is_back(usr1):
    done = []
    with StopSignals([usr1]) as stopping:
        stopping.run(lambda: done.append(True))
    assert done == [True]
    assert signal.set_wakeup_fd(-1) == -1  # none was set before
