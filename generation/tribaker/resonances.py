"""Resonances (eigenvalues with right and left eigenvectors) of the quantum tribaker map.

Conventions (``docs/tribaker.md`` §2 (quantization)), with ``U = tribaker(N, R)`` in the position basis ``|q_j>, q_j = (j+1/2)/N``
(``2 pi hbar = 1/N``, antiperiodic ``chi_q = chi_p = 1/2``):

* ``U |R_k> = z_k |R_k>``, ``<L_k| U = z_k <L_k|``, ``|z_k| <= 1``; decay rate ``Gamma_k = -2 ln|z_k|``.
* Vectors are stored as **columns**: ``right[:, k] = <q_j|R_k>`` and ``left[:, k] = <q_j|L_k>`` (index order
  ``[basis j, resonance k]``), so ``U @ right = right * z`` and ``left.conj().T @ U = z[:, None] * left.conj().T``.
* Normalization: ``||R_k|| = 1`` and ``<L_j|R_k> = delta_jk`` (``left.conj().T @ right = 1``); ``||L_k|| =
  1/|<L_k|R_k>|`` before rescaling is the eigenvalue condition number ``>= 1``.
* Order: ``|z|`` descending; values of ``|z|`` equal to 1e-12 (e.g. the closed map, ``|z| = 1``) are ordered by
  ascending ``arg z`` in ``(-pi, pi]``.
* Closed map (``R == 1``): complex Schur form, so the eigenvectors are orthonormal even inside (near-)degenerate
  parity pairs, and ``left`` equals ``right``.
* Fully open map (``R == 0``): at least ``N/3`` eigenvalues vanish (``U`` has rank ``2N/3``) and the zero
  eigenvalue is defective, so those resonances have ``z ~ 0``, ``decay ~ inf`` and ill-conditioned (huge or
  non-finite) left vectors; filter them with a ``|z|`` cut.

To feed vectors to :func:`generation.tribaker.coherent.lr_representation` (states on the last axis), pass the
transposes ``res.right.T`` and ``res.left.T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg

from qchaos.errors import ParameterError

from .propagator import (
    apply_tribaker,
    check_dense_size,
    check_dimension,
    check_reflectivity,
    tribaker,
)

__all__ = ["Resonances", "leading_resonances", "resonances"]


@dataclass(frozen=True)
class Resonances:
    """Resonances of the tribaker map ``U = tribaker(N, R)``.

    Attributes:
        N: Hilbert-space dimension (multiple of 3).
        R: reflectivity of the opening (1 = closed).
        z: complex128 (K,), eigenvalues, ``|z|`` descending (K = N for :func:`resonances`).
        right: complex128 (N, K), right eigenvectors as columns, ``||R_k|| = 1``.
        left: complex128 (N, K), left eigenvectors as columns, ``<L_j|R_k> = delta_jk``.
        index: int64 (K,), rank of each resonance in the full |z|-descending order of all N (``None`` when not
            known; :func:`generation.tribaker.sampling.sampled_resonances` sets it).
    """

    N: int
    R: float
    z: np.ndarray
    right: np.ndarray
    left: np.ndarray
    index: np.ndarray | None = None

    @property
    def decay(self) -> np.ndarray:
        """Decay rates ``Gamma_k = -2 ln|z_k|``, float64 (K,); 0 for the closed map, ``inf`` where ``z = 0``."""
        with np.errstate(divide="ignore"):
            return -2.0 * np.log(np.abs(self.z))

    def __len__(self) -> int:
        return int(self.z.size)


def _order(z: np.ndarray) -> np.ndarray:
    """Permutation sorting ``z`` by |z| descending (rounded to 1e-12), ties by ascending arg z."""
    return np.lexsort((np.angle(z), -np.round(np.abs(z), 12)))


def _normalize(z: np.ndarray, vr: np.ndarray, vl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort, scale ``||R_k|| = 1`` and ``<L_k|R_k> = 1``; returns (z, right, left)."""
    order = _order(z)
    z, vr, vl = z[order], vr[:, order], vl[:, order]
    vr = vr / np.linalg.norm(vr, axis=0, keepdims=True)
    s = np.einsum("jk,jk->k", vl.conj(), vr)  # <L_k|R_k>
    with np.errstate(divide="ignore", invalid="ignore"):
        vl = vl / s.conj()[None, :]
    return z, vr, vl


