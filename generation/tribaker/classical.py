"""Classical reference for the partially open tribaker map.

The natural (conditionally invariant) measure from the transfer (Ulam) operator on a phase-space grid,
coarse-graining of phase-space images, Jensen-Shannon distance.

Conventions (``docs/tribaker.md``): unit torus, grid of M x M cells ``[a/M, (a+1)/M) x [b/M, (b+1)/M)``, index order
``[a (q), b (p)]``, measures are cell probabilities (sum 1). The classical map is
:func:`~generation.tribaker.propagator.classical_map` ``(q, p) -> (3q - k, (p + k)/3)``, ``k = floor(3q)``; the
opening ``1/3 < q < 2/3`` (``k = 1``) multiplies the weight by the reflectivity ``R`` *before* the map, as the
quantum ``U = U_B P_R``.

Ulam operator: for M a multiple of 3 the image of a cell is exactly three whole cells in q (stretch by 3) inside
one cell in p (contraction by 3), so the Ulam matrix is exact, each column having three entries ``w_k / 3`` with
``w = (1, R, 1)``; it is applied matrix-free in O(M^2). Its leading eigenvector (power iteration) is the natural
measure ``mu_nat`` with ``L mu_nat = gamma mu_nat``; analytically ``gamma = (2 + R)/3`` and ``mu_nat`` is uniform in q
times the ternary cascade in p with weights ``(1, R, 1)/(2 + R)`` (the q-marginal is uniform because every q-cell
receives one third of each of its three preimages; the p-digit d of the image is the third k of the preimage).
Ketzmerick and coworkers (arXiv:1907.12870): resonance states whose decay rate is the natural one (``|z|^2`` near
``gamma``) converge to ``mu_nat`` as ``N -> infinity`` (hbar = 1/(2 pi N)); the tests confirm it for the Husimi of
the right vectors. The longest-lived resonances (``|z|^2`` = 0.84-0.95 > ``gamma`` at R = 0.2) approach the invariant
measure only slowly (their LR: JS ~ N^-0.09 up to N = 6000; ``docs/tribaker.md`` §11).
"""

from __future__ import annotations

import numpy as np

from qchaos.errors import NumericalError, ParameterError

from .propagator import check_positive_int, check_reflectivity

__all__ = ["ulam_step", "ulam_adjoint_step", "natural_measure", "escape_weights", "invariant_measure",
           "cascade_measure", "coarse_grain", "js_distance"]


def _check_grid(M) -> int:
    m = check_positive_int(M, "M")
    if m % 3:
        raise ParameterError(f"M = {M!r}: the Ulam grid size must be a positive multiple of 3 (exact cell images)")
    return m


def ulam_step(rho, R) -> np.ndarray:
    """One step of the Ulam transfer operator: the measure (..., M, M) [q, p] pushed through the open map.

    ``rho'[3 a' + t, k M/3 + b // 3] += w_k rho[k M/3 + a', b] / 3`` for ``t = 0, 1, 2``, ``w = (1, R, 1)``; total
    mass is multiplied by ``(sum over the two outer thirds) + R (middle third)``. M must be a multiple of 3.
    """
    x = np.asarray(rho, dtype=np.float64)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ParameterError(f"rho: must have shape (..., M, M), got {x.shape}")
    m = _check_grid(x.shape[-1])
    r = check_reflectivity(R)
    t = m // 3
    out = np.empty_like(x)
    for k, w in enumerate((1.0, r, 1.0)):
        blk = x[..., k * t:(k + 1) * t, :]  # (..., M/3 [a'], M [b])
        pb = blk.reshape(*blk.shape[:-1], t, 3).sum(axis=-1)  # p-cells b -> b // 3 : (..., M/3, M/3)
        out[..., :, k * t:(k + 1) * t] = np.repeat(pb, 3, axis=-2) * (w / 3.0)
    return out


def ulam_adjoint_step(f, R) -> np.ndarray:
    """The transpose of :func:`ulam_step` acting on functions f (..., M, M) [q, p] of the cells.

    ``f'[k M/3 + a', b] = (w_k / 3) sum_t f[3 a' + t, k M/3 + b // 3]``: the weight surviving one step from each
    cell, averaged over its image (``sum(f' rho) = sum(f ulam_step(rho))`` for every rho).
    """
    x = np.asarray(f, dtype=np.float64)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ParameterError(f"f: must have shape (..., M, M), got {x.shape}")
    m = _check_grid(x.shape[-1])
    r = check_reflectivity(R)
    t = m // 3
    out = np.empty_like(x)
    for k, w in enumerate((1.0, r, 1.0)):
        img = x[..., :, k * t:(k + 1) * t]  # (..., M [3a'+t], M/3 [b//3])
        qa = img.reshape(*img.shape[:-2], t, 3, t).sum(axis=-2)  # (..., M/3 [a'], M/3 [b//3])
        out[..., k * t:(k + 1) * t, :] = np.repeat(qa, 3, axis=-1) * (w / 3.0)
    return out


def _power(step, m: int, r: float, tol: float, maxiter: int, what: str) -> tuple[np.ndarray, float]:
    x = np.full((m, m), 1.0 / (m * m))
    for _ in range(int(maxiter)):
        nxt = step(x, r)
        gamma = float(nxt.sum()) if what == "natural_measure" else float(nxt.sum() / x.sum())
        nxt /= nxt.sum()
        diff = float(np.abs(nxt - x).sum())
        x = nxt
        if diff < tol:
            return x, gamma
    raise NumericalError(f"{what}: power iteration did not converge in maxiter = {maxiter} steps (M = {m})")


