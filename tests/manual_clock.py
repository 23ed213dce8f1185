"""A clock for code that takes one: its seconds pass only when a test says so."""


class Clock:
    """Call it for the time; add to `now` to let time pass."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
