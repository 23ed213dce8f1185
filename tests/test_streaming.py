"""Streaming evaluation: building streams, matching detections to the truth, thresholds."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from file_size_limit import file_size_limit

from assistant.model_files import load_contract
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
    check_tuning_report,
    choose_thresholds,
    config_with_thresholds,
    header_path,
    read_thresholds_header,
    thresholds_header,
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
    assert {"validation", "test"} <= {clip.split for clip in index_folder(root)}
    return root


def _build(folder: Path, out: Path, split: str, **recipe) -> tuple[Path, StreamTruth]:
    recipe = StreamRecipe(snr_db=(20.0,), gap_seconds=(0.8, 2.0), seed=3, split=split, **recipe)
    return out.with_suffix(".wav"), build_stream(folder, folder, out, recipe)


@pytest.fixture(scope="module")
def stream(speech_folder, tmp_path_factory) -> tuple[Path, StreamTruth]:
    """A short test-speaker stream (held out: for reporting)."""
    return _build(speech_folder, tmp_path_factory.mktemp("streams") / "short", "test", minutes=0.75)


@pytest.fixture(scope="module")
def tuning_stream(speech_folder, tmp_path_factory) -> tuple[Path, StreamTruth]:
    """A short validation-speaker stream (for choosing thresholds), every command in it."""
    out = tmp_path_factory.mktemp("streams") / "tuning"
    return _build(
        speech_folder, out, "validation", minutes=1.0, command_share=0.6, unknown_share=0.2
    )


@pytest.mark.parametrize("split", ["test", "validation"])
def test_a_stream_holds_its_splits_words_and_speech_at_known_times(
    split, stream, tuning_stream, speech_folder
):
    wav, truth = {"test": stream, "validation": tuning_stream}[split]
    assert wav.exists() and wav.with_suffix(".json").exists()
    assert truth.duration_ms == truth.recipe["minutes"] * 60_000
    kinds = {event.kind for event in truth.events}
    assert kinds == {"command", "unknown", "speech"}
    split_clips = {c.path for c in index_folder(speech_folder) if c.split == split}
    for event in truth.events:
        assert 0 <= event.start_ms < event.end_ms <= truth.duration_ms
        if event.kind != "speech":
            assert event.source in split_clips
        assert (event.label in COMMANDS) == (event.kind == "command")
    starts = [e.start_ms for e in truth.events]
    assert starts == sorted(starts)
    loaded = StreamTruth.load(wav.with_suffix(".json"))
    assert (loaded.events, loaded.duration_ms) == (truth.events, truth.duration_ms)
    assert (
        loaded.split == split == json.loads(wav.with_suffix(".json").read_text())["recipe"]["split"]
    )


def test_a_truth_file_without_its_split_is_of_test_speakers(stream, tmp_path):
    wav, _ = stream
    data = json.loads(wav.with_suffix(".json").read_text())
    del data["recipe"]["split"]  # written before streams recorded their split
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert StreamTruth.load(tmp_path / "old.json").split == "test"


def test_a_stream_of_the_training_speakers_is_refused(speech_folder, tmp_path):
    with pytest.raises(ValueError, match=r"split 'train'.*\('validation', 'test'\)"):
        _build(speech_folder, tmp_path / "train", "train", minutes=0.1)


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


def test_evaluate_and_thresholds_from_the_command_line(stream, tuning_stream, tmp_path, capsys):
    pytest.importorskip("tensorflow", reason="tensorflow is needed to make the test model")
    wav, truth = stream
    model = tiny_kws_model.build(tmp_path / "model")
    out = tmp_path / "evaluation"
    assert main(["evaluate", str(wav), "--model", str(model), "--out", str(out)]) == 0
    report = json.loads((out / "streaming_report.json").read_text())
    assert report["splits"] == ["test"]
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
    argv = ["thresholds", "--config", str(config), "--header", str(header_dir)]
    original = config.read_text()
    capsys.readouterr()
    # Test-speaker streams are held out: choosing there would report on the audio that chose.
    assert main([*argv, "--report", str(out / "streaming_report.json")]) == 1
    assert "chosen on validation-speaker streams only" in capsys.readouterr().err
    assert config.read_text() == original and not (header_dir / "kws_thresholds.h").exists()
    card = model.with_suffix(".json")
    assert "thresholds" not in json.loads(card.read_text())

    tuning = tmp_path / "tuning"
    assert (
        main(["evaluate", str(tuning_stream[0]), "--model", str(model), "--out", str(tuning)]) == 0
    )
    tuning_report = json.loads((tuning / "streaming_report.json").read_text())
    assert tuning_report["splits"] == ["validation"]
    # A report of another model than the one now at its path (exported over since) writes none.
    other = tmp_path / "other_report.json"
    other.write_text(json.dumps({**tuning_report, "model_sha256": "0" * 64}))
    capsys.readouterr()
    assert main([*argv, "--report", str(other)]) == 1
    assert f"{card} is the card of another model" in capsys.readouterr().err
    assert "thresholds" not in json.loads(card.read_text()) and config.read_text() == original

    # A report made before it recorded the model's sha256, of a model for other commands than
    # the one now at its path, writes none either.
    relabelled = tmp_path / "relabelled" / model.name
    relabelled.parent.mkdir()
    relabelled.write_bytes(model.read_bytes())
    relabelled_card = {**json.loads(card.read_text()), "labels": ["silence", "unknown", "lamp"]}
    relabelled.with_suffix(".json").write_text(json.dumps(relabelled_card))
    unrecorded = {key: value for key, value in tuning_report.items() if key != "model_sha256"}
    old = tmp_path / "old_report.json"
    old.write_text(json.dumps({**unrecorded, "model": str(relabelled)}))
    assert main(["thresholds", "--config", str(config), "--report", str(old)]) == 1
    assert (
        f"{relabelled.with_suffix('.json')} is the card of a model for lamp, and the report "
        "chose thresholds for on, off, up, down, go, stop"
    ) in capsys.readouterr().err
    assert "thresholds" not in json.loads(relabelled.with_suffix(".json").read_text())
    assert config.read_text() == original

    # Every destination is checked before any is written: a header folder that is missing, or
    # holding the header of a model for other labels, leaves the card and the config as they were.
    chosen_here = [
        "thresholds",
        "--config",
        str(config),
        "--report",
        str(tuning / "streaming_report.json"),
    ]
    assert main([*chosen_here, "--header", str(tmp_path / "nowhere" / "kws_thresholds.h")]) == 1
    assert f"{tmp_path / 'nowhere'}: no such folder for kws_thresholds.h" in capsys.readouterr().err
    lamp_header = tmp_path / "lamp_firmware"
    lamp_header.mkdir()
    (lamp_header / "kws_thresholds.h").write_text(
        thresholds_header(("silence", "unknown", "lamp"), {"lamp": 0.7}, "r")
    )
    assert main([*chosen_here, "--header", str(lamp_header)]) == 1
    assert (
        f"{lamp_header / 'kws_thresholds.h'} is the thresholds header of a model for silence, "
        "unknown, lamp, not of the model evaluated"
    ) in capsys.readouterr().err
    assert "thresholds" not in json.loads(card.read_text()) and config.read_text() == original

    # All are written or none: a disk that fills up at the config, after the card (written
    # first), leaves the card, the config and the header as they were, and no file beside them.
    large = tmp_path / "large" / "config.yaml"
    large.parent.mkdir()
    large.write_text(original + "# a long comment\n" * 8192)
    folders = (card.parent, large.parent, header_dir)
    before = {folder: sorted(folder.iterdir()) for folder in folders}
    card_before, large_before = card.read_bytes(), large.read_bytes()
    tuned = ["thresholds", "--report", str(tuning / "streaming_report.json")]
    with file_size_limit(65536):
        status = main([*tuned, "--config", str(large), "--header", str(header_dir)])
    assert status == 1
    assert f"{large}: cannot write it (File too large); no file written" in capsys.readouterr().err
    assert (card.read_bytes(), large.read_bytes()) == (card_before, large_before)
    assert {folder: sorted(folder.iterdir()) for folder in folders} == before

    assert main([*argv, "--report", str(tuning / "streaming_report.json")]) == 0
    printed = capsys.readouterr().out
    assert "allows 0 over them, all commands together" in printed
    assert "NOTE: 0.02 h cannot show 0.5 false accepts per hour" in printed
    assert f"written to {card} (thresholds), which the desktop uses" in printed
    chosen = json.loads(card.read_text())["thresholds"]
    assert list(chosen) == list(COMMANDS)
    assert "  thresholds: {on: " in config.read_text()
    header = read_thresholds_header(header_dir / "kws_thresholds.h")
    assert {label: header[label] for label in COMMANDS} == chosen  # the board's, the desktop's
    assert load_contract(model).thresholds == chosen  # a card the desktop takes

    # Without --header the card alone is written, and the command says where the board's are.
    assert main(["thresholds", "--report", str(tuning / "streaming_report.json")]) == 0
    out, errors = capsys.readouterr()
    assert f"written to {card} (thresholds)" in out and "written to" not in out.replace(
        f"written to {card}", ""
    )
    assert "NOTE: the board's kws_thresholds.h still holds the thresholds it had" in errors
    assert "--header FOLDER" in errors and "firmware/kws/src/model" in errors


def _report(
    rows: dict[float, dict[str, tuple[int, int]]], events: dict[str, int], hours: float = 2.0
) -> dict:
    """A sweep: per threshold, each command's (false accepts, rejected words)."""
    return {
        "sweep": [
            {
                "thresholds": threshold,
                "hours": hours,
                "per_command": {
                    c: {
                        "events": events[c],
                        "false_reject_rate": rejected / events[c] if events[c] else math.nan,
                        "false_accepts": fa,
                    }
                    for c, (fa, rejected) in per.items()
                },
            }
            for threshold, per in rows.items()
        ]
    }


