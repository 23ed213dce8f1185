"""The names a name given looks like a misspelling of, for every "did you mean" the assistant
says: a setting's choice, a section, a skill or action, a speech voice."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

SHOWN = 3
"""How many names a "did you mean" offers at most."""


def nearest(given: str, names: Sequence[str], count: int = 1, cutoff: float = 0.75) -> list[str]:
    """Up to `count` of `names` that `given` may be a slip for, the nearest first: `given`
    typed in another case or with two neighbouring letters swapped, then the likest by
    difflib's ratio (at least `cutoff`)."""
    near = [name for name in names if _slipped(given, name)]
    near += difflib.get_close_matches(given, names, n=count, cutoff=cutoff)
    return list(dict.fromkeys(near))[:count]


def did_you_mean(near: Sequence[str]) -> str:
    """`did you mean 'a' (or 'b', 'c')? ` for the names `near` (the nearest first, at most
    SHOWN of them), or "" for none."""
    near = list(dict.fromkeys(near))[:SHOWN]
    if not near:
        return ""
    others = f" (or {', '.join(map(repr, near[1:]))})" if near[1:] else ""
    return f"did you mean {near[0]!r}{others}? "


def valid_choices(given: object, choices: Sequence[object], label: str = "valid") -> str:
    """`valid: a, b, c`, led by the nearest choice when `given` looks like a misspelling of it."""
    names = [str(choice) for choice in choices]
    return f"{did_you_mean(nearest(str(given), names))}{label}: {', '.join(names) or 'none'}"


def _slipped(given: str, name: str) -> bool:
    """Whether `given` is `name` typed in another case or, from three letters on (`on` is not
    `no`), with two neighbouring letters swapped (`sya` for `say`): slips too short for a
    likeness ratio to catch."""
    given, name = given.lower(), name.lower()
    if len(given) != len(name) or (given != name and len(name) < 3):
        return False
    differ = [i for i, (a, b) in enumerate(zip(given, name, strict=True)) if a != b]
    if not differ:
        return True
    first, last = differ[0], differ[-1]
    return differ == [first, first + 1] and given[first] + given[last] == name[last] + name[first]
