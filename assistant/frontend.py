"""The board's audio frontend in numpy: TFLite Micro's microfrontend, bit for bit, streaming.

The board (and training, through TensorFlow's op) turn 16 kHz int16 audio into uint16 features
with the microfrontend's fixed-point C code: a Q12 Hann window, a 16-bit fixed-point real FFT
(kissfft, radix 4), energy, a Q12 mel filterbank, integer square root, noise reduction, PCAN gain
control and a LUT logarithm. This module repeats every integer step, so the desktop computes the
same numbers as the board without TensorFlow. `Frontend` carries the state across chunks (window
overlap, noise estimate), so feeding audio in pieces of any size gives the same features as
feeding it whole.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from assistant.features import FRONTEND_PARAMS

WINDOW_BITS = 12
FILTERBANK_BITS = 12
NOISE_REDUCTION_BITS = 14
PCAN_SNR_BITS = 12
PCAN_OUTPUT_BITS = 6
WIDE_DYNAMIC_FUNCTION_BITS = 32
LOG_SCALE_BITS = 16
LOG_SEGMENT_BITS = 7
LOG_COEFF = 45426
# log2(1 + x) - x at 129 points of [0, 1], in 1/65536 (the microfrontend's table).
LOG_LUT = np.array(
    [
        0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797,
        2944, 3087, 3224, 3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549,
        4633, 4714, 4791, 4864, 4934, 5001, 5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444,
        5477, 5507, 5533, 5557, 5578, 5595, 5610, 5622, 5631, 5637, 5640, 5641, 5638, 5633, 5626,
        5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332, 5291, 5249, 5203,
        5156, 5106, 5054, 5000, 4944, 4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264,
        4184, 4103, 4020, 3935, 3848, 3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875,
        2768, 2659, 2549, 2437, 2323, 2207, 2090, 1971, 1851, 1729, 1605, 1480, 1353, 1224, 1094,
        963, 830, 695, 559, 421, 282, 142, 0, 0,
    ],
    dtype=np.int64,
)  # fmt: skip

_F32 = np.float32
_U32 = 0xFFFFFFFF


def _int16(values: np.ndarray) -> np.ndarray:
    """Store into int16 as C does: keep the low 16 bits (two's complement wrap)."""
    return ((values + 0x8000) & 0xFFFF) - 0x8000


def _msb(values: np.ndarray) -> np.ndarray:
    """Number of bits needed for each non-negative integer (0 for 0), below 2**53."""
    return np.frexp(np.asarray(values, dtype=np.float64))[1].astype(np.int64)


@dataclass(frozen=True)
class FrontendConfig:
    """The microfrontend's parameters, named as TensorFlow's op names them."""

    sample_rate: int
    window_size: int
    window_step: int
    num_channels: int
    upper_band_limit: float
    lower_band_limit: float
    smoothing_bits: int
    even_smoothing: float
    odd_smoothing: float
    min_signal_remaining: float
    enable_pcan: bool
    pcan_strength: float
    pcan_offset: float
    gain_bits: int
    enable_log: bool
    scale_shift: int

    @classmethod
    def from_params(cls, params: Mapping[str, object] = FRONTEND_PARAMS) -> FrontendConfig:
        if params.get("out_scale", 1) != 1 or params.get("out_type", "uint16") != "uint16":
            raise ValueError(
                "the desktop frontend computes the board's uint16 features only "
                f"(out_scale 1, out_type uint16), got {dict(params)}"
            )
        names = cls.__dataclass_fields__
        return cls(**{name: params[name] for name in names})


class FrontendTables:
    """Everything the frontend precomputes from its configuration (as the C `*PopulateState`)."""

    def __init__(self, config: FrontendConfig):
        self.config = config
        self.window_samples = config.window_size * config.sample_rate // 1000
        self.step_samples = config.window_step * config.sample_rate // 1000
        self.fft_size = 1 << int(_msb(self.window_samples - 1))
        # The bits lost to the FFT's per-stage scaling, given back before PCAN and the log.
        self.correction_bits = int(_msb(self.fft_size)) - 1 - FILTERBANK_BITS // 2
        smoothing_scale = _F32(1 << NOISE_REDUCTION_BITS)
        self.even_smoothing = int(_F32(config.even_smoothing) * smoothing_scale)
        self.odd_smoothing = int(_F32(config.odd_smoothing) * smoothing_scale)
        self.min_signal_remaining = int(_F32(config.min_signal_remaining) * smoothing_scale)
        channels = np.arange(config.num_channels)
        self.smoothing = np.where(channels % 2 == 0, self.even_smoothing, self.odd_smoothing)
        self.snr_shift = config.gain_bits - self.correction_bits - PCAN_SNR_BITS

    @cached_property
    def window(self) -> np.ndarray:
        arg = _F32(math.pi * 2.0 / float(_F32(self.window_samples)))
        coefficients = []
        for i in range(self.window_samples):
            value = _F32(0.5 - 0.5 * math.cos(float(arg) * (i + 0.5)))
            coefficients.append(math.floor(float(value * _F32(1 << WINDOW_BITS)) + 0.5))
        return np.array(coefficients, dtype=np.int64)

    @cached_property
    def fft_stages(self) -> list[tuple[int, tuple[np.ndarray, np.ndarray]]]:
        """For each radix-4 stage (m = 1, 4, 16, ...): the Q15 twiddles (real, imaginary) of
        its three rotated inputs, shape (3, m), from kissfft's table for the half-size FFT."""
        n = self.fft_size // 2
        phase = -2 * math.pi * np.arange(n) / n
        table_r = np.floor(0.5 + 32767 * np.cos(phase)).astype(np.int32)
        table_i = np.floor(0.5 + 32767 * np.sin(phase)).astype(np.int32)
        stages = []
        m = 1
        while m < n:
            index = np.arange(1, 4)[:, None] * np.arange(m)[None, :] * (n // (4 * m))
            stages.append((m, (table_r[index], table_i[index])))
            m *= 4
        return stages

    @cached_property
    def real_twiddles(self) -> tuple[np.ndarray, np.ndarray]:
        """The twiddles that split the half-size complex FFT into the real FFT's bins."""
        n = self.fft_size // 2
        phase = -math.pi * ((np.arange(n // 2) + 1) / n + 0.5)
        real = np.floor(0.5 + 32767 * np.cos(phase)).astype(np.int32)
        imag = np.floor(0.5 + 32767 * np.sin(phase)).astype(np.int32)
        return real, imag

    @cached_property
    def digit_reversal(self) -> np.ndarray:
        n = self.fft_size // 2
        stages = round(math.log(n, 4))
        if 4**stages != n:
            raise ValueError(f"FFT size {self.fft_size} is not 2 * a power of 4")
        index = np.arange(n)
        reversed_index = np.zeros(n, dtype=np.int64)
        for _ in range(stages):
            reversed_index = reversed_index * 4 + index % 4
            index //= 4
        return reversed_index

    @cached_property
    def filterbank(self) -> tuple[int, np.ndarray]:
        """(first FFT bin, weights): channel c = weights[c] @ energy[first:first + width]."""
        cfg = self.config
        spectrum_size = self.fft_size // 2 + 1

        def mel(freq: np.float32) -> np.float32:
            return _F32(1127.0 * math.log1p(float(freq) / 700.0))

        edges = cfg.num_channels + 1
        mel_low = mel(_F32(cfg.lower_band_limit))
        mel_span = _F32(mel(_F32(cfg.upper_band_limit)) - mel_low)
        spacing = _F32(mel_span / _F32(edges))
        centers = [_F32(mel_low + _F32(spacing * _F32(i + 1))) for i in range(edges)]
        hz_per_bin = _F32(0.5 * cfg.sample_rate / float(_F32(spectrum_size) - _F32(1)))
        start = int(1.5 + float(_F32(cfg.lower_band_limit) / hz_per_bin))
        weights: dict[tuple[int, int], int] = {}
        unweights: dict[tuple[int, int], int] = {}
        first = start
        end = 0
        for chan in range(edges):
            freq = first
            while mel(_F32(_F32(freq) * hz_per_bin)) <= centers[chan]:
                freq += 1
            below = mel_low if chan == 0 else centers[chan - 1]
            for f in range(first, freq):
                weight = _F32(
                    _F32(centers[chan] - mel(_F32(_F32(f) * hz_per_bin)))
                    / _F32(centers[chan] - below)
                )
                weights[chan, f] = math.floor(float(weight * _F32(1 << FILTERBANK_BITS)) + 0.5)
                unweights[chan, f] = math.floor(
                    (1.0 - float(weight)) * (1 << FILTERBANK_BITS) + 0.5
                )
            end = max(end, freq)
            first = freq
        matrix = np.zeros((cfg.num_channels, end - start), dtype=np.int64)
        # Channel c adds the rising edge of filter c + 1 and the falling edge of filter c.
        for (chan, f), weight in weights.items():
            if chan >= 1:
                matrix[chan - 1, f - start] += weight
        for (chan, f), unweight in unweights.items():
            if chan < cfg.num_channels:
                matrix[chan, f - start] += unweight
        return start, matrix

    @cached_property
    def pcan_lut(self) -> np.ndarray:
        """The piecewise-quadratic gain table of PCAN's wide dynamic function."""
        cfg = self.config
        input_bits = cfg.smoothing_bits - self.correction_bits

        def gain(x: int) -> int:
            x_float = _F32(_F32(x) / _F32(1 << input_bits))
            base = _F32(x_float + _F32(cfg.pcan_offset))
            value = _F32(_F32(1 << cfg.gain_bits) * np.power(base, _F32(-cfg.pcan_strength)))
            return 32767 if value > 32767 else int(_F32(value + _F32(0.5)))

        lut = np.zeros(4 * WIDE_DYNAMIC_FUNCTION_BITS - 3, dtype=np.int64)
        lut[0], lut[1] = gain(0), gain(1)
        for interval in range(2, WIDE_DYNAMIC_FUNCTION_BITS + 1):
            x0 = 1 << (interval - 1)
            x1 = x0 + (x0 >> 1)
            x2 = x0 + (x0 - 1) if interval == WIDE_DYNAMIC_FUNCTION_BITS else 2 * x0
            y0, y1, y2 = gain(x0), gain(x1), gain(x2)
            a1 = 4 * (y1 - y0) - (y2 - y0)
            a2 = (y2 - y0) - a1
            lut[4 * interval - 6 : 4 * interval - 3] = y0, _int16(a1), _int16(a2)
        return lut


# --- the stages, each over a batch of frames (first axis) --------------------------------------


def _windowed(frames: np.ndarray, tables: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """Q12 window; returns the windowed frames and the shift that fills the FFT's 16 bits."""
    output = _int16((frames * tables.window) >> WINDOW_BITS)
    max_abs = _int16(np.abs(output)).max(axis=1)
    return output, 15 - _msb(np.maximum(max_abs, 0))


def _q15(values: np.ndarray) -> np.ndarray:
    """kissfft's rounding of an int32 Q15 product back to int16 (sround)."""
    return ((values + (1 << 14)) >> 15).astype(np.int16)


def _complex_fft(z: np.ndarray, tables: FrontendTables) -> np.ndarray:
    """kissfft's fixed-point radix-4 complex FFT, each stage dividing by 4 with rounding.

    `z` is int16 of shape (2, frames, n): real and imaginary parts. Sums wrap in int16 and
    products round from int32, exactly as the C code stores them.
    """
    n = z.shape[2]
    z = z[:, :, tables.digit_reversal]
    for m, (tw_r, tw_i) in tables.fft_stages:
        z = z.reshape(2, z.shape[1], n // (4 * m), 4, m)
        a = _q15(z.astype(np.int32) * 8191)  # C_FIXDIV by 4: SAMP_MAX / 4
        x_r, x_i = a[0, :, :, 1:].astype(np.int32), a[1, :, :, 1:].astype(np.int32)
        s_r = _q15(x_r * tw_r - x_i * tw_i)
        s_i = _q15(x_r * tw_i + x_i * tw_r)
        f0_r, f0_i = a[0, :, :, 0], a[1, :, :, 0]
        s5_r, s5_i = f0_r - s_r[:, :, 1], f0_i - s_i[:, :, 1]
        f0_r, f0_i = f0_r + s_r[:, :, 1], f0_i + s_i[:, :, 1]
        s3_r, s3_i = s_r[:, :, 0] + s_r[:, :, 2], s_i[:, :, 0] + s_i[:, :, 2]
        s4_r, s4_i = s_r[:, :, 0] - s_r[:, :, 2], s_i[:, :, 0] - s_i[:, :, 2]
        out = np.empty_like(a)
        out[0, :, :, 0], out[1, :, :, 0] = f0_r + s3_r, f0_i + s3_i
        out[0, :, :, 1], out[1, :, :, 1] = s5_r + s4_i, s5_i - s4_r
        out[0, :, :, 2], out[1, :, :, 2] = f0_r - s3_r, f0_i - s3_i
        out[0, :, :, 3], out[1, :, :, 3] = s5_r - s4_i, s5_i + s4_r
        z = out.reshape(2, -1, n)
    return z


def _real_fft(samples: np.ndarray, tables: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """kissfft's fixed-point real FFT (kiss_fftr): bins 0..N/2 (real, imaginary) as int32."""
    frames, n_real = samples.shape
    padded = np.zeros((frames, tables.fft_size), dtype=np.int16)
    padded[:, :n_real] = samples
    z = _complex_fft(np.stack([padded[:, 0::2], padded[:, 1::2]]), tables)
    n = z.shape[2]
    half = 16383  # C_FIXDIV by 2: SAMP_MAX / 2
    out = np.zeros((2, frames, n + 1), dtype=np.int32)
    dc = _q15(z[:, :, 0].astype(np.int32) * half).astype(np.int32)
    out[0, :, 0] = (dc[0] + dc[1]).astype(np.int16)
    out[0, :, n] = (dc[0] - dc[1]).astype(np.int16)
    k = np.arange(1, n // 2 + 1)
    fpk = _q15(z[:, :, k].astype(np.int32) * half)
    fpnk = z[:, :, n - k]
    fpnk[1] = -fpnk[1]
    fpnk = _q15(fpnk.astype(np.int32) * half)
    f1 = (fpk + fpnk).astype(np.int32)
    f2 = (fpk - fpnk).astype(np.int32)
    t_r, t_i = tables.real_twiddles
    tw_r = _q15(f2[0] * t_r - f2[1] * t_i).astype(np.int32)
    tw_i = _q15(f2[0] * t_i + f2[1] * t_r).astype(np.int32)
    # Bin n/2 is written twice; the second write (the conjugate side) wins, as in C.
    real, imag = out[0], out[1]
    real[:, k] = ((f1[0] + tw_r) >> 1).astype(np.int16)
    imag[:, k] = ((f1[1] + tw_i) >> 1).astype(np.int16)
    real[:, n - k] = ((f1[0] - tw_r) >> 1).astype(np.int16)
    imag[:, n - k] = ((tw_i - f1[1]) >> 1).astype(np.int16)
    return real, imag


def _rounded_sqrt(values: np.ndarray) -> np.ndarray:
    """The filterbank's integer square root of uint64 values, rounded as the C code rounds."""
    values = values.astype(np.uint64)
    root = np.floor(np.sqrt(values.astype(np.float64))).astype(np.uint64)
    root = np.minimum(root, np.uint64(_U32))
    too_big = root * root > values
    root = np.where(too_big, root - np.uint64(1), root)
    next_root = root + np.uint64(1)
    fits = (next_root <= np.uint64(_U32)) & (next_root * next_root <= values)
    root = np.where(fits, next_root, root)
    remainder = values - root * root
    cap = np.where(values >> np.uint64(32) == 0, np.uint64(0xFFFF), np.uint64(_U32))
    return np.where((remainder > root) & (root != cap), root + np.uint64(1), root).astype(np.int64)


def _filterbank(
    real: np.ndarray, imag: np.ndarray, shift: np.ndarray, tables: FrontendTables
) -> np.ndarray:
    """Energy, mel filterbank, square root and undoing the FFT's input shift: uint32 values."""
    first, weights = tables.filterbank
    bins = slice(first, first + weights.shape[1])
    real, imag = real[:, bins].astype(np.int64), imag[:, bins].astype(np.int64)
    energy = (real * real + imag * imag) & _U32
    energy = np.where(energy >= 1 << 31, energy - (1 << 32), energy)  # stored as int32
    work = (energy @ weights.T).view(np.uint64)
    return (_rounded_sqrt(work) >> shift[:, None]) & _U32


def _pcan(signal: np.ndarray, estimate: np.ndarray, tables: FrontendTables) -> np.ndarray:
    """Per-channel automatic gain from the noise estimate, then the SNR shrink."""
    lut = tables.pcan_lut
    interval = _msb(estimate)
    index = np.maximum(4 * interval - 6, 0)
    frac = (
        np.where(
            interval < 11,
            estimate << np.maximum(11 - interval, 0),
            estimate >> np.maximum(interval - 11, 0),
        )
        & 0x3FF
    )
    result = (lut[index + 2] * frac) >> 5
    result = (result + lut[index + 1] * 32) * frac
    result = ((result + (1 << 14)) >> 15) + lut[index]
    gain = np.where(estimate <= 2, lut[np.minimum(estimate, 2)], _int16(result)) & _U32
    snr = ((signal * gain) >> tables.snr_shift) & _U32
    small = snr < (2 << PCAN_SNR_BITS)
    shrunk_small = (snr * snr) >> (2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS)
    shrunk_large = (snr >> (PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - (1 << PCAN_OUTPUT_BITS)
    return np.where(small, shrunk_small, shrunk_large) & _U32


def _log_scale(signal: np.ndarray, tables: FrontendTables) -> np.ndarray:
    """The LUT natural logarithm scaled by 2**scale_shift, saturated to uint16."""
    correction = tables.correction_bits
    values = signal >> -correction if correction < 0 else (signal << correction) & _U32
    safe = np.maximum(values, 2)
    integer = _msb(safe) - 1
    frac = safe - (1 << integer)
    frac = np.where(
        integer < LOG_SCALE_BITS,
        frac << np.maximum(LOG_SCALE_BITS - integer, 0),
        frac >> np.maximum(integer - LOG_SCALE_BITS, 0),
    )
    segment = frac >> (LOG_SCALE_BITS - LOG_SEGMENT_BITS)
    c0, c1 = LOG_LUT[segment], LOG_LUT[segment + 1]
    seg_unit = (1 << LOG_SCALE_BITS) >> LOG_SEGMENT_BITS
    fraction = frac + c0 + (((c1 - c0) * (frac - seg_unit * segment)) >> LOG_SCALE_BITS)
    log2 = ((integer << LOG_SCALE_BITS) + fraction) & _U32
    rounding = 1 << (LOG_SCALE_BITS - 1)
    loge = ((LOG_COEFF * log2 + rounding) >> LOG_SCALE_BITS) & _U32
    scaled = ((((loge << tables.config.scale_shift) & _U32) + rounding) & _U32) >> LOG_SCALE_BITS
    return np.where(values > 1, scaled, 0)


class Frontend:
    """The streaming microfrontend: `process(samples)` returns the uint16 feature slices (one per
    window step) that the samples fed so far complete, shape (slices, channels)."""

    def __init__(self, params: Mapping[str, object] = FRONTEND_PARAMS):
        self.config = FrontendConfig.from_params(params)
        self.tables = FrontendTables(self.config)
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.int64)
        self._estimate = np.zeros(self.config.num_channels, dtype=np.int64)

    @property
    def channels(self) -> int:
        return self.config.num_channels

    def process(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples)
        if samples.ndim != 1 or samples.dtype != np.int16:
            raise TypeError(
                f"the frontend takes 1-D int16 samples, got {samples.dtype} of shape "
                f"{samples.shape}; convert with np.int16 (mono, 16 kHz)"
            )
        tables = self.tables
        size, step = tables.window_samples, tables.step_samples
        buffer = np.concatenate([self._pending, samples.astype(np.int64)])
        count = 0 if len(buffer) < size else (len(buffer) - size) // step + 1
        self._pending = buffer[count * step :]
        if count == 0:
            return np.zeros((0, self.channels), dtype=np.uint16)
        frames = np.lib.stride_tricks.sliding_window_view(buffer, size)[: count * step : step]
        windowed, shift = _windowed(frames, tables)
        fft_input = _int16(((windowed & 0xFFFF) << shift[:, None]) & 0xFFFF)
        real, imag = _real_fft(fft_input, tables)
        signal = _filterbank(real, imag, shift, tables)
        signal, estimates = self._reduce_noise(signal)
        if self.config.enable_pcan:
            signal = _pcan(signal, estimates, tables)
        if self.config.enable_log:
            signal = _log_scale(signal, tables)
        return np.minimum(signal, 0xFFFF).astype(np.uint16)

    def _reduce_noise(self, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spectral subtraction with a running noise estimate (the state carried across frames).
        Returns the reduced signal and the estimate after each frame (PCAN's input)."""
        tables = self.tables
        bits = self.config.smoothing_bits
        smoothing = tables.smoothing
        keep = (1 << NOISE_REDUCTION_BITS) - smoothing
        scaled_up = (signal << bits) & _U32
        estimates = np.empty_like(signal)
        estimate = self._estimate
        for frame in range(signal.shape[0]):
            estimate = (scaled_up[frame] * smoothing + estimate * keep) >> NOISE_REDUCTION_BITS
            estimates[frame] = estimate
        self._estimate = estimate
        floor = (signal * tables.min_signal_remaining) >> NOISE_REDUCTION_BITS
        subtracted = (scaled_up - np.minimum(estimates, scaled_up)) >> bits
        return np.maximum(subtracted, floor), estimates


def compute_features(samples: np.ndarray, params: Mapping[str, object] = FRONTEND_PARAMS):
    """uint16 features of a whole recording, from a fresh frontend state."""
    return Frontend(params).process(samples)
