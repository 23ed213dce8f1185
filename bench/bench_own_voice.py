"""The own-voice analysis (assistant/own_voice.py): how long the commands heard while a new reply
is said count as any, what it finds in some replies, and whether its margin covers what a room
does to them.

    python bench/bench_own_voice.py [--rate 170] [--repeats 5] [--rooms 100] [--seed 0]
                                    [--config FILE]

A reply is said at once, its analysis made meanwhile on a thread of its own (`Analysis`): it
prints how much later a new reply starts (the speech worker's look-up), then for each reply the
commands found and the time the analysis takes, during which every command heard counts as the
reply's: the first reply of a run (it also loads the model), a reply not said before (best and
worst of --repeats fresh analysers, the model loaded; also heard in a quiet room alone, as
without the analysis rooms, own_voice.ROOMS), and one said before (kept: known as it starts).

Then it plays each reply through --rooms simulated rooms (room i of --seed is always the same
room, drawn from the ranges below; the analysis rooms are fixed, not drawn) and, for each reply
and command, compares the highest 1 s average the recognizer reaches in any room with the
analysis (found when it reaches OWN_VOICE_SCORE in a quiet room, or comes within ROOM_MARGIN of
the threshold in an analysis room) and with the threshold the board reports the command at
(the `microphone:` section of --config, default the default config.yaml, which the replies are
also analysed with). A reply that a room makes the board report as a command the analysis does
not find is a command the daemon obeys although the assistant said it: the margin is too small.
A command found that no room makes the board report only costs the user's own command while the
reply is said.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from assistant.acoustics import Room
from assistant.config import DEFAULT_CONFIG, load_config
from assistant.discovery import discover_skills
from assistant.espeak import espeak_to_file
from assistant.own_voice import OWN_VOICE_SCORE, ROOM_MARGIN, ROOMS, Analysis, OwnVoice, Scores
from assistant.speech import speech_settings

REPLIES = (
    "Stop",
    "Go",
    "Tea is done",
    "Timer is done",  # a timer's ring, repeated until stopped (default name "timer")
    "Timer 2 is done",
    "Timer silenced",
    "No timer is running",
    "No media player is running",
    "I cannot reach the lights",
    "Timer set for five minutes",
    "Timer 2 set for forty seconds",
    "Tea has about five minutes left",
    "Tea was due at two oh three PM, but the computer was asleep",
    "Timer was due at fourteen oh five, but the assistant was not running",
)

RT60_SECONDS = (0.2, 0.8)
"""How long the room's echoes take to fall by 60 dB."""
DIRECT_DB = (-10.0, 10.0)
"""The direct sound over the echoes (direct-to-reverberant ratio): the board from right beside
the speakers (+10) to across the room (-10)."""
LOW_HZ = (150.0, 300.0)
HIGH_HZ = (5000.0, 8000.0)
"""A laptop's or desk speaker's band: a second-order roll-off below LOW_HZ, a fourth-order one
above HIGH_HZ."""
SNR_DB = (10.0, 30.0)
"""The reply, as the microphone hears it, over the microphone's noise (white)."""
DELAY_MS = (0.0, 20.0)
"""Before the reply reaches the microphone: where the frontend's 20 ms slices fall on it."""


def drawn(seed: int, index: int) -> Room:
    """Room `index` of `seed`, drawn from the ranges above: the same whatever the count."""
    rng = np.random.default_rng((seed, index))
    return Room(
        rt60=rng.uniform(*RT60_SECONDS),
        direct_db=rng.uniform(*DIRECT_DB),
        low_hz=rng.uniform(*LOW_HZ),
        high_hz=rng.uniform(*HIGH_HZ),
        snr_db=rng.uniform(*SNR_DB),
        delay_ms=rng.uniform(*DELAY_MS),
        seed=int(rng.integers(2**31)),
    )


