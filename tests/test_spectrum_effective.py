"""Scheme "effective" of ``solve_spectrum`` (one basis, high-energy states eliminated exactly) against known answers.

References: the exact Bethe-ansatz levels of the integrable ratios eta = 1/3 and 1 (``bethe.py``, an independent
root-finding code), a brute-force sum over product states for the eliminated-state matrix T(E), and the in-process
result for the Dask-parallel solves (bit for bit, BLAS pinned to one thread as on the workers).
"""

from __future__ import annotations

import numpy as np
import pytest

from generation.twobody.basis import basis_by_count, energy0
from generation.twobody.bethe import bethe_levels
from generation.twobody.effective import Elimination
from generation.twobody.spectrum import solve_spectrum

# (eta, g, max relative error allowed vs the Bethe ansatz) for 300 levels, basis_factor 1.5 (450 states).
# Measured: g = 1: ~3e-8, g = 10: ~1.3e-6, g = 50: ~7e-5 (raw ED of the same basis: 1e-3, 1e-2, 2e-2).
CASES = [(eta, g, tol) for eta in ("1/3", "1") for g, tol in ((1.0, 2e-7), (10.0, 1e-5), (50.0, 3e-4))]


@pytest.mark.slow
@pytest.mark.parametrize("eta,g,tol", CASES)
def test_effective_levels_match_bethe_ansatz(eta, g, tol):
    n = 300
    spec = solve_spectrum(eta, g, n, basis_factor=1.5)
    ba = bethe_levels(eta, g, n)
    assert spec.extrapolated and len(spec) == n
    assert abs(int(spec.horizontal.sum()) - int(ba.horizontal.sum())) <= (0 if g <= 10 else 1)  # edge swap
    if g <= 10:  # at g = 50 a level within the error of a horizontal one may swap places with it
        np.testing.assert_array_equal(spec.parity, ba.parity)
        np.testing.assert_array_equal(spec.horizontal, ba.horizontal)
    rel = np.abs(spec.energy - ba.energy) / ba.energy
    raw = np.abs(spec.raw - ba.energy) / ba.energy
    assert rel.max() <= tol
    assert np.nanmax(raw) >= 30 * rel.max()  # the raw ED of the same basis is far worse
    # the error estimate is honest where it matters: it bounds the worst error
    est = spec.error / np.abs(spec.energy)
    assert est.max() >= rel.max()
    assert np.all(spec.error[spec.horizontal] == 0.0)


def test_richardson_stays_available_and_agrees():
    eff = solve_spectrum("1/3", 10.0, 200)
    rich = solve_spectrum("1/3", 10.0, 200, scheme="richardson")
    assert rich.extrapolated
    assert np.max(np.abs(eff.energy - rich.energy) / eff.energy) < 2e-4
    with pytest.raises(ValueError, match="scheme"):
        solve_spectrum("1/3", 10.0, 20, scheme="nope")


@pytest.mark.slow
def test_tail_matrix_equals_brute_force_sum():
    """T(E) = sum over every product state above the cutoff of u u^T / (E0 - E), by brute force on a big grid."""
    eta, energy = 0.45, 300.0
    basis = basis_by_count(eta, 400)
    block = basis.block(1)
    el = Elimination(block, 10.0, basis.e_cut)
    f = block.frequencies
    n, m = np.meshgrid(np.arange(1, 3001), np.arange(1, 3001), indexing="ij")
    n, m = n.ravel(), m.ravel()
    e0 = energy0(n, m, eta)
    sel = (e0 > basis.e_cut) & ((n + m) % 2 == 1)
    n, m, s = n[sel], m[sel], 1.0 / (e0[sel] - energy)
    ref = np.zeros((f.size, f.size))
    for i, fi in enumerate(f):
        ui = (np.abs(n - m) == fi).astype(float) - (n + m == fi)
        for j in range(i, f.size):
            uj = (np.abs(n - m) == f[j]).astype(float) - (n + m == f[j])
            ref[i, j] = ref[j, i] = np.sum(ui * uj * s)
    # the brute-force grid misses the m > 3000 tail (~ 2 / (pi^2 3000) on the diagonal); compare off-tail parts
    got = el.tail(energy)
    off = ~np.eye(f.size, dtype=bool)
    assert np.max(np.abs(got[off] - ref[off])) < 1e-12
    assert np.max(np.abs(np.diag(got) - np.diag(ref))) < 2.5 * 2 / (np.pi**2 * 3000)