def resonances(N, R=1.0) -> Resonances:
    """All ``N`` resonances of ``U = tribaker(N, R)`` by dense diagonalization (O(N^3)).

    Parameters:
        N: positive multiple of 3.
        R: reflectivity, ``0 <= R <= 1``. ``R == 1`` uses the complex Schur form (orthonormal eigenvectors,
            ``left = right``); ``R < 1`` uses ``scipy.linalg.eig(U, left=True, right=True)``.

    Returns:
        :class:`Resonances` with ``z`` (N,), ``right`` and ``left`` (N, N) as columns, normalized as in the
        module docstring.
    """
    n = check_dimension(N)
    r = check_reflectivity(R)
    # U, Schur / eig outputs (T and Z, or right and left vectors), LAPACK work space, normalised copies
    check_dense_size(n, 10, "the dense diagonalisation")
    u = tribaker(n, r)
    if r == 1.0:
        t, zmat = scipy.linalg.schur(u, output="complex")
        z = np.diag(t).copy()
        order = _order(z)
        z, vr = z[order], zmat[:, order]
        return Resonances(N=n, R=r, z=z, right=vr, left=vr.copy())
    w, vl, vr = scipy.linalg.eig(u, left=True, right=True)
    z, vr, vl = _normalize(w.astype(np.complex128), vr, vl)
    return Resonances(N=n, R=r, z=z, right=vr, left=vl)


def leading_resonances(N, R, k, *, tol: float = 0.0, ncv: int | None = None, maxiter: int | None = None,
                       seed: int = 0) -> Resonances:
    """The ``k`` largest-``|z|`` resonances of the open map, matrix-free (Arnoldi, ARPACK ``eigs``).

    Every product with ``U`` (right vectors) or ``U^H`` (left vectors) is :func:`apply_tribaker`, O(N log N);
    memory is O(N ncv). Right and left Ritz pairs are computed separately with a few extra ones and matched by
    eigenvalue (``z_left = conj(z_right)``), then normalized as :func:`resonances` does (``||R_k|| = 1``,
    ``<L_j|R_k> = delta_jk``, ``|z|`` descending).

    Parameters:
        N: positive multiple of 3.
        R: reflectivity, ``0 <= R < 1``. The closed map (``R = 1``) is refused: all its ``|z| = 1``, so "the k
            largest" is not defined (use :func:`resonances`).
        k: number of resonances, ``1 <= k <= N - 2`` (ARPACK limit).
        tol: ARPACK relative accuracy (0 = machine precision).
        ncv: Krylov dimension (default ``min(N, max(3 k', 80))`` with ``k' = min(k + 4, N - 2)``).
        maxiter: ARPACK restarts (default scipy's).
        seed: seed of the complex Gaussian start vector. The start vector must be generic: ``U`` commutes with
            parity, so a parity-symmetric start would only find one parity class.

    Raises:
        ValueError: bad ``N``, ``R`` (including ``R = 1``) or ``k``.
        RuntimeError: a right eigenvalue has no left partner (ARPACK did not converge to matching sets).
    """
    n = check_dimension(N)
    r = check_reflectivity(R)
    if r == 1.0:
        raise ParameterError("R = 1: leading_resonances needs an open map, 0 <= R < 1 (all |z| = 1 when R = 1; "
                         "use resonances(N, 1.0))")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n - 2:
        raise ParameterError(f"k = {k!r}: must be an integer with 1 <= k <= N - 2 = {n - 2}")
    k = int(k)
    kk = min(k + 4, n - 2)
    if ncv is None:
        ncv = min(n, max(3 * kk, 80))

    def op(adjoint: bool) -> scipy.sparse.linalg.LinearOperator:
        return scipy.sparse.linalg.LinearOperator(
            (n, n),
            matvec=lambda x: apply_tribaker(np.ravel(x), r, adjoint=adjoint),
            matmat=lambda x: apply_tribaker(np.asarray(x).T, r, adjoint=adjoint).T,
            dtype=np.complex128,
        )

    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    zr, vr = scipy.sparse.linalg.eigs(op(False), k=kk, which="LM", v0=v0, ncv=ncv, tol=tol, maxiter=maxiter)
    zl, vl = scipy.sparse.linalg.eigs(op(True), k=kk, which="LM", v0=v0, ncv=ncv, tol=tol, maxiter=maxiter)
    order = _order(zr)[:k]
    zr, vr = zr[order], vr[:, order]
    cost = np.abs(zr[:, None] - zl.conj()[None, :])
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    vl = vl[:, cols[np.argsort(rows)]]
    gap = cost[rows, cols].max()
    scale = max(1e-8, 1e3 * (tol if tol > 0 else np.finfo(float).eps) ** 0.5)
    if gap > scale:
        raise RuntimeError(f"leading_resonances: left and right Ritz values differ by {gap:.2e} (N = {n}, "
                           f"R = {r}, k = {k}); increase ncv or maxiter")
    z, vr, vl = _normalize(zr.astype(np.complex128), vr, vl)
    return Resonances(N=n, R=r, z=z, right=vr, left=vl)
