"""Large-N resonances without the full eigendecomposition: a uniform sample over the spectrum (``docs/tribaker.md``).

Conventions as in :mod:`generation.tribaker.resonances` (``2 pi hbar = 1/N``, antiperiodic ``chi_q = chi_p = 1/2``,
vectors as columns ``[basis j, resonance k]``, ``||R_k|| = 1``, ``<L_j|R_k> = delta_jk``, ``|z|`` descending).

Route (the "documented alternative" to shift-invert Arnoldi, chosen because it samples by rank exactly):

1. **Parity sectors.** ``U`` commutes with parity ``P: q -> 1 - q`` (``psi_j -> psi_{N-1-j}``), so it is block
   diagonal in the even / odd bases ``(e_a +- e_{N-1-a})/sqrt 2`` (``a < N/2``; for odd N the middle ``e_{(N-1)/2}``
   is even). Each block ``U_s = V_s^H U V_s`` (about N/2 square) is built matrix-free with
   :func:`~generation.tribaker.propagator.apply_tribaker` in chunks, so ``U`` itself (N x N) is never formed.
2. **Eigenvalues only.** Hessenberg form ``U_s = Q H Q^H`` and the eigenvalues of ``H`` (LAPACK, no Schur vectors):
   two blocks of size N/2 cost about a quarter of one N x N Hessenberg reduction, and roughly 1/10 - 1/20 of
   ``scipy.linalg.eig(U, left=True, right=True)`` with both eigenvector sets; memory three (N/2)^2 complex arrays
   (~0.4 GB at N = 6000) instead of ~5 N^2 (~3 GB).
3. **Rank sample.** All N eigenvalues are ordered as the dense path orders them (|z| descending) and the ranks
   ``r_i = floor((i + 1/2) N / m)``, ``i = 0 .. m-1`` are kept: a stratified uniform sample in the |z|-rank, so a
   fraction over the sample estimates the fraction over all resonances without bias (standard error at most the
   binomial one).
4. **Vectors by inverse iteration** on ``H - z`` (Hessenberg LU, O(N^2) per factorization and per solve): the right
   vector solves ``(H - z) x = b``, the left one ``(H - z)^H y = b``; back-transformed with ``Q`` and ``V_s``,
   normalized as the dense path (``||R|| = 1``, ``<L|R> = 1``; closed map ``L = R``). The residual
   ``||U R - z R||`` is computed matrix-free and checked.

Cost: O(N^3) for step 2 (small constant) plus O(m N^2) for the vectors. The dense path ``resonances`` (all N with
vectors) stops paying off as soon as not every resonance is needed: the sample is ~10x cheaper already at N ~ 300
and its memory is bounded by ~0.4 GB at N = 6000 (``benchmarks/tribaker.py``, ``tribaker_largen``). For only the
longest-lived resonances use :func:`~generation.tribaker.resonances.leading_resonances` (Arnoldi, O(N log N) per
step, no O(N^3) at all).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from qchaos.errors import NumericalError, ParameterError

from .propagator import apply_tribaker, check_dimension, check_reflectivity
from .resonances import Resonances, _order

__all__ = ["parity_blocks", "sector_eigenvalues", "rank_sample", "nearest_decay_ranks", "sampled_resonances"]

_BLOCK_CHUNK = 256  # basis vectors per apply_tribaker batch when building a sector block


def _sector_size(n: int, parity: int) -> int:
    return (n + 1) // 2 if parity == 0 else n // 2


def _to_full(x: np.ndarray, n: int, parity: int) -> np.ndarray:
    """Sector coordinates (d, ...) -> position amplitudes (N, ...) (the isometry ``V_s``)."""
    h = n // 2
    out = np.zeros((n,) + x.shape[1:], dtype=np.complex128)
    sign = 1.0 if parity == 0 else -1.0
    out[:h] = x[:h] / np.sqrt(2.0)
    out[n - h:][::-1] = sign * x[:h] / np.sqrt(2.0)
    if parity == 0 and n % 2:
        out[h] = x[h]
    return out


def _to_sector(y: np.ndarray, n: int, parity: int) -> np.ndarray:
    """Position amplitudes (..., N) -> sector coordinates (..., d) (``V_s^H``), on the last axis."""
    h = n // 2
    sign = 1.0 if parity == 0 else -1.0
    head = (y[..., :h] + sign * y[..., ::-1][..., :h]) / np.sqrt(2.0)
    if parity == 0 and n % 2:
        return np.concatenate([head, y[..., h:h + 1]], axis=-1)
    return head


def parity_blocks(N, R=1.0) -> tuple[np.ndarray, np.ndarray]:
    """The even and odd parity blocks ``U_s = V_s^H U V_s`` of ``U = tribaker(N, R)``, complex128 (d_s, d_s).

    ``d_even = ceil(N/2)``, ``d_odd = floor(N/2)``; built with ``apply_tribaker`` in chunks (O(N^2 log N), memory
    O(N^2 / 4) per block). Index order ``[row, column]`` in the sector basis ``(e_a +- e_{N-1-a})/sqrt 2``.
    """
    n = check_dimension(N)
    r = check_reflectivity(R)
    blocks = []
    for parity in (0, 1):
        d = _sector_size(n, parity)
        b = np.empty((d, d), dtype=np.complex128)
        for s in range(0, d, _BLOCK_CHUNK):
            e = min(d, s + _BLOCK_CHUNK)
            basis = np.zeros((d, e - s), dtype=np.complex128)
            basis[np.arange(s, e), np.arange(e - s)] = 1.0
            cols = apply_tribaker(_to_full(basis, n, parity).T, r)  # (c, N) = (U v)^T
            b[:, s:e] = _to_sector(cols, n, parity).T
        blocks.append(b)
    return blocks[0], blocks[1]


def sector_eigenvalues(N, R=1.0) -> tuple[np.ndarray, np.ndarray, list]:
    """All N eigenvalues of ``tribaker(N, R)`` without eigenvectors, with their parity and the Hessenberg forms.

    Returns:
        ``(z, parity, forms)``: z complex128 (N,) ordered as :func:`~generation.tribaker.resonances.resonances`
        orders them (|z| descending), parity int8 (N,) (0 even, 1 odd), and ``forms[s] = (H, Q)`` of each block.
    """
    n = check_dimension(N)
    zs, ps, forms = [], [], []
    for parity, block in enumerate(parity_blocks(n, R)):
        h, q = scipy.linalg.hessenberg(block, calc_q=True, overwrite_a=True, check_finite=False)
        del block
        w = scipy.linalg.eigvals(h, check_finite=False)
        zs.append(w.astype(np.complex128))
        ps.append(np.full(w.size, parity, np.int8))
        forms.append((h, q))
    z, parity = np.concatenate(zs), np.concatenate(ps)
    order = _order(z)
    return z[order], parity[order], forms


def rank_sample(N: int, m: int) -> np.ndarray:
    """Ranks ``floor((i + 1/2) N / m)``, ``i = 0 .. m-1`` (int64, increasing): a stratified uniform sample of m of N."""
    if not 1 <= m <= N:
        raise ParameterError(f"m = {m!r}: the sample size must be an integer with 1 <= m <= N = {N}")
    return ((np.arange(m) + 0.5) * N / m).astype(np.int64)


def _hessenberg_lu(h: np.ndarray, z: complex):
    """LU with adjacent-row partial pivoting of ``H - z`` (upper Hessenberg, O(d^2)): (upper factor, swaps, mult)."""
    a = h.copy()
    d = a.shape[0]
    a[np.diag_indices(d)] -= z
    swap = np.zeros(max(d - 1, 0), dtype=bool)
    mult = np.zeros(max(d - 1, 0), dtype=np.complex128)
    for k in range(d - 1):
        if abs(a[k + 1, k]) > abs(a[k, k]):
            a[[k, k + 1], k:] = a[[k + 1, k], k:]
            swap[k] = True
        if a[k, k] != 0:
            m = a[k + 1, k] / a[k, k]
            a[k + 1, k:] -= m * a[k, k:]
            mult[k] = m
    u = np.triu(a)
    tiny = np.finfo(float).eps * max(1.0, np.abs(h).max())
    diag = np.diagonal(u).copy()
    small = np.abs(diag) < tiny  # exact eigenvalue: keep the solve finite (standard inverse-iteration guard)
    u[np.flatnonzero(small), np.flatnonzero(small)] = tiny
    return u, swap, mult


def _solve(lu, b: np.ndarray) -> np.ndarray:
    """``(H - z)^-1 b`` from :func:`_hessenberg_lu`."""
    u, swap, mult = lu
    x = b.astype(np.complex128).tolist()
    for k in range(len(mult)):
        if swap[k]:
            x[k], x[k + 1] = x[k + 1], x[k]
        x[k + 1] -= mult[k] * x[k]
    return scipy.linalg.solve_triangular(u, np.asarray(x), check_finite=False)


def _solve_adjoint(lu, b: np.ndarray) -> np.ndarray:
    """``(H - z)^-H b`` from :func:`_hessenberg_lu` (``(E^-1 U)^H = U^H E^-H``)."""
    u, swap, mult = lu
    w = scipy.linalg.solve_triangular(u, b.astype(np.complex128), trans="C", check_finite=False).tolist()
    mc = np.conj(mult)
    for k in range(len(mult) - 1, -1, -1):
        w[k] -= mc[k] * w[k + 1]
        if swap[k]:
            w[k], w[k + 1] = w[k + 1], w[k]
    return np.asarray(w)


def nearest_decay_ranks(z, gamma: float, k: int) -> np.ndarray:
    """Ranks (increasing) of the ``k`` resonances whose ``|z|^2`` is closest to ``gamma`` (ties by rank).

    With ``gamma`` the classical escape factor ``(2 + R)/3`` (:func:`generation.tribaker.classical.natural_measure`)
    these are the resonances at the natural decay rate, the ones whose phase-space representation approaches the
    classical natural measure as N grows (``docs/tribaker.md`` §11).
    """
    a = np.abs(np.asarray(z)) ** 2
    if not 1 <= k <= a.size:
        raise ParameterError(f"k = {k!r}: must be an integer with 1 <= k <= {a.size}")
    return np.sort(np.argsort(np.abs(a - gamma), kind="stable")[:k])


def sampled_resonances(N, R, m=None, *, ranks=None, iterations: int = 3, seed: int = 0, tol: float = 1e-8,
                       spectrum=None) -> Resonances:
    """m resonances of ``tribaker(N, R)`` sampled uniformly in |z|-rank, with right and left vectors (module doc).

    Parameters:
        N: positive multiple of 3.
        R: reflectivity, ``0 < R <= 1`` (``R = 0`` has a defective zero eigenvalue of multiplicity N/3: use the
            dense path or :func:`~generation.tribaker.resonances.leading_resonances`).
        m: sample size, ``1 <= m <= N``; the kept ranks are :func:`rank_sample` ``(N, m)`` of the dense ordering.
        ranks: instead of m, explicit ranks (int, in [0, N)) in the full |z|-descending order (e.g.
            :func:`nearest_decay_ranks`).
        iterations: inverse-iteration steps per vector (>= 1; 2 reach machine precision for simple eigenvalues).
        seed: seed of the complex Gaussian start vectors.
        tol: largest accepted relative residual ``||U R - z R|| / ||R||`` (and the same for ``L``).
        spectrum: the result of :func:`sector_eigenvalues` ``(N, R)`` when already computed (reused, not checked).

    Returns:
        :class:`~generation.tribaker.resonances.Resonances` with ``z`` (m,), ``right``, ``left`` (N, m) normalized
        as the dense path, and ``index`` (m,) the ranks in the full |z|-descending order.

    Raises:
        ParameterError: bad N, R, m, ranks or iterations (before any large allocation).
        NumericalError: a residual above ``tol`` (a near-degenerate pair inside one parity sector).
    """
    n = check_dimension(N)
    r = check_reflectivity(R)
    if r == 0.0:
        raise ParameterError("R = 0: the fully open map has a defective zero eigenvalue; sampled_resonances needs "
                             "0 < R <= 1 (use resonances(N, 0) or leading_resonances)")
    if ranks is None:
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
            raise ParameterError(f"m = {m!r}: the sample size must be an integer with 1 <= m <= N = {n}")
        ranks = rank_sample(n, int(m))
    else:
        ranks = np.asarray(ranks, dtype=np.int64).reshape(-1)
        if ranks.size == 0 or ranks.min() < 0 or ranks.max() >= n:
            raise ParameterError(f"ranks: must be a non-empty list of integers in [0, N = {n})")
    if int(iterations) != iterations or iterations < 1:
        raise ParameterError(f"iterations = {iterations!r}: must be an integer >= 1")
    z_all, parity, forms = sector_eigenvalues(n, r) if spectrum is None else spectrum
    rng = np.random.default_rng(seed)
    z = z_all[ranks]
    right = np.empty((n, ranks.size), dtype=np.complex128)
    left = np.empty_like(right)
    for i, rank in enumerate(ranks):
        s = int(parity[rank])
        h, q = forms[s]
        d = h.shape[0]
        lu = _hessenberg_lu(h, z[i])
        x = rng.standard_normal(d) + 1j * rng.standard_normal(d)
        y = x.copy()
        for _ in range(int(iterations)):
            x = _solve(lu, x)
            x /= np.linalg.norm(x)
            if r < 1.0:
                y = _solve_adjoint(lu, y)
                y /= np.linalg.norm(y)
        right[:, i] = _to_full(q @ x, n, s)
        left[:, i] = right[:, i] if r == 1.0 else _to_full(q @ y, n, s)
    right /= np.linalg.norm(right, axis=0, keepdims=True)
    if r == 1.0:  # closed map: unitary, L = R exactly (as the dense Schur path)
        left = right.copy()
    else:
        s = np.einsum("jk,jk->k", left.conj(), right)
        left = left / s.conj()[None, :]
    res_r = np.linalg.norm(apply_tribaker(right.T, r) - z[:, None] * right.T, axis=1)
    res_l = np.linalg.norm(apply_tribaker(left.T, r, adjoint=True) - z.conj()[:, None] * left.T, axis=1)
    res_l /= np.linalg.norm(left, axis=0)
    worst = float(max(res_r.max(), res_l.max()))
    if not np.isfinite(worst) or worst > tol:
        raise NumericalError(f"sampled_resonances: inverse-iteration residual {worst:.2e} > tol = {tol:g} (N = {n}, "
                             f"R = {r}); increase iterations")
    return Resonances(N=n, R=r, z=z, right=right, left=left, index=ranks)
