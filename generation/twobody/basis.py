"""Product-sine basis of two atoms in the unit hard-wall box, and the exact low-rank interaction.

Conventions (``docs/twobody.md`` §1-2, §11):

* Units: hbar = L = 1 and reduced mass mu = 1, with masses ``m1 = 1 + eta`` (light particle, coordinate x1,
  quantum number n) and ``m2 = 1 + 1/eta`` (heavy particle, x2, m); ``0 < eta <= 1``.
* Basis states ``phi_nm(x1, x2) = 2 sin(n pi x1) sin(m pi x2)`` with non-interacting energy
  ``E0(n, m) = pi^2 (n^2 + eta m^2) / (2 (1 + eta))``.
* Ordering: ascending E0, exact ties (degenerate E0) ordered by (n, m). The basis is cut at an *energy*, never
  inside a degenerate group, so exact D6 triples (eta = 1/3) and exchange pairs (eta = 1) stay complete.
* Parity P: (x1, x2) -> (1 - x1, 1 - x2) gives ``P phi_nm = (-1)^(n+m) phi_nm``; the interaction never couples
  n+m even with n+m odd, so H splits exactly into the two blocks (``parity`` 0 = even, 1 = odd).
* Interaction ``g delta(x1 - x2)``: ``V = U W U^T`` with ``U[a, f]`` the coefficient of ``cos(f pi x)`` in the
  diagonal trace ``phi_a(x, x) = cos(|n-m| pi x) - cos((n+m) pi x)`` (two entries per row: +1 at |n-m|, -1 at n+m)
  and ``W = diag(1, 1/2, 1/2, ...)`` the overlaps of the cosines. ``H = diag(E0) + g V``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from qchaos.errors import ParameterError

PARITIES = {"even": 0, "odd": 1}
"""Parity names and their codes (code = (n + m) mod 2)."""

_TIE_RTOL = 1e-12
MIN_ETA = 1e-4
"""Smallest accepted mass ratio: below it the light atom's quantum numbers (~ sqrt(levels / eta)) explode
(their count overflows int64 near 1e-12)."""


def parse_eta(value: str | float | Fraction) -> float:
    """Mass ratio ``eta = m_light / m_heavy`` from a number or a fraction string (``"1/3"``).

    Raises ``ValueError`` naming ``eta`` unless ``0 < eta <= 1``. A ratio above 1 describes the same system with
    the particles relabelled: pass ``1/eta`` instead (the error says so).
    """
    if isinstance(value, (bool, np.bool_)):  # True would silently be eta = 1
        raise ParameterError(f"eta = {value!r}: a mass ratio is a number or a fraction like '1/3', not a bool")
    try:
        eta = float(Fraction(value)) if isinstance(value, str) else float(value)
    except (ValueError, ZeroDivisionError, TypeError) as exc:
        raise ParameterError(f"eta: cannot read {value!r} as a number or fraction like '1/3'") from exc
    if not np.isfinite(eta) or eta <= 0:
        raise ParameterError(f"eta = {value}: the mass ratio m_light/m_heavy must satisfy 0 < eta <= 1")
    if eta > 1:
        raise ValueError(
            f"eta = {value}: must satisfy 0 < eta <= 1 (eta = m_light/m_heavy); "
            f"eta > 1 is the same system with the particles swapped, use eta = {1 / eta:.12g}"
        )
    return eta


def check_min_eta(eta: float) -> float:
    """``eta`` unless it is below :data:`MIN_ETA` (``ParameterError`` naming ``eta`` and the bound)."""
    from qchaos.errors import ParameterError

    if eta < MIN_ETA:
        raise ParameterError(f"eta = {eta:g}: must be >= {MIN_ETA:g} (smaller mass ratios need basis quantum numbers "
                             "~ sqrt(levels / eta))")
    return eta


def check_g(g) -> float:
    """Contact interaction strength as a float; ``ValueError`` naming ``g`` unless finite and >= 0 (repulsive)."""
    try:
        value = float(g)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"g = {g!r}: the interaction strength must be a real number g >= 0") from exc
    if not np.isfinite(value) or value < 0:
        raise ParameterError(f"g = {g!r}: the interaction strength must be finite and g >= 0 (repulsive)")
    return value


def check_count(value, name: str) -> int:
    """A positive integer count (levels, states); ``ValueError`` naming ``name`` otherwise."""
    message = f"{name} = {value!r}: must be a positive integer (>= 1)"
    try:
        ok = not isinstance(value, (bool, str)) and int(value) == value and value >= 1
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(message) from exc
    if not ok:
        raise ValueError(message)
    return int(value)


def tie_groups(energy: np.ndarray, rtol: float = _TIE_RTOL) -> np.ndarray:
    """Group number (0, 1, ...) of each entry of an ascending ``energy`` array.

    Neighbours closer than ``rtol * max(|E|, 1)`` share one group (ties / degenerate levels). Shape (k,), int64.
    """
    e = np.asarray(energy, dtype=np.float64)
    if e.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(np.diff(e) > rtol * np.maximum(np.abs(e[1:]), 1.0))])


def rank_levels(energy: np.ndarray, n: np.ndarray, m: np.ndarray, rtol: float = _TIE_RTOL) -> np.ndarray:
    """Permutation ordering levels by energy; energies equal to ``rtol`` (relative) are ties, ordered by (n, m)."""
    order = np.argsort(energy, kind="stable")
    return order[np.lexsort((m[order], n[order], tie_groups(energy[order], rtol)))]


def masses(eta: float) -> tuple[float, float]:
    """Masses ``(m1, m2) = (1 + eta, 1 + 1/eta)`` of the light and heavy atom (reduced mass 1)."""
    eta = parse_eta(eta)
    return 1.0 + eta, 1.0 + 1.0 / eta


def energy0(n, m, eta: float) -> np.ndarray:
    """Non-interacting energy ``E0(n, m) = pi^2 (n^2 + eta m^2) / (2 (1 + eta))`` (units hbar = L = mu = 1)."""
    n = np.asarray(n, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    return np.pi**2 * (n**2 + eta * m**2) / (2.0 * (1.0 + eta))


def weyl_count(energy: float, eta: float) -> float:
    """Smooth number of product states below ``energy`` (leading Weyl term, both parities)."""
    m1, m2 = masses(eta)
    return energy * np.sqrt(m1 * m2) / (2.0 * np.pi)


def _enumerate(eta: float, e_cut: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (n, m) with E0 <= e_cut, sorted by (E0, n, m) with float ties grouped; returns n, m, e0."""
    scale = 2.0 * (1.0 + eta) / np.pi**2
    r = e_cut * scale  # n^2 + eta m^2 <= r
    n_max = int(np.floor(np.sqrt(r))) + 1
    n = np.arange(1, n_max + 1)
    m_lim = np.floor(np.sqrt(np.maximum(r - n**2, 0.0) / eta)).astype(np.int64) + 1
    counts = m_lim
    nn = np.repeat(n, counts)
    starts = np.cumsum(counts) - counts
    mm = np.arange(counts.sum()) - np.repeat(starts, counts) + 1
    e0 = energy0(nn, mm, eta)
    keep = e0 <= e_cut * (1 + _TIE_RTOL)
    nn, mm, e0 = nn[keep], mm[keep], e0[keep]
    order = rank_levels(e0, nn, mm)
    return nn[order].astype(np.int64), mm[order].astype(np.int64), e0[order]