SWEEP_ROWS = {
    0.9: {"on": (0, 8), "up": (0, 60)},
    0.6: {"on": (1, 2), "up": (1, 10)},
    0.7: {"on": (0, 5), "up": (0, 30)},
}


def test_the_budget_is_shared_by_all_commands_over_the_tuning_hours():
    report = _report(SWEEP_ROWS, {"on": 10, "up": 100})
    # 0.5 per hour over 2 h: one false accept in all. It goes to "on", whose misses it cuts from
    # 50% to 20%, not to "up" (30% to 10%), though "up" would miss fewer words in number.
    choice = choose_thresholds(report, max_false_accepts_per_hour=0.5)
    assert choice.thresholds == {"on": 0.6, "up": 0.7}
    assert (choice.allowed_false_accepts, choice.false_accepts) == (1, 1)
    assert choice.mean_false_reject_rate == pytest.approx((0.2 + 0.3) / 2)
    assert choose_thresholds(report, 1.0).thresholds == {"on": 0.6, "up": 0.6}
    assert choose_thresholds(report, 0.0).thresholds == {"on": 0.7, "up": 0.7}
    shorter = choose_thresholds(_report(SWEEP_ROWS, {"on": 10, "up": 100}, hours=1.9), 0.5)
    assert (shorter.allowed_false_accepts, shorter.thresholds) == (0, {"on": 0.7, "up": 0.7})


