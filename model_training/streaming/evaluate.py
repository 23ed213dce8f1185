"""The whole desktop pipeline over long streams: false rejects, false accepts per hour, latency.

The model's scores are computed once per stream (the costly part, cached beside the stream for
each model); the recognizer is then replayed over them for every threshold of the sweep, exactly
as it runs live.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.features import FeatureContract
from assistant.model_files import load_model
from assistant.model_runner import Int8Model, model_sha256
from assistant.pipeline import DEFAULT_INFERENCE_EVERY, RecognizerSettings, ScoreStream
from assistant.recognizer import OUTPUT_ZERO_POINT, Recognition, window_averages
from assistant.wav import read_wav_int16
from model_training.progress import Progress
from model_training.streaming.build import Event, StreamTruth

ACCEPT_WINDOW_MS = 1500
"""A detection of the right command from the word's start to this long after its end counts."""
SWEEP = tuple(round(t, 2) for t in np.arange(0.30, 0.991, 0.01))
"""Every threshold tried, 0.01 apart: per-command thresholds are chosen from these."""
CEILING_LEVELS = (0.5, 0.7, 0.8, 0.9)
CHUNK_SECONDS = 10


@dataclass
class StreamScores:
    """The model's int8 scores over one stream, one row per inference."""

    times_ms: np.ndarray
    scores: np.ndarray
    labels: tuple[str, ...]
    truth: StreamTruth


def stream_scores(
    wav: str | Path,
    model: Int8Model,
    contract: FeatureContract,
    inference_every: int = DEFAULT_INFERENCE_EVERY,
) -> StreamScores:
    """`model`'s scores for a stream built by `build` (its truth JSON beside it), cached per
    model."""
    wav = Path(wav)
    truth = StreamTruth.load(wav.with_suffix(".json"))
    cache = wav.with_suffix(f".{model.model_id}.every{inference_every}.npz")
    if cache.exists():
        saved = np.load(cache)
        return StreamScores(saved["times_ms"], saved["scores"], contract.labels, truth)
    samples = read_wav_int16(wav)
    stream = ScoreStream(model, contract, inference_every)
    chunk = CHUNK_SECONDS * contract.sample_rate
    progress = Progress(f"scoring {wav.name}", len(samples))
    times, scores = [], []
    for start in range(0, len(samples), chunk):
        for inference in stream.feed(samples[start : start + chunk]):
            times.append(inference.time_ms)
            scores.append(inference.scores)
        progress(min(start + chunk, len(samples)))
    result = StreamScores(
        np.array(times, dtype=np.int64), np.array(scores, dtype=np.int8), contract.labels, truth
    )
    np.savez(cache, times_ms=result.times_ms, scores=result.scores)
    return result


def recognize(stream: StreamScores, settings: RecognizerSettings) -> list[Recognition]:
    recognizer = settings.recognizer(stream.labels)
    heard = []
    for time_ms, scores in zip(stream.times_ms.tolist(), stream.scores, strict=True):
        recognition = recognizer.process(scores, time_ms)
        if recognition is not None:
            heard.append(recognition)
    return heard


@dataclass
class Outcome:
    """How one setting of the recognizer did over one or more streams."""

    thresholds: float | dict[str, float]
    hours: float = 0.0
    commands: dict[str, int] = field(default_factory=dict)
    """Command events per command."""
    rejected: dict[str, int] = field(default_factory=dict)
    false_accepts: dict[str, int] = field(default_factory=dict)
    """Detections that match no command event, per detected label."""
    latencies_ms: list[int] = field(default_factory=list)
    """Detection time minus the end of the word, for every accepted command."""
    commands_by_snr: dict[str, int] = field(default_factory=dict)
    rejected_by_snr: dict[str, int] = field(default_factory=dict)

    def add(self, other: Outcome) -> None:
        self.hours += other.hours
        for mine, theirs in (
            (self.commands, other.commands),
            (self.rejected, other.rejected),
            (self.false_accepts, other.false_accepts),
            (self.commands_by_snr, other.commands_by_snr),
            (self.rejected_by_snr, other.rejected_by_snr),
        ):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        self.latencies_ms += other.latencies_ms

    def false_reject_rate(self, command: str | None = None) -> float:
        keys = [command] if command else list(self.commands)
        total = sum(self.commands.get(k, 0) for k in keys)
        return sum(self.rejected.get(k, 0) for k in keys) / total if total else float("nan")

    def false_accepts_per_hour(self, command: str | None = None) -> float:
        count = self.false_accepts.get(command, 0) if command else sum(self.false_accepts.values())
        return count / self.hours if self.hours else float("nan")

    def summary(self, commands: Sequence[str]) -> dict:
        latency = self.latencies_ms or [float("nan")]  # no command accepted: no latency
        return {
            "thresholds": self.thresholds,
            "hours": round(self.hours, 3),
            "false_reject_rate": self.false_reject_rate(),
            "false_accepts_per_hour": self.false_accepts_per_hour(),
            "latency_ms": {
                "median": float(np.median(latency)),
                "p90": float(np.percentile(latency, 90)),
            },
            "false_reject_rate_by_snr_db": {
                snr: self.rejected_by_snr.get(snr, 0) / count
                for snr, count in sorted(self.commands_by_snr.items(), key=lambda i: float(i[0]))
            },
            "per_command": {
                command: {
                    "events": self.commands.get(command, 0),
                    "false_reject_rate": self.false_reject_rate(command),
                    "false_accepts": self.false_accepts.get(command, 0),
                    "false_accepts_per_hour": self.false_accepts_per_hour(command),
                }
                for command in commands
            },
        }


