"""Level statistics of a spectrum: unfolding, nearest-neighbour spacings, Brody fits and gap ratios.

Conventions (``docs/twobody.md`` §4 (level statistics)):

* A *spectrum* is a 1-D array of real, finite energies, shape ``(n,)``, in any order; every function sorts it
  (ascending) first. Exact degeneracies (ties) are allowed: integrable spectra have many.
* **Unfolding**: the staircase ``N(E_i) = i`` (``i = 1..n`` over the sorted energies) is fitted by a polynomial of
  degree 6 (the paper) in numpy's scaled basis (``Polynomial.fit``); the unfolded levels are ``eps_i = N_fit(E_i)``
  and the spacings ``s_i = eps_{i+1} - eps_i`` are divided by their mean (mean exactly 1).
* **Brody distribution** (Brody et al., RMP 1981)::

      P(s) = (omega + 1) b s^omega exp(-b s^(omega + 1)),   b = Gamma((omega + 2) / (omega + 1))^(omega + 1)

  normalised with mean 1 for every ``omega > -1``; ``omega = 0`` is Poisson ``exp(-s)``, ``omega = 1`` the Wigner
  surmise ``(pi/2) s exp(-pi s^2 / 4)``, ``omega < 0`` ("over-integrable") diverges at ``s = 0``.
* **Fits** of ``omega``: the paper's histogram least squares (``fit_brody_hist``, about sqrt(#levels) bins,
  result depends on the binning) and maximum likelihood (``fit_brody_mle``, binning-free). Both bound
  ``omega`` to ``(-0.99, 2)``.
* **Gap ratios** ``r_i = min(d_i, d_{i+1}) / max(d_i, d_{i+1})`` of the raw sorted spectrum need no unfolding
  (Oganesyan & Huse 2007; Atas et al. 2013): ``<r> = 2 ln 2 - 1 = 0.3863`` (Poisson), ``0.5307`` (GOE, large N).

All functions are pure (numpy arrays in, numpy arrays / floats out, no I/O) and raise ``ValueError`` naming the
offending parameter and its accepted range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import Polynomial
from scipy.optimize import curve_fit, minimize_scalar
from scipy.special import gamma

from qchaos.errors import ParameterError

__all__ = [
    "GOE_R",
    "MIN_LEVELS",
    "OMEGA_BOUNDS",
    "POISSON_R",
    "BrodyFit",
    "brody_cdf",
    "brody_pdf",
    "default_bins",
    "fit_brody_hist",
    "fit_brody_mle",
    "gap_ratios",
    "mean_gap_ratio",
    "spacings",
    "unfold",
]

POISSON_R = 2 * np.log(2) - 1
"""Mean gap ratio ``<r>`` of a Poisson (uncorrelated) spectrum, ``2 ln 2 - 1 = 0.3863``."""

GOE_R = 0.5307
"""Mean gap ratio ``<r>`` of the GOE at large N (Atas et al., PRL 110, 084101 (2013)); the 3x3 surmise gives
``4 - 2 sqrt(3) = 0.5359``."""

MIN_LEVELS = 10
"""Fewest levels (or spacings) any statistic here accepts."""

OMEGA_BOUNDS = (-0.99, 2.0)
"""Bounds of the Brody parameter in both fits."""

_S_FLOOR = 1e-8
"""Default floor for spacings in the likelihood (see ``fit_brody_mle``)."""


# --------------------------------------------------------------------------------------------------- validation


def _as_levels(energies, name: str = "energies", min_size: int = MIN_LEVELS) -> np.ndarray:
    """Sorted float copy of a 1-D finite array with at least ``min_size`` entries, else ``ValueError``."""
    try:
        arr = np.asarray(energies, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name}: must be a 1-D array of real numbers") from exc
    if arr.ndim != 1:
        raise ParameterError(f"{name}: must be 1-D, got shape {arr.shape}")
    if arr.size < min_size:
        raise ParameterError(f"{name}: need at least {min_size} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name}: all values must be finite (no nan/inf)")
    return np.sort(arr)


def _as_spacings(s, name: str = "s") -> np.ndarray:
    """Float copy of a 1-D array of finite spacings ``s >= 0`` (at least ``MIN_LEVELS``, not all zero)."""
    arr = _as_levels(s, name=name)  # sorting is harmless for a sample
    if arr[0] < 0:
        raise ParameterError(f"{name}: spacings must be >= 0, got min {arr[0]:g}")
    if arr[-1] <= 0:
        raise ParameterError(f"{name}: at least one spacing must be > 0 (all are zero)")
    return arr


def _check_omega(omega) -> np.ndarray:
    w = np.asarray(omega, dtype=float)
    if not np.all(np.isfinite(w)) or np.any(w <= -1):
        raise ParameterError(f"omega: the Brody parameter must be finite and > -1, got {omega!r}")
    return w


# --------------------------------------------------------------------------------------------------- unfolding


def unfold(energies, degree: int = 6) -> np.ndarray:
    """Staircase unfolding with a polynomial fit of the smooth level counting function.

    Parameters
    ----------
    energies : array_like, shape (n,)
        Real finite energies in any order, ``n >= 10``; exact ties (degeneracies) are allowed.
    degree : int, default 6
        Degree of the polynomial (the paper's 6th order), ``1 <= degree < n``.

    Returns
    -------
    eps : ndarray, shape (n,)
        Unfolded levels ``eps_i = N_fit(E_i)`` in ascending-energy order (``eps[i]`` belongs to the ``i``-th
        lowest level), where ``N_fit`` is the least-squares ``Polynomial.fit(E_sorted, [1, ..., n], degree)``
        (scaled domain, so high degrees stay well conditioned). Tied energies get identical ``eps``. The fit is
        not constrained to be monotone: for a smooth density it is, but a too-high degree on a rough staircase
        may produce small negative spacings.

    Raises
    ------
    ValueError
        ``energies`` not 1-D / fewer than 10 / non-finite / all equal, or ``degree`` outside ``[1, n - 1]``.
    """
    e = _as_levels(energies)
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or not 1 <= degree < e.size:
        raise ParameterError(f"degree: must be an integer with 1 <= degree < number of levels ({e.size}), got {degree!r}")
    if e[-1] == e[0]:
        raise ParameterError("energies: all levels are equal; the staircase cannot be fitted")
    staircase = np.arange(1, e.size + 1, dtype=float)
    n_fit = Polynomial.fit(e, staircase, int(degree))
    return n_fit(e)


def spacings(energies, degree: int = 6) -> np.ndarray:
    """Nearest-neighbour spacings of the unfolded spectrum, normalised to mean 1.

    Parameters
    ----------
    energies : array_like, shape (n,)
        Real finite energies in any order, ``n >= 10``; ties are allowed and give ``s = 0``.
    degree : int, default 6
        Polynomial degree of the unfolding (see ``unfold``).

    Returns
    -------
    s : ndarray, shape (n - 1,)
        ``s_i = (eps_{i+1} - eps_i) / mean(eps_{j+1} - eps_j)`` in ascending-energy order; ``mean(s) == 1`` up to
        rounding.
    """
    d = np.diff(unfold(energies, degree))
    mean = d.mean()
    if not mean > 0:
        raise ParameterError("energies: the unfolded spectrum is not increasing on average; lower degree")
    return d / mean


# --------------------------------------------------------------------------------------------------- Brody


def _brody_b(w):
    return gamma((w + 2.0) / (w + 1.0)) ** (w + 1.0)


def brody_pdf(s, omega) -> np.ndarray:
    """Brody spacing density ``P(s) = (omega+1) b s^omega exp(-b s^(omega+1))``.

    Parameters
    ----------
    s : array_like
        Spacings (unfolded, mean 1). ``P = 0`` for ``s < 0``; at ``s = 0`` the density is ``1`` for
        ``omega = 0``, ``0`` for ``omega > 0`` and ``inf`` for ``-1 < omega < 0``.
    omega : float or array_like
        Brody parameter, ``omega > -1`` (0 Poisson, 1 Wigner), broadcast against ``s``.

    Returns
    -------
    ndarray
        ``P(s)`` with the broadcast shape of ``s`` and ``omega``; normalised, mean 1, with
        ``b = Gamma((omega+2)/(omega+1))^(omega+1)``.
    """
    w = _check_omega(omega)
    s = np.asarray(s, dtype=float)
    b = _brody_b(w)
    sp = np.maximum(s, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (w + 1.0) * b * sp**w * np.exp(-b * sp ** (w + 1.0))
    return np.where(s < 0, 0.0, p)


def brody_cdf(s, omega) -> np.ndarray:
    """Brody cumulative distribution ``F(s) = 1 - exp(-b s^(omega+1))`` (0 for ``s <= 0``).

    Parameters
    ----------
    s : array_like
        Spacings (unfolded, mean 1).
    omega : float or array_like
        Brody parameter, ``omega > -1``, broadcast against ``s``.

    Returns
    -------
    ndarray
        ``F(s)`` with the broadcast shape; its inverse ``s = (-ln(1 - u) / b)^(1/(omega+1))`` samples the law.
    """
    w = _check_omega(omega)
    s = np.asarray(s, dtype=float)
    return -np.expm1(-_brody_b(w) * np.maximum(s, 0.0) ** (w + 1.0))


def default_bins(n_levels: int) -> int:
    """The paper's histogram binning: ``floor(sqrt(n_levels) / 10) * 10`` bins, at least 10.

    1000 levels -> 30 bins, 3000 -> 50, 5000 -> 70 (``docs/twobody.md`` §4 (level statistics)).

    Parameters
    ----------
    n_levels : int
        Number of levels (spacings + 1), ``>= 1``.
    """
    if isinstance(n_levels, bool) or not isinstance(n_levels, (int, np.integer)) or n_levels < 1:
        raise ParameterError(f"n_levels: must be an integer >= 1, got {n_levels!r}")
    return max(10, 10 * int(np.floor(np.sqrt(n_levels) / 10)))


@dataclass(frozen=True)
class BrodyFit:
    """Result of a Brody fit.

    Attributes
    ----------
    omega : float
        Fitted Brody parameter, within ``OMEGA_BOUNDS``.
    stderr : float
        One-sigma standard error of ``omega`` (``nan`` where undefined, e.g. a flat likelihood).
    method : str
        ``"hist"`` (histogram least squares) or ``"mle"`` (maximum likelihood).
    bins : int or None
        Number of histogram bins (``None`` for the MLE).
    """

    omega: float
    stderr: float
    method: str
    bins: int | None


def _brody_model(s, omega):
    return brody_pdf(s, omega)


def fit_brody_hist(s, bins: int | None = None) -> BrodyFit:
    """Brody fit to the density-normalised histogram of the spacings (the paper's method).

    Parameters
    ----------
    s : array_like, shape (m,)
        Unfolded spacings (mean ~1), ``s >= 0``, ``m >= 10``; zeros (degeneracies) are allowed.
    bins : int, optional
        Number of equal bins on ``[0, max s]``, ``>= 2``; default ``default_bins(m + 1)`` (about
        sqrt(#levels), rounded down to a multiple of 10).

    Returns
    -------
    BrodyFit
        ``omega`` from ``scipy.optimize.curve_fit`` of ``brody_pdf`` to the histogram values at the bin centres
        (unweighted least squares, bounds ``(-0.99, 2)``, start 0.5), ``stderr = sqrt(pcov)``, ``method="hist"``.
        The result depends on the binning.
    """
    x = _as_spacings(s)
    if bins is None:
        bins = default_bins(x.size + 1)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ParameterError(f"bins: must be an integer >= 2, got {bins!r}")
    density, edges = np.histogram(x, bins=int(bins), range=(0.0, x[-1]), density=True)
    centres = 0.5 * (edges[:-1] + edges[1:])
    popt, pcov = curve_fit(_brody_model, centres, density, p0=[0.5], bounds=OMEGA_BOUNDS)
    stderr = float(np.sqrt(pcov[0, 0])) if np.isfinite(pcov[0, 0]) else float("nan")
    return BrodyFit(omega=float(popt[0]), stderr=stderr, method="hist", bins=int(bins))


def _brody_nll(omega: float, log_s: np.ndarray, s: np.ndarray) -> float:
    """Negative log-likelihood of the Brody law for spacings ``s`` (already floored), ``log_s = log(s)``."""
    w1 = omega + 1.0
    b = _brody_b(omega)
    return -(s.size * (np.log(w1) + np.log(b)) + omega * log_s.sum() - b * np.sum(s**w1))


def fit_brody_mle(s, *, s_floor: float = _S_FLOOR) -> BrodyFit:
    """Maximum-likelihood Brody fit (binning-free).

    Parameters
    ----------
    s : array_like, shape (m,)
        Unfolded spacings (mean ~1), ``s >= 0``, ``m >= 10``.
    s_floor : float, default 1e-8
        Spacings below ``s_floor`` (exact degeneracies ``s = 0`` and round-off near-ties) are raised to
        ``s_floor`` before taking ``log s``. Without it, a single ``s = 0`` makes the likelihood unbounded as
        ``omega -> -1``. With it, each such spacing adds ``omega * ln(s_floor)`` to the log-likelihood, i.e. a
        pull towards negative ``omega`` that grows with the fraction of degeneracies (and, logarithmically, as
        the floor is lowered); for strongly degenerate spectra the MLE may then sit at the lower bound -0.99.
        Must satisfy ``0 < s_floor < 1``.

    Returns
    -------
    BrodyFit
        ``omega`` minimising the negative log-likelihood (``scipy.optimize.minimize_scalar``, bounded method on
        ``(-0.99, 2)``); ``stderr = 1 / sqrt(I)`` with ``I`` the observed Fisher information, the central
        finite-difference second derivative of the negative log-likelihood at the optimum (``nan`` if not
        positive); ``method="mle"``, ``bins=None``.
    """
    x = _as_spacings(s)
    if not (np.isfinite(s_floor) and 0 < s_floor < 1):
        raise ParameterError(f"s_floor: must satisfy 0 < s_floor < 1, got {s_floor!r}")
    x = np.maximum(x, s_floor)
    log_x = np.log(x)
    lo, hi = OMEGA_BOUNDS
    res = minimize_scalar(_brody_nll, bounds=(lo, hi), args=(log_x, x), method="bounded",
                          options={"xatol": 1e-7})
    w = float(res.x)
    h = 1e-4
    f0 = _brody_nll(w, log_x, x)
    fisher = (_brody_nll(w + h, log_x, x) - 2.0 * f0 + _brody_nll(w - h, log_x, x)) / h**2
    stderr = float(1.0 / np.sqrt(fisher)) if fisher > 0 else float("nan")
    return BrodyFit(omega=w, stderr=stderr, method="mle", bins=None)


# --------------------------------------------------------------------------------------------------- gap ratios


def gap_ratios(energies) -> np.ndarray:
    """Ratios of consecutive level gaps ``r_i = min(d_i, d_{i+1}) / max(d_i, d_{i+1})``.

    Parameters
    ----------
    energies : array_like, shape (n,)
        Real finite energies in any order, ``n >= 10``; no unfolding is needed (the ratio is independent of the
        local density).

    Returns
    -------
    r : ndarray, shape (n - 2 - k,)
        ``r_i`` in ``[0, 1]`` with ``d_i = E_{i+1} - E_i`` of the sorted spectrum, in ascending-energy order. The
        ``k`` pairs with ``d_i = d_{i+1} = 0`` (0/0, at least a triple degeneracy) are dropped; nothing else is
        (a single zero gap next to a nonzero one gives ``r = 0``).
    """
    d = np.diff(_as_levels(energies))
    lo = np.minimum(d[:-1], d[1:])
    hi = np.maximum(d[:-1], d[1:])
    keep = hi > 0
    return lo[keep] / hi[keep]


def mean_gap_ratio(energies) -> float:
    """Mean gap ratio ``<r>`` of a spectrum (see ``gap_ratios``); Poisson ``POISSON_R``, GOE ``GOE_R``.

    Raises ``ValueError`` if every gap is zero (no ratio defined).
    """
    r = gap_ratios(energies)
    if r.size == 0:
        raise ParameterError("energies: all gaps are zero, no gap ratio is defined")
    return float(r.mean())