def test_past_the_budget_at_every_threshold_the_highest_are_chosen_and_said():
    rows = {0.9: {"on": (1, 8), "up": (0, 6)}, 0.7: {"on": (3, 5), "up": (0, 6)}}
    choice = choose_thresholds(_report(rows, {"on": 10, "up": 10}), 0.0)
    assert choice.thresholds == {"on": 0.9, "up": 0.7}  # "up": equal misses, the lower one
    assert (choice.allowed_false_accepts, choice.false_accepts) == (0, 1)
    with pytest.raises(ValueError) as missing:
        choose_thresholds(_report(rows, {"on": 10, "up": 0}), 0.5)
    assert str(missing.value) == (
        "the streams hold no up: build a stream from a folder with validation-split clips of it "
        "(`python -m model_training.streaming build --data FOLDER --split validation`, without "
        "--command-share 0; a stream a folder) and evaluate it beside the others (evaluate takes "
        "several streams)"
    )
    with pytest.raises(ValueError, match="give 0 or more"):
        choose_thresholds(_report(rows, {"on": 10, "up": 10}), -1)


@pytest.mark.parametrize("splits", [["test"], ["test", "validation"], None])
def test_thresholds_are_not_chosen_on_test_speakers(splits):
    evaluated = {"model": "kws_int8.tflite", "sweep": [{}]}
    # None: made before splits were recorded
    report = evaluated if splits is None else {**evaluated, "splits": splits}
    with pytest.raises(
        ValueError, match=r"r.json: an evaluation of test.*build --split validation"
    ):
        check_tuning_report(report, "r.json")
    check_tuning_report({**evaluated, "splits": ["validation"]}, "r.json")


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
    edited = config_with_thresholds(config, {"on": 0.85, "off": 0.9})
    assert config.read_text() == original  # to write once every destination is checked
    expected = original.replace("  thresholds:\n    on: 0.8\n    off: 0.8\n", "")
    expected = expected.replace(
        "  device: default  # the system default\n",
        "  device: default  # the system default\n  thresholds: {on: 0.85, off: 0.90}\n",
    )
    assert edited == expected
    config.write_text(edited)
    edited = config_with_thresholds(config, {"on": 0.7})
    assert edited == expected.replace("{on: 0.85, off: 0.90}", "{on: 0.70}")

    four = tmp_path / "four.yaml"
    four.write_text("microphone:\n    device: default\n# desk microphone\n    block_ms: 100\n")
    assert load_located(config_with_thresholds(four, {"on": 0.7}), four).data["microphone"] == {
        "thresholds": {"on": 0.7},
        "device": "default",
        "block_ms": 100,
    }

    odd = tmp_path / "odd.yaml"
    odd.write_text("microphone:\n  thresholds:\n    on: 0.8\n# c\n    off: 0.8\n")
    with pytest.raises(ValueError, match=r"not changed.*by hand: \{on: 0.70\}"):
        config_with_thresholds(odd, {"on": 0.7})

    bare = tmp_path / "bare.yaml"
    bare.write_text("source: auto\n")
    with pytest.raises(ValueError, match="no `microphone:` section"):
        config_with_thresholds(bare, {"on": 0.7})
    with pytest.raises(ValueError, match=f"{tmp_path}: cannot read the config file"):
        config_with_thresholds(tmp_path, {"on": 0.7})  # a folder


