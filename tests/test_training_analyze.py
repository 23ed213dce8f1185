"""The analysis figures: their numbers against scipy's definitions, and units on every axis."""

import matplotlib
import numpy as np
import pytest

from model_training import analyze, dataset, synth
from model_training.evaluate import draw_confusion

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RATE = 16000


def sine(amplitude: float, hz: float, samples: int = RATE) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(samples) / RATE)).astype(np.float32)


@pytest.mark.parametrize("density", [analyze.periodogram, analyze.welch_psd])
def test_psd_integrates_to_the_mean_power(density):
    # A PSD in FS²/Hz: its integral over frequency is the signal's mean square (Parseval).
    for audio, power in ((sine(0.5, 1000), 0.125), (sine(0.1, 440) + sine(0.2, 3000), 0.025)):
        freqs, psd = density(audio)
        assert np.sum(psd) * (freqs[1] - freqs[0]) == pytest.approx(power, rel=0.02)


def test_welch_psd_is_flat_top_1024_sample_segments():
    freqs, psd = analyze.welch_psd(sine(0.5, 1000))
    assert freqs[1] - freqs[0] == pytest.approx(RATE / 1024)
    # The flat-top's wide main lobe: the peak's neighbours hold nearly the same density.
    peak = int(np.argmax(psd))
    assert freqs[peak] == pytest.approx(1000, abs=RATE / 1024)
    assert psd[peak - 1] > 0.5 * psd[peak] and psd[peak + 1] > 0.5 * psd[peak]


@pytest.mark.parametrize("samples", [RATE, RATE // 2, 6800])
def test_amplitude_spectrum_reads_a_sines_amplitude_at_any_length(samples):
    freqs, amplitude = analyze.amplitude_spectrum(sine(0.25, 1000, samples))
    assert freqs[np.argmax(amplitude)] == pytest.approx(1000)
    assert amplitude.max() == pytest.approx(0.25, rel=1e-3)
    _, constant = analyze.amplitude_spectrum(np.full(samples, 0.1))
    assert constant[0] == pytest.approx(0.1)  # DC is not doubled


def test_mel_is_128_bands_in_db_below_the_maximum():
    mel = analyze.mel_db(sine(0.5, 1000) + sine(0.01, 5000))
    assert mel.shape == (128, 1 + RATE // analyze.MEL_HOP)
    assert mel.max() == 0.0 and mel.min() < -20


@pytest.mark.parametrize("name", list(analyze.CLIP_FIGURES))
def test_every_clip_figure_names_units(name):
    fig, ax = plt.subplots()
    analyze.CLIP_FIGURES[name](ax, sine(0.3, 700) + sine(0.05, 2500))
    for label in (ax.get_xlabel(), ax.get_ylabel()):
        assert "(" in label and label.endswith(")"), f"{name}: {label!r} has no unit"
    colorbars = [other for other in fig.axes if other is not ax]
    if "spectrogram" in name:  # the colour is the third axis: it needs a scale with a unit
        assert len(colorbars) == 1 and colorbars[0].get_ylabel()
    plt.close(fig)


def test_dataset_figure_counts_speakers_not_silence_clips(tmp_path):
    synth.synthesize_words(["on"], tmp_path, per_word=4, seed=5)
    for n in range(3):
        dataset.write_wav(tmp_path / "_silence_" / f"{n:04d}.wav", np.zeros(RATE))
    clips = dataset.index_folder(tmp_path)
    spoken = {p.name.split("_nohash_")[0] for p in (tmp_path / "on").glob("*.wav")}
    fig, axes = plt.subplots(1, 3)
    analyze.plot_dataset(axes, clips)
    assert axes[1].get_title() == f"Clips per speaker ({len(spoken)} speakers)"
    assert all(ax.get_ylabel() for ax in axes)
    plt.close(fig)


def test_confusion_figure_has_its_colour_scale_and_accuracy():
    fig, ax = plt.subplots()
    draw_confusion(ax, np.array([[3, 1], [0, 4]]), "int8 model", ["a", "b"])
    assert ax.get_title() == "int8 model: accuracy 87.5%"
    assert fig.axes[1].get_ylabel() == "share of the true class's clips"
    plt.close(fig)


def test_a_clip_without_samples_is_named(tmp_path):
    dataset.write_wav(tmp_path / "empty.wav", np.zeros(0))
    with pytest.raises(ValueError, match=r"empty\.wav: holds no samples .*record it again"):
        analyze.analyze(str(tmp_path / "empty.wav"), None, tmp_path / "figures")
    assert not (tmp_path / "figures").exists()
