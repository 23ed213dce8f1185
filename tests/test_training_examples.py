"""Training examples: running-noise prefix, partial words, the plan's balance, determinism."""

from collections import Counter

import numpy as np
import pytest

from model_training import dataset, examples, synth
from model_training.examples import Recipe

RATE = 16000


def _burst(start: float, end: float) -> np.ndarray:
    clip = np.zeros(RATE, np.float32)
    t = np.arange(int(start * RATE), int(end * RATE))
    clip[t] = 0.5 * np.sin(2 * np.pi * 440 * t / RATE)
    return clip


def test_voiced_span_finds_the_loud_part():
    begin, end = examples.voiced_span(_burst(0.3, 0.7))
    assert begin == pytest.approx(0.3 * RATE, abs=160) and end == pytest.approx(0.7 * RATE, abs=160)


@pytest.mark.parametrize("seed", range(12))
def test_partial_words_leave_only_part_of_the_word_in_the_window(seed):
    recipe = Recipe(noise_probability=0.0, gain_db=(0.0, 0.0))
    rng = np.random.default_rng(seed)
    clip = _burst(0.3, 0.7)
    offset = examples.partial_offset(rng, clip, recipe)
    window = examples.render(rng, clip, [], recipe, offset=offset)[-RATE:]
    visible = np.mean(np.abs(window) > 0.05) / 0.4  # share of the 0.4 s burst in the window
    assert 0.1 <= visible <= 0.55


def test_render_puts_the_clip_after_a_running_noise_prefix():
    recipe = Recipe(fresh_share=0.0, noise_probability=1.0, snr_db=(20.0, 20.0), gain_db=(0, 0))
    noise = [np.random.default_rng(1).normal(0, 0.3, 5 * RATE).astype(np.float32)]
    audio = examples.render(np.random.default_rng(0), _burst(0.4, 0.6), noise, recipe)
    assert 1.5 * RATE <= len(audio) <= 3 * RATE
    assert np.abs(audio[-RATE:]).max() > 0.4  # the clip is at the end
    assert np.abs(audio[:-RATE]).max() < 0.25  # only noise before it


@pytest.mark.parametrize("seed", range(12))
def test_placement_puts_the_whole_word_anywhere_in_the_window(seed):
    recipe = Recipe(anywhere_share=1.0, margin_ms=50)
    rng = np.random.default_rng(seed)
    offsets = [examples.placement(rng, _burst(0.3, 0.7), recipe) for _ in range(50)]
    margin = 0.05 * RATE
    assert all(0.3 * RATE + o >= margin and 0.7 * RATE + o <= RATE - margin for o in offsets)
    assert max(offsets) - min(offsets) > 0.4 * RATE  # not only around the clip's own position


def test_placement_keeps_the_clip_position_when_not_anywhere():
    recipe = Recipe(anywhere_share=0.0, shift_ms=100)
    rng = np.random.default_rng(4)
    offsets = [examples.placement(rng, _burst(0.3, 0.7), recipe) for _ in range(50)]
    assert all(abs(o) <= 0.1 * RATE for o in offsets)


def test_noise_is_mixed_at_the_drawn_snr_over_the_voiced_part():
    recipe = Recipe(fresh_share=0.0, noise_probability=1.0, snr_db=(10.0, 10.0), gain_db=(0, 0))
    noise = [np.random.default_rng(1).normal(0, 0.3, 5 * RATE).astype(np.float32)]
    window = examples.render(np.random.default_rng(0), _burst(0.4, 0.6), noise, recipe, offset=0)
    noise_rms = examples.rms(window[-RATE : -int(0.65 * RATE)])  # before the burst
    speech_rms = 0.5 / np.sqrt(2)
    assert 20 * np.log10(speech_rms / noise_rms) == pytest.approx(10.0, abs=0.5)


def test_the_frontend_adapts_to_running_noise():
    """After a noise prefix the frontend's noise estimate subtracts the noise: lower features."""
    noise = np.random.default_rng(2).normal(0, 0.05, 3 * RATE).astype(np.float32)
    fresh = examples.featurize(noise[-RATE:])
    adapted = examples.featurize(noise)
    assert adapted.shape == fresh.shape == (49, 40)
    assert adapted[:10].mean() < 0.8 * fresh[:10].mean()


@pytest.fixture(scope="module")
def tiny_clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    synth.synthesize(root, commands=["on", "go"], per_command=3, unknown_words=["tree"],
                     per_unknown_word=3, sentences=2, seed=5)  # fmt: skip
    return dataset.index_folder(root, 0, 0)


def test_plan_balances_the_classes(tiny_clips):
    recipe = Recipe(per_command=7, unknown_words=5, partial_words=4, running_speech=3, silence=6)
    plan = examples.training_plan(tiny_clips, recipe, np.random.default_rng(0))
    kinds = Counter((label, kind) for _, label, kind in plan)
    assert kinds[("on", "word")] == kinds[("go", "word")] == 7
    assert kinds[("up", "word")] == 0  # no clips of it: nothing invented
    assert kinds[("unknown", "word")] == 5 and kinds[("unknown", "partial")] == 4
    assert kinds[("unknown", "speech")] == 3 and kinds[("silence", "noise")] == 6
    on_clips = Counter(c.path for c, label, kind in plan if label == "on")
    assert max(on_clips.values()) - min(on_clips.values()) <= 1  # every clip used evenly


def test_training_examples_are_reproducible(tiny_clips):
    recipe = Recipe(per_command=2, unknown_words=2, partial_words=2, running_speech=2, silence=2)
    noise = [np.random.default_rng(3).normal(0, 0.2, 2 * RATE).astype(np.float32)]
    first = examples.build_training(tiny_clips, noise, recipe, seed=9)
    second = examples.build_training(tiny_clips, noise, recipe, seed=9)
    assert first.features.dtype == np.uint16 and first.features.shape[1:] == (49, 40)
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(first.labels, second.labels)
    other = examples.build_training(tiny_clips, noise, recipe, seed=10)
    assert not np.array_equal(first.features, other.features)


def test_words_that_sound_like_commands_get_their_share(tmp_path):
    synth.synthesize_words(["no", "tree"], tmp_path, 3, seed=6, folder_of=lambda w: "_unknown_")
    synth.synthesize_words(["go"], tmp_path, 3, seed=7)
    clips = dataset.index_folder(tmp_path, 0, 0)
    recipe = Recipe(per_command=1, unknown_words=20, partial_words=0, running_speech=0, silence=0)
    plan = examples.training_plan(clips, recipe, np.random.default_rng(0))
    words = Counter(examples.spoken_word(c) for c, label, kind in plan if label == "unknown")
    assert words == {"no": 7, "tree": 13}  # 35% of the unknown words are the confusable "no"
