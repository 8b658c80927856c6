"""Exact (Bethe-ansatz) spectra of the two integrable mass ratios, eta = 1/3 (D6) and eta = 1 (equal masses).

Conventions (``docs/twobody.md`` §1-3; the same as :mod:`generation.twobody.basis`):

* Units hbar = L = mu = 1, masses ``m1 = 1 + eta`` (light atom, coordinate x1, quantum number n) and
  ``m2 = 1 + 1/eta`` (heavy atom, x2, m); ``H = -d1^2/(2 m1) - d2^2/(2 m2) + g delta(x1 - x2)`` in the unit box
  with hard walls, ``g >= 0``. Non-interacting energies ``E0(n, m) = pi^2 (n^2 + eta m^2) / (2 (1 + eta))``.
* Parity (x1, x2) -> (1 - x1, 1 - x2): code 0 = even (n + m even), 1 = odd. It is conserved for every g.
* Every exact eigenstate carries the non-interacting label (n, m) it connects to as g -> 0 (one state per label).
  Inside a degenerate multiplet that contains a g-independent ("horizontal") state, the horizontal state takes the
  member with the smallest n (which is also the first by the (n, m) tie order), so that at g -> 0+ the level order
  inside the multiplet is unchanged (horizontal levels stay, the others rise).
* Level numbers are 1-based ranks over *both* parities, ascending energy; exact ties (energies equal within a
  relative 1e-12) are ordered by (n, m). At g = 0 this is exactly the ordering of ``basis.py``.

eta = 1/3 ("Lambda method", §3.1). With the symmetric momenta ``P1 + P2 + P3 = 0``, ``E = (P1^2 + P2^2 + P3^2)/4``,
each ``P_i`` solves ``Phi(P_i) = Lambda`` on its own branch: even parity ``Phi(P) = P - g cot P`` on
``(b pi, (b+1) pi)``, odd parity ``Phi(P) = P + g tan P`` on ``((b - 1/2) pi, (b + 1/2) pi)``. Writing
``P = d - arctan(u)`` with the branch centre ``d`` (``(b + 1/2) pi`` even, ``b pi`` odd) turns both into
``g u + arctan(u) = d - Lambda`` (``u = cot P`` even, ``-tan P`` odd), a strictly increasing equation in u.
Branch sets from the label (n, m), ``l = (n, (m - n)/2, -(m + n)/2)``:

* even (n + m even): ``m > 3n`` -> horizontal state ``P = l pi`` (first member of the D6 triple
  ``(n, m), ((m-n)/2, (3n+m)/2), ((m+n)/2, (m-3n)/2)``), energy exactly E0 for every g;
  otherwise ``B(l)`` = sort(l) with its smallest entry lowered by 1 if those are distinct integers (``m != 3n``),
  else ``B(-l)`` (``m = 3n``). E.g. (1,1) -> (-2,0,1), (2,6) -> (-3,-2,4), triple (1,5) horizontal,
  (2,4) -> (-4,1,2), (3,1) -> (-3,-1,3).
* odd (n + m odd): ``b = (n, l2 + sign(l2 - n)/2, l3 + sign(l3 - n)/2)``, e.g. (1,2) -> (1,0,-2),
  (60,5) -> (60,-28,-33).

eta = 1 (§3.2): with ``K = (k1 +- k2)/2`` and ``E = (K_a^2 + K_b^2)/2``: label (n, m) with ``n >= m`` is the
exchange-symmetric state, even parity ``K tan K = g`` roots ``K_a`` in ``(a pi, a pi + pi/2)``, ``a = (n+m)/2``,
``K_b`` with ``b = (n-m)/2``; odd parity ``K cot K = -g`` roots in ``(j pi + pi/2, (j+1) pi)`` with
``a = (n+m-1)/2``, ``b = (n-m-1)/2``. Label ``n < m`` is the exchange-antisymmetric (horizontal) state
``phi_nm - phi_mn`` with energy E0 for every g.

All roots are found together by vectorized, bracketed Newton iterations in numpy (monotone by construction);
results are converged to about 1e-14 relative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generation.twobody.basis import (
    PARITIES,
    basis_by_count,
    basis_by_energy,
    check_count,
    check_g,
    energy0,
    parse_eta,
    rank_levels,
)
from qchaos.errors import ParameterError

__all__ = ["BetheSpectrum", "bethe_levels", "d6_triples", "horizontal_energies", "INTEGRABLE_ETAS"]

INTEGRABLE_ETAS = {"1/3": 1.0 / 3.0, "1": 1.0}
"""The Bethe-ansatz integrable mass ratios accepted here (name -> value)."""

_ETA_ATOL = 1e-12
_EPS = np.finfo(np.float64).eps
_MAXITER = 200


@dataclass(frozen=True)
class BetheSpectrum:
    """Exact levels of an integrable mass ratio, ascending in energy.

    Attributes
    ----------
    energy : ndarray, shape (k,), float64
        Energies in units hbar = L = mu = 1, ascending; exact ties (equal within a relative 1e-12) are ordered
        by (n, m), so neighbours inside a tie may differ by rounding in either direction.
    parity : ndarray, shape (k,), int8
        0 = even (n + m even), 1 = odd, under (x1, x2) -> (1 - x1, 1 - x2).
    n, m : ndarray, shape (k,), int64
        The non-interacting label (n, m) (light, heavy quantum number) the level connects to as g -> 0.
    horizontal : ndarray, shape (k,), bool
        g-independent exact level (eta = 1/3: the horizontal state of a D6 triple, labelled by the triple's
        member with the smallest n; eta = 1: the exchange-antisymmetric state, label n < m). Its energy is
        exactly ``energy0(n, m, eta)`` for every g.
    level : ndarray, shape (k,), int64
        1-based rank over *both* parities (also when only one parity block was requested), ties by (n, m).
    """

    energy: np.ndarray
    parity: np.ndarray
    n: np.ndarray
    m: np.ndarray
    horizontal: np.ndarray
    level: np.ndarray

    def __len__(self) -> int:
        return int(self.energy.size)


# --------------------------------------------------------------------------------------------- input checks


def _integrable_eta(eta) -> float:
    """Return exactly 1/3 or 1.0 for an accepted ``eta`` (float within 1e-12, or string '1/3' / '1')."""
    accepted = "eta = 1/3 or eta = 1 (floats within 1e-12 of these, or the strings '1/3', '1')"
    try:
        value = parse_eta(eta)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"eta = {eta!r}: the Bethe ansatz is exact only for {accepted}") from exc
    for exact in INTEGRABLE_ETAS.values():
        if abs(value - exact) <= _ETA_ATOL:
            return exact
    raise ParameterError(f"eta = {eta!r}: the Bethe ansatz is exact only for {accepted}")


def _check_parity(parity) -> int | None:
    if parity in (None, "both"):
        return None
    if parity in PARITIES:
        return PARITIES[parity]
    if parity in (0, 1) and not isinstance(parity, bool):
        return int(parity)
    raise ParameterError(f"parity = {parity!r}: must be 'both', 'even' (0) or 'odd' (1)")


# ----------------------------------------------------------------------------------------- vectorized roots


def _solve_h(z: np.ndarray, g: float) -> np.ndarray:
    """Solve ``g u + arctan(u) = z`` elementwise (g > 0), any real z; returns u with the sign of z.

    For ``a = |z|`` the root ``u >= 0`` lies where ``h(u) = g u + arctan u`` is increasing and concave, so Newton
    started from a lower bound increases monotonically to the root (no overshoot, no bracketing needed).
    """
    z = np.asarray(z, dtype=np.float64)
    shape = z.shape
    z = z.ravel()
    a = np.abs(z)
    upper = a / g
    small = a < np.pi / 2
    upper = np.where(small, np.minimum(upper, np.tan(np.where(small, a, 0.0))), upper)
    lower = np.maximum(a / (g + 1.0), (a - np.arctan(upper)) / g)
    lower = np.maximum(lower, np.tan(np.clip(a - g * upper, 0.0, np.pi / 2 - 1e-9)))
    u = np.minimum(lower, upper)
    active = np.flatnonzero(a > 0)
    for _ in range(_MAXITER):
        if active.size == 0:
            break
        ua = u[active]
        step = (a[active] - g * ua - np.arctan(ua)) / (g + 1.0 / (1.0 + ua * ua))
        u[active] = ua + step
        # converged when u is fixed to rounding, or when arctan(u) (the momentum) no longer changes
        active = active[(np.abs(step) > 4 * _EPS * ua) & (np.abs(step) > 4 * _EPS * (1.0 + ua * ua))]
    else:  # pragma: no cover - never reached in practice
        raise RuntimeError("bethe: inner Newton iteration g u + arctan u = z did not converge")
    return np.copysign(u, z).reshape(shape)


def _solve_momenta(d: np.ndarray, g: float) -> np.ndarray:
    """Symmetric momenta ``P`` (k, 3) of eta = 1/3 BA states with branch centres ``d`` (k, 3), g > 0.

    Solves ``F(Lambda) = sum_i (d_i - arctan u_i(Lambda)) = 0`` with ``g u_i + arctan u_i = d_i - Lambda``.
    F increases strictly with Lambda; the root is bracketed by ``[min d - h0, max d - h0]`` with
    ``h0 = g tan(S/3) + S/3``, ``S = sum d`` (at the bracket ends all u_i lie on one side of ``tan(S/3)``), and
    refined by Newton steps that fall back to bisection when they leave the bracket.
    """
    k = d.shape[0]
    total = d.sum(axis=1)
    h0 = g * np.tan(total / 3.0) + total / 3.0
    lo = d.min(axis=1) - h0
    hi = d.max(axis=1) - h0
    lam = 0.5 * (lo + hi)
    active = np.arange(k)
    for _ in range(_MAXITER):
        if active.size == 0:
            break
        la = lam[active]
        u = _solve_h(d[active] - la[:, None], g)
        f = total[active] - np.arctan(u).sum(axis=1)
        slope = (1.0 / (1.0 + g * (1.0 + u * u))).sum(axis=1)
        lo_a = np.where(f < 0, la, lo[active])
        hi_a = np.where(f > 0, la, hi[active])
        new = la - f / slope
        newton = (new >= lo_a) & (new <= hi_a)
        new = np.where(newton, new, 0.5 * (lo_a + hi_a))
        scale = np.maximum(np.abs(la), 1.0)
        small_f = np.abs(f) <= 2e-15 * (1.0 + np.abs(total[active]))
        done = small_f | (newton & (np.abs(new - la) <= 4 * _EPS * scale)) | (hi_a - lo_a <= 4 * _EPS * scale)
        lo[active], hi[active] = lo_a, hi_a
        lam[active] = np.where(small_f, la, new)
        active = active[~done]
    else:  # pragma: no cover
        raise RuntimeError("bethe: outer iteration for Lambda did not converge")
    u = _solve_h(d - lam[:, None], g)
    return d - np.arctan(u)


def _solve_k(c: np.ndarray, g: float) -> np.ndarray:
    """Roots ``K = c + theta``, theta in (0, pi/2), of ``K tan(theta) = g`` (g > 0), elementwise.

    With ``v = tan(theta)`` the function ``r(v) = (c + arctan v) v`` is increasing and convex on v > 0, so Newton
    from an upper bound decreases monotonically to the root. ``c = j pi`` gives the even-parity roots of
    ``K tan K = g``; ``c = (j + 1/2) pi`` the odd-parity roots of ``K cot K = -g``.
    """
    q = 4.0 * g / np.pi
    v = np.full(c.shape, max(q, np.sqrt(q)))
    pos = c > 0
    v[pos] = np.minimum(v[pos], g / c[pos])
    active = np.arange(c.size)
    for _ in range(_MAXITER):
        if active.size == 0:
            break
        va, ca = v[active], c[active]
        at = np.arctan(va)
        step = ((ca + at) * va - g) / (ca + at + va / (1.0 + va * va))
        v[active] = va - step
        active = active[(np.abs(step) > 4 * _EPS * va) & (np.abs(step) > 4 * _EPS * (1.0 + va * va))]
    else:  # pragma: no cover
        raise RuntimeError("bethe: Newton iteration for K tan K = g did not converge")
    return c + np.arctan(v)


# ------------------------------------------------------------------------------------ states from labels


def _branch_centres_third(n: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """eta = 1/3: horizontal mask and branch centres d (k, 3) for the labels (n, m) (rows of horizontal = nan)."""
    odd = (n + m) % 2 == 1
    horizontal = ~odd & (m > 3 * n)
    d = np.full((n.size, 3), np.nan)

    # even, non-horizontal: B(l) if distinct (m != 3n), else B(-l)
    ev = np.flatnonzero(~odd & ~horizontal)
    ne, me = n[ev], m[ev]
    l = np.stack([ne, (me - ne) // 2, -(me + ne) // 2], axis=1)
    l = np.where((me == 3 * ne)[:, None], -l, l)
    b = np.sort(l, axis=1)
    b[:, 0] -= 1
    d[ev] = (b + 0.5) * np.pi

    # odd: b1 = n, b_i = l_i + sign(l_i - n)/2 (l_i half-integers)
    od = np.flatnonzero(odd)
    no, mo = n[od], m[od]
    b2 = (mo - no + np.sign(mo - 3 * no)) // 2
    b3 = (-(mo + no) - 1) // 2
    d[od] = np.stack([no, b2, b3], axis=1) * np.pi
    return horizontal, d


def _energies_third(n: np.ndarray, m: np.ndarray, g: float) -> tuple[np.ndarray, np.ndarray]:
    eta = 1.0 / 3.0
    horizontal, d = _branch_centres_third(n, m)
    energy = energy0(n, m, eta)
    if g > 0:
        moving = ~horizontal
        p = _solve_momenta(d[moving], g)
        energy[moving] = 0.25 * (p * p).sum(axis=1)
    return energy, horizontal


def _energies_one(n: np.ndarray, m: np.ndarray, g: float) -> tuple[np.ndarray, np.ndarray]:
    horizontal = n < m
    energy = energy0(n, m, 1.0)
    if g > 0:
        sym = np.flatnonzero(~horizontal)
        ns, ms = n[sym], m[sym]
        odd = (ns + ms) % 2 == 1
        a = np.where(odd, (ns + ms - 1) // 2, (ns + ms) // 2)
        b = np.where(odd, (ns - ms - 1) // 2, (ns - ms) // 2)
        shift = np.where(odd, 0.5, 0.0)
        ka = _solve_k((a + shift) * np.pi, g)
        kb = _solve_k((b + shift) * np.pi, g)
        energy[sym] = 0.5 * (ka * ka + kb * kb)
    return energy, horizontal


# ------------------------------------------------------------------------------------------------ public


BETHE_BYTES_PER_LEVEL = 1000.0
"""Memory estimate of :func:`bethe_levels` per label solved (bytes): measured ~430 at eta = 1/3 (200000 levels),
doubled for the cutoff's growth steps."""


