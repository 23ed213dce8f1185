"""Which skill has focus: of the skills given focus (the dispatcher gives it to the skill it ran,
for a while; a skill may hold it, for as long as it likes), the one given it last whose time
has not run out. When that one's time runs out or it releases focus, the one before it has
focus again: music that plays keeps holding focus while the lights are used for a while."""

from __future__ import annotations

import threading
from collections.abc import Callable

from assistant.clocks import elapsed


class Focus:
    """The skills given focus, each until its time runs out or it releases focus."""

    def __init__(self, seconds: float, clock: Callable[[], float] = elapsed):
        self.seconds = seconds
        self.clock = clock
        self._until: dict[str, float] = {}
        """When each skill's focus ends, the skill given focus last at the end."""
        self._versions: dict[str, int] = {}
        self._lock = threading.Lock()

    def give(self, skill: str, seconds: float | None = None, since: int | None = None) -> None:
        """`skill` has focus for `seconds` (default: the configured focus time; math.inf: until
        released) from now, or longer if it already had it for longer. With `since` (a
        `version`), only if the skill's focus did not change after that version."""
        with self._lock:
            if since is not None and self._versions.get(skill, 0) != since:
                return
            now = self.clock()
            until = now + (self.seconds if seconds is None else seconds)
            before = self._until.pop(skill, now)
            self._until[skill] = max(until, before)
            self._changed(skill)

    def release(self, skill: str) -> None:
        """`skill` gives up focus; the skill given focus before it, if still in time, has it."""
        with self._lock:
            self._until.pop(skill, None)
            self._changed(skill)

    def version(self, skill: str) -> int:
        """Counts the changes of `skill`'s focus, to give focus `since` a moment."""
        with self._lock:
            return self._versions.get(skill, 0)

    def current(self) -> str | None:
        """The skill that has focus now: the one given it last whose time has not run out;
        None when none has."""
        with self._lock:
            now = self.clock()
            for skill, until in reversed(self._until.items()):
                if now < until:
                    return skill
            return None

    def _changed(self, skill: str) -> None:
        self._versions[skill] = self._versions.get(skill, 0) + 1
        now = self.clock()
        for expired in [s for s, until in self._until.items() if until <= now]:
            del self._until[expired]