@dataclass(frozen=True)
class Heard:
    """One command in one reply: the analysis's scores, and the highest average in the rooms."""

    reply: str
    command: str
    analysis: Scores
    loudest: float
    room: int
    """The room it was loudest in (its index)."""
    reported_in: int
    """Rooms in which the board would report it (at its threshold or over)."""
    rooms: list[Room]

    @property
    def missed(self) -> bool:
        """Reported in a room, not found by the analysis: obeyed although the assistant said it."""
        return self.reported_in > 0 and not self.analysis.found

    @property
    def over_cautious(self) -> bool:
        """Found by the analysis, reported in no room: the user's own command ignored for
        nothing while the reply is said."""
        return self.analysis.found and self.reported_in == 0

    def describe(self) -> str:
        analysis = self.analysis
        return (
            f"{self.reply!r}: {self.command} {self.loudest:.2f} in the loudest room (threshold "
            f"{analysis.threshold:.2f}, reached in {self.reported_in} of {len(self.rooms)} "
            f"rooms); analysis: clean {analysis.clean:.2f} (found from {OWN_VOICE_SCORE}), "
            f"analysis rooms {analysis.in_rooms:.2f} (found from "
            f"{analysis.threshold - ROOM_MARGIN:.2f}); loudest in room {self.room}: "
            f"{self.rooms[self.room]}"
        )


def through_rooms(analyser: OwnVoice, text: str, rooms: list[Room]) -> list[Heard]:
    """Each command of `text`: the analysis's scores, and its averages through each of `rooms`."""
    rate = analyser.sample_rate
    speech = analyser.synthesized(text)
    in_rooms = [analyser.command_averages(room.heard(speech, rate)) for room in rooms]
    heard = []
    for command, analysis in analyser.scores(speech).items():
        scores = [averages[command] for averages in in_rooms]
        loudest = int(np.argmax(scores))
        reported = sum(value >= analysis.threshold for value in scores)
        heard.append(Heard(text, command, analysis, scores[loudest], loudest, reported, rooms))
    return heard


def timed(analyser: OwnVoice, text: str) -> tuple[float, frozenset[str] | None]:
    start = time.perf_counter()
    found = analyser.commands_in(text)
    return (time.perf_counter() - start) * 1000, found


def loaded(analyser: Callable[[Sequence[Room]], OwnVoice], rooms: Sequence[Room]) -> OwnVoice:
    """A fresh analyser through `rooms`, its model loaded."""
    fresh = analyser(rooms)
    fresh.commands_in("Hello")
    return fresh


def starting(analyser: OwnVoice) -> None:
    """How much later than at once each new reply starts: the speech worker's look-up."""
    analysis = Analysis(analyser)
    took = []
    for text in REPLIES:
        start = time.perf_counter()
        heard = analysis.heard(text)
        took.append((time.perf_counter() - start) * 1000)
        heard.done.wait()
    analysis.close(10.0)
    print(f"a new reply starts {max(took):.2f} ms later at most (its analysis comes meanwhile)\n")


def cost(analyser: Callable[[Sequence[Room]], OwnVoice], rate: int, repeats: int) -> None:
    """How long the commands heard while a reply is said count as any, and what it finds."""
    starting(loaded(analyser, ROOMS))
    first, _ = timed(analyser(ROOMS), REPLIES[0])
    print(f"first reply of a run (the pipeline and model loaded with it): {first:.0f} ms\n")
    print(
        f"| reply ({rate} words a minute) | found | any command, new: best, worst | new, in a "
        "quiet room alone | said before |"
    )
    print("| --- | --- | --- | --- | --- |")
    analysers = [loaded(analyser, ROOMS) for _ in range(repeats)]
    quiet_only = [loaded(analyser, ()) for _ in range(repeats)]
    ratios = []
    for text in REPLIES:
        times = [timed(fresh, text) for fresh in analysers]
        quiet = sorted(timed(fresh, text)[0] for fresh in quiet_only)
        again, _ = timed(analysers[0], text)
        found = ", ".join(sorted(times[0][1] or ())) or "nothing"
        new = sorted(milliseconds for milliseconds, _ in times)
        ratios.append(new[0] / quiet[0])
        print(
            f"| {text} | {found} | {new[0]:.0f}, {new[-1]:.0f} ms | {quiet[0]:.0f}, "
            f"{quiet[-1]:.0f} ms | {again:.2f} ms |"
        )
    print(
        f"\nheard through the {len(ROOMS)} analysis rooms as well, a new reply takes "
        f"{min(ratios):.1f}-{max(ratios):.1f}x as long (best times); analysis rooms: "
        + "; ".join(f"{room}, echoes of seed {room.seed}" for room in ROOMS)
    )


