"""Rooms over MQTT under load: N satellites each sending R detections per second for S seconds
through one mosquitto to one hub. Reports detections lost (target 0) and the latency from a
satellite's forward() to the hub's dispatch (target p99 under 20 ms), and how far the
satellites fell behind their schedule (a late satellite means the machine, not the rooms
code, set the pace).

Each satellite runs in its own process, as each room runs its own; the hub runs in this one.
All read the same monotonic clock. The de-duplication window is 0 by default: with a window,
a word heard by only some rooms waits for it on purpose, and the synthetic load would be
merged into few groups.

    python bench/bench_rooms.py            # 10 satellites x 100/s x 30 s
    python bench/bench_rooms.py --seconds 5
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the broker helper the tests use

from mosquitto import Mosquitto  # noqa: E402

from assistant.config import model_commands  # noqa: E402
from assistant.plugin import CommandEvent  # noqa: E402
from assistant.rooms.hub import Hub  # noqa: E402
from assistant.rooms.satellite import Satellite  # noqa: E402
from assistant.rooms.settings import MqttSettings  # noqa: E402


def site_name(index: int) -> str:
    return f"room{index:02d}"


def run_satellite(
    settings: dict, index: int, count: int, rate: float, seconds: float, link
) -> None:
    """Child process: one satellite (as in a real home, each room runs its own). Sends
    detections on a fixed schedule from the start time it is given, then reports when each
    was forwarded, how far behind its schedule it was at worst, how many are still
    unacknowledged, and the CPU time it used from the first detection to the last
    acknowledgement."""
    logging.basicConfig(level=logging.WARNING)
    satellite = Satellite(MqttSettings.from_section(settings), site_name(index), lambda text: None)
    satellite.start()
    deadline = time.monotonic() + 10
    while not satellite.hub_online and time.monotonic() < deadline:
        time.sleep(0.01)
    link.send("ready")
    start = link.recv() + index / (rate * count)  # the satellites take turns
    cpu_before = time.process_time()
    forwarded: dict[tuple[str, int], float] = {}
    commands = model_commands()
    behind = 0.0
    for seq in range(int(rate * seconds)):
        scheduled = start + seq / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        now = time.monotonic()
        behind = max(behind, now - scheduled)
        forwarded[(satellite.site, seq)] = now
        command = commands[seq % len(commands)]
        satellite.forward(CommandEvent(command, 0.9, "bench", satellite.site, now, seq=seq))
    deadline = time.monotonic() + 10
    while satellite.pending and time.monotonic() < deadline:
        time.sleep(0.05)
    cpu = time.process_time() - cpu_before
    unacknowledged = satellite.pending
    satellite.stop()
    link.send((forwarded, behind, unacknowledged, cpu))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--satellites", type=int, default=10)
    parser.add_argument("--rate", type=float, default=100.0, help="detections/s per satellite")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--dedup-window", type=float, default=0.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("assistant.hub").setLevel(logging.ERROR)  # satellites leaving at the end

    with tempfile.TemporaryDirectory() as workdir, Mosquitto(Path(workdir)) as broker:
        settings = {"host": "127.0.0.1", "port": broker.port, "dedup_window": args.dedup_window}
        dispatched: dict[tuple[str, int], float] = {}
        repeats = 0
        lock = threading.Lock()

        def dispatch(event: CommandEvent) -> None:
            nonlocal repeats
            now = time.monotonic()
            with lock:
                key = (event.site, event.seq)
                repeats += key in dispatched
                dispatched.setdefault(key, now)

        hub = Hub(MqttSettings.from_section(settings), "hub", dispatch, print, False)
        hub.start()
        spawn = multiprocessing.get_context("spawn")
        links, children = [], []
        for index in range(args.satellites):
            ours, theirs = spawn.Pipe()
            child = spawn.Process(
                target=run_satellite,
                args=(settings, index, args.satellites, args.rate, args.seconds, theirs),
            )
            child.start()
            links.append(ours)
            children.append(child)
        for link in links:
            link.recv()
        print(f"{args.satellites} satellites online; sending for {args.seconds:.0f} s")
        began = time.monotonic() + 0.5
        hub_cpu_before = time.process_time()
        for link in links:
            link.send(began)
        while not links[-1].poll(5):
            print(f"  {time.monotonic() - began:5.1f} s: {len(dispatched)} dispatched", flush=True)
        forwarded: dict[tuple[str, int], float] = {}
        unacknowledged = 0
        satellites_cpu = 0.0
        behind = 0.0
        for link, child in zip(links, children, strict=True):
            sent, satellite_behind, waiting, cpu = link.recv()
            forwarded.update(sent)
            behind = max(behind, satellite_behind)
            unacknowledged += waiting
            satellites_cpu += cpu
            child.join()
        hub_cpu = time.process_time() - hub_cpu_before
        hub.stop()
        stats = hub.stats

    latencies = [
        (dispatched[key] - sent) * 1000 for key, sent in forwarded.items() if key in dispatched
    ]
    lost = len(forwarded) - len(latencies)
    latencies = latencies or [float("inf")]
    span = max(forwarded.values()) - min(forwarded.values())
    rows = [
        ("satellites x rate", f"{args.satellites} x {args.rate:.0f}/s for {args.seconds:.0f} s"),
        ("detections sent", f"{len(forwarded)} ({len(forwarded) / span:.0f}/s achieved)"),
        ("satellites behind schedule, worst", f"{behind * 1000:.1f} ms"),
        ("dispatched by the hub", f"{len(latencies)}"),
        ("lost (target 0)", f"{lost}"),
        ("dispatched twice", f"{repeats}"),
        ("resent, recognised by id", f"{stats.repeated}"),
        ("unacknowledged at the end", f"{unacknowledged}"),
        ("CPU while sending: hub / satellites", f"{hub_cpu:.1f} s / {satellites_cpu:.1f} s"),
        ("machine load (1 min average)", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"),
        ("latency p50", f"{percentile(latencies, 0.50):.2f} ms"),
        ("latency p95", f"{percentile(latencies, 0.95):.2f} ms"),
        ("latency p99 (target < 20 ms)", f"{percentile(latencies, 0.99):.2f} ms"),
        ("latency max", f"{max(latencies):.2f} ms"),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    ok = lost == 0 and percentile(latencies, 0.99) < 20
    print(f"\n{'PASS' if ok else 'FAIL'}: lost {lost}, p99 {percentile(latencies, 0.99):.2f} ms")


if __name__ == "__main__":
    main()
