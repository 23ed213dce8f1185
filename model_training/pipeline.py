"""The recipe's steps on disk: each reads the previous step's files from the data folder."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from model_training import dataset, examples, export, quantize, synth
from model_training.dataset import Clip
from model_training.evaluate import (
    confusion,
    format_table,
    int8_outputs,
    per_class,
    plot_confusion,
    predict_float,
)
from model_training.examples import Examples, Recipe
from model_training.json_files import read_object
from model_training.models import macs
from model_training.settings import (
    COMMANDS,
    FIRMWARE_MODEL_DIR,
    LABELS,
    MODELS_DIR,
    SHARED_DIR,
    data_dir,
)
from model_training.train import TrainConfig, train

REAL_FOLDERS = (SHARED_DIR / "speech_commands_subset", SHARED_DIR / "mini_speech_commands")


def default_real_folders() -> list[Path]:
    """The real speech in ../shared or, once `download` has unpacked it, the full archive alone:
    it holds both of those folders' clips, and its own split lists put every speaker of the
    subset (a part of its test set) in test, so mixing them would train on test speakers."""
    downloaded = data_dir() / "speech_commands"
    folders = [downloaded] if (downloaded / ".complete").exists() else REAL_FOLDERS
    return [p for p in folders if p.is_dir()]


UNSCORED = {
    "validation": "the checkpoint is chosen without them",
    "test": "the test accuracy does not measure them",
}


def unscored_commands(labels: Iterable[str]) -> list[str]:
    """The commands none of `labels` (of a split's clips) is."""
    present = set(labels)
    return [command for command in COMMANDS if command not in present]


def warn_unscored(split: str, commands: list[str]) -> None:
    if commands:
        print(
            f"WARNING: no {split} clips of {', '.join(commands)}: {UNSCORED[split]} "
            "(synthetic clips are for training only: add real recordings with --real)",
            file=sys.stderr,
        )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Pipeline:
    """Where the recipe reads and writes, and how it trains."""

    real: list[Path] = field(default_factory=default_real_folders)
    root: Path = field(default_factory=data_dir)
    models_dir: Path = MODELS_DIR
    firmware_dir: Path = FIRMWARE_MODEL_DIR
    run: str = "default"
    recipe: Recipe = field(default_factory=Recipe)
    config: TrainConfig = field(default_factory=TrainConfig)
    validation_percent: float = 10.0
    testing_percent: float = 20.0
    replace: bool = False
    """Whether `export` may replace a model for other labels in `models_dir`."""

    @property
    def synth_dir(self) -> Path:
        return self.root / "synth"

    @property
    def run_dir(self) -> Path:
        return self.root / "runs" / self.run

    @property
    def tflite_path(self) -> Path:
        return self.run_dir / "kws_int8.tflite"

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "best.keras"

    def command(self, step: str) -> str:
        """The command line that runs `step` for this run."""
        return f"python -m model_training {step} --run {self.run}"

    def step_record(self, name: str, step: str) -> dict:
        """A step's record in the run folder (training.json, quantize.json); ValueError naming
        the step that writes it when the record is missing or damaged."""
        return read_object(
            self.run_dir / name, f"record of `{step}`", f"run `{self.command(step)}`"
        )

    def checkpoint(self) -> str:
        """The sha256 of the run's best.keras, once a finished `train` has recorded it."""
        if not self.checkpoint_path.exists():
            raise FileNotFoundError(
                f"{self.checkpoint_path}: no trained model; run `{self.command('train')}`"
            )
        training = self.step_record("training.json", "train")
        sha = sha256_of(self.checkpoint_path)
        if training.get("checkpoint_sha256") != sha:
            raise ValueError(
                f"{self.checkpoint_path} is not the checkpoint training.json describes (an "
                f"interrupted or older train); run `{self.command('train')}` again"
            )
        return sha

    def clips(self, folders: list[Path]) -> list[Clip]:
        found = []
        for folder in folders:
            found += dataset.index_folder(folder, self.validation_percent, self.testing_percent)
        return found

    def noises(self) -> list[np.ndarray]:
        return [dataset.read_wav(p) for folder in self.real for p in dataset.noise_files(folder)]

    def synthesize(self, **options) -> int:
        """Synthetic clips, skipped when a finished `synth` with the same options made them;
        anything else in the folder (an interrupted synth, other words) is removed first."""
        options = {"seed": self.config.seed, **options}
        if synth.is_complete(self.synth_dir, **options):
            return 0
        if self.synth_dir.exists():
            print(f"{self.synth_dir}: not a finished synth with these options; synthesizing again")
            shutil.rmtree(self.synth_dir)
        return synth.synthesize(self.synth_dir, **options)

    def features(self) -> tuple[Examples, Examples, Examples]:
        """Training (augmented), validation and test examples, cached on disk."""
        real = self.clips(self.real)
        synthetic = self.clips([self.synth_dir]) if self.synth_dir.is_dir() else []
        training_clips = [c for c in real + synthetic if c.split == "train"]
        validation_clips = [c for c in real if c.split == "validation"]
        test_clips = [c for c in real if c.split == "test"]
        for name, part in (("train", training_clips), ("validation", validation_clips),
                           ("test", test_clips)):  # fmt: skip
            if not part:
                raise ValueError(
                    f"no {name} clips in {[str(p) for p in self.real]}: add speakers or change "
                    "--validation-percent/--testing-percent"
                )
        warn_unscored("validation", unscored_commands(c.label for c in validation_clips))
        warn_unscored("test", unscored_commands(c.label for c in test_clips))
        cache = self.root / "features"
        seed = self.config.seed

        def key(name: str, clips: list[Clip], *extra: object) -> Path:
            # The cached labels are indices into LABELS: the label set and every clip's label
            # are part of the key, so a changed LABELS never reuses another label set's cache.
            labelled = [(c.path, c.label) for c in clips]
            return cache / f"{name}-{examples.cache_key(labelled, list(LABELS), *extra)}.npz"

        noises = self.noises()
        training = examples.cached(
            key("train", training_clips, asdict(self.recipe), seed),
            lambda: examples.build_training(training_clips, noises, self.recipe, seed),
        )
        validation = examples.cached(
            key("validation", validation_clips),
            lambda: examples.build_clean(validation_clips, "validation features"),
        )
        test = examples.cached(
            key("test", test_clips), lambda: examples.build_clean(test_clips, "test features")
        )
        return training, validation, test

    def train(self) -> dict:
        training, validation, _ = self.features()
        model, summary = train(training, validation, self.config, self.run_dir)
        counts = np.bincount(validation.labels, minlength=len(LABELS))
        summary["validation_clips_per_label"] = dict(zip(LABELS, map(int, counts), strict=True))
        summary["macs"] = macs(model)
        summary["parameters"] = int(model.count_params())
        summary["checkpoint_sha256"] = sha256_of(self.checkpoint_path)
        (self.run_dir / "training.json").write_text(json.dumps(summary, indent=2))
        return summary

    def load_model(self):
        import keras

        self.checkpoint()
        return keras.models.load_model(self.checkpoint_path)

    def quantize(self) -> dict:
        """int8 model, checked on the test split: TFLM == LiteRT, int8 vs float accuracy."""
        checkpoint = self.checkpoint()  # before the features: a missing run fails at once
        training, _, test = self.features()
        model = self.load_model()
        tflite = quantize.convert(model, training.features, seed=self.config.seed)
        self.tflite_path.write_bytes(tflite)
        report = self.score(model, tflite, test)
        report["checkpoint_sha256"] = checkpoint
        report["tflite_sha256"] = hashlib.sha256(tflite).hexdigest()
        (self.run_dir / "quantize.json").write_text(json.dumps(report, indent=2))
        if not report["tflm_equals_litert"]:
            print("WARNING: TFLM and LiteRT outputs differ on the test split", file=sys.stderr)
        if abs(report["int8_minus_float_points"]) > 1.0:
            print("WARNING: int8 accuracy is more than 1 point from float", file=sys.stderr)
        return report

    def score(self, model, tflite: bytes, test: Examples) -> dict:
        contract = quantize.quantization_of(tflite).contract()
        tflm = int8_outputs(tflite, test.features, contract, "tflm")
        litert = int8_outputs(tflite, test.features, contract, "litert")
        float_predicted = predict_float(model, test.features)
        int8_predicted = np.argmax(tflm, axis=1)
        float_report = per_class(test.labels, float_predicted, LABELS)
        int8_report = per_class(test.labels, int8_predicted, LABELS)
        for kind, predicted in (("float", float_predicted), ("int8", int8_predicted)):
            plot_confusion(
                confusion(test.labels, predicted, len(LABELS)),
                self.run_dir / f"confusion_{kind}.png",
                f"{kind} model, test speakers ({len(test.labels)} clips)",
                LABELS,
            )
        print(format_table(float_report, int8_report))
        return {
            "tflm_equals_litert": bool(np.array_equal(tflm, litert)),
            "tflm_litert_max_difference": int(np.abs(tflm.astype(int) - litert.astype(int)).max()),
            "float": float_report,
            "int8": int8_report,
            "int8_minus_float_points": 100 * (int8_report["accuracy"] - float_report["accuracy"]),
            "test_clips": len(test.labels),
        }

    def check_replacing(self) -> None:
        """ValueError when `export` would replace a model for other labels (export.py)."""
        export.check_replacing(self.models_dir, LABELS, self.replace)

    def export(self) -> dict:
        """The run's int8 model, its card and C files, once they all come from one checkpoint."""
        self.check_replacing()
        training = self.step_record("training.json", "train")
        scores = self.step_record("quantize.json", "quantize")
        if not self.tflite_path.exists():
            raise FileNotFoundError(f"{self.tflite_path}: run `{self.command('quantize')}`")
        tflite = self.tflite_path.read_bytes()
        recorded = (scores.get("checkpoint_sha256"), scores.get("tflite_sha256"))
        if recorded != (self.checkpoint(), hashlib.sha256(tflite).hexdigest()):
            raise ValueError(
                f"{self.tflite_path} does not come from the run's current checkpoint "
                "(trained again after quantize?): run quantize again "
                f"(`{self.command('quantize')}`)"
            )
        fix = f"run `{self.command('quantize')}` again (it quantizes them per tensor)"
        quantize.require_board_kernels(tflite, str(self.tflite_path), fix)
        extra = {
            "architecture": training["architecture"],
            "parameters": training["parameters"],
            "macs": training["macs"],
            "data": self.data_description(training, self.unscored(training, scores)),
            "accuracy": {
                "split": "test (speakers never used in training)",
                "clips": scores["test_clips"],
                "float": scores["float"],
                "int8": scores["int8"],
                "tflm_equals_litert": scores["tflm_equals_litert"],
            },
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        quantization = quantize.quantization_of(tflite)
        card = export.model_card(tflite, quantization, quantize.arena_bytes(tflite), extra)
        for path in export.write_artifacts(tflite, card, self.models_dir, self.firmware_dir):
            print(f"wrote {path}")
        return card

    def unscored(self, training: dict, scores: dict) -> dict[str, list[str]]:
        """The commands without validation or test clips (warned about again here)."""
        counts = {
            "validation": training["validation_clips_per_label"],
            "test": {label: scores["int8"][label]["support"] for label in LABELS},
        }
        unscored = {}
        for split, count in counts.items():
            unscored[split] = unscored_commands(label for label, n in count.items() if n)
            warn_unscored(split, unscored[split])
        return unscored

    def data_description(self, training: dict, unscored: dict[str, list[str]]) -> dict:
        return {
            "real": [p.name for p in self.real],
            "synthetic": "espeak-ng clips and sentences (model_training synth)",
            "license": "Speech Commands v0.02 (Warden 2018), CC BY 4.0",
            "split": (
                f"by speaker, SHA1 rule, validation {self.validation_percent}%, "
                f"test {self.testing_percent}%"
            ),
            "augmentation": asdict(self.recipe),
            "training": asdict(self.config),
            "best_epoch": training["best_epoch"],
            "train_examples": training["train_examples"],
            "validation_clips": training["validation_examples"],
            "commands_without_clips": unscored,
            "seed": self.config.seed,
        }