def margin(analyser: OwnVoice, rooms: list[Room]) -> None:
    """Each reply through the rooms: the table, what is missed, what is over-cautious, and the
    verdict."""
    print(
        f"\n{len(rooms)} rooms: RT60 {RT60_SECONDS[0]}-{RT60_SECONDS[1]} s, direct sound "
        f"{DIRECT_DB[0]:+.0f} to {DIRECT_DB[1]:+.0f} dB over the echoes, speaker "
        f"{LOW_HZ[0]:.0f}-{LOW_HZ[1]:.0f} Hz to {HIGH_HZ[0]:.0f}-{HIGH_HZ[1]:.0f} Hz, SNR "
        f"{SNR_DB[0]:.0f}-{SNR_DB[1]:.0f} dB. Each cell: analysis clean / analysis rooms / "
        "loudest room (rooms at the threshold or over); ! the board would report it and the "
        "analysis misses it, ? found but reported in no room\n"
    )
    results = [through_rooms(analyser, text, rooms) for text in REPLIES]
    header = [f"{heard.command} ({heard.analysis.threshold})" for heard in results[0]]
    print(f"| reply | {' | '.join(header)} |")
    print(f"|{' --- |' * (len(header) + 1)}")
    for text, row in zip(REPLIES, results, strict=True):
        cells = [
            f"{h.analysis.clean:.2f} / {h.analysis.in_rooms:.2f} / {h.loudest:.2f} "
            f"({h.reported_in})" + ("!" if h.missed else "?" if h.over_cautious else "")
            for h in row
        ]
        print(f"| {text} | {' | '.join(cells)} |")
    everything = [heard for row in results for heard in row]
    missed = [heard for heard in everything if heard.missed]
    over_cautious = [heard for heard in everything if heard.over_cautious]
    print("\nmissed (a room makes the board report it, the analysis does not find it):")
    print("\n".join(f"  {heard.describe()}" for heard in missed) or "  none")
    print("over-cautious (found, but no room makes the board report it):")
    print("\n".join(f"  {heard.describe()}" for heard in over_cautious) or "  none")
    rule = (
        f"OWN_VOICE_SCORE {OWN_VOICE_SCORE} in a quiet room, or within ROOM_MARGIN "
        f"{ROOM_MARGIN} of the threshold in {len(analyser.rooms)} analysis rooms"
    )
    found = sum(heard.analysis.found for heard in everything)
    counts = (
        f"{found} of the {len(everything)} reply/command pairs found, {len(over_cautious)} of "
        "them over-cautious"
    )
    if missed:
        print(
            f"verdict: {rule} is NOT margin enough: {len(missed)} command(s) in "
            f"{len({h.reply for h in missed})} reply(ies) reported in a room and not found; "
            f"{counts}"
        )
    else:
        unfound = [heard for heard in everything if not heard.analysis.found]
        closest = max(unfound, key=lambda heard: heard.loudest - heard.analysis.threshold)
        print(
            f"verdict: {rule} holds in these rooms: no command is reported in a room that the "
            f"analysis does not find; {counts} (closest not found: {closest.describe()})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=170, help="speech.rate, words a minute")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rooms", type=int, default=100, help="simulated rooms per reply")
    parser.add_argument("--seed", type=int, default=0, help="which rooms")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args()
    microphone = load_config(args.config, discover_skills()[0]).sections["microphone"]
    synthesize = partial(espeak_to_file, speech_settings({"rate": args.rate}))
    log = logging.getLogger("bench")

    def analyser(rooms: Sequence[Room] = ROOMS) -> OwnVoice:
        return OwnVoice(microphone, synthesize, log, rooms=rooms)

    cost(analyser, args.rate, args.repeats)
    margin(analyser(), [drawn(args.seed, index) for index in range(args.rooms)])


if __name__ == "__main__":
    main()
