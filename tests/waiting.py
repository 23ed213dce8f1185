"""Waiting for something that happens on another thread or process."""

import os
import select
import time


def wait_until(condition, timeout=5.0):
    """True once `condition()` is true, False if it is not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def read_for(fd: int, seconds: float, until=lambda data: False) -> bytes:
    """What arrives on `fd` within `seconds`, or until `until(all of it)`."""
    deadline = time.monotonic() + seconds
    data = b""
    while not until(data) and (left := deadline - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0]:
            data += os.read(fd, 1024)
    return data
