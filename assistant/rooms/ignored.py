"""Messages from the broker that a hub or a satellite ignores (malformed, of another version, on
a topic no site can have, retained where none should be): any client of the broker can send
them, as fast as it likes, so each is counted, and warned about within a budget per kind and
minute, the rest of the minute summed up in one line when it ends."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from assistant.ratelimit import WARNINGS_PER_MINUTE, WarningLimiter, counted

MESSAGE_WARNINGS_PER_MINUTE = WARNINGS_PER_MINUTE
"""Warnings of each kind about messages in a minute. A constant, where the serial link's share is
a setting (device.max_line_errors): every message ignored is counted whatever the share, the
first warnings of a minute name the problem and the topic it came on, and whoever wants to see
every message can, on the broker (`mosquitto_sub -v -t '<topic_prefix>/#'`), which a board's
serial port does not allow while the assistant has it open."""


@dataclass
class RoomStats:
    """The counters a hub and a satellite share, and the limiter of their warnings about
    messages (the owner flushes it regularly, and everything at stop)."""

    ignored: int = 0
    """Messages ignored: malformed, of another version, on a topic no site can have, or
    retained where none should be."""
    by_problem: dict[str, int] = field(default_factory=dict)
    """The messages ignored, by kind."""
    warnings: WarningLimiter = field(
        default_factory=lambda: WarningLimiter(MESSAGE_WARNINGS_PER_MINUTE),
        repr=False,
        compare=False,
    )

    def ignore(self, logger: logging.Logger, kind: str, message: str, *args: object) -> None:
        """Count a message ignored as `kind` (such as "malformed-detection") and warn about it
        (`logger.warning(message, *args)`) unless `kind` has had its share of the minute."""
        self.ignored += 1
        self.by_problem[kind] = self.by_problem.get(kind, 0) + 1
        self.warnings.warning(logger, kind, message, *args)

    def summary(self) -> str:
        """The messages ignored, by kind, as `assistant status` shows them."""
        return f"messages ignored: {counted(self.ignored, self.by_problem)}"