def test_the_firmware_header_lists_thresholds_in_label_order():
    header = thresholds_header(("silence", "unknown", "on", "off"), {"on": 0.85, "off": 0.9}, "r")
    assert (
        "{\n    1000,  // silence\n    1000,  // unknown\n    850,  // on\n    900,  // off\n}"
        in header
    )
    assert header.count("#ifndef KWS_THRESHOLDS_H_") == 1


def test_a_thresholds_header_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    (tmp_path / "kws_thresholds.h").mkdir()  # in the header's place: not a file to read
    with pytest.raises(ValueError, match=r"kws_thresholds\.h: cannot read it .*nothing written"):
        header_path(tmp_path, ["silence", "unknown", "on"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["build", "--minutes", "inf"],
            "argument --minutes: a finite number more than 0, not 'inf'",
        ),
        (["build", "--snr", "10", "nan"], "argument --snr: a finite number, not 'nan'"),
        (
            ["build", "--command-share", "1.5"],
            "argument --command-share: a finite number from 0 to 1",
        ),
        (["build", "--seed", "-1"], "argument --seed: an integer from 0 to 4294967295, not '-1'"),
        (["evaluate", "s.wav", "--thresholds", "on=0.9"], "argument --thresholds: a JSON object"),
        (
            ["evaluate", "s.wav", "--threshold", "1.5"],
            "argument --threshold: a finite number from 0 to 1, not '1.5'",
        ),
        (
            ["evaluate", "s.wav", "--average-window-ms", "10"],
            "argument --average-window-ms: an integer from 20 to 60000, not '10'",
        ),
        (
            ["evaluate", "s.wav", "--suppression-ms", "-1"],
            "argument --suppression-ms: an integer from 0 to 3600000, not '-1'",
        ),
        (
            ["evaluate", "s.wav", "--minimum-count", "0"],
            "argument --minimum-count: an integer from 1 to 64, not '0'",
        ),
        (
            ["evaluate", "s.wav", "--inference-every", "0"],
            "argument --inference-every: an integer from 1 to 100, not '0'",
        ),
        (
            ["thresholds", "--max-false-accepts-per-hour", "-1"],
            "argument --max-false-accepts-per-hour: a finite number from 0, not '-1'",
        ),
    ],
)
def test_numbers_out_of_range_are_refused_before_any_step(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_shares_of_more_than_every_event_are_refused():
    with pytest.raises(ValueError, match=r"--command-share 0.7 and --unknown-share 0.6 add up to"):
        StreamRecipe(command_share=0.7, unknown_share=0.6)


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "(No such file or directory)"),
        ("[]", "(a JSON list, not an object)"),
        ("{broken", "(not JSON: "),
        ('{"events": 3}', "TypeError("),
    ],
)
def test_a_missing_or_damaged_ground_truth_is_named(tmp_path, content, reason):
    if content is not None:
        (tmp_path / "s.json").write_text(content)
    with pytest.raises(ValueError) as raised:
        StreamTruth.load(tmp_path / "s.json")
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 's.json'}: not a ") and reason in message
    assert message.endswith(
        "build the stream again with `python -m model_training.streaming build`"
    )


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "not a readable evaluation report (Is a directory)"),
        ("[1]", "not a readable evaluation report (a JSON list, not an object)"),
        ('{"splits": ["validation"]}', "not a streaming evaluation report (no model or no sweep"),
    ],
)
def test_thresholds_name_a_report_that_is_none(tmp_path, capsys, content, reason):
    report = tmp_path / "streaming_report.json"
    report.mkdir() if content is None else report.write_text(content)
    assert main(["thresholds", "--report", str(report)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {report}: {reason}")
    assert "give the streaming_report.json `evaluate` wrote (its --out folder)" in error


def test_recognizer_settings_are_checked_before_any_stream_is_scored(tiny_model, tmp_path, capsys):
    wav = tmp_path / "s.wav"
    write_wav(wav, np.zeros(16000))
    StreamTruth({}, duration_ms=1000).save(wav.with_suffix(".json"))
    args = ["evaluate", str(wav), "--model", str(tiny_model), "--out", str(tmp_path / "out")]
    assert main([*args, "--thresholds", '{"on": 3}']) == 1
    assert "threshold must be a number from 0 to 1, got 3" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out", "s.json", "s.wav"]
