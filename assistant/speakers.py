"""Speaker ids as the Speech Commands layout names files (`<speaker>_nohash_<n>.wav`): the one
rule by which the clips kept of the microphone (assistant/clips.py) and the takes recorded for
training (model_training/record.py) name their speaker, so that one person is one speaker, in
one split, whichever wrote the clips."""

from __future__ import annotations

import re
import unicodedata


def speaker_id(name: str) -> str:
    """The speaker id `name` has in file names: its letters and digits in lower case, accents
    dropped ("Zoë O'Neil" is "zoeoneil", "lab-2" "lab2"), so it holds none of the `_` and `/`
    that the layout gives a meaning; "" when it has none."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", plain)
