"""The article's figures: a clip's waveform and spectra, and a data set's distribution (PNG).

Every figure is a function taking a matplotlib Axes, so notebooks can use them one by one;
`clip_figures` and `dataset_figures` write them as PNG files, each alone and all on one sheet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import signal

from model_training.dataset import Clip, index_folder, read_wav
from model_training.settings import SAMPLE_RATE, SILENCE_FOLDER


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_waveform(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    ax.plot(np.arange(len(audio)) / rate, audio, linewidth=0.6)
    ax.set(title="Waveform", xlabel="time (s)", ylabel="amplitude")


def plot_periodogram(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    freqs, power = signal.periodogram(audio, rate)
    ax.semilogy(freqs[1:], power[1:] + 1e-20, linewidth=0.6)
    ax.set(title="Periodogram", xlabel="frequency (Hz)", ylabel="power (V²/Hz)")


def plot_welch(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    freqs, power = signal.welch(audio, rate, window="flattop", nperseg=1024, scaling="spectrum")
    ax.semilogy(freqs, np.sqrt(power) + 1e-20, linewidth=0.8)
    ax.set(
        title="Welch PSD (flat-top window)",
        xlabel="frequency (Hz)",
        ylabel="linear spectrum (V RMS)",
    )


def plot_fft(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    magnitude = np.abs(np.fft.rfft(audio))
    ax.plot(np.fft.rfftfreq(len(audio), 1 / rate), magnitude, linewidth=0.6)
    ax.set(title="FFT magnitude", xlabel="frequency (Hz)", ylabel="|X(f)|")


def log_spectrogram(audio: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[np.ndarray, ...]:
    """20 ms Hann windows every 10 ms; returns (freqs, times, log power)."""
    window, step = int(0.02 * rate), int(0.01 * rate)
    freqs, times, power = signal.spectrogram(
        audio, rate, window="hann", nperseg=window, noverlap=window - step, detrend=False
    )
    return freqs, times, np.log(power.astype(np.float64) + 1e-10)


def plot_log_spectrogram(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    freqs, times, logpower = log_spectrogram(audio, rate)
    ax.pcolormesh(times, freqs, logpower, shading="auto")
    ax.set(title="Log spectrogram (20 ms Hann, 10 ms step)", xlabel="time (s)", ylabel="Hz")


def plot_mel(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    import librosa
    import librosa.display

    mel = librosa.feature.melspectrogram(y=audio, sr=rate, n_mels=128)
    librosa.display.specshow(
        librosa.power_to_db(mel, ref=np.max), sr=rate, x_axis="time", y_axis="mel", ax=ax
    )
    ax.set(title="Mel power spectrogram (128 bands, dB)")


CLIP_FIGURES: dict[str, Callable] = {
    "waveform": plot_waveform,
    "periodogram": plot_periodogram,
    "welch_psd": plot_welch,
    "fft": plot_fft,
    "log_spectrogram": plot_log_spectrogram,
    "mel_spectrogram": plot_mel,
}


def clip_figures(audio: np.ndarray, out_dir: str | Path, title: str = "") -> list[Path]:
    """Each clip figure as its own PNG and all six on one sheet (`clip_sheet.png`)."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in CLIP_FIGURES.items():
        fig, ax = plt.subplots(figsize=(7, 4))
        draw(ax, audio)
        fig.tight_layout()
        written.append(out_dir / f"{name}.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    fig, axes = plt.subplots(3, 2, figsize=(13, 11))
    for ax, draw in zip(axes.flat, CLIP_FIGURES.values(), strict=True):
        draw(ax, audio)
    fig.suptitle(title)
    fig.tight_layout()
    written.append(out_dir / "clip_sheet.png")
    fig.savefig(written[-1], dpi=90)
    plt.close(fig)
    return written


def dataset_figures(clips: list[Clip], out_dir: str | Path) -> Path:
    """Clips per word (by split), clips per speaker (speech only) and durations, on one PNG."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    words = sorted({c.word for c in clips})
    bottom = np.zeros(len(words))
    for split in ("train", "validation", "test"):
        counts = Counter(c.word for c in clips if c.split == split)
        heights = np.array([counts[w] for w in words])
        axes[0].bar(words, heights, bottom=bottom, label=split)
        bottom += heights
    axes[0].set(title="Clips per word", ylabel="clips")
    axes[0].tick_params(axis="x", rotation=60)
    axes[0].legend(loc="lower right", framealpha=0.9)
    per_speaker = Counter(c.speaker for c in clips if c.word != SILENCE_FOLDER)
    axes[1].hist(list(per_speaker.values()), bins=30)
    axes[1].set(title=f"Clips per speaker ({len(per_speaker)} speakers)", xlabel="clips")
    axes[2].hist([c.samples / c.sample_rate for c in clips], bins=30)
    axes[2].set(title="Clip durations", xlabel="seconds")
    fig.tight_layout()
    path = Path(out_dir) / "dataset_distribution.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def analyze(
    clip: str | None, folder: str | None, out_dir: str | Path, seed: int | None = None
) -> list[Path]:
    """Figures for `clip` (or a random clip of `folder`) and, given a folder, its distribution."""
    clips = index_folder(folder) if folder else []
    if clip is None:
        if not clips:
            raise ValueError("give --clip or a --folder to pick a random clip from")
        clip = clips[int(np.random.default_rng(seed).integers(len(clips)))].path
    written = clip_figures(read_wav(clip), Path(out_dir), title=str(clip))
    if clips:
        written.append(dataset_figures(clips, Path(out_dir)))
    return written