def escape_weights(M, R, *, tol: float = 1e-13, maxiter: int = 10_000) -> np.ndarray:
    """Leading left eigenvector of the Ulam operator (power iteration of :func:`ulam_adjoint_step`), sum 1.

    The relative weight with which each cell's mass survives forever; analytically a ternary cascade in q with
    weights ``(1, R, 1)/(2 + R)``, uniform in p (the time reverse of the natural measure). float64 (M, M) [q, p].
    """
    return _power(ulam_adjoint_step, _check_grid(M), check_reflectivity(R), tol, maxiter, "escape_weights")[0]


def invariant_measure(M, R, *, tol: float = 1e-13) -> np.ndarray:
    """Natural invariant measure on the chaotic saddle: ``natural_measure * escape_weights``, normalized (sum 1).

    The classical counterpart of the LR representation ``|<q,p|R><L|q,p>|`` (right vectors follow the natural,
    conditionally invariant measure, left vectors the escape weights). Analytically the product of the ternary
    cascades ``(1, R, 1)/(2 + R)`` in q and in p. float64 (M, M) [q, p].
    """
    mu, _ = natural_measure(M, R, tol=tol)
    x = mu * escape_weights(M, R, tol=tol)
    return x / x.sum()


def natural_measure(M, R, *, tol: float = 1e-13, maxiter: int = 10_000) -> tuple[np.ndarray, float]:
    """Natural (conditionally invariant) measure of the open tribaker map on the M x M grid, and its escape factor.

    Power iteration of :func:`ulam_step` from the uniform measure, renormalized each step.

    Parameters:
        M: grid size, a positive multiple of 3 (cells of side 1/M).
        R: reflectivity, ``0 <= R <= 1`` (1: the closed map, uniform measure, factor 1).

    Returns:
        ``(mu, gamma)``: mu float64 (M, M) [q, p] with sum 1, and ``gamma`` = mass surviving one step
        (``L mu = gamma mu``; analytically ``(2 + R)/3``; the classical decay rate is ``-ln gamma``).
    """
    return _power(ulam_step, _check_grid(M), check_reflectivity(R), tol, maxiter, "natural_measure")


def cascade_measure(M, R) -> np.ndarray:
    """The analytic natural measure for ``M = 3^j``: uniform in q, ternary cascade ``(1, R, 1)/(2 + R)`` in p.

    Cell ``b`` with ternary digits ``d_1 .. d_j`` (most significant first) has p-mass ``prod_i w_{d_i}/(2 + R)``.
    Used as the known answer of :func:`natural_measure`. Returns float64 (M, M) [q, p], sum 1.
    """
    m = check_positive_int(M, "M")
    j = int(round(np.log(m) / np.log(3)))
    if 3**j != m:
        raise ParameterError(f"M = {M!r}: the analytic cascade needs a power of 3 (M = 3, 9, 27, ...)")
    r = check_reflectivity(R)
    w = np.array([1.0, r, 1.0]) / (2.0 + r)
    pm = np.ones(1)
    for _ in range(j):
        pm = np.kron(pm, w)
    return np.tile(pm / m, (m, 1))


def coarse_grain(image, M) -> np.ndarray:
    """Phase-space images on the N x N lattice (..., N, N) [q, p] -> cell probabilities (..., M, M), sum 1 each.

    Lattice point ``(a + 1/2)/N`` belongs to cell ``floor((a + 1/2) M / N)``; each cell gets the **mean** of its
    lattice values (the density estimate, so cells holding unequal numbers of points when M does not divide N are
    not biased), then the M x M array is normalized to sum 1.
    """
    x = np.abs(np.asarray(image, dtype=np.float64))
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ParameterError(f"image: must have shape (..., N, N), got {x.shape}")
    n = x.shape[-1]
    m = check_positive_int(M, "M")
    if m > n:
        raise ParameterError(f"M = {M!r}: the coarse grid must not be finer than the lattice (M <= N = {n})")
    cell = ((np.arange(n) + 0.5) * m / n).astype(np.int64)
    onehot = np.zeros((m, n))
    onehot[cell, np.arange(n)] = 1.0
    onehot /= onehot.sum(axis=1, keepdims=True)
    out = np.einsum("ma,...ab,nb->...mn", onehot, x, onehot, optimize=True)
    return out / out.sum(axis=(-2, -1), keepdims=True)


def js_distance(p, q) -> np.ndarray:
    """Jensen-Shannon distance ``sqrt(JSD)`` (base-2 logarithms, in [0, 1]) between measures on the same grid.

    ``JSD = (KL(p || m) + KL(q || m))/2``, ``m = (p + q)/2``; p and q are normalized to sum 1 over the last two
    axes first and broadcast together. 0 iff ``p = q``; 1 for disjoint supports.
    """
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-2:] != b.shape[-2:]:
        raise ParameterError(f"p, q: must be measures on the same grid (..., M, M); got {a.shape} and {b.shape}")
    if (a < 0).any() or (b < 0).any():
        raise ParameterError("p, q: measures must be non-negative")
    a = a / a.sum(axis=(-2, -1), keepdims=True)
    b = b / b.sum(axis=(-2, -1), keepdims=True)
    mid = (a + b) / 2

    def kl(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(x > 0, x * np.log2(x / mid), 0.0)
        return t.sum(axis=(-2, -1))

    return np.sqrt(np.clip((kl(a) + kl(b)) / 2, 0.0, 1.0))
