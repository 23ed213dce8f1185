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
FLOAT64_EXACT = 2**53
FILTERBANK_FRAMES_PER_PRODUCT = 32


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
        return np.array(coefficients, dtype=np.int32)

    @cached_property
    def fft_stages(self) -> list[tuple[int, np.ndarray | None, np.ndarray | None]]:
        """For each radix-4 stage (m = 1, 4, 16, ...): its Q15 twiddles as two int32 arrays of
        shape (2, 1, n), so that a complex value x (real, imaginary) times twiddle t is
        x.real * first + x.imag * second (real and imaginary parts of the product along the
        first axis), one twiddle per position of the stage's input (groups of 4 * m: the
        butterfly's four inputs, m apart). From kissfft's table for the half-size FFT; the
        butterfly's unrotated input gets (32767, 0), which leaves the values it meets
        (|x| <= 8192) unchanged, and so does the first stage, all of whose twiddles are
        (32767, 0): None, None."""
        n = self.fft_size // 2
        phase = -2 * math.pi * np.arange(n) / n
        table_r = np.floor(0.5 + 32767 * np.cos(phase)).astype(np.int32)
        table_i = np.floor(0.5 + 32767 * np.sin(phase)).astype(np.int32)
        stages = []
        m = 1
        while m < n:
            index = np.arange(4)[:, None] * np.arange(m)[None, :] * (n // (4 * m))
            real = np.tile(table_r[index].ravel(), n // (4 * m))
            imag = np.tile(table_i[index].ravel(), n // (4 * m))
            if (real == 32767).all() and (imag == 0).all():
                stages.append((m, None, None))
            else:
                stages.append((m, _complex_factors(real, imag), _complex_factors(-imag, real)))
            m *= 4
        return stages

    @cached_property
    def real_twiddles(self) -> tuple[np.ndarray, np.ndarray]:
        """The twiddles that split the half-size complex FFT into the real FFT's bins, as the
        two factors of `fft_stages`, shape (2, 1, n / 2)."""
        n = self.fft_size // 2
        phase = -math.pi * ((np.arange(n // 2) + 1) / n + 0.5)
        real = np.floor(0.5 + 32767 * np.cos(phase)).astype(np.int32)
        imag = np.floor(0.5 + 32767 * np.sin(phase)).astype(np.int32)
        return _complex_factors(real, imag), _complex_factors(-imag, real)

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
        """(first FFT bin, weights): channel c = weights[c] @ energy[first:first + width]
        (int64, shape (channels, width))."""
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
    def filterbank_matrix(self) -> tuple[slice, np.ndarray]:
        """The filterbank as (FFT bins, float64 (width, channels) matrix) for a BLAS product:
        exact, as every partial sum of int32 energies times the non-negative weights stays
        below 2**53 (checked here)."""
        first, weights = self.filterbank
        largest_sum = (1 << 31) * int(weights.sum(axis=1).max())
        if (weights < 0).any() or largest_sum >= FLOAT64_EXACT:
            raise ValueError(f"filterbank sums up to {largest_sum} are not exact in float64")
        return slice(first, first + weights.shape[1]), weights.T.astype(np.float64)

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
    """Q12 window of int16 frames; returns them shifted left to fill the FFT's 16 bits (int16,
    wrapping as C stores them) and the shift."""
    output = (np.multiply(frames, tables.window, dtype=np.int32) >> WINDOW_BITS).astype(np.int16)
    max_abs = np.abs(output).max(axis=1)  # int16: |-32768| wraps to -32768, as in C
    shift = 15 - _msb(np.maximum(max_abs, 0))
    return output << shift.astype(np.int16)[:, None], shift


def _complex_factors(real: np.ndarray, imag: np.ndarray) -> np.ndarray:
    """(real, imag) stacked on a new first axis, with an axis for the frames after it."""
    return np.stack([real, imag]).astype(np.int32)[:, None]


def _times_twiddles(values: np.ndarray, first: np.ndarray, second: np.ndarray, out=None):
    """kissfft's fixed-point complex product with rounding (C_MUL, sround): int32 values
    (2, ...) (real, imaginary) times Q15 twiddles given as their `fft_stages` factors."""
    product = values[0] * first
    product += values[1] * second
    product += 1 << 14
    return np.right_shift(product, 15, out=out)


def _divided(values: np.ndarray, divisor: int) -> np.ndarray:
    """kissfft's C_FIXDIV: int16 values times SAMP_MAX / divisor in Q15, rounded, as int32."""
    result = np.multiply(values, 32767 // divisor, dtype=np.int32)
    result += 1 << 14
    result >>= 15
    return result


def _complex_fft(z: np.ndarray, tables: FrontendTables) -> np.ndarray:
    """kissfft's fixed-point radix-4 complex FFT, each stage dividing by 4 with rounding.

    `z` is int16 of shape (2, frames, n): real and imaginary parts. Products round from int32
    and results wrap in int16, exactly as the C code stores them; the butterfly's intermediate
    sums stay below 2**15 (inputs |x| <= 8192 after the division, rotated ones below 11586),
    so only its outputs can wrap, when they are stored.
    """
    frames, n = z.shape[1:]
    z = z[:, :, tables.digit_reversal]
    sign = np.array([-1, 1], dtype=np.int32)[:, None, None]
    for m, first, second in tables.fft_stages:
        x = _divided(z, 4)
        if first is not None:
            x = _times_twiddles(x, first, second)
        x = x.reshape(2, -1, 4, m)
        even, odd = x[:, :, 0] + x[:, :, 2], x[:, :, 1] + x[:, :, 3]
        difference = x[:, :, 0] - x[:, :, 2]
        rotated = (x[::-1, :, 1] - x[::-1, :, 3]) * sign  # j * (x1 - x3)
        out = np.empty(x.shape, dtype=np.int16)
        np.add(even, odd, out=out[:, :, 0])
        np.subtract(difference, rotated, out=out[:, :, 1])
        np.subtract(even, odd, out=out[:, :, 2])
        np.add(difference, rotated, out=out[:, :, 3])
        z = out.reshape(2, frames, n)
    return z


def _real_fft(samples: np.ndarray, tables: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """kissfft's fixed-point real FFT (kiss_fftr): bins 0..N/2 (real, imaginary) as int16."""
    frames, n_real = samples.shape
    padded = np.zeros((frames, tables.fft_size), dtype=np.int16)
    padded[:, :n_real] = samples
    z = _complex_fft(padded.reshape(frames, -1, 2).transpose(2, 0, 1), tables)
    n = z.shape[2]
    out = np.zeros((2, frames, n + 1), dtype=np.int16)
    dc = _divided(z[:, :, 0], 2)
    np.add(dc[0], dc[1], out=out[0, :, 0])
    np.subtract(dc[0], dc[1], out=out[0, :, n])
    half = n // 2
    mirrored = z[:, :, n - 1 : n - half - 1 : -1].copy()  # bins n - k for k = 1..n/2, conjugated
    np.negative(mirrored[1], out=mirrored[1])
    fpk, fpnk = _divided(z[:, :, 1 : half + 1], 2), _divided(mirrored, 2)
    f1 = np.add(fpk, fpnk, out=np.empty(fpk.shape, dtype=np.int16))
    f2 = np.subtract(fpk, fpnk, out=np.empty(fpk.shape, dtype=np.int16))
    twiddled = _times_twiddles(f2, *tables.real_twiddles, out=np.empty(f2.shape, np.int16))
    twiddled = twiddled.astype(np.int32)  # the halving sums are C ints: no int16 wrap
    upper = f1 - twiddled
    upper[1] *= -1  # the conjugate side: (f1 - t).real, (t - f1).imaginary
    np.right_shift(f1 + twiddled, 1, out=out[:, :, 1 : half + 1])
    # Bin n/2 is written twice; the second write (the conjugate side) wins, as in C.
    np.right_shift(upper, 1, out=out[:, :, n - 1 : n - half - 1 : -1])
    return out[0], out[1]


def _rounded_sqrt(sums: np.ndarray) -> np.ndarray:
    """The filterbank's integer square root, rounded as the C code rounds (up when the
    remainder exceeds the root, unless the root is 0xFFFF), of its uint64 accumulators given
    as exact float64 sums (a negative one wrapped around). Below 2**52 the float square root's
    floor is the exact integer root; anything else takes the wide path."""
    if sums.min() >= 0 and sums.max() < 2**52:
        root = np.floor(np.sqrt(sums))
        up = (sums - root * root > root) & (root != 0xFFFF)
        return root.astype(np.int64) + up
    return _rounded_sqrt_wide(sums.astype(np.int64).view(np.uint64))


def _rounded_sqrt_wide(values: np.ndarray) -> np.ndarray:
    """`_rounded_sqrt` of any uint64 values."""
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
    bins, weights = tables.filterbank_matrix
    real, imag = real[:, bins], imag[:, bins]
    energy = np.multiply(real, real, dtype=np.int32)
    energy += np.multiply(imag, imag, dtype=np.int32)  # int32 as in C: 2 * 32768**2 wraps
    # A few frames per product: OpenBLAS then stays on one thread (its threads only slow
    # products this small down, and keep spinning after them, the more so on a busy machine).
    blocks = range(0, len(energy), FILTERBANK_FRAMES_PER_PRODUCT)
    sums = np.concatenate([energy[i : i + FILTERBANK_FRAMES_PER_PRODUCT] @ weights for i in blocks])
    return (_rounded_sqrt(sums) >> shift[:, None]) & _U32


def _pcan(signal: np.ndarray, estimate: np.ndarray, tables: FrontendTables) -> np.ndarray:
    """Per-channel automatic gain from the noise estimate, then the SNR shrink."""
    lut = tables.pcan_lut
    # estimate = mantissa * 2**interval exactly (uint32 values), mantissa in [0.5, 1): the ten
    # bits below the leading one are those of mantissa * 2**11.
    mantissa, interval = np.frexp(estimate.astype(np.float64))
    index = np.maximum(4 * interval - 6, 0)
    frac = (mantissa * 2048).astype(np.int64) & 0x3FF
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
    # values = mantissa * 2**(integer + 1) exactly, mantissa in [0.5, 1): the fraction below
    # the leading one, in LOG_SCALE_BITS bits (truncated), is mantissa * 2**(bits + 1) - 2**bits.
    mantissa, exponent = np.frexp(np.maximum(values, 2).astype(np.float64))
    integer = exponent - 1
    frac = (mantissa * (2 << LOG_SCALE_BITS)).astype(np.int64) - (1 << LOG_SCALE_BITS)
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
        self._pending = np.zeros(0, dtype=np.int16)
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
        buffer = np.concatenate([self._pending, samples])
        count = 0 if len(buffer) < size else (len(buffer) - size) // step + 1
        self._pending = buffer[count * step :]
        if count == 0:
            return np.zeros((0, self.channels), dtype=np.uint16)
        frames = np.lib.stride_tricks.as_strided(
            buffer, (count, size), (step * buffer.itemsize, buffer.itemsize), writeable=False
        )
        fft_input, shift = _windowed(frames, tables)
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
