"""Energy-dependent effective interaction: every product state above the energy cutoff eliminated exactly.

Why: ``H = D + g U W U^T`` (``docs/twobody.md`` §11 (low rank)) truncated at ``E0 <= e_cut`` converges like ``e_cut^(-1/2)``
because the contact interaction couples every level to all high-energy states. Here those states ("Q", infinitely
many) are removed by a Schur complement (Feshbach / Loewdin partitioning) in the space of the F cosine
frequencies of the basis ("P") instead of being dropped. With the interaction band-limited to the frequencies of P
(``delta(x1 - x2)`` replaced by its projection on ``cos(f pi x)``, ``f <= f_max``; the only approximation), the
eigenvalues E of the infinite problem solve the non-linear problem

    E in spec H_eff(E),    H_eff(E) = D_P + U_P G(E) U_P^T,    G(E) = [(g W)^-1 + T(E)]^-1,

    T(E) = sum over all Q states a of  u_a u_a^T / (E0_a - E)      (F, F), u_a = row of U restricted to P's F,

by the matrix determinant lemma: both sides vanish with ``det[G(E)^-1 + U_P^T (D_P - E)^-1 U_P]``. ``T`` is
positive semi-definite and increasing in E below ``e_cut``; G(E) is the frequency-resolved, energy-dependent
renormalised coupling. To leading order ``G ~ g_eff W`` with ``1/g_eff = 1/g + 2/(pi K)``, ``K^2 / 2 = e_cut``:
the one-parameter renormalisation of the contact coupling to the cutoff of Ernst, Hallwood, Gulliksen, Meyer and
Brand, PRA 84, 023623 (2011) (their two-particle construction), which is level independent; keeping T(E) exact
and solving the non-linear problem self-consistently is what makes one basis reach ~1e-6 (``docs/spectra.md``).
``lambda_k(H_eff(E))`` at the exact (Bethe-ansatz) energy reproduces it to 1e-10..1e-9 (eta = 1/3, g = 10).

Each row of U has +1 at ``f1 = |n - m|`` and -1 at ``f2 = n + m``. The Q states with a given ``f1`` form an
infinite series in m; they are summed explicitly up to ``m <= K`` and the remainder by the midpoint rule with two
terms of its asymptotic expansion (checked against a brute-force sum in ``tests/test_spectrum_effective.py``).

Units hbar = L = mu = 1; energies as in ``basis.energy0``. Index order: frequencies as in ``Basis.frequencies``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from qchaos.errors import ParameterError

from .basis import Basis

_TAIL_FACTOR = 8.0
"""Explicit sum up to m = f_max + _TAIL_FACTOR * sqrt(2 e_cut) / pi (the remainder's expansion parameter <= 1/64)."""


def _series_states(block: Basis, e_cut: float):
    """The Q states with ``f1 = |n - m| <= f_max`` (explicit part) and the remainder parameters of each series.

    Returns ``(e0, i1, i2, series)``: energies (q,), column indices into ``block.frequencies`` of ``f1`` and ``f2``
    (-1 where the frequency is not one of the basis's), and per series (f1 index, b, c, Y) arrays for the remainder
    ``sum_{m > K} 1 / (pi^2/2 ((m + b)^2 + c) - E)``, ``Y = K + 1/2 + b``.
    """
    eta = block.eta
    freqs = block.frequencies
    if freqs.size == 0:
        raise ParameterError("block: empty basis")
    f_max = int(freqs.max())
    parity = int(freqs[0] % 2)
    k_max = int(f_max + _TAIL_FACTOR * np.sqrt(2.0 * e_cut) / np.pi) + 2
    m = np.arange(1, k_max + 1)
    a_half = np.pi**2 / 2.0
    e0s, i1s, i2s, ser = [], [], [], []
    for f in range(parity, f_max + 1, 2):
        j1 = np.searchsorted(freqs, f)
        has1 = j1 < freqs.size and freqs[j1] == f
        if not has1:  # f1 outside P's frequencies: only f2 (> f1) could count, and it is handled below
            j1 = -1
        orient = [(m + f, m, f / (1 + eta))] if f > 0 else [(m, m, 0.0)]
        if f > 0:
            orient.append((m, m + f, eta * f / (1 + eta)))
        c = f * f * eta / (1 + eta) ** 2
        for n_, m_, b in orient:
            e0 = a_half * ((m + b) ** 2 + c)  # = energy0(n_, m_, eta)
            q = e0 > e_cut
            f2 = n_[q] + m_[q]
            j2 = np.searchsorted(freqs, f2)
            j2 = np.where((j2 < freqs.size) & (freqs[np.minimum(j2, freqs.size - 1)] == f2), j2, -1)
            e0s.append(e0[q])
            i1s.append(np.full(q.sum(), j1))
            i2s.append(j2)
            if j1 >= 0:  # the tail beyond K only reaches f1 (its f2 > f_max)
                ser.append((j1, b, c, k_max + 0.5 + b))
    ser = np.array(ser, dtype=float).reshape(-1, 4)
    return np.concatenate(e0s), np.concatenate(i1s), np.concatenate(i2s), ser


class Elimination:
    """The eliminated high-energy states of one parity block: ``T(E)``, ``G(E)`` and ``H_eff(E)``.

    Args:
        block: one parity block of an energy-cutoff basis (``basis_by_count(...).block(c)``).
        g: contact interaction strength, >= 0.
        e_cut: the basis's energy cutoff (every state with E0 <= e_cut is in P, all others in Q).
    """

    def __init__(self, block: Basis, g: float, e_cut: float):
        if not np.all(block.e0 <= e_cut * (1 + 1e-12)):
            raise ParameterError(f"e_cut = {e_cut}: below some basis energies (max {block.e0.max()})")
        self.block = block
        self.g = float(g)
        self.e_cut = float(e_cut)
        self.F = block.frequencies.size
        self._e0, self._i1, self._i2, self._series = _series_states(block, e_cut)
        self.e_q = float(self._e0.min()) if self._e0.size else np.inf  # lowest eliminated energy

    def tail(self, energy: float, order: int = 0) -> np.ndarray:
        """The tail ``T(E) = sum_Q u_a u_a^T / (E0_a - E)`` (order 0) or its derivative ``dT/dE`` (order 1).

        Symmetric PSD (F, F); requires E below every eliminated energy.
        """
        if not energy < self.e_q:
            raise ParameterError(f"energy = {energy}: must lie below the lowest eliminated energy {self.e_q}")
        F = self.F
        s = (1.0 / (self._e0 - energy)) ** (order + 1)
        i1, i2 = self._i1, self._i2
        t = np.zeros(F * F)
        for a, b, sign in ((i1, i1, 1.0), (i2, i2, 1.0), (i1, i2, -1.0), (i2, i1, -1.0)):
            ok = (a >= 0) & (b >= 0)
            t += np.bincount(a[ok] * F + b[ok], weights=sign * s[ok], minlength=F * F)
        t = t.reshape(F, F)
        j, _, c, y = self._series.T
        a_half = np.pi**2 / 2.0
        if order == 0:
            rest = (1.0 / y - (c - energy / a_half + 0.25) / (3.0 * y**3)) / a_half
        else:
            rest = 1.0 / (3.0 * a_half**2 * y**3)
        t[np.diag_indices(F)] += np.bincount(j.astype(np.int64), weights=rest, minlength=F)
        return t

    def coupling(self, energy: float) -> np.ndarray:
        """``G(E) = [(g W)^-1 + T(E)]^-1`` (F, F), computed as ``s (1 + s T s)^-1 s`` with ``s = sqrt(g W)``."""
        if self.g == 0.0:
            return np.zeros((self.F, self.F))
        s = np.sqrt(self.g * self.block.weights)
        a = np.eye(self.F) + s[:, None] * self.tail(energy) * s[None, :]
        return s[:, None] * sla.cho_solve(sla.cho_factor(a), np.diag(s))

    def _outer(self, m: np.ndarray) -> np.ndarray:
        """``U_P m U_P^T`` as a dense symmetric (dim, dim) array for a symmetric (F, F) ``m``."""
        u = self.block.trace_matrix()
        h = np.asarray((u @ (u @ m).T).T)
        return 0.5 * (h + h.T)

    def dense(self, energy: float) -> np.ndarray:
        """``H_eff(E) = D_P + U_P G(E) U_P^T`` as a dense float64 (dim, dim) array."""
        h = self._outer(self.coupling(energy))
        h[np.diag_indices_from(h)] += self.block.e0
        return h


def self_consistent(grid: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Solve ``lambda_k(E) = E`` for every level k by inverse interpolation over the grid energies.

    Args:
        grid: (J,) ascending energies E_j at which ``H_eff(E_j)`` was diagonalised, J >= 2.
        lam: (J, k) ordered eigenvalues ``lambda_k(E_j)``. ``r_k(E) = lambda_k(E) - E`` is strictly decreasing
            (``H_eff`` decreases with E), so ``E(r)`` is a function and is interpolated (Lagrange, all J points)
            at r = 0.
    Returns the (k,) self-consistent energies.
    """
    grid = np.asarray(grid, dtype=float)
    r = np.asarray(lam, dtype=float) - grid[:, None]
    out = np.zeros(r.shape[1])
    for j in range(grid.size):
        w = np.ones(r.shape[1])
        for i in range(grid.size):
            if i != j:
                w *= (0.0 - r[i]) / (r[j] - r[i])
        out += grid[j] * w
    return out
