"""The own-voice analysis (assistant/own_voice.py): what it adds before a reply is said, and
what it finds in some replies.

    python bench/bench_own_voice.py [--rate 170] [--repeats 5]

For each reply it prints the commands found and the time the analysis took before the reply
could start: the first reply of a run (it also loads the model), a reply not said before (best
and worst of --repeats fresh analysers, the model loaded), and one said before (kept).
"""

from __future__ import annotations

import argparse
import logging
import time

from assistant.own_voice import OwnVoice
from assistant.speech import Speaker

REPLIES = (
    "Stop",
    "Go",
    "Tea is done",
    "Timer silenced",
    "No timer is running",
    "I cannot reach the lights",
    "Timer set for five minutes",
    "Tea has about five minutes left",
    "Tea was due at two oh three PM, but the computer was asleep",
)


def timed(analyser: OwnVoice, text: str) -> tuple[float, frozenset[str] | None]:
    start = time.perf_counter()
    found = analyser.commands_in(text)
    return (time.perf_counter() - start) * 1000, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=170, help="speech.rate, words a minute")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    speaker = Speaker({"enabled": False, "rate": args.rate})
    log = logging.getLogger("bench")

    def analyser() -> OwnVoice:
        return OwnVoice({}, speaker.save_to_file, log)

    first, _ = timed(analyser(), REPLIES[0])
    print(f"first reply of a run (the pipeline and model loaded with it): {first:.0f} ms\n")
    print(f"| reply ({args.rate} words a minute) | found | new: best, worst | said before |")
    print("| --- | --- | --- | --- |")
    loaded = []
    for _ in range(args.repeats):
        fresh = analyser()
        fresh.commands_in("Hello")  # loads the model
        loaded.append(fresh)
    for text in REPLIES:
        times = [timed(fresh, text) for fresh in loaded]
        again, _ = timed(loaded[0], text)
        found = ", ".join(sorted(times[0][1] or ())) or "nothing"
        new = sorted(milliseconds for milliseconds, _ in times)
        print(f"| {text} | {found} | {new[0]:.0f}, {new[-1]:.0f} ms | {again:.2f} ms |")


if __name__ == "__main__":
    main()