@dataclass(frozen=True)
class Basis:
    """A truncated product-sine basis (one or both parity blocks).

    Attributes:
        eta: mass ratio m1/m2 in (0, 1].
        n, m: int64 arrays of shape (dim,), quantum numbers of the light / heavy atom.
        e0: float64 array (dim,), non-interacting energies, ascending (ties by (n, m)).
        e_cut: the energy cutoff; every state with E0 <= e_cut (of the selected parities) is included.
        level: int64 array (dim,), 1-based non-interacting level number over *both* parities.
    """

    eta: float
    n: np.ndarray
    m: np.ndarray
    e0: np.ndarray
    e_cut: float
    level: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.n.size)

    @property
    def parity(self) -> np.ndarray:
        """Parity code per state, shape (dim,): 0 = even (n+m even), 1 = odd."""
        return (self.n + self.m) % 2

    def block(self, parity: str | int) -> "Basis":
        """The sub-basis of one parity block (``"even"``/0 or ``"odd"``/1)."""
        code = PARITIES[parity] if isinstance(parity, str) else int(parity)
        sel = self.parity == code
        return Basis(self.eta, self.n[sel], self.m[sel], self.e0[sel], self.e_cut, self.level[sel])

    @cached_property
    def frequencies(self) -> np.ndarray:
        """Distinct cosine frequencies f (ascending) in the diagonal traces, shape (F,)."""
        return np.unique(np.concatenate([np.abs(self.n - self.m), self.n + self.m]))

    @cached_property
    def trace_columns(self) -> np.ndarray:
        """Column indices into ``frequencies`` of the two entries of each row of U, shape (dim, 2).

        Column 0 carries +1 (frequency |n - m|), column 1 carries -1 (frequency n + m).
        """
        f = self.frequencies
        return np.stack([np.searchsorted(f, np.abs(self.n - self.m)), np.searchsorted(f, self.n + self.m)], axis=1)

    @cached_property
    def weights(self) -> np.ndarray:
        """Diagonal of W, shape (F,): 1 for frequency 0, 1/2 otherwise."""
        return np.where(self.frequencies == 0, 1.0, 0.5)

    def trace_matrix(self) -> sp.csr_matrix:
        """U as a sparse (dim, F) matrix with entries +1 / -1."""
        rows = np.repeat(np.arange(self.dim), 2)
        vals = np.tile([1.0, -1.0], self.dim)
        return sp.csr_matrix((vals, (rows, self.trace_columns.ravel())), shape=(self.dim, self.frequencies.size))

    def interaction(self) -> sp.csr_matrix:
        """The contact-interaction matrix V = U W U^T (sparse, symmetric PSD), ``H = diag(e0) + g V``.

        ``V[a, b] = 4 int_0^1 sin(n_a pi x) sin(m_a pi x) sin(n_b pi x) sin(m_b pi x) dx``.
        """
        u = self.trace_matrix()
        return (u @ sp.diags(self.weights) @ u.T).tocsr()