@pytest.mark.slow
def test_parallel_solves_equal_in_process():
    """The grid solves on a 2-process LocalCluster equal the in-process run bit for bit (one BLAS thread each)."""
    distributed = pytest.importorskip("dask.distributed")
    from generation.sweep import _single_threaded_blas

    with _single_threaded_blas():
        ref = solve_spectrum(0.6, 10.0, 300)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        par = solve_spectrum(0.6, 10.0, 300, client=client)
    for name in ("energy", "raw", "error", "level", "parity", "horizontal"):
        np.testing.assert_array_equal(getattr(par, name), getattr(ref, name))


def test_torch_and_scipy_lapack_give_the_same_converged_levels():
    """``method="torch"`` (torch's LAPACK, MKL on x86; about 2x faster on the CPU, ``docs/spectra.md`` §4) and the
    default scipy LAPACK are independent implementations: the converged levels agree to rounding, and both meet the
    Bethe ansatz at eta = 1 to the scheme's accuracy."""
    fast = solve_spectrum(1.0, 10.0, 600, basis_factor=1.5, method="torch")
    ref = solve_spectrum(1.0, 10.0, 600, basis_factor=1.5)
    assert np.max(np.abs(fast.energy - ref.energy) / ref.energy) < 1e-11
    np.testing.assert_array_equal(fast.horizontal, ref.horizontal)
    ba = bethe_levels(1.0, 10.0, 600).energy
    assert np.max(np.abs(fast.energy - ba) / ba) < 2e-5 and np.max(np.abs(ref.energy - ba) / ba) < 2e-5


@pytest.mark.slow
def test_eigenstates_pair_with_raw_levels():
    """block_index points at the raw ED eigenvector paired with each converged level (horizontal ones included)."""
    from generation.twobody.hamiltonian import BlockHamiltonian
    from generation.twobody.spectrum import eigenstates

    spec = solve_spectrum("1/3", 50.0, 120, basis_factor=1.5)
    rows, basis, vectors = eigenstates(spec, 1, 120)
    assert spec.horizontal[rows].sum() > 5
    for c in (0, 1):
        sel = spec.parity[rows] == c
        ham = BlockHamiltonian(basis.block(c), spec.g)
        v = vectors[sel][:, basis.parity == c].T
        resid = ham.matvec(v) - v * spec.raw[rows][sel]
        assert np.max(np.linalg.norm(resid, axis=0)) < 1e-7 * np.max(spec.raw)


def test_eigenstates_in_a_larger_basis_are_the_same_states():
    """Vectors from a 4x larger basis than the spectrum's (spectrum_basis_factor) are, level by level, the states of
    a spectrum solved in that larger basis itself (an independent dense path): overlaps ~1 and the same parity, at
    a non-integrable ratio with strong coupling, where a wrong level -> vector map would give overlaps ~0."""
    from generation.twobody.spectrum import eigenstates, spectrum_basis

    eta, g, levels = 0.5, 100.0, 300  # bases of 1600 (MIN_BASIS) and 2400 states
    small = solve_spectrum(eta, g, levels, basis_factor=2.0, scheme="effective")
    big = solve_spectrum(eta, g, levels, basis_factor=8.0, scheme="effective")
    assert np.max(np.abs(small.energy - big.energy) / big.energy) < 1e-4  # the same levels, converged from both
    rows_s, basis_s, vec_s = eigenstates(small, 150, 299, basis=spectrum_basis(eta, levels, 8.0))
    rows_b, basis_b, vec_b = eigenstates(big, 150, 299)
    assert basis_s.dim == basis_b.dim > small.basis_size
    assert np.array_equal(small.parity[rows_s], big.parity[rows_b])
    overlaps = np.abs(np.sum(vec_s * vec_b, axis=1))
    assert overlaps.min() > 1 - 1e-8
    with pytest.raises(ValueError, match="basis"):
        eigenstates(big, 150, 299, basis=spectrum_basis(eta, levels, 1.25))


def test_horizontal_levels_complete_at_the_top():
    """Regression: a horizontal level of one parity above that block's last interpolated level is still counted."""
    spec = solve_spectrum("1", 10.0, 200, basis_factor=1.5)
    ba = bethe_levels("1", 10.0, 200)
    assert spec.horizontal.sum() == ba.horizontal.sum()
    assert np.max(np.abs(spec.energy - ba.energy) / ba.energy) < 1e-6


@pytest.mark.slow
def test_torch_double_precision_route_matches_lapack():
    """method='torch' (torch.linalg.eigvalsh, float64, CUDA if present else CPU) gives the LAPACK levels."""
    pytest.importorskip("torch")
    ref = solve_spectrum(0.5, 10.0, 150, basis_factor=1.5)
    got = solve_spectrum(0.5, 10.0, 150, basis_factor=1.5, method="torch")
    np.testing.assert_allclose(got.energy, ref.energy, rtol=1e-11)
    np.testing.assert_array_equal(got.level, ref.level)