def command_events(truth: StreamTruth) -> list[Event]:
    return [e for e in truth.events if e.kind == "command" and e.label is not None]


def accept_window(event: Event) -> tuple[int, int]:
    """When a detection of the event's command counts, in stream milliseconds (inclusive)."""
    return event.start_ms, event.end_ms + ACCEPT_WINDOW_MS


def score_detections(
    heard: Sequence[Recognition], truth: StreamTruth, thresholds: float | dict[str, float]
) -> Outcome:
    """Match detections to the command events: the first detection of the right command within
    the accept window accepts the event; every other detection is a false accept."""
    outcome = Outcome(thresholds, hours=truth.duration_ms / 3_600_000)
    used: set[int] = set()
    order = sorted(range(len(heard)), key=lambda i: heard[i].time_ms)
    times = np.array([heard[i].time_ms for i in order], dtype=np.int64)
    for event in command_events(truth):
        outcome.commands[event.label] = outcome.commands.get(event.label, 0) + 1
        snr = f"{event.snr_db:g}"
        outcome.commands_by_snr[snr] = outcome.commands_by_snr.get(snr, 0) + 1
        opens, closes = accept_window(event)
        first = int(np.searchsorted(times, opens))
        last = int(np.searchsorted(times, closes, side="right"))
        match = next(
            (
                order[i]
                for i in range(first, last)
                if order[i] not in used and heard[order[i]].label == event.label
            ),
            None,
        )
        if match is None:
            outcome.rejected[event.label] = outcome.rejected.get(event.label, 0) + 1
            outcome.rejected_by_snr[snr] = outcome.rejected_by_snr.get(snr, 0) + 1
        else:
            used.add(match)
            outcome.latencies_ms.append(heard[match].time_ms - event.end_ms)
    for index, recognition in enumerate(heard):
        if index not in used:
            label = recognition.label
            outcome.false_accepts[label] = outcome.false_accepts.get(label, 0) + 1
    return outcome


def evaluate_setting(streams: Sequence[StreamScores], settings: RecognizerSettings) -> Outcome:
    """One recognizer setting over all the streams, pooled."""
    pooled = Outcome(settings.thresholds)
    for stream in streams:
        pooled.add(score_detections(recognize(stream, settings), stream.truth, settings.thresholds))
    return pooled


def score_ceiling(
    streams: Sequence[StreamScores],
    average_window_ms: int,
    levels: Sequence[float] = CEILING_LEVELS,
) -> dict:
    """The right command's best score within each command's accept window, of one inference and
    averaged over the recognizer's window: the share of commands reaching a level is the most any
    threshold at that level can accept (suppression and the other labels aside)."""
    best: dict[str, list[float]] = {"one_inference": [], "averaged": []}
    for stream in streams:
        single = (
            stream.scores.astype(np.float64) - OUTPUT_ZERO_POINT
        ) / 255  # the recognizer's 0-1 scale
        averaged, _ = window_averages(stream.times_ms, single, average_window_ms)
        for event in command_events(stream.truth):
            opens, closes = accept_window(event)
            inside = (stream.times_ms >= opens) & (stream.times_ms <= closes)
            column = stream.labels.index(event.label)
            for kind, values in (("one_inference", single), ("averaged", averaged)):
                best[kind].append(float(values[inside, column].max()) if inside.any() else 0.0)
    return {
        "commands": len(best["averaged"]),
        "average_window_ms": average_window_ms,
        **{
            kind: {f"{level:.2f}": float(np.mean(np.array(found) >= level)) for level in levels}
            for kind, found in best.items()
        },
    }