def basis_by_energy(eta: float, e_cut: float, parity: str | int | None = None) -> Basis:
    """All states with ``E0 <= e_cut`` (optionally of one parity)."""
    eta = parse_eta(eta)
    if not e_cut > 0:
        raise ParameterError(f"e_cut = {e_cut}: the energy cutoff must be positive")
    n, m, e0 = _enumerate(eta, e_cut)
    basis = Basis(eta, n, m, e0, float(e_cut), np.arange(1, n.size + 1, dtype=np.int64))
    return basis if parity in (None, "both") else basis.block(parity)


def basis_by_count(eta: float, n_states: int, parity: str | int | None = None) -> Basis:
    """The lowest ``n_states`` product states over both parities, completed to the end of a degenerate group.

    The cutoff is placed midway between the last included E0 and the next distinct one, so the result is also
    an energy-cutoff basis. With ``parity`` only that block is returned (about half of ``n_states``).
    """
    eta = check_min_eta(parse_eta(eta))
    n_states = check_count(n_states, "n_states")
    e_guess = 1.3 * n_states * 2 * np.pi / np.sqrt(np.prod(masses(eta))) + 20 * np.pi**2
    while True:
        n, m, e0 = _enumerate(eta, e_guess)
        if n.size > n_states:
            break
        e_guess *= 1.5
    last = e0[n_states - 1]
    nxt = np.searchsorted(e0, last * (1 + _TIE_RTOL), side="right")
    e_cut = 0.5 * (e0[nxt - 1] + e0[nxt])
    basis = Basis(eta, n[:nxt], m[:nxt], e0[:nxt], float(e_cut), np.arange(1, nxt + 1, dtype=np.int64))
    return basis if parity in (None, "both") else basis.block(parity)
