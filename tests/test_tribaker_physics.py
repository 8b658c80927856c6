"""Physics of the open quantum tribaker map against independent known answers (docs/tribaker.md §1-4, §9)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from generation.tribaker import (
    apply_tribaker,
    classical_map,
    coherent_states,
    fourier_matrix,
    husimi,
    husimi_on_grid,
    lattice_overlaps,
    leading_resonances,
    lr_on_grid,
    lr_representation,
    norm_ratio,
    resample,
    resonances,
    tribaker,
)


def _random_states(rng, shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def _torus_dist(a, b):
    d = np.abs(np.mod(a - b + 0.5, 1.0) - 0.5)
    return d


def _match(a, b):
    """Max distance of an optimal one-to-one matching of two eigenvalue lists."""
    cost = np.abs(a[:, None] - b[None, :])
    r, c = scipy.optimize.linear_sum_assignment(cost)
    return cost[r, c].max()


# ----------------------------------------------------------------------------------------------- propagator


def test_fourier_matrix_is_symmetric_unitary_and_antiperiodic():
    g = fourier_matrix(12)
    assert np.allclose(g, g.T, atol=1e-15)
    assert np.abs(g @ g.conj().T - np.eye(12)).max() < 1e-14
    assert np.isclose(g[0, 0], np.exp(-2j * np.pi * 0.25 / 12) / np.sqrt(12), atol=1e-15)


@pytest.mark.parametrize("N", [30, 60, 90])
def test_closed_map_unitary_parity_time_reversal(N):
    u = tribaker(N)
    assert np.abs(u @ u.conj().T - np.eye(N)).max() < 1e-13
    pi = np.eye(N)[::-1]  # Pi_jk = delta_{j, N-1-k}
    assert np.abs(pi @ u @ pi - u).max() < 1e-13
    g = fourier_matrix(N)
    assert np.abs(g @ u @ g.conj().T - u.T).max() < 1e-13  # G U G^-1 = U^T


@pytest.mark.parametrize("R", [0.0, 0.2, 0.5])
def test_open_map_contracts_and_keeps_parity(R):
    N = 60
    u = tribaker(N, R)
    z = np.linalg.eigvals(u)
    assert np.abs(z).max() <= 1.0 + 1e-12
    assert np.abs(z).max() < 1.0  # strictly inside the unit circle (no trapped unitary part)
    pi = np.eye(N)[::-1]
    assert np.abs(pi @ u @ pi - u).max() < 1e-13
    # singular values: 1 on the outer thirds, sqrt(R) on the opening
    sv = np.sort(np.linalg.svd(u, compute_uv=False))
    expect = np.sort(np.r_[np.ones(2 * N // 3), np.full(N // 3, np.sqrt(R))])
    assert np.abs(sv - expect).max() < 1e-12


@pytest.mark.parametrize("R", [1.0, 0.3, 0.0])
def test_apply_tribaker_equals_dense(R):
    rng = np.random.default_rng(0)
    N = 90
    u = tribaker(N, R)
    x = _random_states(rng, (2, 3, N))
    assert np.abs(apply_tribaker(x, R) - x @ u.T).max() < 1e-13
    assert np.abs(apply_tribaker(x, R, adjoint=True) - x @ u.conj()).max() < 1e-13
    assert np.abs(apply_tribaker(x[0, 0], R) - u @ x[0, 0]).max() < 1e-13


@pytest.mark.parametrize("R", [0.2, 0.5])
def test_projector_side_does_not_change_spectrum(R):
    N = 60
    ub = tribaker(N)
    p = np.diag(np.r_[np.ones(N // 3), np.full(N // 3, np.sqrt(R)), np.ones(N // 3)])
    assert np.abs(tribaker(N, R) - ub @ p).max() < 1e-14
    z1 = np.linalg.eigvals(ub @ p)
    z2 = np.linalg.eigvals(p @ ub)
    assert _match(z1, z2) < 1e-10


def test_classical_map_known_values_and_time_reversal():
    q, p = classical_map([0.1, 0.5, 0.9], [0.5, 0.3, 0.6])
    assert np.allclose(q, [0.3, 0.5, 0.7], atol=1e-14)
    assert np.allclose(p, [0.5 / 3, 1.3 / 3, 2.6 / 3], atol=1e-14)
    rng = np.random.default_rng(3)
    q0, p0 = rng.random(50), rng.random(50)
    # T B T = B^-1 with T(q, p) = (p, q), i.e. B(T(B(T(x)))) = x
    qa, pa = classical_map(p0, q0)  # B(T x)
    qb, pb = classical_map(pa, qa)  # B(T B T x)
    assert np.allclose(qb, q0, atol=1e-12) and np.allclose(pb, p0, atol=1e-12)


# ----------------------------------------------------------------------------------------------- resonances


@pytest.mark.parametrize("R", [1.0, 0.5, 0.2])
def test_resonances_biorthonormal_eigenpairs(R):
    N = 90
    res = resonances(N, R)
    u = tribaker(N, R)
    z, rv, lv = res.z, res.right, res.left
    assert z.shape == (N,) and rv.shape == lv.shape == (N, N)
    assert np.all(np.diff(np.round(np.abs(z), 12)) <= 0)  # |z| descending
    assert np.abs(np.linalg.norm(rv, axis=0) - 1).max() < 1e-13
    assert np.abs(lv.conj().T @ rv - np.eye(N)).max() < 1e-12
    assert np.abs(u @ rv - rv * z).max() < 1e-12
    assert np.abs(lv.conj().T @ u - z[:, None] * lv.conj().T).max() < 1e-12
    assert np.allclose(res.decay, -2 * np.log(np.abs(z)))
    assert _match(z, np.linalg.eigvals(u)) < 1e-10
    if R == 1.0:
        assert np.array_equal(lv, rv)
        assert np.abs(np.abs(z) - 1).max() < 1e-13
        assert np.abs(rv.conj().T @ rv - np.eye(N)).max() < 1e-13  # orthonormal (Schur), pairs included
    else:
        assert np.abs(z).max() < 1.0


def test_fully_open_map_has_null_space():
    N = 81
    res = resonances(N, 0.0)
    assert np.sum(np.abs(res.z) < 1e-6) >= N // 3  # rank(U) = 2N/3
    assert np.abs(res.z).max() < 1.0


@pytest.mark.parametrize(("N", "R", "k"), [(90, 0.2, 8), (81, 0.0, 10)])
def test_leading_resonances_match_dense(N, R, k):
    dense = resonances(N, R)
    arn = leading_resonances(N, R, k)
    assert arn.z.shape == (k,) and arn.right.shape == arn.left.shape == (N, k)
    assert np.abs(arn.z - dense.z[:k]).max() < 1e-10
    assert np.abs(np.linalg.norm(arn.right, axis=0) - 1).max() < 1e-12
    assert np.abs(arn.left.conj().T @ arn.right - np.eye(k)).max() < 1e-10
    for j in range(k):  # the spectral projector |R><L| is phase-free
        pa = np.outer(arn.right[:, j], arn.left[:, j].conj())
        pd = np.outer(dense.right[:, j], dense.left[:, j].conj())
        assert np.linalg.norm(pa - pd) < 1e-9 * np.linalg.norm(pd)


# ----------------------------------------------------------------------------------------------- coherent states


def _brute_coherent(N, q0, p0, nimg=4):
    """Explicit <q_j|q0,p0> = A sum_nu (-1)^nu exp(-pi N (q_j+nu-q0)^2 + 2 pi i N p0 (q_j+nu)), loops."""
    c = np.zeros(N, dtype=complex)
    for j in range(N):
        qj = (j + 0.5) / N
        for nu in range(-nimg, nimg + 1):
            c[j] += (-1) ** nu * np.exp(-np.pi * N * (qj + nu - q0) ** 2 + 2j * np.pi * N * p0 * (qj + nu))
    return c / np.linalg.norm(c)


def test_coherent_state_formula_and_momentum_image():
    N = 45
    cs = coherent_states(N, [0.3141, 0.95], [0.7777, 0.02])
    for i, (q0, p0) in enumerate([(0.3141, 0.7777), (0.95, 0.02)]):
        assert np.abs(cs[i] - _brute_coherent(N, q0, p0)).max() < 1e-12
        # antiperiodic (-1)^nu: in momentum the state is again centred at p0
        prob_p = np.abs(fourier_matrix(N) @ cs[i]) ** 2
        pk = (np.arange(N) + 0.5) / N
        assert _torus_dist(pk[np.argmax(prob_p)], p0) <= 1.0 / N
        assert _torus_dist(pk[np.argmax(np.abs(cs[i]))], q0) <= 1.0 / N
    assert coherent_states(N, np.zeros((2, 3)), 0.5).shape == (2, 3, N)


def test_fft_husimi_equals_brute_force_overlaps():
    rng = np.random.default_rng(7)
    for N in (30, 31):
        psi = _random_states(rng, (2, N))
        psi /= np.linalg.norm(psi, axis=-1, keepdims=True)
        brute = np.empty((2, N, N), dtype=complex)
        for a in range(N):
            for b in range(N):
                c = _brute_coherent(N, (a + 0.5) / N, (b + 0.5) / N)
                brute[:, a, b] = psi @ c.conj()
        assert np.abs(lattice_overlaps(psi) - brute).max() < 1e-12
        assert np.abs(husimi(psi) - np.abs(brute) ** 2).max() < 1e-12
        assert np.abs(husimi_on_grid(psi, N) - husimi(psi)).max() < 1e-12


def test_husimi_resolution_of_identity():
    rng = np.random.default_rng(11)
    for N in (30, 99):
        psi = _random_states(rng, (3, 2, N))
        h = husimi(psi)
        assert h.shape == (3, 2, N, N)
        assert np.allclose(h.sum(axis=(-2, -1)), N * np.sum(np.abs(psi) ** 2, axis=-1), rtol=1e-12)


def test_coherent_state_follows_classical_map():
    N = 243
    rng = np.random.default_rng(2024)
    pts = []
    while len(pts) < 10:  # keep points away from the strip boundaries q = 0, 1/3, 2/3 and from p = 0
        q, p = rng.random(2)
        if _torus_dist(3 * q, 0.0) > 0.15 and _torus_dist(p, 0.0) > 0.05:
            pts.append((q, p))
    q0, p0 = np.array(pts).T
    out = apply_tribaker(coherent_states(N, q0, p0), 1.0)
    h = husimi(out).reshape(len(pts), -1)
    a, b = np.unravel_index(np.argmax(h, axis=1), (N, N))
    qb, pb = classical_map(q0, p0)
    assert np.all(_torus_dist((a + 0.5) / N, qb) <= 2.0 / N)
    assert np.all(_torus_dist((b + 0.5) / N, pb) <= 2.0 / N)


def test_opening_removes_fraction_one_minus_R():
    N, R = 243, 0.2
    cs = coherent_states(N, [0.5, 0.1, 0.85], [0.4, 0.7, 0.2])  # centre of the opening, and two outside
    norm2 = np.sum(np.abs(apply_tribaker(cs, R)) ** 2, axis=-1)
    assert np.allclose(norm2, [R, 1.0, 1.0], atol=1e-6)


def test_lr_representation():
    N = 60
    closed = resonances(N, 1.0)
    assert np.abs(lr_representation(closed.right.T, closed.left.T) - husimi(closed.right.T)).max() < 1e-12
    res = resonances(N, 0.2)
    h = lr_representation(res.right.T, res.left.T)
    assert h.shape == (N, N, N) and np.all(h >= 0)
    # invariant under rescaling R and L; equals the explicit off-lattice route at lattice centres
    h2 = lr_representation(3j * res.right.T[:5], 0.5 * res.left.T[:5])
    assert np.abs(h2 - h[:5]).max() < 1e-12 * h.max()
    assert np.abs(lr_on_grid(res.right.T[:5], res.left.T[:5], N) - h[:5]).max() < 1e-12 * h.max()
    # sum rule: Re sum_lattice <q,p|R><L|q,p>/<L|R> = N Tr(|R><L|)/<L|R> = N
    c_r, c_l = lattice_overlaps(res.right.T[:5]), lattice_overlaps(res.left.T[:5])
    s = np.sum(c_r * c_l.conj(), axis=(-2, -1))
    assert np.allclose(s, N, rtol=1e-10)


def test_resample():
    N = 30
    h = husimi(coherent_states(N, 0.2, 0.6))
    assert np.abs(resample(h, N) - h).max() < 1e-14
    assert np.abs(resample(h, N, method="bilinear") - h).max() < 1e-14
    exact = husimi_on_grid(coherent_states(N, 0.2, 0.6), 64)
    assert np.abs(resample(h, 64) - exact).max() < 1e-8 * exact.max()
    assert np.abs(resample(h, 64, method="bilinear") - exact).max() < 0.1 * exact.max()
    assert resample(np.stack([h, h]), 16).shape == (2, 16, 16)


# ----------------------------------------------------------------------------------------------- norm ratio


def test_norm_ratio_coherent_states_and_uniform():
    for N in (30, 60, 90, 150, 300):
        assert norm_ratio(np.ones((N, N))) == pytest.approx(N / 2, rel=1e-14)
    N = 90
    g = (np.arange(N) + 0.5) / N
    q0 = [0.3141, g[10], 0.999, 0.0, 0.5]
    p0 = [0.7777, g[70], 0.001, 0.0, 1.0 / 3]
    mu = norm_ratio(husimi(coherent_states(N, q0, p0)))
    assert np.abs(mu - 1).max() < 1e-3
    assert abs(mu[1] - 1) < 1e-12  # lattice centre: exactly 1
    # on another grid (coherent reference 2 M^2 / N) and scale invariance
    mu64 = norm_ratio(husimi_on_grid(coherent_states(N, q0, p0), 64), N=N)
    assert np.abs(mu64 - 1).max() < 1e-3
    assert norm_ratio(5.0 * np.ones((64, 64)), N=N) == pytest.approx(64**2 / (2 * 64**2 / N))
    # a position eigenstate |q_j>: mu = sqrt(N)/2 (docs/tribaker.md §4)
    e = np.zeros(N)
    e[17] = 1
    assert norm_ratio(husimi(e)) == pytest.approx(np.sqrt(N) / 2, rel=1e-3)


# ----------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (lambda: tribaker(31), "N = 31"),
        (lambda: tribaker(0), "N = 0"),
        (lambda: tribaker(30.5), "N = 30.5"),
        (lambda: resonances(31, 0.5), "N = 31"),
        (lambda: apply_tribaker(np.ones(31), 0.5), "N = 31"),
        (lambda: tribaker(30, 1.5), "R = 1.5"),
        (lambda: tribaker(30, -0.1), "R = -0.1"),
        (lambda: resonances(30, 1.5), "R = 1.5"),
        (lambda: apply_tribaker(np.ones(30), -0.1), "R = -0.1"),
        (lambda: leading_resonances(30, 1.0, 5), "R = 1"),
        (lambda: leading_resonances(30, 0.2, 29), "k = 29"),
    ],
)
def test_bad_input_raises_value_error(call, text):
    with pytest.raises(ValueError, match=text.replace(".", r"\.")) as info:
        call()
    msg = str(info.value)
    assert "N" in msg or "R" in msg or "k" in msg