def check_bethe_size(n_levels: int, labels: int) -> None:
    """Refuse a Bethe-ansatz solve that would not fit the memory limit.

    ``ParameterError`` naming ``levels``, the estimate and the accepted range if solving ``labels`` Bethe-ansatz
    labels for ``n_levels`` levels needs more memory than :func:`qchaos.limits.max_bytes`.
    """
    from qchaos.limits import check_memory, max_bytes

    estimate = BETHE_BYTES_PER_LEVEL * labels
    if not estimate <= max_bytes():
        top = int(max_bytes() / BETHE_BYTES_PER_LEVEL) * n_levels // max(labels, 1)
        check_memory(estimate, f"n_levels = {n_levels} (--levels)", "--levels", subject="the Bethe-ansatz solve",
                     accepted=f"n_levels <= {top}")


def bethe_levels(eta, g: float, n_levels: int, parity: str = "both") -> BetheSpectrum:
    """The ``n_levels`` lowest exact levels of an integrable mass ratio (Bethe ansatz, ``docs/twobody.md`` §3 (Bethe ansatz)).

    Parameters
    ----------
    eta : float or str
        Mass ratio m_light/m_heavy: 1/3 or 1 (floats within 1e-12 of these, or the strings ``'1/3'``, ``'1'``).
        Masses ``m1 = 1 + eta`` (light), ``m2 = 1 + 1/eta`` (heavy), reduced mass 1.
    g : float
        Contact interaction strength, ``g >= 0`` (units hbar = L = mu = 1). ``g = 0`` returns exactly E0.
    n_levels : int
        Number of levels (>= 1): the lowest over both parities, or the lowest of one parity block.
    parity : {'both', 'even', 'odd'}
        Which levels to return (``'even'`` = n + m even; 0 and 1 are accepted as codes).

    Returns
    -------
    BetheSpectrum
        Arrays of shape ``(n_levels,)``, ascending energy; ``level`` is the rank over both parities. Labels are
        enumerated up to an energy cutoff that is raised until the ``n_levels``-th energy lies below the
        smallest E0 of every excluded label (each level only rises with g), so the set is complete.

    Raises
    ------
    ValueError
        eta not integrable (names ``eta`` and the accepted values), ``g`` negative or not finite (names ``g``),
        ``n_levels`` not a positive integer (names ``n_levels``), unknown ``parity``.

    Notes
    -----
    All states are solved together by vectorized monotone Newton iterations (bisection fallback), converged
    to about 1e-14 relative; 5000 levels take a few hundredths of a second.
    """
    eta = _integrable_eta(eta)
    g = check_g(g)
    n_levels = check_count(n_levels, "n_levels")
    code = _check_parity(parity)
    solver = _energies_third if eta < 1 else _energies_one

    want = n_levels if code is None else 2 * n_levels + 2
    check_bethe_size(n_levels, want)
    e_cut = basis_by_count(eta, want).e_cut
    if g > 0:
        e_cut *= 1.0 + min(1.0, 4.0 / np.sqrt(want))
    while True:
        basis = basis_by_energy(eta, e_cut)
        n, m = basis.n, basis.m
        energy, horizontal = solver(n, m, g)
        order = rank_levels(energy, n, m)
        par = ((n + m) % 2).astype(np.int8)
        level = np.empty(n.size, dtype=np.int64)
        level[order] = np.arange(1, n.size + 1)
        chosen = order if code is None else order[par[order] == code]
        if chosen.size >= n_levels and energy[chosen[n_levels - 1]] <= e_cut * (1.0 - 1e-11):
            chosen = chosen[:n_levels]
            break
        e_cut *= 1.25
    return BetheSpectrum(
        energy=energy[chosen],
        parity=par[chosen],
        n=n[chosen].astype(np.int64),
        m=m[chosen].astype(np.int64),
        horizontal=horizontal[chosen],
        level=level[chosen],
    )


