"""The pipeline's bookkeeping on a tiny synthetic data set: caches, synth marker, run checks."""

import sys
from pathlib import Path

import numpy as np
import pytest

from model_training import dataset, synth
from model_training.examples import Recipe
from model_training.pipeline import Pipeline


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """'on' and 'stop' by a few espeak-ng voices, one other word, noise."""
    root = tmp_path_factory.mktemp("speech")
    synth.synthesize_words(["on", "stop"], root, per_word=8, seed=3)
    synth.synthesize_words(["tree"], root, 6, seed=4, folder_of=lambda w: "_unknown_")
    noise = np.random.default_rng(0).normal(0, 0.1, 32000)
    dataset.write_wav(root / "_background_noise_" / "white.wav", noise)
    return root


def tiny_pipeline(speech: Path, root: Path) -> Pipeline:
    return Pipeline(
        real=[speech], root=root, recipe=Recipe().scaled(0.001),
        validation_percent=35, testing_percent=35,
    )  # fmt: skip


def use_labels(monkeypatch, labels: tuple[str, ...]) -> None:
    """What editing LABELS in settings.py does, for every loaded model_training module."""
    for name, module in list(sys.modules.items()):
        if name.startswith("model_training"):
            for attribute, value in (("LABELS", labels), ("COMMANDS", labels[2:])):
                if hasattr(module, attribute):
                    monkeypatch.setattr(module, attribute, value)


def test_changed_labels_do_not_reuse_the_cached_features(speech, tmp_path, monkeypatch):
    pipeline = tiny_pipeline(speech, tmp_path)
    pipeline.features()
    labels = ("silence", "unknown", "stop")
    use_labels(monkeypatch, labels)
    training, validation, test = pipeline.features()
    clips = pipeline.clips(pipeline.real)
    for split, part in (("validation", validation), ("test", test)):
        words = [c.word for c in clips if c.split == split]
        assert "on" in words  # its index was 2 ("on") and is now 1 ("unknown")
        expected = [labels.index(dataset.label_of(word)) for word in words]
        np.testing.assert_array_equal(part.labels, expected)
    assert training.labels.max() == len(labels) - 1
