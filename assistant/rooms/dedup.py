"""One word heard in several rooms runs once: detections of the same command heard within a
window of each other form a group, and each group yields its best-scoring detection."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from assistant.plugin import CommandEvent


@dataclass
class _Group:
    first_heard: float
    best: CommandEvent
    sites: set[str] = field(default_factory=set)
    complete: bool = False
    """Every listening site has reported: due without waiting for the window to pass."""

    def due(self, now: float, window: float) -> bool:
        return self.complete or now >= self.first_heard + window


class Deduplicator:
    """Not thread-safe; the hub calls it under its lock.

    `event.received` is when the command was heard, on this machine's monotonic clock. A group
    is due once `window` seconds have passed since its first detection, or as soon as every
    site in `listening` has reported it. A detection that belongs to a group already taken is
    dropped; taken groups are remembered for `memory` seconds to recognise late arrivals."""

    def __init__(self, window: float, memory: float):
        self.window = window
        self.memory = memory if window > 0 else 0.0
        self._open: list[_Group] = []
        self._taken: deque[_Group] = deque()
        self.merged = 0
        """Detections dropped because the same word was heard elsewhere (or again)."""

    def add(self, event: CommandEvent, listening: frozenset[str]) -> None:
        group = self._matching(self._open, event)
        if group is None and self._matching(self._taken, event) is not None:
            self.merged += 1
            return
        if group is None:
            group = _Group(event.received, event, {event.site})
            self._open.append(group)
        else:
            self.merged += 1
            group.sites.add(event.site)
            if event.score > group.best.score:
                group.best = event
        group.complete = listening <= group.sites

    def _matching(self, groups: list[_Group] | deque[_Group], event: CommandEvent) -> _Group | None:
        if self.window <= 0:
            return None
        return next(
            (
                g
                for g in reversed(groups)
                if g.best.command == event.command
                and abs(event.received - g.first_heard) <= self.window
            ),
            None,
        )

    def take_due(self, now: float) -> list[CommandEvent]:
        """The best detection of every group that has become due, oldest first."""
        due = [g for g in self._open if g.due(now, self.window)]
        if due:
            self._open = [g for g in self._open if not g.due(now, self.window)]
            if self.memory:
                self._taken.extend(due)
        while self._taken and now - self._taken[0].first_heard > self.memory:
            self._taken.popleft()
        return sorted((g.best for g in due), key=lambda event: event.received)

    def next_due(self) -> float | None:
        """When the next open group becomes due (None: none is waiting)."""
        return min((g.first_heard + self.window for g in self._open), default=None)
