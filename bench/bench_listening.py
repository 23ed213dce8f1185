"""Desktop listening on a slow or busy machine: does the microphone source keep up in real time?

    python bench/bench_listening.py [--seconds 60] [--cpu 0] [--busy 0] [--buffer-ms 200]
                                    [--reply-every 5]

Real recordings (Speech Commands words every 3 s over one of its background noises, from
../shared/speech_commands_subset) are given to `MicrophoneSource` in real time by a stand-in for
a PortAudio input stream: the audio arrives 10 ms at a time, whether or not it is read, and
the stream keeps at most --buffer-ms of it (200 ms: what PortAudio's ALSA input kept here, read
100 ms at a time), dropping the oldest and saying "overflowed" at the next read, as PortAudio
does. Meanwhile a reply not said before starts every --reply-every seconds, as a chatty
assistant's would, and the own-voice analysis (assistant/own_voice.py `Analysis`, the speech
worker's) runs on it on its own thread, in the worker process the daemon uses. `--cpu 0` pins
the bench to that core and `--busy N` runs N busy loops there too, at the same priority (9: about a
tenth of the core left, which is how a Raspberry Pi class board compares with this machine).

Prints: the overflows (audio lost), the status's `processing` share, how late the detections
are delivered after their audio came in (what a board would not add), from the end of each
word to its detection, how long the speech worker took to start each reply (its look-up of the
analysis), how long the commands heard were ignored as any meanwhile (until the analysis), and
the resident memory of the bench and of its analysis worker process.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from assistant import protocol
from assistant.config import DEFAULT_CONFIG, load_config
from assistant.discovery import discover_skills
from assistant.listener import ListenerSettings, MicrophoneSource
from assistant.own_voice import Analysis
from assistant.speech import Speaker
from assistant.wav import read_wav_int16

SAMPLE_RATE = 16000
PIECE = SAMPLE_RATE // 100
"""The stream gets its audio 10 ms at a time."""
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "speech_commands_subset"
WORDS = ("go", "stop", "on", "off", "up", "down")
WORD_EVERY = 3.0


class PacedStream:
    """A PortAudio input stream read with `read(frames) -> (data, overflowed)`: `audio` comes in
    at real time on a thread of its own, at most `buffer` samples are kept."""

    def __init__(self, audio: np.ndarray, buffer: int):
        self.audio = audio
        self.buffer = buffer
        self.started = 0.0
        self._kept: deque[np.ndarray] = deque()
        self._held = 0
        self._overflowed = False
        self._arrived = threading.Condition()

    def __enter__(self) -> PacedStream:
        self.started = time.monotonic()
        threading.Thread(target=self._arrive, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _arrive(self) -> None:
        """The audio, then silence, 10 ms at a time."""
        index = 0
        while True:
            wait = self.started + (index + 1) * PIECE / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            piece = self.audio[index * PIECE : (index + 1) * PIECE]
            index += 1
            with self._arrived:
                self._kept.append(piece if len(piece) == PIECE else np.zeros(PIECE, np.int16))
                self._held += PIECE
                while self._held > self.buffer:
                    self._held -= len(self._kept.popleft())
                    self._overflowed = True
                self._arrived.notify()

    @property
    def read_available(self) -> int:
        """The frames kept, which a read takes without waiting."""
        with self._arrived:
            return self._held

    def read(self, frames: int) -> tuple[np.ndarray, bool]:
        with self._arrived:
            self._arrived.wait_for(lambda: self._held >= frames)
            pieces = [self._kept.popleft() for _ in range(frames // PIECE)]
            self._held -= frames
            overflowed, self._overflowed = self._overflowed, False
        return np.concatenate(pieces).reshape(-1, 1), overflowed


def recording(seconds: float) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """Background noise with a command word every WORD_EVERY s, and each word's (label, end
    in seconds)."""
    noise_file = sorted((DATA / "_background_noise_").glob("*.wav"))[0]
    noise = read_wav_int16(noise_file).astype(np.float64) * 0.1
    audio = np.resize(noise, int(seconds * SAMPLE_RATE))
    words = []
    for index, at in enumerate(np.arange(1.0, seconds - WORD_EVERY, WORD_EVERY)):
        label = WORDS[index % len(WORDS)]
        clip = read_wav_int16(sorted((DATA / label).glob("*.wav"))[index])
        start = int(at * SAMPLE_RATE)
        audio[start : start + len(clip)] += clip
        words.append((label, (start + len(clip)) / SAMPLE_RATE))
    return np.clip(audio, -32768, 32767).astype(np.int16), words


def start_replies(
    analysis: Analysis, every: float, stop: threading.Event, took: list[tuple[float, float]]
) -> None:
    """What the speech worker does as each new reply starts, every `every` seconds; `took` gets
    how long that took, and how long until its analysis was done (the commands heard ignored as
    any meanwhile)."""
    number = 0
    while not stop.wait(every):
        number += 1
        started = time.perf_counter()
        heard = analysis.heard(f"Timer {number} set for {number + 4} minutes")
        starting = time.perf_counter() - started
        heard.done.wait()
        took.append((starting, time.perf_counter() - started))


def busy_loops(count: int, cpus: set[int] | None) -> list[subprocess.Popen]:
    """`count` processes spinning at the bench's priority, on `cpus`."""
    spin = (
        "import os, sys\n"
        "if sys.argv[1]: os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(',')})\n"
        "while True: pass"
    )
    where = ",".join(map(str, sorted(cpus))) if cpus else ""
    return [subprocess.Popen([sys.executable, "-c", spin, where]) for _ in range(count)]