def _first_labels(n_levels: int):
    basis = basis_by_count(1.0 / 3.0, n_levels)
    return basis.n[:n_levels], basis.m[:n_levels]


def d6_triples(n_levels: int) -> np.ndarray:
    """eta = 1/3: the D6 triples among the first ``n_levels`` non-interacting levels.

    A triple is ``{(n, m), ((m-n)/2, (3n+m)/2), ((m+n)/2, (m-3n)/2)}`` with n + m even and m > 3n (its first
    member; equivalently any member with m != n, m != 3n); all three share E0 and one combination of them is an
    exact eigenstate for every g. A triple is counted when its first member (smallest n, the horizontal level)
    is among the first ``n_levels`` levels of ``basis.py``'s ordering (ascending E0, ties by (n, m)).

    Parameters
    ----------
    n_levels : int
        Number of non-interacting levels (both parities), >= 1.

    Returns
    -------
    ndarray, shape (T, 3, 2), int64
        ``[t, i] = (n, m)`` of member i (ascending n; member 0 labels the horizontal level), triples in level
        order. T = 155 / 480 / 806 for 1000 / 3000 / 5000 levels.
    """
    n_levels = check_count(n_levels, "n_levels")
    n, m = _first_labels(n_levels)
    sel = ((n + m) % 2 == 0) & (m > 3 * n)
    n, m = n[sel], m[sel]
    members = [(n, m), ((m - n) // 2, (3 * n + m) // 2), ((m + n) // 2, (m - 3 * n) // 2)]
    return np.stack([np.stack(pair, axis=1) for pair in members], axis=1).astype(np.int64)


def horizontal_energies(n_levels: int) -> np.ndarray:
    """eta = 1/3: the distinct g-independent ("horizontal") energies among the first ``n_levels`` levels.

    Parameters
    ----------
    n_levels : int
        Number of non-interacting levels (both parities), >= 1.

    Returns
    -------
    ndarray, shape (H,), float64
        The energies E0 = pi^2 (3 n^2 + m^2) / 8 (units hbar = L = mu = 1) hosting at least one D6 triple
        (:func:`d6_triples`), ascending. H = 137 / 398 / 649 for 1000 / 3000 / 5000 levels (some energies host
        2-4 triples).
    """
    triples = d6_triples(n_levels)
    key = 3 * triples[:, 0, 0] ** 2 + triples[:, 0, 1] ** 2
    _, first = np.unique(key, return_index=True)
    return energy0(triples[first, 0, 0], triples[first, 0, 1], 1.0 / 3.0)
