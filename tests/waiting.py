"""Waiting for something that happens on another thread or process."""

import time


def wait_until(condition, timeout=5.0):
    """True once `condition()` is true, False if it is not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False
