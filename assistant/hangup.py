"""SIGHUP held from the first moment of the `assistant` command.

SIGHUP's default action ends the process, and systemd counts that as a clean exit, so a reload
asked for while the daemon starts (`systemctl --user reload` right after a start) would leave it
stopped. The entry point holds SIGHUP before its heavy imports; `assistant run` applies a held
one as a reload once it runs, and every other command gets the default action back.
"""

from __future__ import annotations

import os
import signal

_requested = False


def _remember(signum: int, frame: object) -> None:
    global _requested
    _requested = True


def hold() -> None:
    """From now on a SIGHUP is remembered (see `take`) instead of ending the process."""
    signal.signal(signal.SIGHUP, _remember)


def take() -> bool:
    """Whether a SIGHUP came since the last call."""
    global _requested
    requested, _requested = _requested, False
    return requested


def release() -> None:
    """SIGHUP's default action again (a command that is not the daemon ends on it); one that
    came while it was held is delivered now."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if take():
        os.kill(os.getpid(), signal.SIGHUP)