def rss_mb(pids: list[int]) -> float:
    """The resident memory of the processes `pids`, in MB."""
    total = 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(status.split("VmRSS:")[1].split()[0])
    return total / 1024


def children(excluded: list[subprocess.Popen]) -> list[int]:
    """The child processes of this one but `excluded`: the own-voice analysis worker."""
    skip = {process.pid for process in excluded}
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if int(fields[1]) == os.getpid() and pid not in skip:
            found.append(pid)
    return found


def percentiles(values: list[float], digits: int = 0) -> str:
    if not values:
        return "none"
    ms = np.array(values) * 1000
    median, p90 = np.median(ms), np.percentile(ms, 90)
    return f"median {median:.{digits}f} ms, p90 {p90:.{digits}f} ms, max {ms.max():.{digits}f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--cpu", type=int, action="append", help="pin to this core (repeatable)")
    parser.add_argument("--busy", type=int, default=0, help="busy loops beside it")
    parser.add_argument("--buffer-ms", type=int, default=200, help="audio the stream keeps")
    parser.add_argument("--reply-every", type=float, default=5.0, help="0: no replies")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cpus = set(args.cpu) if args.cpu else None
    if cpus:
        os.sched_setaffinity(0, cpus)
    microphone = load_config(DEFAULT_CONFIG, discover_skills()[0]).sections["microphone"]
    speaker = Speaker({"enabled": False}, analyse_with=microphone)
    speaker.own_voice.commands_in("Ready")  # the model loaded, as after the first reply
    analysis = Analysis(speaker.own_voice)
    audio, words = recording(args.seconds)
    stream = PacedStream(audio, args.buffer_ms * SAMPLE_RATE // 1000)
    source = MicrophoneSource(ListenerSettings.from_values(microphone), lambda d, b: stream)
    delivered: list[tuple[float, protocol.Message]] = []
    stopping, replies_stop, took = threading.Event(), threading.Event(), []
    loops = busy_loops(args.busy, cpus)
    try:
        listening = threading.Thread(
            target=source.run,
            args=(lambda m: delivered.append((time.monotonic(), m)), stopping),
            daemon=True,
        )
        listening.start()
        if args.reply_every > 0:
            threading.Thread(
                target=start_replies,
                args=(analysis, args.reply_every, replies_stop, took),
                daemon=True,
            ).start()
        time.sleep(args.seconds + 1.0)
        memory = rss_mb([os.getpid()]), rss_mb(children(loops))
        replies_stop.set()
        stopping.set()
        listening.join(timeout=10)
    finally:
        for loop in loops:
            loop.kill()
        analysis.close(10.0)
        speaker.close()
    detections = [(at, m) for at, m in delivered if isinstance(m, protocol.Detection)]
    late = [at - (stream.started + m.ms / 1000) for at, m in detections]
    after_word = []
    for at, m in detections:
        ended = [end for label, end in words if label == m.label and end <= m.ms / 1000]
        if ended:
            after_word.append(at - stream.started - max(ended))
    share = "not measured" if source.processing is None else f"{source.processing:.1%}"
    print(f"{args.seconds:g} s of audio, cpus {sorted(cpus) if cpus else 'all'}, {args.busy} busy")
    print(f"overflows (audio lost): {source.overflows}; processing {share} of real time")
    print(f"detections: {len(detections)} of {len(words)} words")
    print(f"delivered after their audio came in: {percentiles(late)}")
    print(f"end of the word's 1 s clip -> detection delivered: {percentiles(after_word)}")
    print(f"new replies: {len(took)}, each started {percentiles([s for s, _ in took], 2)} later")
    print(f"commands ignored as any after each started: {percentiles([a for _, a in took])}")
    print(
        f"resident memory: this process {memory[0]:.0f} MB, its analysis worker {memory[1]:.0f} MB"
    )


if __name__ == "__main__":
    main()
