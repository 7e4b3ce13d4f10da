"""Colored exploration noise for SAC and TD3/DDPG (Eberhard et al., "Pink Noise Is All You Need",
ICLR 2023): temporally correlated Gaussian noise whose power spectral density falls as ``1/f^β``
(β = 0 white, 1 pink, 2 red/Brownian), so that exploration drifts over many steps instead of
jittering around the mean action.

Each row (one per sub-env) and action dimension follows its own chunk of ``T`` steps
(``noise_seq_len``, the env's time limit), drawn by the FFT method (Timmer & König 1995) as a
stationary Gaussian process on a circle of ``T`` steps::

    A_k = max(k, 1)^(−β/2)             k = 0 .. ⌊T/2⌋   (frequency f_k = k/T; the constant term
                                       gets the amplitude of the slowest oscillation, k = 1)
    X_k = A_k (a_k + i b_k)            a, b ~ N(0, 1); the bins that are real in a real signal
                                       (k = 0, and k = T/2 for even T) take b = 0 and a · √2
    x_t = irfft(X)_t / σ               σ² = (2/T²) Σ_{j=0}^{T−1} A_{min(j, T−j)}²

Every coefficient of the full two-sided spectrum then has ``E|X_j|² = 2 A_j²``, the cross terms
vanish, and ``Var x_t = (1/T²) Σ_j E|X_j|² / σ² = 1`` at every step: unit variance, and the
periodogram ``E|X_k|² ∝ f_k^(−β)``. A row starts a fresh chunk when its episode ends
(:meth:`ColoredNoise.reset`, called through the agent's ``on_episode_end``) or when its chunk runs
out. Chunks are drawn lazily, at the first step that needs one, from the agent's RNG (passed in),
so a seed fixes them; the chunks and each row's position in its chunk are saved with the agent
(:meth:`ColoredNoise.state_dict`), so a resumed run continues mid-chunk exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NOISE_TYPES = ("normal", "pink", "colored")
STATE_KEYS = ("noise_chunks", "noise_steps")


def colored_chunks(beta: float, shape: tuple[int, ...], length: int, rng: np.random.Generator) -> np.ndarray:
    """Independent unit-variance sequences with spectral density ``∝ f^(−β)``: float64 of shape
    ``(*shape, length)``, one ``irfft`` over all of them (module docstring for the maths)."""
    bins = length // 2 + 1
    amplitude = np.maximum(np.arange(bins, dtype=np.float64), 1.0) ** (-beta / 2)
    real = [0, bins - 1] if length % 2 == 0 else [0]   # bins without an imaginary part
    copies = np.full(bins, 2.0)                          # how often a bin appears in the two-sided spectrum
    copies[real] = 1.0
    sigma = math.sqrt(2.0 * float(np.dot(copies, amplitude ** 2))) / length
    z = rng.standard_normal((*shape, 2, bins))
    z[..., 1, real] = 0.0
    z[..., 0, real] *= math.sqrt(2.0)
    spectrum = amplitude * (z[..., 0, :] + 1j * z[..., 1, :])
    return np.fft.irfft(spectrum, n=length, axis=-1) / sigma


class ColoredNoise:
    """Standard-normal exploration noise of ``act_dim`` dimensions per row, correlated in time
    with exponent ``beta`` over chunks of ``seq_len`` steps (module docstring).

    State: ``chunks`` ``(n, act_dim, seq_len)`` in ``dtype`` and ``steps`` ``(n,)`` (the next index
    into each row's chunk; ``seq_len`` means "draw a fresh one"), both ``None`` until the first
    :meth:`sample`. A call with another number of rows than the last (a custom loop switching
    from one env to several) starts every row afresh."""

    def __init__(self, beta: float, act_dim: int, seq_len: int, dtype: Any = np.float32) -> None:
        self.beta, self.act_dim, self.seq_len, self.dtype = float(beta), int(act_dim), int(seq_len), np.dtype(dtype)
        self.chunks: np.ndarray | None = None
        self.steps: np.ndarray | None = None

    def sample(self, rows: int, rng: np.random.Generator) -> np.ndarray:
        """The next step of every row's sequence, ``(rows, act_dim)``; fresh chunks (from ``rng``)
        for the rows whose chunk ran out or whose episode ended."""
        if self.chunks is None or len(self.chunks) != rows:
            self.chunks = np.zeros((rows, self.act_dim, self.seq_len), dtype=self.dtype)
            self.steps = np.full(rows, self.seq_len, dtype=np.int64)
        stale = self.steps >= self.seq_len
        if stale.any():
            fresh = colored_chunks(self.beta, (int(stale.sum()), self.act_dim), self.seq_len, rng)
            self.chunks[stale] = fresh.astype(self.dtype)
            self.steps[stale] = 0
        eps = self.chunks[np.arange(rows), :, self.steps]
        self.steps += 1
        return eps

    def reset(self, row: int) -> None:
        """Row ``row``'s episode ended: its next :meth:`sample` starts a fresh chunk."""
        if self.steps is not None and 0 <= row < len(self.steps):
            self.steps[row] = self.seq_len

    def state_dict(self) -> dict[str, np.ndarray]:
        """``noise_chunks`` and ``noise_steps`` (nothing before the first :meth:`sample`)."""
        if self.chunks is None:
            return {}
        return {"noise_chunks": self.chunks.copy(), "noise_steps": self.steps.copy()}

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        """The inverse of :meth:`state_dict`, checked: a ``ValueError`` naming what does not fit."""
        missing = [key for key in STATE_KEYS if key not in arrays]
        if len(missing) == len(STATE_KEYS):
            self.chunks = self.steps = None
            return
        if missing:
            raise ValueError(f"colored noise: the checkpoint lacks {missing[0]!r}")
        chunks, steps = arrays["noise_chunks"], arrays["noise_steps"]
        want = (self.act_dim, self.seq_len)
        if chunks.ndim != 3 or chunks.shape[1:] != want or chunks.dtype != self.dtype:
            raise ValueError(f"colored noise: noise_chunks is {chunks.dtype} of shape {chunks.shape}, expected "
                             f"{self.dtype} of shape (rows, {want[0]}, {want[1]})")
        if steps.shape != (len(chunks),) or steps.dtype.kind not in "iu" or \
                not ((steps >= 0) & (steps <= self.seq_len)).all():
            raise ValueError(f"colored noise: noise_steps must hold {len(chunks)} whole numbers in "
                             f"[0, {self.seq_len}], got {steps.dtype} of shape {steps.shape}")
        self.chunks, self.steps = chunks.astype(self.dtype, copy=True), steps.astype(np.int64)


def exploration_noise(config: Any, act_dim: int, dtype: Any) -> ColoredNoise | None:
    """The colored noise ``config.noise_type`` asks for ("pink": β = 1, "colored": β =
    ``noise_beta``), or ``None`` for "normal" (white noise drawn as before, sample by sample)."""
    if config.noise_type == "normal":
        return None
    beta = 1.0 if config.noise_type == "pink" else float(config.noise_beta)
    return ColoredNoise(beta, act_dim, config.noise_seq_len, dtype)
