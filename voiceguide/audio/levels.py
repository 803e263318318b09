"""Loudness (ITU-R BS.1770 K-weighting and gating), true peak, and a peak limiter.

Used to plan a session's levels before rendering: the renderer streams, so it
cannot measure the finished mix and then go back. Instead each clip's
K-weighted energy is known, and the mix's integrated loudness is predicted
from where every clip, chime and bit of music bed sits in the timeline.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]

SUB_BLOCK_S = 0.1  # gating blocks are 400 ms with 75 % overlap: 4 sub-blocks of 100 ms
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
OVERSAMPLE = 4  # for true peak


def _biquad_high_shelf(
    rate: int, gain_db: float, q: float, freq: float
) -> tuple[list[float], list[float]]:
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * freq / rate
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    root = 2 * math.sqrt(a) * alpha
    b = [
        a * ((a + 1) + (a - 1) * cos + root),
        -2 * a * ((a - 1) + (a + 1) * cos),
        a * ((a + 1) + (a - 1) * cos - root),
    ]
    den = [
        (a + 1) - (a - 1) * cos + root,
        2 * ((a - 1) - (a + 1) * cos),
        (a + 1) - (a - 1) * cos - root,
    ]
    return [x / den[0] for x in b], [x / den[0] for x in den]


def _biquad_high_pass(rate: int, q: float, freq: float) -> tuple[list[float], list[float]]:
    w0 = 2 * math.pi * freq / rate
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
    den = [1 + alpha, -2 * cos, 1 - alpha]
    return [x / den[0] for x in b], [x / den[0] for x in den]


@functools.cache
def _k_weighting_response(rate: int, length: int = 4096) -> npt.NDArray[np.float64]:
    """Return the K-weighting filter's impulse response (it dies out well within length:
    at 44.1 kHz what is left after 4096 samples peaks at 3e-11)."""
    stages = [
        _biquad_high_shelf(rate, 4.0, 1 / math.sqrt(2), 1500.0),
        _biquad_high_pass(rate, 0.5, 38.0),
    ]
    signal = [0.0] * length
    signal[0] = 1.0
    for b, a in stages:
        out = [0.0] * length
        x1 = x2 = y1 = y2 = 0.0
        for n, x in enumerate(signal):
            y = b[0] * x + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2
            out[n] = y
            x2, x1, y2, y1 = x1, x, y1, y
        signal = out
    return np.asarray(signal, dtype=np.float64)


def k_weight(samples: FloatArray, rate: int) -> npt.NDArray[np.float64]:
    """Apply BS.1770's K-weighting (a high shelf and a high pass) along the first axis.

    Done as a block-wise FFT convolution (overlap-add) with the filters'
    impulse response: numpy alone does it (scipy.signal takes most of a second
    just to import), and memory stays bounded however long the signal is.
    """
    signal = np.asarray(samples, dtype=np.float64)
    if len(signal) == 0:
        return signal
    response = _k_weighting_response(rate)
    # Blocks of 32768 samples, or the whole signal if it is shorter: the FFT is
    # sized to what it convolves (a short line padded to a long block is wasted work).
    block = min(len(signal), 1 << 15)
    size = 1 << math.ceil(math.log2(block + len(response) - 1))
    spectrum = np.fft.rfft(response, size)
    if signal.ndim == 2:
        spectrum = spectrum[:, None]
    out = np.zeros_like(signal)
    for start in range(0, len(signal), block):
        chunk = signal[start : start + block]
        tail = np.fft.irfft(np.fft.rfft(chunk, size, axis=0) * spectrum, size, axis=0)
        end = min(start + len(chunk) + len(response) - 1, len(signal))
        out[start:end] += tail[: end - start]
    return out


def energy_to_lufs(mean_square: float) -> float:
    """Return loudness in LUFS for a K-weighted mean square summed over channels."""
    return -0.691 + 10 * math.log10(mean_square) if mean_square > 0 else -math.inf


def gated_loudness(sub_block_energy: npt.NDArray[np.float64], sub_block_frames: int) -> float:
    """Return integrated loudness from K-weighted energies of consecutive 100 ms sub-blocks.

    Energies are sums of squared K-weighted samples, summed over channels.
    """
    if len(sub_block_energy) < 4:
        total = float(np.sum(sub_block_energy)) / max(len(sub_block_energy) * sub_block_frames, 1)
        return energy_to_lufs(total)
    blocks = np.convolve(sub_block_energy, np.ones(4), mode="valid") / (4 * sub_block_frames)
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(blocks)
    kept = blocks[loudness > ABSOLUTE_GATE_LUFS]
    if kept.size == 0:
        return -math.inf
    threshold = energy_to_lufs(float(np.mean(kept))) + RELATIVE_GATE_LU
    kept = blocks[(loudness > ABSOLUTE_GATE_LUFS) & (loudness > threshold)]
    return energy_to_lufs(float(np.mean(kept))) if kept.size else -math.inf


def sub_block_energies(
    weighted_squares: npt.NDArray[np.float64], frames: int
) -> npt.NDArray[np.float64]:
    """Sum squared K-weighted samples (channels already summed) over sub-blocks of `frames`."""
    count = math.ceil(len(weighted_squares) / frames)
    padded = np.zeros(count * frames)
    padded[: len(weighted_squares)] = weighted_squares
    return np.asarray(padded.reshape(count, frames).sum(axis=1), dtype=np.float64)


def loudness(samples: FloatArray, rate: int, channels_weight: float = 1.0) -> float:
    """Return the integrated loudness of a clip (mono, or frames x channels).

    channels_weight scales the energy, e.g. 2.0 for a mono clip played on both
    channels of a stereo mix.
    """
    weighted = k_weight(samples, rate) ** 2
    if weighted.ndim == 2:
        weighted = weighted.sum(axis=1)
    frames = round(rate * SUB_BLOCK_S)
    return gated_loudness(sub_block_energies(weighted * channels_weight, frames), frames)


@functools.cache
def _interpolation_filter(factor: int, taps_per_phase: int = 24) -> npt.NDArray[np.float64]:
    """Return a windowed-sinc low-pass for upsampling by factor (cut-off at the old Nyquist)."""
    length = factor * taps_per_phase + 1  # odd: a whole-sample delay
    n = np.arange(length) - (length - 1) / 2
    kernel = np.sinc(n / factor) * np.kaiser(length, 8.0)
    return np.asarray(kernel / kernel.sum() * factor, dtype=np.float64)


def upsample(samples: FloatArray, factor: int) -> npt.NDArray[np.float64]:
    """Return mono samples upsampled by an integer factor (polyphase windowed-sinc FIR)."""
    signal = np.asarray(samples, dtype=np.float64)
    if factor == 1 or len(signal) == 0:
        return signal
    kernel = _interpolation_filter(factor)
    delay = (len(kernel) - 1) // 2
    out = np.empty(len(signal) * factor)
    for phase in range(factor):
        q, r = divmod(phase + delay, factor)
        branch = np.convolve(signal, kernel[r::factor])
        out[phase::factor] = branch[q : q + len(signal)]
    return out


def true_peak(samples: FloatArray) -> float:
    """Return the true peak (4x oversampled) as a linear value."""
    if len(samples) == 0:
        return 0.0
    signal = np.asarray(samples, dtype=np.float64)
    if signal.ndim == 2:
        return max(true_peak(signal[:, c]) for c in range(signal.shape[1]))
    return float(max(np.max(np.abs(upsample(signal, OVERSAMPLE))), np.max(np.abs(signal))))


def to_db(linear: float) -> float:
    """Return a linear amplitude in dB (-inf for 0)."""
    return 20 * math.log10(linear) if linear > 0 else -math.inf


def from_db(db: float) -> float:
    """Return a dB value as a linear amplitude."""
    return float(10 ** (db / 20))


def peak_envelope(samples: FloatArray) -> npt.NDArray[np.float64]:
    """Return, for each sample of a mono signal, the largest true (4x oversampled) peak near it."""
    signal = np.asarray(samples, dtype=np.float64)
    peaks = np.abs(signal)
    if len(signal) == 0:
        return peaks
    # upsample's phases one at a time, never the whole 4x signal (32 bytes a sample).
    kernel = _interpolation_filter(OVERSAMPLE)
    delay = (len(kernel) - 1) // 2
    for phase in range(OVERSAMPLE):
        q, r = divmod(phase + delay, OVERSAMPLE)
        branch = np.convolve(signal, kernel[r::OVERSAMPLE])[q : q + len(signal)]
        np.maximum(peaks, np.abs(branch), out=peaks)
    return peaks


def sliding_min(values: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float64]:
    """Return the minimum over a centred window of `size` (odd) at each position.

    The van Herk / Gil-Werman method: prefix and suffix minima within blocks.
    """
    half = size // 2
    padded = np.concatenate([np.full(half, np.inf), values, np.full(half + size, np.inf)])
    blocks = len(padded) // size
    grid = padded[: blocks * size].reshape(blocks, size)
    prefix = np.minimum.accumulate(grid, axis=1).ravel()
    suffix = np.minimum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    n = len(values)
    return np.asarray(np.minimum(suffix[:n], prefix[size - 1 : size - 1 + n]), dtype=np.float64)


def moving_average(values: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float64]:
    """Return the mean over a centred window of `size` at each position (edges repeated)."""
    half = size // 2
    padded = np.concatenate([np.full(half, values[0]), values, np.full(size - half, values[-1])])
    sums = np.cumsum(np.concatenate([[0.0], padded]))
    return np.asarray(
        (sums[size : size + len(values)] - sums[: len(values)]) / size, dtype=np.float64
    )


def limiter_gain(
    peaks: npt.NDArray[np.float64], ceiling: float, rate: float
) -> npt.NDArray[np.float64]:
    """Return a smooth gain curve that keeps every peak under ceiling (linear).

    The gain falls over the 10 ms before a peak and recovers over the 10 ms
    after it: a minimum filter spreads each needed reduction 10 ms both ways,
    and a 10 ms moving average of that never rises above it at the peak.
    """
    width = max(round(rate * 0.010), 1)
    needed = np.minimum(1.0, ceiling * 0.995 / np.maximum(peaks, 1e-12))
    if needed.min() >= 1.0:
        return np.ones_like(peaks)
    return moving_average(sliding_min(needed, 2 * width + 1), width)


def limit(
    samples: npt.NDArray[np.float32],
    ceiling: float,
    rate: int,
    *,
    peaks: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float32]:
    """Return mono samples with true peaks held under ceiling (linear).

    One pass: the gain curve is at or below what each peak needs, and the
    0.5 % margin in limiter_gain covers the small shift of inter-sample peaks.
    peaks is the samples' peak_envelope, if it is already known.
    """
    if len(samples) == 0:
        return samples
    peaks = peak_envelope(samples) if peaks is None else peaks
    if peaks.max() <= ceiling:
        return samples
    return (samples * limiter_gain(peaks, ceiling, rate)).astype(np.float32)


def sliding_max(values: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float64]:
    """Return the maximum over a centred window of `size` (odd) at each position."""
    return -sliding_min(-values, size)


def compressor_gain(
    peaks: npt.NDArray[np.float64],
    rate: int,
    *,
    threshold: float,
    ratio: float = 2.0,
    attack_ms: int = 10,
    release_ms: int = 150,
    step_ms: int = 1,
) -> npt.NDArray[np.float64]:
    """Return the gain (linear, per sample) of a gentle compressor, from a signal's peak envelope.

    Above threshold (linear), the level rises 1/ratio as fast as the input.
    The reduction is planned, not detected: it builds up over the attack_ms
    before a loud stretch (so a peak gets all of it) and fades exponentially
    over release_ms after it, worked out on step_ms pieces.
    """
    frames = len(peaks)
    step = max(rate * step_ms // 1000, 1)
    pieces = -(-frames // step)
    padded = np.zeros(pieces * step)
    padded[:frames] = peaks
    loudest = padded.reshape(pieces, step).max(axis=1)
    over = 20 * np.log10(np.maximum(loudest, 1e-12) / threshold)
    wanted = np.maximum(over, 0.0) * (1 - 1 / ratio)  # dB of reduction
    if not wanted.any():
        return np.ones(frames)
    decay = math.exp(-step_ms / release_ms)
    held = np.empty(pieces)
    level = 0.0
    for index, value in enumerate(wanted.tolist()):  # release, piece by piece
        level = max(value, level * decay)
        held[index] = level
    # Attack, as the limiter does it: spread each reduction over the attack
    # time both ways, then smooth; the mean of that window at a piece is never
    # less than the piece's own reduction.
    width = max(attack_ms // step_ms, 1)
    reduction = moving_average(sliding_max(held, 2 * width + 1), width)
    centres = (np.arange(pieces) + 0.5) * step
    return np.power(10.0, -np.interp(np.arange(frames), centres, reduction) / 20)
