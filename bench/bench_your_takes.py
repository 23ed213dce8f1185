"""Benchmark of training on your own takes (model_training/README.md, "Your own voice").

Two espeak-ng voices stand in for people: each says its takes into the tests' stand-in
microphone (an ALSA capture device playing a recording, with the room's noise under it), and
`python -m model_training record` records them as it records a user, the prompts answered on
its input. The takes make the `my_words` folders of each row and the `my_check` takes no run
trains on; each row's quick run (`recipe --scale 0.15 --epochs 20`) is scored by `evaluate` on
`my_check` and on the test split, beside the committed model. Prints the README's table.

    python bench/bench_your_takes.py        # every row (about 20 min on 2 cores)
    python bench/bench_your_takes.py --rows committed me-train --workdir /tmp/takes
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the stand-in microphone the tests use

from alsa_microphone import DEVICE, environment, plug_in, takes_audio  # noqa: E402

from model_training import dataset  # noqa: E402
from model_training.evaluate_folder import evaluate_folder  # noqa: E402
from model_training.pipeline import REAL_FOLDERS  # noqa: E402
from model_training.settings import COMMANDS, MODEL_BASENAME, MODELS_DIR  # noqa: E402
from model_training.synth import speak, trim  # noqa: E402

VOICE = "en-gb-x-gbcwmd"
"""The West Midlands voice, which `synth` does not use."""
PEOPLE = {"me": "Alicia", "sam": "edward"}
"""Each speaker's espeak-ng variant of VOICE."""
NOISE_DBFS = -55.0
"""The room's noise under the takes, RMS."""
SHOWN = ("go", "off", "down")
"""The commands whose recall on `my_check` the table shows."""
QUICK = ("--scale", "0.15", "--epochs", "20")


@dataclass(frozen=True)
class Row:
    """One model of the table: the committed one (`seed` None) or a quick run with `seed` on
    the takes of `speakers` (`takes` of each command each), split by speaker or, with
    `own_lists`, all train (the folder's own empty validation and testing lists)."""

    name: str
    seed: int | None = None
    speakers: tuple[str, ...] = ()
    takes: int = 0
    own_lists: bool = False


def rows(seed: int, other_seed: int, takes: int, fewer: int) -> list[Row]:
    """The table's rows, in order."""
    return [
        Row("committed"),
        Row("no-takes", seed),
        Row("me", seed, ("me",), takes),
        Row("me-sam", seed, ("me", "sam"), takes),
        Row("me-sam-train", seed, ("me", "sam"), takes, True),
        Row("me-train", seed, ("me",), takes, True),
        Row("me-fewer-train", seed, ("me",), fewer, True),
        Row("no-takes-other-seed", other_seed),
        Row("me-train-other-seed", other_seed, ("me",), takes, True),
    ]


def spoken_takes(variant: str, count: int, seed: int) -> list[np.ndarray]:
    """`count` rounds of the commands, in `record`'s order (a round of the words at a time),
    as VOICE with `variant` says them: each take at its own pitch (40-60), speed (140-180
    words a minute) and peak (0.25-0.6 of full scale), as one person's takes vary."""
    rng = np.random.default_rng(seed)
    takes = []
    for _ in range(count):
        for word in COMMANDS:
            pitch, speed = int(rng.integers(40, 61)), int(rng.integers(140, 181))
            audio = trim(speak(word, f"{VOICE}+{variant}", pitch, speed))
            takes.append(audio / np.abs(audio).max() * rng.uniform(0.25, 0.6))
    return takes


