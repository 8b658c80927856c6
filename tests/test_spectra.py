"""Level statistics (``generation/spectra.py``) against known answers: Brody closed forms, Poisson and GOE
spectra, samples of the Brody law, the paper's binning and hand-made gap-ratio cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import gamma

from generation.spectra import (
    GOE_R,
    POISSON_R,
    BrodyFit,
    brody_cdf,
    brody_pdf,
    default_bins,
    fit_brody_hist,
    fit_brody_mle,
    gap_ratios,
    mean_gap_ratio,
    spacings,
    unfold,
)

OMEGAS = [-0.5, 0.0, 0.3, 0.7, 1.0, 1.5]


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def poisson_spectrum() -> np.ndarray:
    """3000 uncorrelated levels (exponential spacings) pushed through a monotone non-linear map, so the density
    is smooth but not constant (N(E) = 1000 (exp(E / 3000) - 1))."""
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.exponential(size=3000))
    return 3000.0 * np.log1p(x / 1000.0)


@pytest.fixture(scope="module")
def goe_spectra() -> list[np.ndarray]:
    """Central halves of 20 GOE(400) spectra (semicircle density, unfolded separately)."""
    rng = np.random.default_rng(2)
    out = []
    for _ in range(20):
        a = rng.standard_normal((400, 400))
        out.append(np.linalg.eigvalsh((a + a.T) / 2)[100:300])
    return out


def brody_sample(omega: float, size: int, seed: int) -> np.ndarray:
    """Inverse-CDF sample of the Brody law, s = (-ln(1 - u) / b)^(1 / (omega + 1))."""
    u = np.random.default_rng(seed).random(size)
    b = gamma((omega + 2) / (omega + 1)) ** (omega + 1)
    return (-np.log1p(-u) / b) ** (1 / (omega + 1))


# ------------------------------------------------------------------------------------------------ Brody law


@pytest.mark.parametrize("omega", OMEGAS)
def test_brody_pdf_normalised_with_unit_mean(omega):
    norm, _ = quad(brody_pdf, 0, np.inf, args=(omega,), limit=200)
    mean, _ = quad(lambda s: s * brody_pdf(s, omega), 0, np.inf, limit=200)
    assert norm == pytest.approx(1.0, abs=1e-7)
    assert mean == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize("omega", OMEGAS)
def test_brody_cdf_is_integral_of_pdf(omega):
    for s in (0.1, 0.5, 1.0, 2.5):
        integral, _ = quad(brody_pdf, 0, s, args=(omega,))
        assert brody_cdf(s, omega) == pytest.approx(integral, abs=1e-8)
    assert brody_cdf(-1.0, omega) == 0.0
    assert brody_pdf(-1.0, omega) == 0.0


def test_brody_limits_poisson_and_wigner():
    s = np.linspace(0, 5, 101)
    np.testing.assert_allclose(brody_pdf(s, 0.0), np.exp(-s), rtol=1e-12)
    np.testing.assert_allclose(brody_pdf(s, 1.0), np.pi / 2 * s * np.exp(-np.pi * s**2 / 4), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(brody_cdf(s, 0.0), 1 - np.exp(-s), rtol=1e-12)
    assert np.isinf(brody_pdf(0.0, -0.5))


# ------------------------------------------------------------------------------------------------ binning


@pytest.mark.parametrize(("levels", "bins"), [(1000, 30), (3000, 50), (5000, 70), (10, 10), (150, 10), (400, 20)])
def test_default_bins_paper(levels, bins):
    assert default_bins(levels) == bins


# ------------------------------------------------------------------------------------------------ unfolding


def test_unfold_monotone_and_spacings_mean_one(poisson_spectrum):
    e = poisson_spectrum
    shuffled = np.random.default_rng(5).permutation(e)
    eps = unfold(shuffled)
    assert eps.shape == e.shape
    assert np.all(np.diff(eps) >= 0)
    # the exact smooth staircase is N(E) = 1000 (exp(E / 3000) - 1): the fit follows it to a few levels
    assert np.max(np.abs(eps - 1000.0 * np.expm1(np.sort(e) / 3000.0))) < 50
    s = spacings(shuffled)
    assert s.shape == (e.size - 1,)
    assert s.mean() == pytest.approx(1.0, abs=1e-12)


def test_unfold_linear_spectrum_is_exact():
    e = 2.0 + 0.5 * np.arange(50)  # N(E) = 2 (E - 2) + 1 exactly
    np.testing.assert_allclose(unfold(e), np.arange(1, 51), atol=1e-9)
    np.testing.assert_allclose(spacings(e), 1.0, atol=1e-9)


def test_degenerate_levels_allowed():
    # square billiard E = n^2 + m^2: exact (n, m) <-> (m, n) and number-theoretic degeneracies
    n, m = np.meshgrid(np.arange(1, 80), np.arange(1, 80))
    e = np.sort((n**2 + m**2).ravel())[:1000].astype(float)
    s = spacings(e)
    assert np.mean(s == 0) > 0.3
    assert s.mean() == pytest.approx(1.0, abs=1e-12)
    hist, mle = fit_brody_hist(s), fit_brody_mle(s)
    # over-integrable: peak at s = 0, omega < 0 (docs/twobody.md §4)
    assert -0.99 <= hist.omega < 0
    assert -0.99 <= mle.omega < 0
    assert np.isfinite(mle.stderr)


# ------------------------------------------------------------------------------------------------ Poisson / GOE


def test_poisson_spectrum(poisson_spectrum):
    s = spacings(poisson_spectrum)
    hist, mle = fit_brody_hist(s), fit_brody_mle(s)
    assert hist == BrodyFit(hist.omega, hist.stderr, "hist", 50)
    assert mle.method == "mle" and mle.bins is None
    assert abs(hist.omega) < 0.1
    assert abs(mle.omega) < 0.1
    assert abs(mean_gap_ratio(poisson_spectrum) - POISSON_R) < 0.02


@pytest.mark.slow
def test_goe_spectra(goe_spectra):
    s = np.concatenate([spacings(e) for e in goe_spectra])
    assert abs(fit_brody_hist(s).omega - 1) < 0.15
    assert abs(fit_brody_mle(s).omega - 1) < 0.15
    r = np.concatenate([gap_ratios(e) for e in goe_spectra])
    assert abs(r.mean() - GOE_R) < 0.02


def test_gap_ratio_constants():
    assert POISSON_R == pytest.approx(0.386294, abs=1e-6)
    assert GOE_R == pytest.approx(0.5307, abs=1e-4)


# ------------------------------------------------------------------------------------------------ MLE recovery


@pytest.mark.parametrize(("omega", "seed"), [(0.3, 3), (0.7, 4)])
def test_mle_recovers_brody_samples(omega, seed):
    fit = fit_brody_mle(brody_sample(omega, 5000, seed))
    assert abs(fit.omega - omega) < 3 * fit.stderr
    assert abs(fit.omega - omega) < 0.05
    # Fisher information of 5000 samples: stderr ~ 0.015-0.02
    assert 0.005 < fit.stderr < 0.05


# ------------------------------------------------------------------------------------------------ gap ratios


def test_gap_ratios_hand_made():
    e = np.array([0.0, 1.0, 3.0, 4.0, 8.0, 9.0, 10.0, 12.0, 15.0, 16.0])  # d = 1 2 1 4 1 1 2 3 1
    expected = [1 / 2, 1 / 2, 1 / 4, 1 / 4, 1.0, 1 / 2, 2 / 3, 1 / 3]
    np.testing.assert_allclose(gap_ratios(np.random.default_rng(0).permutation(e)), expected)


def test_gap_ratios_drop_only_zero_over_zero():
    e = np.array([0.0, 0.0, 0.0, 1.0, 3.0, 3.0, 4.0, 6.0, 7.0, 9.0])  # d = 0 0 1 2 0 1 2 1 2
    expected = [0.0, 1 / 2, 0.0, 0.0, 1 / 2, 1 / 2, 1 / 2]  # first pair (0, 0) dropped
    np.testing.assert_allclose(gap_ratios(e), expected)


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: unfold(np.arange(5.0)), "energies"),
        (lambda: unfold(np.r_[np.arange(20.0), np.nan]), "energies"),
        (lambda: unfold(np.ones((4, 5))), "energies"),
        (lambda: unfold(np.ones(20)), "energies"),
        (lambda: unfold(np.arange(20.0), degree=0), "degree"),
        (lambda: unfold(np.arange(20.0), degree=20), "degree"),
        (lambda: spacings(np.r_[np.arange(20.0), np.inf]), "energies"),
        (lambda: gap_ratios([1.0, 2.0, 3.0]), "energies"),
        (lambda: mean_gap_ratio(np.zeros(20)), "energies"),
        (lambda: brody_pdf(1.0, -1.0), "omega"),
        (lambda: brody_cdf(1.0, np.nan), "omega"),
        (lambda: fit_brody_hist(-np.ones(20)), "s"),
        (lambda: fit_brody_hist(np.ones(5)), "s"),
        (lambda: fit_brody_hist(np.ones(20), bins=1), "bins"),
        (lambda: fit_brody_mle(np.zeros(20)), "s"),
        (lambda: fit_brody_mle(np.r_[np.ones(20), np.nan]), "s"),
        (lambda: fit_brody_mle(np.ones(20), s_floor=0.0), "s_floor"),
        (lambda: default_bins(0), "n_levels"),
    ],
)
def test_bad_input_raises(call, name):
    with pytest.raises(ValueError, match=name):
        call()
