"""The skills' status lines for `assistant status`: what each skill's status call gave, made to
fit on lines of their own, or why it failed, logged once until the reason changes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future

from assistant.skill_runner import Abandoned, Cancelled, SkillNotRunning, SkillRunner

log = logging.getLogger("assistant.host")  # the host's log, where its skills' calls are logged

STATUS_SECONDS = 2.0
"""How long `assistant status` waits for the skills' status lines (its client waits 5 s for the
whole answer)."""
STATUS_LINES = 5
"""A skill's status lines shown at most; the rest are counted."""
STATUS_LINE_CHARS = 160
"""A status line's length at most; a longer one is cut."""


def one_line(text: str) -> str:
    """`text` on one line, its runs of white space made one space: no tab (the separator of
    `assistant status`'s parts) nor line break is left."""
    return " ".join(text.split())


def _fit(lines: Sequence[str]) -> list[str]:
    """A skill's status lines for `assistant status`: each on one line (blank ones left out)
    and at most STATUS_LINE_CHARS long, STATUS_LINES of them and how many more there are."""
    kept = [one_line(line) for line in lines if line.strip()]
    fitted = [
        line if len(line) <= STATUS_LINE_CHARS else line[: STATUS_LINE_CHARS - 3] + "..."
        for line in kept[:STATUS_LINES]
    ]
    more = len(kept) - STATUS_LINES
    return fitted + ([f"and {more} more line{'s' if more > 1 else ''}"] if more > 0 else [])


class StatusLines:
    """Reads the skills' status calls, remembering why each skill's status last failed, as
    logged (logged again only when it changes)."""

    def __init__(self) -> None:
        self._told: dict[str, str] = {}

    def lines(self, name: str, future: Future, runner: SkillRunner) -> list[str]:
        """The lines the status call `future` of skill `name` (run by `runner`) gave, made fit
        for `assistant status`, or why it failed; a failure of the skill's own code is logged
        (a traceback for an exception), once until the reason changes, so a script polling
        `status` does not fill the log."""
        done = future.done()
        error = future.exception(0) if done else None
        faulty = True  # the skill's status itself failed, not the host that refused or left it
        if not done:
            running = runner.running()
            faulty = running is None or running.future is future
            why = (
                f"no answer within {STATUS_SECONDS:g} s" if faulty else f"busy with {running.label}"
            )
        elif isinstance(error, (Abandoned, Cancelled, SkillNotRunning)):  # logged where raised
            why, faulty = str(error), False
        elif error is not None:
            why = f"{type(error).__name__}: {error}"
        else:
            given = future.result()
            lines = [given] if isinstance(given, str) else given
            if isinstance(lines, (list, tuple)) and all(isinstance(line, str) for line in lines):
                self._told.pop(name, None)
                return _fit(lines)
            why = f"returned {type(given).__name__}, not a list of str"
        if faulty and self._told.get(name) != why:
            self._told[name] = why
            log.warning("skill %s: status failed: %s", name, why, exc_info=error)
        return [f"status failed: {one_line(why)}"]
