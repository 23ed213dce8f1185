"""Runtime benchmark: detections at a steady rate through a real pty into the dispatcher.

A writer process plays the board: it writes DET lines to the pty's master at `--rate` lines per
second for `--seconds` and records when it wrote each one. This process runs the assistant on the
pty's other end with a skill that records when each action was called. Reported: events lost,
latency from line written to action called (p50/p99), resident memory, and CPU use while idle
(the board sending only heartbeats); then the board is unplugged and plugged back in `--replugs`
times (a new pty behind the same link each time, as udev's link to a board) and the daemon's open
file descriptors, threads and resident memory are compared before and after.

    python bench/bench_runtime.py               # 1,000 events/s for 30 s, then 10 s idle
    python bench/bench_runtime.py --seconds 5   # a quick look
    python bench/bench_runtime.py --replugs 1000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import tty
from pathlib import Path
from typing import ClassVar

import numpy as np

from assistant.config import load_config
from assistant.daemon import Assistant
from assistant.plugin import Skill, action

WRITER = r"""
import json, os, sys, time
fd, rate, seconds, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
labels = ["on", "off", "up", "down", "go", "stop"]
written = []
os.write(fd, b"HELLO seq=0 proto=1 fw=bench model=bench labels=on,off,up,down,go,stop\n")
start = time.monotonic()
for i in range(int(rate * seconds)):
    due = start + i / rate
    delay = due - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    line = f"DET seq={i + 1} label={labels[i % 6]} score=0.950 ms={int((due - start) * 1000)}\n"
    written.append(time.monotonic_ns())
    os.write(fd, line.encode())
seq = int(rate * seconds) + 1
idle_end = time.monotonic() + float(sys.argv[5])
while time.monotonic() < idle_end:
    time.sleep(1.0)
    os.write(fd, f"HB seq={seq} ms=0\n".encode())
    seq += 1
json.dump(written, open(out, "w"))
"""


class StopwatchSkill(Skill):
    name = "stopwatch"
    description = "records when each action is called"
    called: ClassVar[dict[int, int]] = {}

    @action()
    def lap(self, event) -> None:
        StopwatchSkill.called[event.seq] = time.monotonic_ns()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def replug(assistant: Assistant, port: Path, master: int, times: int) -> int:
    """Unplug the board behind `port` (the pty of `master`) `times` times, each time plugged
    back in on a new pty, once the link has reconnected; returns the last pty's master."""
    source = assistant.sources[0].source
    logging.getLogger("assistant.link").setLevel(logging.ERROR)  # not a warning a replug
    for _ in range(times):
        reading = source._serial  # the port open on the board now
        new_master, slave = os.openpty()
        tty.setraw(slave)
        temporary = port.with_name("board.new")
        temporary.symlink_to(os.ttyname(slave))
        os.replace(temporary, port)
        os.close(slave)
        os.close(master)  # the old board goes: the link's reads fail
        master = new_master
        while source._serial in (None, reading):  # until it reads the new board
            time.sleep(0.01)
    return master


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--idle", type=float, default=10)
    parser.add_argument("--replugs", type=int, default=100)
    args = parser.parse_args()

    master, slave = os.openpty()
    tty.setraw(slave)
    work = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    port = work / "board"  # a link to the pty, as `assistant emulate` gives
    port.symlink_to(os.ttyname(slave))
    commands = "\n".join(f"  {c}: stopwatch.lap" for c in ("on", "off", "up", "down", "go", "stop"))
    (work / "config.yaml").write_text(
        textwrap.dedent(f"""
        source: serial
        device: {{port: {port}, heartbeat_timeout: 5}}
        min_score: 0
        cooldown: 0
        log_level: WARNING
        """)
        + "commands:\n"
        + commands
        + "\n"
    )
    installed = {"stopwatch": StopwatchSkill}
    assistant = Assistant(load_config(work / "config.yaml", installed), installed, work)
    assistant.start()
    assistant.open_default_sources()
    assistant.sources[0].source.connected.wait(5)

    written_file = work / "written.json"
    print(
        f"writing {args.rate:.0f} events/s for {args.seconds:.0f} s through {port} ...", flush=True
    )
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            str(master),
            str(args.rate),
            str(args.seconds),
            str(written_file),
            str(args.idle),
        ],
        pass_fds=(master,),
    )
    busy_until = time.monotonic() + args.seconds + 1.0
    while time.monotonic() < busy_until:
        time.sleep(1.0)
        print(f"  {len(StopwatchSkill.called)} actions called", flush=True)
    cpu_before, idle_start = os.times(), time.monotonic()
    writer.wait()
    cpu_after, idle_seconds = os.times(), time.monotonic() - idle_start
    rss = rss_mb()
    print(f"unplugging and plugging the board back in {args.replugs} times ...", flush=True)
    before = open_files(), threading.active_count(), rss_mb()
    master = replug(assistant, port, master, args.replugs)
    after = open_files(), threading.active_count(), rss_mb()
    assistant.stop()
    os.close(master)

    written = json.loads(written_file.read_text())
    latencies_ms = np.array(
        [
            (StopwatchSkill.called[i + 1] - t) / 1e6
            for i, t in enumerate(written)
            if i + 1 in StopwatchSkill.called
        ]
    )
    lost = len(written) - len(latencies_ms)
    idle_cpu = (
        (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system)
        / idle_seconds
        * 100
    )
    rows = [
        ("events written", f"{len(written)}", ""),
        ("events lost", f"{lost}", "0"),
        ("lines lost (seq gaps)", f"{assistant.stats.lost}", "0"),
        ("malformed lines", f"{assistant.stats.malformed}", "0"),
        ("latency p50", f"{np.percentile(latencies_ms, 50):.2f} ms", ""),
        ("latency p99", f"{np.percentile(latencies_ms, 99):.2f} ms", "< 5 ms"),
        ("latency max", f"{latencies_ms.max():.2f} ms", ""),
        ("daemon RSS", f"{rss:.1f} MB", "< 80 MB"),
        ("idle CPU", f"{idle_cpu:.2f} %", "< 1 %"),
        (f"open files, {args.replugs} replugs", f"{before[0]} -> {after[0]}", "unchanged"),
        (f"threads, {args.replugs} replugs", f"{before[1]} -> {after[1]}", "unchanged"),
        (f"RSS, {args.replugs} replugs", f"{before[2]:.1f} -> {after[2]:.1f} MB", ""),
    ]
    print(f"\n{'measure':<24}{'value':>14}  target")
    for name, value, target in rows:
        print(f"{name:<24}{value:>14}  {target}")
    threading.Event().wait(0.1)


if __name__ == "__main__":
    main()