def ceiling_lines(ceiling: dict) -> list[tuple[str, str]]:
    """(what, shares) for printing a `score_ceiling` result."""
    names = {
        "one_inference": "one inference",
        "averaged": f"{ceiling['average_window_ms']} ms average",
    }
    return [
        (name, ", ".join(f">={level} {100 * share:.0f}%" for level, share in ceiling[kind].items()))
        for kind, name in names.items()
    ]


def sweep(
    streams: Sequence[StreamScores],
    base: RecognizerSettings,
    thresholds: Sequence[float] = SWEEP,
) -> list[Outcome]:
    """The same threshold for every command, at each value of `thresholds`."""
    progress = Progress("threshold sweep", len(thresholds))
    outcomes = []
    for done, threshold in enumerate(thresholds, 1):
        settings = RecognizerSettings(
            threshold, base.average_window_ms, base.suppression_ms, base.minimum_count
        )
        outcomes.append(evaluate_setting(streams, settings))
        progress(done)
    return outcomes


def plot_tradeoff(outcomes: Sequence[Outcome], commands: Sequence[str], path: Path) -> None:
    """False-reject rate against false accepts per hour across thresholds (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 5))
    fa = [o.false_accepts_per_hour() for o in outcomes]
    frr = [100 * o.false_reject_rate() for o in outcomes]
    axes.plot(fa, frr, "o-", color="black", label="all commands", linewidth=2)
    for outcome, x, y in zip(outcomes, fa, frr, strict=True):
        if round(outcome.thresholds * 100) % 5 == 0:  # label every 0.05
            axes.annotate(f"{outcome.thresholds:.2f}", (x, y), fontsize=7, xytext=(3, 3),
                          textcoords="offset points")  # fmt: skip
    for command in commands:
        axes.plot(
            [o.false_accepts_per_hour(command) for o in outcomes],
            [100 * o.false_reject_rate(command) for o in outcomes],
            ".-",
            alpha=0.6,
            label=command,
        )
    axes.axvline(0.5, color="red", linestyle=":", label="target: 0.5 FA/h")
    axes.axhline(5, color="red", linestyle="--", label="target: 5% FRR")
    axes.set_xscale("symlog", linthresh=0.5)
    axes.set_xlim(0, max([*fa, 1.0]) * 1.3)
    axes.set_xlabel("false accepts per hour (symlog)")
    axes.set_ylabel("false-reject rate (%)")
    hours = outcomes[0].hours if outcomes else 0
    axes.set_title(f"Keyword spotting over {hours:.2f} h of streams (labels: threshold)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def evaluate(
    wavs: Sequence[str | Path],
    model_path: str | Path,
    out_dir: str | Path,
    base: RecognizerSettings,
    inference_every: int = DEFAULT_INFERENCE_EVERY,
) -> dict:
    """Score the streams, sweep the thresholds, plot, and report at the `base` thresholds."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, contract = load_model(model_path)
    commands = base.recognizer(contract.labels).commands  # its settings checked before scoring
    streams = [stream_scores(wav, model, contract, inference_every) for wav in wavs]
    outcomes = sweep(streams, base)
    plot_path = out_dir / "streaming_tradeoff.png"
    plot_tradeoff(outcomes, commands, plot_path)
    report = {
        "model": str(model_path),
        "model_sha256": model_sha256(model.content),
        "streams": [str(w) for w in wavs],
        "splits": sorted({stream.truth.split for stream in streams}),
        "inference_every": inference_every,
        "accept_window_ms": ACCEPT_WINDOW_MS,
        "recognizer": {
            "average_window_ms": base.average_window_ms,
            "suppression_ms": base.suppression_ms,
            "minimum_count": base.minimum_count,
        },
        "at_thresholds": evaluate_setting(streams, base).summary(commands),
        "ceiling": score_ceiling(streams, base.average_window_ms),
        "sweep": [outcome.summary(commands) for outcome in outcomes],
        "plot": str(plot_path),
    }
    (out_dir / "streaming_report.json").write_text(json.dumps(report, indent=1))
    return report
