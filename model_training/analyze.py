"""The article's figures: a clip's waveform and spectra, and a data set's distribution (PNG).

Every figure is a function taking a matplotlib Axes, so notebooks can use them one by one;
`clip_figures` and `dataset_figures` write them as PNG files, each alone and all on one sheet.
The numbers behind each clip figure come from a function of their own (`periodogram`,
`welch_psd`, ...). Amplitudes are in full scale (FS): 1.0 is the largest value of a 16-bit
sample (32768), as `read_wav` scales it; powers are in FS², densities in FS²/Hz.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy import signal

from model_training.dataset import SPLITS, Clip, clips_per_speaker, index_folder, read_wav
from model_training.settings import SAMPLE_RATE

WELCH_SEGMENT = 1024  # samples: 64 ms at 16 kHz
MEL_BANDS, MEL_FFT, MEL_HOP = 128, 2048, 512  # librosa's n_fft and hop_length defaults


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def periodogram(audio: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in Hz, one-sided PSD in FS²/Hz) of the whole clip (rectangular window)."""
    return signal.periodogram(audio, rate, scaling="density")


def welch_psd(audio: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in Hz, one-sided PSD in FS²/Hz) by Welch's method: flat-top windows of
    WELCH_SEGMENT samples (the clip when shorter), half overlapping, averaged."""
    segment = min(WELCH_SEGMENT, len(audio))
    return signal.welch(audio, rate, window="flattop", nperseg=segment, scaling="density")


def amplitude_spectrum(audio: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in Hz, single-sided amplitude in FS): |FFT| scaled so that a sine of
    amplitude A on a bin reads A whatever the clip's length (2|X|/N; DC and Nyquist |X|/N)."""
    amplitude = np.abs(np.fft.rfft(audio)) / len(audio)
    amplitude[1 : (len(audio) + 1) // 2] *= 2
    return np.fft.rfftfreq(len(audio), 1 / rate), amplitude


def log_spectrogram(audio: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[np.ndarray, ...]:
    """20 ms Hann windows every 10 ms; returns (freqs in Hz, times in s, ln of PSD in FS²/Hz)."""
    window, step = int(0.02 * rate), int(0.01 * rate)
    freqs, times, power = signal.spectrogram(
        audio, rate, window="hann", nperseg=window, noverlap=window - step, detrend=False
    )
    return freqs, times, np.log(power.astype(np.float64) + 1e-10)


def mel_db(audio: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """MEL_BANDS x frames mel power spectrogram in dB relative to its maximum (0 dB), frames of
    MEL_FFT samples every MEL_HOP (librosa's defaults, as the article)."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=audio, sr=rate, n_fft=MEL_FFT, hop_length=MEL_HOP, n_mels=MEL_BANDS
    )
    return librosa.power_to_db(mel, ref=np.max)


def plot_waveform(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    ax.plot(np.arange(len(audio)) / rate, audio, linewidth=0.6)
    ax.set(title="Waveform", xlabel="time (s)", ylabel="amplitude (FS)")


def plot_periodogram(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    freqs, power = periodogram(audio, rate)
    ax.semilogy(freqs[1:], power[1:] + 1e-20, linewidth=0.6)
    ax.set(title="Periodogram", xlabel="frequency (Hz)", ylabel="PSD (FS²/Hz)")


def plot_welch(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    freqs, power = welch_psd(audio, rate)
    ax.semilogy(freqs, power + 1e-20, linewidth=0.8)
    segment_ms = min(WELCH_SEGMENT, len(audio)) * 1000 // rate
    title = f"Welch PSD (flat-top window, {segment_ms} ms segments)"
    ax.set(title=title, xlabel="frequency (Hz)", ylabel="PSD (FS²/Hz)")


def plot_fft(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    freqs, amplitude = amplitude_spectrum(audio, rate)
    ax.plot(freqs, amplitude, linewidth=0.6)
    title = "FFT magnitude (single-sided amplitude)"
    ax.set(title=title, xlabel="frequency (Hz)", ylabel="amplitude (FS)")


def plot_log_spectrogram(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    freqs, times, logpower = log_spectrogram(audio, rate)
    mesh = ax.pcolormesh(times, freqs, logpower, shading="auto")
    ax.figure.colorbar(mesh, ax=ax, label="ln PSD (FS²/Hz)")
    title = "Log spectrogram (20 ms Hann, 10 ms step)"
    ax.set(title=title, xlabel="time (s)", ylabel="frequency (Hz)")


def plot_mel(ax, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    import librosa.display

    mesh = librosa.display.specshow(
        mel_db(audio, rate), sr=rate, hop_length=MEL_HOP, x_axis="time", y_axis="mel", ax=ax
    )
    ax.figure.colorbar(mesh, ax=ax, format="%+.0f", label="dB re the clip's maximum")
    frame_ms, hop_ms = MEL_FFT * 1000 // rate, MEL_HOP * 1000 // rate
    ax.set(
        title=f"Mel power spectrogram ({MEL_BANDS} bands, {frame_ms} ms frames, {hop_ms} ms hop)",
        xlabel="time (s)",
        ylabel="frequency (Hz, mel scale)",
    )


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


def plot_dataset(axes: Sequence, clips: Sequence[Clip]) -> None:
    """Clips per word (by split), clips per speaker (speech only) and durations on 3 Axes."""
    words = sorted({c.word for c in clips})
    bottom = np.zeros(len(words))
    for split in SPLITS:
        counts = Counter(c.word for c in clips if c.split == split)
        heights = np.array([counts[w] for w in words])
        axes[0].bar(words, heights, bottom=bottom, label=split)
        bottom += heights
    axes[0].set(title="Clips per word", ylabel="clips")
    axes[0].tick_params(axis="x", rotation=60)
    axes[0].margins(y=0.15)  # room for the legend above the bars
    axes[0].legend(loc="upper center", ncols=len(SPLITS), framealpha=0.9)
    per_speaker = clips_per_speaker(clips)
    axes[1].hist(list(per_speaker.values()), bins=30)
    axes[1].set(
        title=f"Clips per speaker ({len(per_speaker)} speakers)",
        xlabel="spoken clips of a speaker",
        ylabel="speakers",
    )
    axes[2].hist([c.samples / c.sample_rate for c in clips], bins=30)
    axes[2].set(title="Clip durations", xlabel="duration (s)", ylabel="clips")


def dataset_figures(clips: list[Clip], out_dir: str | Path) -> Path:
    """`plot_dataset` as one PNG."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    plot_dataset(axes, clips)
    fig.tight_layout()
    path = Path(out_dir) / "dataset_distribution.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def analyze(
    clip: str | None, folder: str | None, out_dir: str | Path, seed: int | None = None
) -> tuple[str, list[Path]]:
    """Figures for `clip` (or a random clip of `folder`) and, given a folder, its distribution;
    returns the clip drawn and the PNG files written."""
    clips = index_folder(folder) if folder else []
    if clip is None:
        if not clips:
            raise ValueError("give --clip or a --folder to pick a random clip from")
        clip = clips[int(np.random.default_rng(seed).integers(len(clips)))].path
    audio = read_wav(clip)
    if not len(audio):
        raise ValueError(f"{clip}: holds no samples (its data chunk is empty); record it again")
    written = clip_figures(audio, Path(out_dir), title=str(clip))
    if clips:
        written.append(dataset_figures(clips, Path(out_dir)))
    return str(clip), written