def record(home: Path, output: Path, speaker: str, takes: int, seed: int) -> None:
    """`speaker`'s takes played by the stand-in microphone into `python -m model_training
    record`, as a user records them (an Enter for each prompt); SystemExit with its output
    when it does not keep every take."""
    if all(len(list((output / w).glob(f"{speaker}_nohash_*.wav"))) >= takes for w in COMMANDS):
        print(f"{output}: {takes} takes of each command by {speaker} recorded already")
        return
    shutil.rmtree(output, ignore_errors=True)
    print(f"recording {speaker} ({VOICE}+{PEOPLE[speaker]}), {takes} takes of each command "
          f"into {output}", flush=True)  # fmt: skip
    audio, _ = takes_audio(spoken_takes(PEOPLE[speaker], takes, seed), 10 ** (NOISE_DBFS / 20))
    plug_in(home, audio)
    command = [sys.executable, "-m", "model_training", "record", "--device", DEVICE,
               "--speaker", speaker, "--takes", str(takes), "--output", str(output)]  # fmt: skip
    result = subprocess.run(
        command,
        input="\n" * (takes * len(COMMANDS)),
        env=environment(home),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"record did not keep every take (exit {result.returncode}):\n"
                 f"{result.stdout[-2000:]}{result.stderr}")  # fmt: skip
    said = result.stdout[result.stdout.rindex("done: ") :].splitlines()
    print(f"  {said[0]}\n  {said[1]}")  # what was kept, and the split it landed in


def words_folder(row: Row, takes: Path, output: Path) -> Path:
    """`my_words` of `row`: the first `row.takes` takes of each command of its speakers (links
    to the recorded files), with empty split lists when the row makes them all train."""
    shutil.rmtree(output, ignore_errors=True)
    for speaker in row.speakers:
        for word in COMMANDS:
            (output / word).mkdir(parents=True, exist_ok=True)
            for n in range(row.takes):
                name = f"{speaker}_nohash_{n}.wav"
                (output / word / name).hardlink_to(takes / speaker / word / name)
    if row.own_lists:
        for name in (dataset.VALIDATION_LIST, dataset.TESTING_LIST):
            (output / name).touch()
    return output


def splits(folder: Path) -> dict[str, str]:
    """The split `index` gives each speaker of `folder`."""
    return dataset.splits_of(dataset.index_folder(folder))


def label(row: Row, seed: int, where: dict[str, str]) -> str:
    """The row's name in the table, with the split each speaker's takes landed in."""
    if row.seed is None:
        card = json.loads((MODELS_DIR / f"{MODEL_BASENAME}.json").read_text())
        return f"committed `{card['model_id']}`"
    prefix = "" if row.seed == seed else f"seed {row.seed}: "
    if not row.speakers:
        return f"{prefix}quick run, no takes"
    people = " and ".join(f'"{s}"' for s in row.speakers)
    counts = f", {row.takes} takes" if len(row.speakers) == 1 and row.own_lists else ""
    placed = ", ".join(f"{s} {where[s]}" for s in row.speakers)
    return f"{prefix}quick run, {people}{counts} ({placed})"


def quick_run(row: Row, words: Path | None, work: Path) -> Path:
    """The model of `row`'s quick run (`recipe`, its output in a log beside it)."""
    out = work / "runs" / row.name
    real = [str(folder) for folder in REAL_FOLDERS] + ([str(words)] if words else [])
    command = [sys.executable, "-m", "model_training", "recipe", "--run", row.name, *QUICK,
               "--seed", str(row.seed), "--real", *real, "--models-dir", str(out / "models"),
               "--firmware-dir", str(out / "firmware")]  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    log = out / "recipe.log"
    began = time.monotonic()
    print(f"quick run {row.name} (seed {row.seed}; log {log})", flush=True)
    with log.open("w") as handle:
        env = {**os.environ, "KWS_DATA_DIR": str(work / "data")}
        done = subprocess.run(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"the recipe of {row.name} failed (exit {done.returncode}):\n"
                 f"{log.read_text()[-3000:]}")  # fmt: skip
    print(f"  trained in {time.monotonic() - began:.0f} s", flush=True)
    return out / "models" / f"{MODEL_BASENAME}.tflite"


def scores(model: Path | None, check: Path, out: Path) -> tuple[dict, dict]:
    """`evaluate`'s reports of `model` (None: the committed one) on `check` (every take) and
    on the test split of ../shared; its tables go to `out/evaluate.log`."""
    out.mkdir(parents=True, exist_ok=True)
    name = str(model) if model else None
    with (out / "evaluate.log").open("w") as log, contextlib.redirect_stdout(log):
        mine = evaluate_folder(name, [str(check)], "all", None, out / "my_check")
        test = evaluate_folder(name, list(map(str, REAL_FOLDERS)), "test", None, out / "test")
    return mine, test


