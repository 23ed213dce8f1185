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


def test_wait_tells_a_stop_from_another_signal_handled_in_python(usr1):
    """`assistant run` waits so: SIGHUP's handler (here SIGUSR2's) wakes it, but is no stop;
    a stop is kept, from whichever thread it came."""
    woken = []
    signal.signal(signal.SIGUSR2, lambda *_: woken.append(True))
    try:
        with StopSignals([usr1]) as stopping:
            assert not stopping.wait(0.01)  # nothing came
            os.kill(os.getpid(), signal.SIGUSR2)
            assert not stopping.wait(30)  # at once, all the same
            assert woken == [True]
            signal.pthread_kill(_a_thread_that_waits(), usr1)
            assert stopping.wait(30)
            assert stopping.wait(0)  # kept
    finally:
        signal.signal(signal.SIGUSR2, signal.SIG_DFL)


def _a_thread_that_waits() -> int:
    """The id of a daemon thread that does not block signals and waits for ever."""
    waiting = threading.Thread(target=threading.Event().wait, daemon=True)
    waiting.start()
    return waiting.ident
