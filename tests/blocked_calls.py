"""What another thread or process is blocked waiting for, as the kernel shows it
(/proc/PID/task/TID/syscall, and the process's memory and descriptors): for a test to act once
a thread waits where the test means to reach it, not after a guessed time. Known on Linux on
x86_64 and aarch64; elsewhere a test that asks is skipped."""

from __future__ import annotations

import os
import platform
import re
import struct
from pathlib import Path

import pytest

CALLS = {
    "x86_64": {0: "read", 7: "poll", 271: "ppoll", 232: "epoll_wait", 281: "epoll_wait"},
    "aarch64": {63: "read", 73: "ppoll", 22: "epoll_wait"},
}
"""The numbers of the waiting system calls asked about, by machine (the kernel's ABI: they do
not change); epoll_pwait counts as epoll_wait."""
POLLFD = struct.Struct("ihh")
"""struct pollfd: the descriptor, the events asked for, those that came."""


def waits_for(pid: int, tid: int) -> list[str]:
    """What thread `tid` of process `pid` is blocked waiting for, each descriptor as the kernel
    names it (`pipe:[…]`, `socket:[…]`, `/dev/pts/3`): the one it reads, or those it polls; []
    when it runs, has ended, or waits in another call."""
    calls = CALLS.get(platform.machine())
    if calls is None:
        pytest.skip(f"the system call numbers of {platform.machine()} are not in CALLS")
    try:
        number, *arguments = Path(f"/proc/{pid}/task/{tid}/syscall").read_text().split()
    except PermissionError as error:  # kernel.yama.ptrace_scope above 1
        pytest.fail(f"cannot see what the process waits for ({error}): tests need ptrace access")
    except OSError:  # ended meanwhile
        return []
    try:
        call = calls.get(int(number), "") if number != "running" else ""  # -1: in none
        first, second = (int(argument, 16) for argument in arguments[:2])
        if call == "read":
            descriptors = [first]
        elif call in ("poll", "ppoll"):
            with open(f"/proc/{pid}/mem", "rb") as memory:  # where the first argument points
                memory.seek(first)
                polled = memory.read(POLLFD.size * second)
            descriptors = [fd for fd, _, _ in POLLFD.iter_unpack(polled)]
        elif call == "epoll_wait":  # those registered with the epoll descriptor
            registered = Path(f"/proc/{pid}/fdinfo/{first}").read_text()
            descriptors = [int(fd) for fd in re.findall(r"^tfd:\s*(\d+)", registered, re.M)]
        else:
            return []
        return [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in descriptors]
    except (OSError, ValueError):  # ended, or a descriptor closed, meanwhile
        return []


def waits_for_one(pid: int, tid: int, kind: str) -> bool:
    """Whether thread `tid` of process `pid` is blocked waiting for one descriptor, of `kind`
    ("pipe", "socket")."""
    waited = waits_for(pid, tid)
    return len(waited) == 1 and waited[0].startswith(f"{kind}:")


def a_thread_waits_for(pid: int, fd: int) -> bool:
    """Whether a thread of process `pid` is blocked waiting for its descriptor `fd` alone."""
    try:
        name = os.readlink(f"/proc/{pid}/fd/{fd}")
        tasks = [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:  # it ended
        return False
    return any(waits_for(pid, tid) == [name] for tid in tasks)
