"""Streamed LR / Husimi summaries at large N: norm ratio and coarse-grained cell measures without holding images.

The LR representation of one state on the N x N lattice is N^2 numbers (0.3 GB at N = 6000, 1.2 GB for the two
complex overlap arrays), so at large N it is never formed whole: the lattice rows ``a`` (q) are streamed in chunks
of the FFT route of :func:`generation.tribaker.coherent.lattice_overlaps` (row ``a`` is one FFT of
``w_a(j) e^{-i pi j/N} psi_j``, O(N log N)), and per state only the sums the summaries need are accumulated:

* the norm ratio ``mu = (sum h)^2 / (sum h^2) / (2N)`` (:func:`generation.tribaker.norm_ratio.norm_ratio` on the
  lattice; ``docs/tribaker.md`` §4 (norm ratio)),
* the mean of ``h`` over each cell of an M x M grid (the density that
  :func:`generation.tribaker.classical.coarse_grain` gives), normalized to sum 1.

Cost O(N^2 log N) per state; working memory ``chunk_bytes`` (default 64 MiB) whatever the number of states or N
(at least one lattice row of one state, 32 N bytes). Index order ``[..., q, p]``; states on the last axis (N,).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from qchaos.errors import ParameterError

from .coherent import n_images
from .norm_ratio import coherent_reference
from .propagator import check_positive_int

__all__ = ["lr_summaries"]

_CHUNK_BYTES = 64 * 2**20


def _window_row0(n: int) -> np.ndarray:
    """Row a = 0 of the normalized circulant window ``A w_a(j)`` (``coherent._lattice_window``), float64 (N,)."""
    q = (np.arange(n, dtype=np.float64) + 0.5) / n
    w = np.zeros(n)
    for nu in range(-n_images(n), n_images(n) + 1):
        d = q + nu - q[0]
        w += np.exp(-np.pi * n * d * d)
    return w / np.linalg.norm(w)


def lr_summaries(right, left=None, bins: int | None = None, *, chunk_bytes: int = _CHUNK_BYTES) -> dict:
    """Norm ratio and (optionally) M x M cell measure of the LR representation of many states, streamed.

    Parameters:
        right: right vectors, (K, N) (states on the first axis, position amplitudes on the last).
        left: left vectors (K, N), or None for Husimi functions of ``right`` (closed map, ``L = R``).
        bins: M, the cell grid of the coarse measure (``M <= N``); None: only the norm ratio.
        chunk_bytes: working-memory bound of one chunk (>= 1 MiB).

    Returns:
        ``{"norm_ratio": float64 (K,), "coarse": float64 (K, M, M) or absent}``; equal to
        ``norm_ratio(lr_representation(right, left))`` and ``coarse_grain(lr_representation(...), M)`` to rounding.
    """
    r = np.atleast_2d(np.asarray(right, dtype=np.complex128))
    l = r if left is None else np.atleast_2d(np.asarray(left, dtype=np.complex128))
    if r.ndim != 2 or l.shape != r.shape:
        raise ParameterError(f"right, left: must both have shape (K, N); got {r.shape} and {l.shape}")
    k, n = r.shape
    if int(chunk_bytes) < 2**20:
        raise ParameterError(f"chunk_bytes = {chunk_bytes!r}: must be >= 1 MiB")
    m = None if bins is None else check_positive_int(bins, "bins")
    if m is not None and m > n:
        raise ParameterError(f"bins = {bins}: must be <= N = {n}")
    s = np.abs(np.einsum("kj,kj->k", l.conj(), r))
    w0 = _window_row0(n)
    j = np.arange(n)
    pre = np.exp(-1j * np.pi * j / n)
    post = np.exp(-1j * np.pi * (j + 0.5) / n)
    rows = max(1, int(chunk_bytes) // (16 * n * 6))  # ~6 complex (rows, N) temporaries per state and chunk
    l1 = np.zeros(k)
    l2 = np.zeros(k)
    if m is not None:
        cell = ((j + 0.5) * m / n).astype(np.int64)
        onehot = np.zeros((m, n))
        onehot[cell, j] = 1.0
        onehot /= onehot.sum(axis=1, keepdims=True)  # mean over the lattice points of a cell
        coarse = np.zeros((k, m, m))
    for i in range(k):
        yr, yl = r[i] * pre, l[i] * pre
        for a0 in range(0, n, rows):
            a = np.arange(a0, min(n, a0 + rows))
            win = w0[(j[None, :] - a[:, None]) % n]  # (rows, N) = A w_a(j)
            cr = scipy.fft.fft(win * yr, axis=-1)
            cl = cr if left is None else scipy.fft.fft(win * yl, axis=-1)
            h = np.abs(cr * cl.conj()) / s[i]  # |post| = 1 drops out of the modulus
            l1[i] += h.sum()
            l2[i] += np.einsum("ab,ab->", h, h)
            if m is not None:
                coarse[i] += onehot[:, a] @ (h @ onehot.T)
    del post
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {"norm_ratio": l1 * l1 / l2 / coherent_reference(n)}
    if m is not None:
        out["coarse"] = coarse / coarse.sum(axis=(-2, -1), keepdims=True)
    return out
