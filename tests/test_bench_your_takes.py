"""bench/bench_your_takes.py without its training: its speakers' takes go through `record` on
the stand-in microphone into the layout, each row's `my_words` is made of them with the split
`index` gives, and its table rows read as the README's."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
from assistant_command import REPO

from model_training import dataset
from model_training.settings import COMMANDS, MODEL_BASENAME, MODELS_DIR
from model_training.synth import espeak_available

pytest.importorskip("sounddevice", reason="the [listen] extra is not installed")

_spec = importlib.util.spec_from_file_location(
    "bench_your_takes", REPO / "bench/bench_your_takes.py"
)
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench  # its dataclass looks itself up there
_spec.loader.exec_module(bench)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_both_speakers_takes_are_recorded_and_make_each_rows_folder(tmp_path, capsys):
    takes = tmp_path / "takes"
    for seed, speaker in enumerate(bench.PEOPLE):
        bench.record(tmp_path, takes / speaker, speaker, 2, seed)
        assert sorted(p.relative_to(takes).as_posix() for p in takes.rglob("*.wav")) == sorted(
            f"{who}/{word}/{who}_nohash_{n}.wav"
            for who in list(bench.PEOPLE)[: seed + 1]
            for word in COMMANDS
            for n in range(2)
        )
    assert f"done: kept 12 take(s) in {takes / 'sam'}" in capsys.readouterr().out
    bench.record(tmp_path, takes / "me", "me", 2, 0)
    assert "recorded already" in capsys.readouterr().out

    rows = {row.name: row for row in bench.rows(1234, 1235, takes=1, fewer=1)}
    split = bench.words_folder(rows["me-sam"], takes, tmp_path / "split")
    assert len(list(split.rglob("*.wav"))) == 12  # one take of each command each
    where = bench.splits(split)
    assert set(where) == {"me", "sam"} and "train" in where.values()
    assert bench.label(rows["me-sam"], 1234, where) == (
        f'quick run, "me" and "sam" (me {where["me"]}, sam {where["sam"]})'
    )
    train = bench.words_folder(rows["me-train-other-seed"], takes, tmp_path / "train")
    assert {clip.split for clip in dataset.index_folder(train)} == {"train"}
    assert bench.label(rows["me-train-other-seed"], 1234, bench.splits(train)) == (
        'seed 1235: quick run, "me", 1 takes (me train)'
    )


def test_a_row_shows_the_scores_as_the_readme_table_does():
    card = json.loads((MODELS_DIR / f"{MODEL_BASENAME}.json").read_text())
    committed = bench.label(bench.rows(1, 2, 20, 10)[0], 1, {})
    mine = {"accuracy": 0.4667, "go": {"recall": 0.1}, "off": {"recall": 0.7},
            "down": {"recall": 0.0}}  # fmt: skip
    assert bench.table_row(committed, mine, {"accuracy": 0.9}) == (
        f"| committed `{card['model_id']}` | 46.7% | 10% | 70% | 0% | 90.0% |"
    )
    assert bench.heading({"clips": 60}, {"clips": 800}).splitlines() == [
        "| model | `my_check` (60 takes) | go | off | down | test split (800 clips) |",
        "|---|---|---|---|---|---|",
    ]
