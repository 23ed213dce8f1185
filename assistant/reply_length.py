"""A reply cut to what `speech.timeout` holds at `speech.rate`: after a word, ending with
"... and more" so that the listener hears it was cut."""

from __future__ import annotations

import string
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

CHARACTERS_PER_WORD = 5
"""Plain characters (spaces included) counted for each word of `rate`: espeak-ng says a typical
160-character reply in about 8 s at 170 words a minute (6.7 to the word), and pauses after
each sentence."""
PLAIN = frozenset(string.ascii_letters + " .,'-")
"""Characters said as part of a word (or as a short pause)."""
SPELLED_OUT = 10
"""What any other character counts for, in plain ones: espeak-ng says a symbol or a non-Latin
character as a word of its own ("plus", "chinese letter"), and a digit as part of a number
("1234567" is seven words)."""
CUT_MARKER = "... and more"
"""Ends a reply cut to fit `timeout`: a pause, then "and more", as assistants say when they read
only the start of a list ("and 3 more"), so that the listener hears there was more to it."""


def fitting_reply(text: str, settings: Mapping[str, Any]) -> tuple[str, str]:
    """What to say of `text` and the rest not said (empty when all of it can be said within
    `timeout` at `rate`): else its start, cut after a word when one ends in its second half and
    followed by CUT_MARKER, the whole within `timeout` (without the marker when even that
    leaves no room for a word or two)."""
    limit = round(settings["rate"] / 60 * settings["timeout"] * CHARACTERS_PER_WORD)
    costs = list(accumulate(_cost(character) for character in text))
    if not costs or costs[-1] <= limit:
        return text, ""
    end = _cut(text, costs, limit - CUT_MARKER_COST)
    said = text[:end].rstrip(" ,;:.-")
    if not said:
        end = _cut(text, costs, limit)
        return text[:end].rstrip(), text[end:].lstrip()
    return said + CUT_MARKER, text[end:].lstrip()


def _cost(character: str) -> int:
    """What saying `character` costs, in plain characters (CHARACTERS_PER_WORD to a word)."""
    return 1 if character in PLAIN else SPELLED_OUT


CUT_MARKER_COST = sum(map(_cost, CUT_MARKER))
"""What saying CUT_MARKER costs, in plain characters."""


def _cut(text: str, costs: list[int], limit: int) -> int:
    """Where to cut `text` (`costs`: the cost of each of its starts) to cost at most `limit`:
    after the last word that fits, when it ends in the second half of what fits."""
    end = next(index for index, cost in enumerate(costs) if cost > limit)
    word_end = text.rfind(" ", 0, end + 1)
    return word_end if word_end >= end // 2 else end
