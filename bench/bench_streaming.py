"""Desktop keyword spotting: speed of each stage, parity with the board, and streaming accuracy.

    python bench/bench_streaming.py [--model assistant/models/kws_int8.tflite]
        [--report data/streaming/streaming_report.json] [--seconds 60] [--repeats 5]

Prints a table: frontend and whole-pipeline speed (times real time, best of --repeats runs, from
fresh objects whose start-up is timed on its own) for microphone-sized chunks (100 ms) and
evaluation-sized chunks (10 s), the speed of resampling a 44.1 or 48 kHz microphone, the model's
time per inference, whether the features equal TensorFlow's microfrontend op and the scores equal
the TFLM interpreter, and the streaming results of the last `python -m model_training.streaming
evaluate` run against the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # model_training is not installed

from assistant.frontend import Frontend
from assistant.model_files import DEFAULT_MODEL, load_model
from assistant.pipeline import KeywordPipeline
from assistant.resample import Resampler, resampled
from model_training.settings import SAMPLE_RATE, data_dir
from model_training.streaming.evaluate import ceiling_lines

TARGET_SPEED = 100.0
TARGET_FRR = 0.05
TARGET_FA_PER_HOUR = 0.5


def _test_audio(seconds: float) -> np.ndarray:
    """Noise with bursts of louder, speech-like tones (the frontend's work does not depend on
    content, but the recognizer's does a little)."""
    rng = np.random.default_rng(0)
    samples = int(seconds * SAMPLE_RATE)
    audio = rng.normal(0, 300, samples)
    t = np.arange(samples) / SAMPLE_RATE
    bursts = (np.sin(2 * np.pi * 0.3 * t) > 0.8) * 4000 * np.sin(2 * np.pi * 300 * t)
    return np.clip(audio + bursts, -32768, 32767).astype(np.int16)


def _best_time(run, repeats: int = 3, make=lambda: None) -> float:
    """The best of `repeats` timings of run(made), each with a fresh made = make() (not timed)."""
    best = float("inf")
    for _ in range(repeats):
        made = make()
        start = time.perf_counter()
        run(made)
        best = min(best, time.perf_counter() - start)
    return best


def _feed_all(process, audio: np.ndarray, chunk: int) -> None:
    for start in range(0, len(audio), chunk):
        process(audio[start : start + chunk])


def speed_rows(model: Path, seconds: float, repeats: int) -> list[tuple[str, str, str]]:
    """Streaming speed: fresh frontends and pipelines (their start-up is timed on its own)."""
    audio = _test_audio(seconds)
    startup = _best_time(lambda _: KeywordPipeline(model), repeats)
    rows = [("pipeline start-up (model, tables)", f"{startup * 1000:.0f} ms", "once per stream")]
    for chunk_ms in (100, 10_000):
        chunk = SAMPLE_RATE * chunk_ms // 1000
        frontend = _best_time(
            lambda made, c=chunk: _feed_all(made.process, audio, c), repeats, Frontend
        )
        rows.append((f"frontend, {chunk_ms} ms chunks", f"{seconds / frontend:.0f}x real time", ""))
        pipeline = _best_time(
            lambda made, c=chunk: _feed_all(made.feed, audio, c),
            repeats,
            lambda: KeywordPipeline(model),
        )
        speed = seconds / pipeline
        verdict = "meets" if speed >= TARGET_SPEED else "misses"
        rows.append(
            (
                f"whole pipeline, {chunk_ms} ms chunks",
                f"{speed:.0f}x real time",
                f"{verdict} >= {TARGET_SPEED:.0f}x",
            )
        )
    for rate in (44100, 48000):  # microphones that record only their own rate
        at_rate = resampled(audio, SAMPLE_RATE, rate)
        took = _best_time(
            lambda made, a=at_rate, c=rate // 10: _feed_all(made.feed, a, c),
            repeats,
            lambda r=rate: Resampler(r),
        )
        rows.append(
            (
                f"resampling {rate} Hz to 16 kHz, 100 ms chunks",
                f"{seconds / took:.0f}x real time",
                "before the pipeline, for such a microphone",
            )
        )
    int8_model, contract = load_model(model)
    window = np.zeros((contract.slices, contract.channels), dtype=np.int8)
    per_inference = _best_time(lambda _: [int8_model(window) for _ in range(100)], repeats) / 100
    rows.append(
        (
            f"model inference ({int8_model.numpy_layers} layers in numpy, rest TFLM)",
            f"{per_inference * 1000:.2f} ms",
            f"{10 * per_inference * 1000:.1f} ms per second of audio",
        )
    )
    return rows


def parity_rows(model: Path) -> list[tuple[str, str, str]]:
    rows = []
    audio = _test_audio(5.0)
    try:
        from model_training.frontend import microfrontend

        expected = microfrontend(audio)
    except ImportError:
        rows.append(("features = TF microfrontend op", "not checked", "tensorflow missing"))
    else:
        frontend = Frontend()
        pieces = [frontend.process(audio[i : i + 1234]) for i in range(0, len(audio), 1234)]
        ours = np.concatenate(pieces)
        same = ours.shape == expected.shape and bool((ours == expected).all())
        rows.append(
            ("features = TF microfrontend op", "yes" if same else "NO", f"{ours.size} values")
        )
    try:
        from model_training.quantize import run_tflm
    except ImportError:
        rows.append(("scores = TFLM interpreter", "not checked", "tflite-micro missing"))
    else:
        int8_model, contract = load_model(model)
        features = contract.to_int8(Frontend().process(audio))
        windows = np.array([features[end - 49 : end] for end in range(49, len(features) + 1, 5)])
        ours = np.array([int8_model(window) for window in windows])
        same = bool((ours == run_tflm(model.read_bytes(), windows)).all())
        rows.append(
            ("scores = TFLM interpreter", "yes" if same else "NO", f"{len(windows)} inferences")
        )
    return rows


def accuracy_rows(report_path: Path) -> list[tuple[str, str, str]]:
    if not report_path.exists():
        return [
            (
                "streaming accuracy",
                "not measured",
                "run python -m model_training.streaming build / evaluate",
            )
        ]
    report = json.loads(report_path.read_text())
    at = report["at_thresholds"]
    frr, fa = at["false_reject_rate"], at["false_accepts_per_hour"]
    rows = [
        ("streams", f"{at['hours']:.2f} h", ", ".join(Path(s).name for s in report["streams"])),
        ("thresholds", json.dumps(at["thresholds"]), ""),
        (
            "false-reject rate",
            f"{100 * frr:.1f}%",
            f"{'meets' if frr < TARGET_FRR else 'misses'} < {100 * TARGET_FRR:.0f}%",
        ),
        (
            "false accepts per hour",
            f"{fa:.2f}",
            f"{'meets' if fa < TARGET_FA_PER_HOUR else 'misses'} < {TARGET_FA_PER_HOUR}",
        ),
        (
            "latency after the word",
            f"median {at['latency_ms']['median']:.0f} ms",
            f"p90 {at['latency_ms']['p90']:.0f} ms",
        ),
    ]
    for command, row in at["per_command"].items():
        rows.append(
            (
                f"  {command}",
                f"FRR {100 * row['false_reject_rate']:.1f}%",
                f"{row['events']} words, {row['false_accepts']} false accepts",
            )
        )
    if "ceiling" in report:  # reports written before the ceiling was measured have none
        for name, shares in ceiling_lines(report["ceiling"]):
            rows.append((f"ceiling, {name}", shares, "commands whose own score reaches it"))
    return rows


def print_table(rows: list[tuple[str, str, str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument(
        "--report", type=Path, default=data_dir() / "streaming" / "streaming_report.json"
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5, help="timings to take the best of")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    speed = speed_rows(args.model, args.seconds, args.repeats)
    load = f"load average {before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    rows = [("measure", "value", f"note ({load})"), *speed]
    rows += parity_rows(args.model)
    rows += accuracy_rows(args.report)
    print_table(rows)


if __name__ == "__main__":
    main()
