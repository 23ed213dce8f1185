"""Streaming evaluation: building streams, matching detections to the truth, thresholds."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.recognizer import Recognition
from assistant.yaml_lines import load_located
from model_training.dataset import index_folder, write_wav
from model_training.streaming.__main__ import main
from model_training.streaming.build import Event, StreamRecipe, StreamTruth, build_stream
from model_training.streaming.evaluate import (
    ACCEPT_WINDOW_MS,
    StreamScores,
    score_ceiling,
    score_detections,
)
from model_training.streaming.thresholds import (
    choose_thresholds,
    thresholds_header,
    write_config_thresholds,
)

sys.path.insert(0, str(Path(__file__).parent))
import tiny_kws_model

COMMANDS = ("on", "off", "up", "down", "go", "stop")


@pytest.fixture(scope="module")
def speech_folder(tmp_path_factory) -> Path:
    """A small folder in the Speech Commands layout, spoken by espeak-ng 'speakers'."""
    from model_training.synth import espeak_available, speak, trim

    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    root = tmp_path_factory.mktemp("speech")
    speakers = [f"{n:08x}" for n in range(0, 12 * 0x1357_9BDF, 0x1357_9BDF)]
    for index, speaker in enumerate(speakers):
        pitch = 20 + 5 * index
        for word in (*COMMANDS, "house"):
            audio = np.zeros(16000, np.float32)
            spoken = trim(speak(word, "en", pitch, 160))[:12000] * 0.5
            audio[2000 : 2000 + len(spoken)] = spoken
            folder = word if word in COMMANDS else "_unknown_"
            prefix = "" if word in COMMANDS else f"{word}_"
            write_wav(root / folder / f"{prefix}{speaker}_nohash_0.wav", audio)
    rng = np.random.default_rng(0)
    write_wav(root / "_background_noise_" / "pink.wav", rng.normal(0, 0.1, 16000 * 20))
    assert any(clip.split == "test" for clip in index_folder(root))
    return root


@pytest.fixture(scope="module")
def stream(speech_folder, tmp_path_factory) -> tuple[Path, StreamTruth]:
    out = tmp_path_factory.mktemp("streams") / "short"
    recipe = StreamRecipe(minutes=0.75, snr_db=(20.0,), gap_seconds=(0.8, 2.0), seed=3)
    truth = build_stream(speech_folder, speech_folder, out, recipe)
    return out.with_suffix(".wav"), truth


def test_a_stream_holds_test_speakers_words_and_speech_at_known_times(stream, speech_folder):
    wav, truth = stream
    assert wav.exists() and wav.with_suffix(".json").exists()
    assert truth.duration_ms == 45000
    kinds = {event.kind for event in truth.events}
    assert kinds == {"command", "unknown", "speech"}
    test_clips = {c.path for c in index_folder(speech_folder) if c.split == "test"}
    for event in truth.events:
        assert 0 <= event.start_ms < event.end_ms <= truth.duration_ms
        if event.kind != "speech":
            assert event.source in test_clips
        assert (event.label in COMMANDS) == (event.kind == "command")
    starts = [e.start_ms for e in truth.events]
    assert starts == sorted(starts)
    loaded = StreamTruth.load(wav.with_suffix(".json"))
    assert (loaded.events, loaded.duration_ms) == (truth.events, truth.duration_ms)


def _truth(*events: tuple[str | None, int, int], hours: float = 1.0) -> StreamTruth:
    return StreamTruth(
        {},
        duration_ms=int(hours * 3_600_000),
        events=[
            Event("command" if label else "speech", label, "x", start, end, 10.0)
            for label, start, end in events
        ],
    )


def test_detections_are_matched_to_the_words_they_follow():
    truth = _truth(("on", 1000, 1400), ("up", 5000, 5300), ("go", 9000, 9400), (None, 12000, 14000))
    heard = [
        Recognition("on", 0.9, 1900),  # accepted, 500 ms after the word
        Recognition("on", 0.9, 2100),  # a second detection of the same word: false accept
        Recognition("down", 0.9, 5400),  # wrong command: false accept, and up is rejected
        Recognition("go", 0.9, 9400 + ACCEPT_WINDOW_MS + 1),  # too late: rejected + false accept
        Recognition("stop", 0.9, 13000),  # in running speech: false accept
    ]
    outcome = score_detections(heard, truth, 0.8)
    assert outcome.commands == {"on": 1, "up": 1, "go": 1}
    assert outcome.rejected == {"up": 1, "go": 1}
    assert outcome.false_accepts == {"on": 1, "down": 1, "go": 1, "stop": 1}
    assert outcome.latencies_ms == [500]
    assert outcome.false_reject_rate() == pytest.approx(2 / 3)
    assert outcome.false_accepts_per_hour() == pytest.approx(4.0)
    assert outcome.false_reject_rate("on") == 0.0
    assert outcome.summary(["on", "up", "go"])["latency_ms"] == {"median": 500.0, "p90": 500.0}
    nothing = score_detections([], truth, 0.8).summary(["on", "up", "go"])
    assert math.isnan(nothing["latency_ms"]["median"])  # no command accepted: no latency


def test_the_ceiling_is_each_commands_best_own_score_in_its_accept_window():
    labels = ("silence", "unknown", *COMMANDS)
    times = np.arange(1000, 10001, 100)
    scores = np.full((len(times), len(labels)), -128, np.int8)
    on = labels.index("on")
    scores[np.isin(times, [2500, 2600, 2700]), on] = 127  # three inferences hear "on"
    scores[times == 9000, on] = 127  # after the accept window of the "on" said at 2000 ms
    truth = _truth(("on", 2000, 2400), ("up", 6000, 6300))
    ceiling = score_ceiling([StreamScores(times, scores, labels, truth)], 1000, (0.29, 0.5))
    assert ceiling["commands"] == 2
    assert ceiling["one_inference"] == {"0.29": 0.5, "0.50": 0.5}
    # At best three of the ten inferences in a 1000 ms average hear "on": 0.3.
    assert ceiling["averaged"] == {"0.29": 0.5, "0.50": 0.0}


def test_evaluate_and_thresholds_from_the_command_line(stream, tmp_path):
    pytest.importorskip("tensorflow", reason="tensorflow is needed to make the test model")
    wav, truth = stream
    model = tiny_kws_model.build(tmp_path / "model")
    out = tmp_path / "evaluation"
    assert main(["evaluate", str(wav), "--model", str(model), "--out", str(out)]) == 0
    report = json.loads((out / "streaming_report.json").read_text())
    assert (out / "streaming_tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    at = report["at_thresholds"]
    events = {c: sum(e.label == c for e in truth.events) for c in COMMANDS}
    assert {c: row["events"] for c, row in at["per_command"].items()} == events
    # The tiny model calls every loud sound "on": the other commands are never detected.
    for command in COMMANDS[1:]:
        if events[command]:
            assert at["per_command"][command]["false_reject_rate"] == 1.0
    assert at["per_command"]["on"]["false_accepts"] > 0
    hours = truth.duration_ms / 3_600_000
    assert at["false_accepts_per_hour"] == pytest.approx(
        sum(row["false_accepts"] for row in at["per_command"].values()) / hours
    )
    ceiling = report["ceiling"]
    assert ceiling["commands"] == sum(events.values())
    for level, share in ceiling["averaged"].items():  # an average never beats its best member
        assert 0 <= share <= ceiling["one_inference"][level] <= 1
    rates = [o["false_accepts_per_hour"] for o in report["sweep"]]
    assert rates == sorted(rates, reverse=True)  # stricter thresholds, fewer false accepts

    config = tmp_path / "config.yaml"
    config.write_text("source: auto\nmicrophone:\n  device: default\nskills: {}\n")
    header_dir = tmp_path / "firmware"
    header_dir.mkdir()
    argv = ["thresholds", "--report", str(out / "streaming_report.json")]
    assert main([*argv, "--config", str(config), "--header", str(header_dir)]) == 0
    assert "  thresholds: {on: " in config.read_text()
    assert "kDefaultThresholdPermille" in (header_dir / "kws_thresholds.h").read_text()


def _report(rows: dict[float, dict[str, float]]) -> dict:
    return {
        "sweep": [
            {
                "thresholds": threshold,
                "per_command": {c: {"false_accepts_per_hour": fa} for c, fa in per.items()},
            }
            for threshold, per in rows.items()
        ]
    }


def test_each_command_gets_the_lowest_threshold_within_its_share_of_false_accepts():
    report = _report(
        {
            0.9: {"on": 0.0, "up": 0.2},
            0.6: {"on": 2.0, "up": 0.0},
            0.7: {"on": 0.2, "up": 0.0},
        }
    )
    assert choose_thresholds(report, max_false_accepts_per_hour=0.5) == {"on": 0.7, "up": 0.6}
    assert choose_thresholds(report, max_false_accepts_per_hour=0.1) == {"on": 0.9, "up": 0.6}


def test_config_thresholds_replace_only_their_lines(tmp_path):
    config = tmp_path / "config.yaml"
    original = (
        "source: auto\n"
        "microphone:\n"
        "  device: default  # the system default\n"
        "  thresholds:\n"
        "    on: 0.8\n"
        "    off: 0.8\n"
        "\n"
        "  block_ms: 100\n"
        "commands:\n"
        "  on:\n"
        "    do: lights.on\n"
    )
    config.write_text(original)
    write_config_thresholds(config, {"on": 0.85, "off": 0.9})
    expected = original.replace("  thresholds:\n    on: 0.8\n    off: 0.8\n", "")
    expected = expected.replace(
        "  device: default  # the system default\n",
        "  device: default  # the system default\n  thresholds: {on: 0.85, off: 0.90}\n",
    )
    assert config.read_text() == expected
    write_config_thresholds(config, {"on": 0.7})
    assert config.read_text() == expected.replace("{on: 0.85, off: 0.90}", "{on: 0.70}")

    four = tmp_path / "four.yaml"
    four.write_text("microphone:\n    device: default\n# desk microphone\n    block_ms: 100\n")
    write_config_thresholds(four, {"on": 0.7})
    assert load_located(four.read_text(), four).data["microphone"] == {
        "thresholds": {"on": 0.7},
        "device": "default",
        "block_ms": 100,
    }

    odd = tmp_path / "odd.yaml"
    odd.write_text("microphone:\n  thresholds:\n    on: 0.8\n# c\n    off: 0.8\n")
    with pytest.raises(ValueError, match=r"not changed.*by hand: \{on: 0.70\}"):
        write_config_thresholds(odd, {"on": 0.7})
    assert odd.read_text().endswith("# c\n    off: 0.8\n")

    bare = tmp_path / "bare.yaml"
    bare.write_text("source: auto\n")
    with pytest.raises(ValueError, match="no `microphone:` section"):
        write_config_thresholds(bare, {"on": 0.7})


def test_the_firmware_header_lists_thresholds_in_label_order():
    header = thresholds_header(("silence", "unknown", "on", "off"), {"on": 0.85, "off": 0.9}, "r")
    assert (
        "{\n    1000,  // silence\n    1000,  // unknown\n    850,  // on\n    900,  // off\n}"
        in header
    )
    assert header.count("#ifndef KWS_THRESHOLDS_H_") == 1
