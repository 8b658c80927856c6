"""Large-N tribaker path against known answers (docs/tribaker.md §10-12): sampled resonances vs dense ``eig``, the
sampling rules, the classical natural / invariant measures (analytic cascades, invariance under the classical map),
the Jensen-Shannon distance and its decrease with N, streamed LR summaries, memory-bounded layers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance
import torch

from generation.presets import TRIBAKER_PRESETS, TribakerConfig
from generation.tribaker import classical_map, husimi, lr_on_grid, lr_representation, norm_ratio, resonances
from generation.tribaker.classical import (
    cascade_measure,
    coarse_grain,
    escape_weights,
    invariant_measure,
    js_distance,
    natural_measure,
    ulam_adjoint_step,
    ulam_step,
)
from generation.tribaker.generate import compute_point
from generation.tribaker.sampling import (
    nearest_decay_ranks,
    parity_blocks,
    rank_sample,
    sampled_resonances,
    sector_eigenvalues,
)
from generation.tribaker.summaries import lr_summaries
from qchaos.errors import ParameterError


def _match(a, b):
    import scipy.optimize

    cost = np.abs(a[:, None] - b[None, :])
    r, c = scipy.optimize.linear_sum_assignment(cost)
    return cost[r, c].max()


# ------------------------------------------------------------------------------------------ sampled resonances
@pytest.mark.parametrize(("N", "R"), [(90, 0.2), (87, 0.5), (93, 1.0)])
def test_parity_blocks_hold_the_whole_spectrum(N, R):
    even, odd = parity_blocks(N, R)
    assert even.shape == ((N + 1) // 2,) * 2 and odd.shape == (N // 2,) * 2
    dense = np.linalg.eigvals(resonances(N, R).right @ np.diag(resonances(N, R).z) @ resonances(N, R).left.conj().T)
    both = np.concatenate([np.linalg.eigvals(even), np.linalg.eigvals(odd)])
    assert _match(both, dense) < 1e-10
    z, parity, _ = sector_eigenvalues(N, R)
    assert np.abs(z - resonances(N, R).z).max() < 1e-10  # same ordering as the dense path
    assert set(np.unique(parity)) == {0, 1}


@pytest.mark.parametrize(("N", "R", "m"), [(90, 0.2, 12), (87, 0.5, 87), (93, 1.0, 10)])
def test_sampled_resonances_equal_dense_eig(N, R, m):
    dense = resonances(N, R)
    s = sampled_resonances(N, R, m)
    assert np.array_equal(s.index, rank_sample(N, m))  # the rule: ranks floor((i + 1/2) N / m)
    assert s.z.shape == (m,) and s.right.shape == s.left.shape == (N, m)
    assert np.abs(s.z - dense.z[s.index]).max() < 1e-10
    assert np.abs(np.linalg.norm(s.right, axis=0) - 1).max() < 1e-12
    assert np.abs(s.left.conj().T @ s.right - np.eye(m)).max() < 1e-9  # biorthonormal
    for j, k in enumerate(s.index):  # the spectral projector |R><L| is phase-free
        pa = np.outer(s.right[:, j], s.left[:, j].conj())
        pd = np.outer(dense.right[:, k], dense.left[:, k].conj())
        assert np.linalg.norm(pa - pd) < 1e-8 * np.linalg.norm(pd)
    if R == 1.0:
        assert np.array_equal(s.left, s.right)


def test_sampling_rules():
    assert list(rank_sample(10, 10)) == list(range(10))
    assert list(rank_sample(10, 2)) == [2, 7]
    r = rank_sample(999, 37)
    assert np.all(np.diff(r) >= 26) and r[0] == 13 and r[-1] == 985  # one per stratum of width 999/37 = 27
    z = np.array([0.99, 0.9, 0.85, 0.8, 0.5]) * np.exp(1j * np.arange(5))
    assert list(nearest_decay_ranks(z, 0.7, 2)) == [2, 3]  # |z|^2 = .98, .81, .7225, .64, .25
    with pytest.raises(ParameterError, match="m = 0"):
        rank_sample(10, 0)
    with pytest.raises(ParameterError, match="R = 0"):
        sampled_resonances(30, 0.0, 4)
    with pytest.raises(ParameterError, match="ranks"):
        sampled_resonances(30, 0.2, ranks=[30])


# ----------------------------------------------------------------------------------------------- classical map
@pytest.mark.parametrize("R", [0.0, 0.2, 0.7])
def test_natural_measure_is_the_analytic_cascade(R):
    mu, gamma = natural_measure(27, R)
    assert gamma == pytest.approx((2 + R) / 3, abs=1e-13)
    assert np.abs(mu - cascade_measure(27, R)).max() < 1e-15
    assert np.abs(escape_weights(27, R) - cascade_measure(27, R).T).max() < 1e-15
    c = cascade_measure(27, R)
    assert np.abs(invariant_measure(27, R) - c * c.T / (c * c.T).sum()).max() < 1e-15


def test_closed_map_measure_is_uniform():
    mu, gamma = natural_measure(12, 1.0)
    assert gamma == pytest.approx(1.0) and np.allclose(mu, 1 / 144)


@pytest.mark.parametrize(("M", "R"), [(9, 0.2), (12, 0.5)])
def test_natural_measure_is_invariant_under_the_classical_map_up_to_escape(M, R):
    """Push a uniform sub-grid of points of every cell through ``classical_map`` (weight R in the opening)."""
    mu, gamma = natural_measure(M, R)
    s = 6  # sub-points per cell and axis: the map is affine on a cell, so the re-binned histogram is exact
    u = (np.arange(s) + 0.5) / s
    a, b, i, j = np.meshgrid(np.arange(M), np.arange(M), u, u, indexing="ij")
    q, p = (a + i) / M, (b + j) / M
    w = np.broadcast_to(mu[:, :, None, None] / s**2, q.shape) * np.where((q > 1 / 3) & (q < 2 / 3), R, 1.0)
    q2, p2 = classical_map(q, p)
    hist = np.zeros((M, M))
    np.add.at(hist, (np.floor(q2 * M).astype(int) % M, np.floor(p2 * M).astype(int) % M), w)
    assert np.abs(hist - gamma * mu).max() < 1e-13
    assert np.abs(ulam_step(mu, R) - gamma * mu).max() < 1e-15


def test_ulam_adjoint_is_the_transpose():
    rng = np.random.default_rng(3)
    rho, f = rng.random((9, 9)), rng.random((9, 9))
    assert np.sum(ulam_adjoint_step(f, 0.3) * rho) == pytest.approx(np.sum(f * ulam_step(rho, 0.3)), rel=1e-13)


def test_js_distance_known_answers():
    rng = np.random.default_rng(0)
    p, q = rng.random((4, 5, 5)), rng.random((4, 5, 5))
    assert np.allclose(js_distance(p, p), 0.0, atol=1e-7)
    ref = [scipy.spatial.distance.jensenshannon(a.ravel(), b.ravel(), base=2) for a, b in zip(p, q)]
    assert np.allclose(js_distance(p, q), ref, rtol=1e-12)
    assert np.allclose(js_distance(q, p), js_distance(p, q))
    d = np.zeros((2, 3, 3))
    d[0, 0, 0] = d[1, 2, 2] = 1.0
    assert js_distance(d[0], d[1]) == pytest.approx(1.0)  # disjoint supports
    with pytest.raises(ParameterError, match="same grid"):
        js_distance(p[0], np.ones((4, 4)))


def test_coarse_grain_means_per_cell():
    img = np.zeros((6, 6))
    img[:3, :3] = 2.0
    img[3:, 3:] = 1.0
    c = coarse_grain(img, 2)
    assert np.allclose(c, [[2 / 3, 0], [0, 1 / 3]])
    with pytest.raises(ParameterError, match="M = 7"):
        coarse_grain(img, 7)


@pytest.mark.slow
def test_js_distance_to_the_natural_measure_decreases_with_N():
    """Husimi functions of the resonances at the classical decay rate (|z|^2 ~ (2 + R)/3) approach the natural
    measure (Ketzmerick and coworkers, arXiv:1907.12870); k = 8 of them, 9 x 9 cells, N = 27, 81, 243, 486."""
    R, M = 0.2, 9
    mu, gamma = natural_measure(M, R)
    inv = invariant_measure(M, R)
    js_h, js_lr = [], []
    for N in (27, 81, 243, 486):
        spec = sector_eigenvalues(N, R)
        res = sampled_resonances(N, R, ranks=nearest_decay_ranks(spec[0], gamma, 8), spectrum=spec)
        js_h.append(js_distance(lr_summaries(res.right.T, None, M)["coarse"], mu).mean())
        js_lr.append(js_distance(lr_summaries(res.right.T, res.left.T, M)["coarse"], inv).mean())
    assert np.all(np.diff(js_h) < 0) and js_h[-1] < 0.6 * js_h[0]
    assert np.all(np.diff(js_lr) < 0)


def test_js_distance_of_the_longest_lived_decreases_with_N():
    """The LR cell measures of the k = 8 longest-lived resonances (Arnoldi) move towards the classical invariant
    measure as N grows (27 x 27 cells, the experiment's grid): 0.56, 0.49, 0.42 at N = 48, 192, 768 (R = 0.2), the
    slow N^(-0.09) the paper-scale run measures up to N = 6000 (docs/tribaker.md §11)."""
    from generation.tribaker.resonances import leading_resonances

    R, M = 0.2, 27
    inv = invariant_measure(M, R)
    js = []
    for N in (48, 192, 768):
        res = leading_resonances(N, R, 8, seed=0)
        js.append(js_distance(lr_summaries(res.right.T, res.left.T, M)["coarse"], inv).mean())
    assert np.all(np.diff(js) < -0.03), js


# ---------------------------------------------------------------------------------------- representations
@pytest.mark.parametrize("closed", [True, False])
def test_lr_summaries_equal_the_lattice_images(closed):
    res = resonances(60, 1.0 if closed else 0.2)
    r, l = res.right[:, :5].T, res.left[:, :5].T
    h = husimi(r) if closed else lr_representation(r, l)
    out = lr_summaries(r, None if closed else l, 9, chunk_bytes=2**20)  # several row chunks per state
    assert np.allclose(out["norm_ratio"], norm_ratio(h), rtol=1e-12)
    assert np.allclose(out["coarse"], coarse_grain(h, 9), atol=1e-15)


def test_lr_on_grid_in_chunks_equals_explicit_overlaps(monkeypatch):
    from generation.tribaker import coherent

    res = resonances(45, 0.2)
    r, l = res.right[:, :3].T, res.left[:, :3].T
    whole = lr_on_grid(r, l, 10)
    monkeypatch.setattr(coherent, "_CS_CHUNK", 64)  # one grid row of centres per chunk
    assert np.allclose(lr_on_grid(r, l, 10), whole, rtol=1e-13, atol=0)


def test_coherent_layer_chunked_inference_is_the_same():
    from modeling.coherent_layer import CoherentStateLayer, pack_resonances

    layer = CoherentStateLayer(8)
    res = resonances(60, 0.2)
    x = pack_resonances(res.right[:, :3].T, res.left[:, :3].T)
    with torch.no_grad():
        whole = layer(x)
        layer.chunk_elements = 100  # forces chunks of one centre
        parts = layer(x)
    assert torch.allclose(whole, parts, rtol=1e-13, atol=0)
    exact = lr_on_grid(res.right[:, :3].T, res.left[:, :3].T, 8)
    assert np.allclose(parts.numpy(), exact, rtol=1e-10)


# ------------------------------------------------------------------------------------------ point and preset
def test_sampled_point_with_every_resonance_matches_the_dense_point():
    params = {"N": 36, "R": 0.2, "per_side": 3, "image_size": 8, "min_abs_z": 0.0, "seed": 0}
    dense = compute_point(params)
    sampled = compute_point({**params, "sample": 36, "leading": 4, "bins": 9})
    a, b = dense.arrays, sampled.arrays
    assert np.abs(b["spectrum/z"] - a["spectrum/z"]).max() < 1e-10
    assert np.allclose(b["spectrum/norm_ratio"], a["spectrum/norm_ratio"], rtol=1e-8)
    assert b["states/right"].shape == (36, 36) and sorted(np.unique(b["states/label"])) == [0, 1]
    assert b["leading/coarse"].shape == (4, 9, 9)
    assert 0 < sampled.attrs["natural_js_husimi_natural_mean"] < 1
    assert sampled.attrs["classical_gamma"] == pytest.approx(2.2 / 3)


def test_large_n_preset_and_dense_presets_keep_their_config():
    for name in ("mini", "paper"):
        d = TRIBAKER_PRESETS[name].to_dict()
        assert set(d) == {"N0", "K", "reflectivities", "per_side", "image_size", "min_abs_z", "seed"}
    big = TRIBAKER_PRESETS["largeN"]
    assert max(big.dimensions) >= 6000 and big.sample > 0
    pts = big.points()
    assert all(p["sample"] == big.sample and p["per_side"] == big.sample // 2 for p in pts.values())
    with pytest.raises(ValueError, match="sample = 3"):
        TribakerConfig(N0=30, sample=3)
    with pytest.raises(ValueError, match="bins = 10"):
        TribakerConfig(N0=30, sample=10, bins=10)


def test_sampled_store_builds_verifies_and_publishes(tmp_path):
    """A large-N store passes its own verification (the arrays its parameters require, m = min(sample, N) rows)
    and publishes as the resonances / spectra configs, one row per sampled resonance."""
    from generation.build import build
    from generation.publish import publish
    from generation.verify import verify_store

    overrides = {"N_values": (30, 48), "sample": 40, "leading": 4, "bins": 9, "image_size": 8}
    result = build("tribaker", "largeN-mini", overrides=overrides, out=tmp_path / "s.zarr", workers=0,
                   progress=False)
    assert sorted(result.report.computed) == sorted(result.config.points())
    assert verify_store(tmp_path / "s.zarr").ok
    report = publish("tribaker", tmp_path / "s.zarr", "qchaos/largen-test", out=tmp_path / "repo")
    # m = 30 at N = 30 (every resonance), 40 at N = 48; two maps
    assert sum(report.splits["resonances"].values()) == 2 * (30 + 40)
    assert report.splits["spectra"] == {"train": 4}


def test_trend_fit_and_weighted_mean_known_answers():
    from evaluation.localization_vs_n import trend_fit, weighted_mean

    N = np.array([30, 60, 120, 240, 480])
    fit = trend_fit(N, 0.3 - 0.05 * np.log(N))
    assert fit["slope"] == pytest.approx(-0.05) and fit["slope_err"] < 1e-12 and fit["points"] == 5
    # two points with error bars: exact line, slope error = sqrt(e1^2 + e2^2) / ln(N2/N1)
    fit = trend_fit([10, 100], [0.2, 0.4], [0.03, 0.04])
    assert fit["slope"] == pytest.approx(0.2 / np.log(10))
    assert fit["slope_err"] == pytest.approx(0.05 / np.log(10))
    rng = np.random.default_rng(0)
    y = 0.1 * np.log(N) + rng.normal(0, 0.01, N.size)
    fit = trend_fit(N, y, np.full(N.size, 0.01))
    assert abs(fit["slope"] - 0.1) < 4 * fit["slope_err"]
    m, e = weighted_mean([1.0, 3.0], [1.0, 1.0])
    assert m == pytest.approx(2.0) and e == pytest.approx(1 / np.sqrt(2))
    assert np.isnan(trend_fit([30], [0.5])["slope"])