def table_row(name: str, mine: dict, test: dict) -> str:
    """A markdown row of the README's table, from the int8 reports of `scores`."""
    recalls = " | ".join(f"{mine[c]['recall'] * 100:.0f}%" for c in SHOWN)
    return (f"| {name} | {mine['accuracy'] * 100:.1f}% | {recalls} | "
            f"{test['accuracy'] * 100:.1f}% |")  # fmt: skip


def heading(mine: dict, test: dict) -> str:
    """The table's heading, with the clips each score of `scores`' reports is on."""
    check_clips, test_clips = mine["clips"], test["clips"]
    shown = " | ".join(SHOWN)
    return (f"| model | `my_check` ({check_clips} takes) | {shown} | test split ({test_clips} "
            f"clips) |\n|---|---|{'---|' * len(SHOWN)}---|")  # fmt: skip


def measure(chosen: Sequence[Row], seed: int, work: Path, check: Path) -> tuple[list, dict, dict]:
    """The table's lines of the `chosen` rows (each printed when measured), and a note for each
    model a row shares with another, byte for byte; the last row's reports of `scores`."""
    lines, made, same = [], {}, []
    for row in chosen:
        words = (
            words_folder(row, work / "takes", work / "my_words" / row.name)
            if row.speakers
            else None
        )
        model = quick_run(row, words, work) if row.seed is not None else None
        mine, test = scores(model, check, work / "evaluation" / row.name)
        name = label(row, seed, splits(words) if words else {})
        if model:
            digest = hashlib.sha256(model.read_bytes()).hexdigest()
            if digest in made:
                same.append(f"{name}: the same model as {made[digest]}, byte for byte")
            made.setdefault(digest, name)
        lines.append(table_row(name, mine["int8"], test["int8"]))
        print(f"  {lines[-1]}", flush=True)
    return lines + same, mine, test


@contextlib.contextmanager
def workdir(path: str | None) -> Iterator[Path]:
    """The folder everything goes under: `path` (kept), else a temporary one."""
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path).resolve()
        return
    with tempfile.TemporaryDirectory(prefix="bench-takes-") as scratch:
        yield Path(scratch)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1234, help="the quick runs' seed")
    parser.add_argument("--other-seed", type=int, default=1235, help="the repeated rows' seed")
    parser.add_argument("--takes", type=int, default=20, help="of each command per speaker")
    parser.add_argument("--fewer", type=int, default=10, help="takes of the me-fewer-train row")
    parser.add_argument("--check-takes", type=int, default=10, help="of each command in my_check")
    parser.add_argument("--rows", nargs="+", metavar="ROW", help="only these rows (default all)")
    parser.add_argument("--workdir", help="keep everything in this folder (default: temporary)")
    args = parser.parse_args(argv)
    table = rows(args.seed, args.other_seed, args.takes, args.fewer)
    names = [row.name for row in table]
    unknown = sorted(set(args.rows or ()) - set(names))
    if unknown:
        parser.error(f"--rows: no row {', '.join(unknown)}; rows: {', '.join(names)}")
    chosen = [row for row in table if not args.rows or row.name in args.rows]

    began = time.monotonic()
    with workdir(args.workdir) as work:
        home, takes = work / "home", work / "takes"
        home.mkdir(exist_ok=True)
        for seed, speaker in enumerate(PEOPLE):
            wanted = max((r.takes for r in chosen if speaker in r.speakers), default=0)
            if wanted:
                record(home, takes / speaker, speaker, wanted, seed)
        check = work / "my_check"
        record(home, check, "me", args.check_takes, len(PEOPLE))
        lines, mine, test = measure(chosen, args.seed, work, check)
    print(f"\n{heading(mine, test)}")
    print("\n".join(lines))
    print(f"\n({(time.monotonic() - began) / 60:.1f} min)")


if __name__ == "__main__":
    main()
